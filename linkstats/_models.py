"""The normalized record every provider's rows are mapped to, and the campaigns they list."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import Generic, TypeVar

import attrs
import msgspec
from yarl import URL

from ._parsing import read_url

__all__ = ["Campaign", "LinkClick", "Listing"]

TargetT_co = TypeVar("TargetT_co", bound=Hashable, covariant=True)


class _Fields(msgspec.Struct, frozen=True, gc=False):
    provider: str
    source_id: str
    # The URL's text; `LinkClick.url` gives it as a `yarl.URL`.
    url: str
    clicks: int
    link_id: str | None = None
    delivery_id: str | None = None
    opened_at: datetime | None = None
    step_id: str | None = None
    url_location: int | None = None
    ab_variation: str | None = None
    ab_phase: str | None = None


# The getter of the slot that holds the URL's text, under the `url` property.
_url_text = _Fields.__dict__["url"].__get__


class LinkClick(_Fields, frozen=True, gc=False):
    """One click-count row, the same shape whichever provider reported it.

    ``provider`` is the provider's name, a plain string. ``url`` keeps the provider's text
    verbatim (``str(click.url)`` gives it back), so ``{{custom_field}}`` templates, non-ASCII
    paths and ``mailto:`` links survive. Fields a provider does not have, or left out of a row,
    are ``None``: ``link_id``, ``delivery_id`` and ``opened_at`` identify one delivery's link,
    ``step_id`` an automation step, ``ab_variation`` and ``ab_phase`` an A/B split, and
    ``url_location`` the link's place in the email.

    A large campaign yields hundreds of thousands of records, so a record is a frozen
    ``msgspec.Struct`` of plain values: about as cheap to build as a tuple, hashable, and left
    alone by the garbage collector (it holds nothing that could form a cycle). It is made from
    the URL's text (``url=text``), keeps it (``url_text``) and builds ``url``, a ``yarl.URL``,
    when asked, once per distinct text, so records that are only counted or totalled never
    pay for URL parsing. A text yarl cannot read (a template in the port, say) is kept like
    any other: ``url`` (or its ``port``) raises ``ValueError`` for it, as yarl does, and
    ``url_text`` always answers. Records compare and hash by that text.
    ``msgspec.structs.replace(click, ...)`` and ``msgspec.structs.asdict(click)`` (the text
    under ``"url"``) work as for any struct.
    """

    @property  # type: ignore[misc]
    def url(self) -> URL:  # type: ignore[override]
        """The link as a ``yarl.URL``, kept verbatim (see ``read_url``); ``ValueError`` for a
        text yarl cannot read."""
        return read_url(_url_text(self))

    @property
    def url_text(self) -> str:
        """The link exactly as the provider sent it (``""`` for none)."""
        text: str = _url_text(self)
        return text


@attrs.frozen
class Campaign(Generic[TargetT_co]):
    """A campaign a provider lists, with the target that fetches its clicks.

    ``name`` and ``sent_at`` are what the listing says, where it says them; ``step_ids`` are
    the automation steps the listing named.
    """

    provider: str
    target: TargetT_co
    name: str | None = None
    sent_at: datetime | None = None
    step_ids: tuple[str, ...] = ()


@attrs.frozen
class Listing:
    """What a failed listing request was fetching: the ``target`` of its error."""

    provider: str
    name: str

    def __str__(self) -> str:
        return f"{self.provider} {self.name}"
