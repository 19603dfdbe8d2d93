"""The normalized record every provider's rows are mapped to."""

from __future__ import annotations

import enum
from collections.abc import Hashable
from datetime import datetime

import attrs
from yarl import URL

__all__ = ["Campaign", "LinkClick", "Provider"]


class Provider(enum.StrEnum):
    """Where a record came from; compares equal to its plain string."""

    PAUBOX = "paubox"
    SENDGRID = "sendgrid"


@attrs.frozen
class LinkClick:
    """One click-count row, the same shape whichever provider reported it.

    ``url`` keeps the provider's text verbatim (``str(click.url)`` gives it back), so
    ``{{custom_field}}`` templates, non-ASCII paths and ``mailto:`` links survive. Fields a
    provider does not have, or left out of a row, are ``None``: ``link_id``, ``delivery_id``
    and ``opened_at`` are Paubox's, ``step_id`` a SendGrid automation's, ``ab_variation`` and
    ``ab_phase`` a SendGrid single send's, ``url_location`` SendGrid's.
    """

    provider: Provider
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
class Campaign:
    """A campaign a provider lists, with the target that fetches its clicks.

    ``name`` and ``sent_at`` are what the listing says (Paubox gives its subscription list
    and the time sent); ``step_ids`` are the automation steps a SendGrid listing named.
    """

    provider: Provider
    target: Hashable
    name: str | None = None
    sent_at: datetime | None = None
    step_ids: tuple[str, ...] = ()
