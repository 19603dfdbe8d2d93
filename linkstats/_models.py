"""The normalized record every provider's rows are mapped to, and the campaigns they list."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import Any, Generic, NamedTuple, Self, TypeVar

import attrs
from yarl import URL

from ._parsing import check_url, read_url

__all__ = ["Campaign", "LinkClick", "Listing"]

TargetT_co = TypeVar("TargetT_co", bound=Hashable, covariant=True)


class _Fields(NamedTuple):
    provider: str
    source_id: str
    # The URL's text; `LinkClick.url` gives it as a `yarl.URL`.
    url: Any
    clicks: int
    link_id: str | None = None
    delivery_id: str | None = None
    opened_at: datetime | None = None
    step_id: str | None = None
    url_location: int | None = None
    ab_variation: str | None = None
    ab_phase: str | None = None


class LinkClick(_Fields):
    """One click-count row, the same shape whichever provider reported it.

    ``provider`` is the provider's name, a plain string. ``url`` keeps the provider's text
    verbatim (``str(click.url)`` gives it back), so ``{{custom_field}}`` templates, non-ASCII
    paths and ``mailto:`` links survive. Fields a provider does not have, or left out of a row,
    are ``None``: ``link_id``, ``delivery_id`` and ``opened_at`` identify one delivery's link,
    ``step_id`` an automation step, ``ab_variation`` and ``ab_phase`` an A/B split, and
    ``url_location`` the link's place in the email.

    A record is a named tuple of plain values, as cheap to build and to keep as a tuple and a
    single object to the garbage collector, since a large campaign yields hundreds of
    thousands of them. It holds the URL as text and gives ``url`` as a ``yarl.URL`` when
    asked (built once per distinct text), so records that are only counted or totalled never
    pay for URL parsing; ``url_text`` is that text, and what ``_asdict()`` holds under
    ``"url"``. Records compare and hash by that text.
    """

    __slots__ = ()

    def __new__(
        cls,
        provider: str,
        source_id: str,
        url: URL | str,
        clicks: int,
        link_id: str | None = None,
        delivery_id: str | None = None,
        opened_at: datetime | None = None,
        step_id: str | None = None,
        url_location: int | None = None,
        ab_variation: str | None = None,
        ab_phase: str | None = None,
    ) -> Self:
        return tuple.__new__(
            cls,
            (provider, source_id, _text(url), clicks, link_id, delivery_id, opened_at, step_id,
             url_location, ab_variation, ab_phase),
        )  # fmt: skip

    @property
    def url(self) -> URL:
        """The link as a ``yarl.URL``, kept verbatim (see ``read_url``)."""
        return read_url(tuple.__getitem__(self, 2))

    @property
    def url_text(self) -> str:
        """The link exactly as the provider sent it (``""`` for none)."""
        text: str = tuple.__getitem__(self, 2)
        return text

    def _replace(self, **changes: Any) -> Self:
        if "url" in changes:
            changes["url"] = _text(changes["url"])
        return super()._replace(**changes)


def _text(url: URL | str) -> str:
    """The URL's text, refused (``ValueError``) if ``url`` cannot be built from it."""
    if isinstance(url, URL):
        return str(url)
    if not isinstance(url, str):
        raise TypeError(f"url must be a str or a yarl.URL, got {type(url).__name__}")
    check_url(url)
    return url


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
