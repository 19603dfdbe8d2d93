"""The normalized record every provider's rows are mapped to."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs
from yarl import URL

__all__ = ["LinkClick", "Provider"]


class Provider(enum.StrEnum):
    """Where a record came from; compares equal to its plain string."""

    PAUBOX = "paubox"
    SENDGRID = "sendgrid"


@attrs.frozen
class LinkClick:
    """One click-count row, the same shape whichever provider reported it.

    ``url`` keeps the provider's text verbatim (``str(click.url)`` gives it back), so
    ``{{custom_field}}`` templates, non-ASCII paths and ``mailto:`` links survive. Fields a
    provider does not have, or left out of a row, are ``None``.
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
