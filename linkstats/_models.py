"""The normalized record every provider's rows are mapped to, and the campaigns they list."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import Generic, TypeVar

import attrs
from yarl import URL

__all__ = ["Campaign", "LinkClick", "Listing"]

TargetT_co = TypeVar("TargetT_co", bound=Hashable, covariant=True)


@attrs.frozen
class LinkClick:
    """One click-count row, the same shape whichever provider reported it.

    ``provider`` is the provider's name, a plain string. ``url`` keeps the provider's text
    verbatim (``str(click.url)`` gives it back), so ``{{custom_field}}`` templates, non-ASCII
    paths and ``mailto:`` links survive. Fields a provider does not have, or left out of a row,
    are ``None``: ``link_id``, ``delivery_id`` and ``opened_at`` identify one delivery's link,
    ``step_id`` an automation step, ``ab_variation`` and ``ab_phase`` an A/B split, and
    ``url_location`` the link's place in the email.
    """

    provider: str
    source_id: str
    url: URL
    clicks: int
    link_id: str | None = None
    delivery_id: str | None = None
    opened_at: datetime | None = None
    step_id: str | None = None
    url_location: int | None = None
    ab_variation: str | None = None
    ab_phase: str | None = None


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
