"""Paubox Marketing: link clicks of campaign sends, and the list of sends.

Reference: Paubox Marketing API, "List tracking links" (OpenAPI 3.0.3,
``TrackingLinksDetailResponse``): ``GET /tracking_links`` gives one row per link per delivered
email, with no pagination (a large send is one large body). Nothing in the schema is required,
so every attribute may be missing or null; unknown fields are ignored. From Paubox's published
Marketing spec, ``GET /analytics/tracking_links_by_unique_link`` gives per-link totals and
``GET /analytics/campaign_mailing_sends_table`` lists sent campaigns. Auth is
``authorization: Token token=<key>``. The reference's base URL carries the account's username;
Paubox's newer base (``MARKETING_BASE_URL``) does not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, Literal

import aiohttp
import attrs
from yarl import URL

from .._models import Campaign, LinkClick, Provider
from .._parsing import (
    make_converter,
    optional_integer,
    optional_string,
    read_url,
    structurer,
    timestamp,
)
from .._source import HTTPSource, Page
from .._validation import canonical_uuid, non_empty_string

__all__ = ["DEFAULT_BASE_URL", "MARKETING_BASE_URL", "PauboxSend", "PauboxSource"]

DEFAULT_BASE_URL = "https://api.paubox.net/v1/orca"
MARKETING_BASE_URL = "https://api.paubox.com/v1/marketing"


def _order_by(_: object, __: object, value: object) -> None:
    non_empty_string("order_by", value)


@attrs.frozen(cache_hash=True)
class PauboxSend:
    """One Paubox Marketing campaign send, by its ``campaign_mailing_send_id``.

    By default one record per link per delivered email; ``per_link_totals=True`` asks for one
    record per link of the email instead, its clicks summed over every delivery (``order_by``
    and ``order`` do not apply then).
    """

    send_id: str = attrs.field(converter=canonical_uuid)
    order_by: str = attrs.field(default="created_at", kw_only=True, validator=_order_by)
    order: Literal["asc", "desc"] = attrs.field(
        default="desc", kw_only=True, validator=attrs.validators.in_(("asc", "desc"))
    )
    per_link_totals: bool = attrs.field(
        default=False, kw_only=True, validator=attrs.validators.instance_of(bool)
    )


# The wire format: attrs classes mirroring the JSON. They live only between decoding and
# mapping, so they are plain (not frozen) classes: frozen init costs 3x on 60,000-row bodies.


@attrs.define
class TrackingLinkAttributes:
    """``TrackingLinksDetailResponse_attributes``."""

    target_url: str | None = None
    opened_at: datetime | None = None
    clicked: int | None = None
    campaign_mailing_delivery_id: str | None = None


@attrs.define
class TrackingLink:
    """``TrackingLinksDetailResponse_data``: one link in one delivered email."""

    id: str | None = None
    type: str | None = None
    attributes: TrackingLinkAttributes | None = None


@attrs.define
class TrackingLinksResponse:
    """``TrackingLinksDetailResponse``."""

    data: list[TrackingLink] | None = None


@attrs.define
class UniqueLink:
    """One row of ``tracking_links_by_unique_link``: a link of the email, clicks summed."""

    html_id: str | None = None
    target_url: str | None = None
    clicked: int | None = None


@attrs.define
class UniqueLinksResponse:
    """``tracking_links_by_unique_link``."""

    data: list[UniqueLink] | None = None


@attrs.define
class CampaignMailingSend:
    """One row of ``campaign_mailing_sends_table``: a sent campaign."""

    id: str | None = None
    marketing_email_id: str | None = None
    campaign_mailing_id: str | None = None
    campaign_mailing_created_at: datetime | None = None
    sent_at: datetime | None = None
    subscription_list_name: str | None = None


@attrs.define
class CampaignMailingSendsTable:
    """``campaign_mailing_sends_table``."""

    data: list[CampaignMailingSend] | None = None


def _structure_attributes(value: Any, _: object) -> TrackingLinkAttributes:
    get = value.get
    return TrackingLinkAttributes(
        optional_string(get("target_url")),
        timestamp(get("opened_at")),
        optional_integer(get("clicked")),
        optional_string(get("campaign_mailing_delivery_id")),
    )


def _structure_link(value: Any, _: object) -> TrackingLink:
    get = value.get
    attributes = get("attributes")
    return TrackingLink(
        optional_string(get("id")),
        optional_string(get("type")),
        None if attributes is None else _structure_attributes(attributes, None),
    )


def _make_structurer() -> Callable[[bytes], TrackingLinksResponse]:
    # A send's rows all arrive in one body, 60,000 of them for a large campaign. The row
    # hooks are written out: since Paubox treats a missing attribute like a null one, they
    # read each with get(), where generated hooks build a keyword dict for every row.
    converter = make_converter()
    converter.register_structure_hook(TrackingLinkAttributes, _structure_attributes)
    converter.register_structure_hook(TrackingLink, _structure_link)
    return structurer(converter, TrackingLinksResponse)


_structure_response = _make_structurer()
_structure_unique_links = structurer(make_converter(), UniqueLinksResponse)
_structure_sends_table = structurer(make_converter(), CampaignMailingSendsTable)
_NO_ATTRIBUTES = TrackingLinkAttributes()


def to_clicks(send_id: str, response: TrackingLinksResponse) -> list[LinkClick]:
    """Map each tracking link to a ``LinkClick``; a missing ``clicked`` counts as 0."""
    provider, no_attributes = Provider.PAUBOX, _NO_ATTRIBUTES
    return [
        LinkClick(
            provider,
            send_id,
            read_url(attributes.target_url),
            attributes.clicked or 0,
            link.id,
            attributes.campaign_mailing_delivery_id,
            attributes.opened_at,
        )
        for link in response.data or ()
        for attributes in (link.attributes or no_attributes,)
    ]


def unique_link_clicks(send_id: str, response: UniqueLinksResponse) -> list[LinkClick]:
    """Map each link's total to a ``LinkClick`` whose ``link_id`` is the link's ``html_id``."""
    provider = Provider.PAUBOX
    return [
        LinkClick(provider, send_id, read_url(link.target_url), link.clicked or 0, link.html_id)
        for link in response.data or ()
    ]


def _sends_listing(body: bytes) -> Page[Campaign]:
    rows = _structure_sends_table(body).data or ()
    # A row without an id names nothing that could be fetched.
    campaigns = [
        Campaign(
            Provider.PAUBOX,
            PauboxSend(row.id),
            name=row.subscription_list_name,
            sent_at=row.sent_at,
        )
        for row in rows
        if row.id is not None
    ]
    return Page(campaigns)


class PauboxSource(HTTPSource[PauboxSend]):
    """Tracking links of Paubox Marketing campaign sends, and the list of sends.

    Requests go to ``{base_url}/{username}/tracking_links`` and ``.../analytics/...``, or,
    with ``username=None`` (Paubox's newer ``MARKETING_BASE_URL``), to
    ``{base_url}/tracking_links``. The key travels only in the ``authorization`` header of
    each request.
    """

    provider = Provider.PAUBOX
    target_types = (PauboxSend,)

    def __init__(
        self,
        *,
        username: str | None,
        api_key: str,
        base_url: str | URL = DEFAULT_BASE_URL,
        timeout: float | None = 30.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_rate_limit_wait: float = 60.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if username is not None:
            non_empty_string("username", username)
            if "/" in username:
                raise ValueError("username must not contain '/'")
        non_empty_string("api_key", api_key)
        super().__init__(
            base_url=base_url,
            headers={"authorization": f"Token token={api_key}", "accept": "application/json"},
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_rate_limit_wait=max_rate_limit_wait,
            session=session,
        )
        self.username = username
        self._account = self.base_url / username if username else self.base_url

    def __repr__(self) -> str:
        return f"PauboxSource(username={self.username!r}, base_url={str(self.base_url)!r})"

    def first_url(self, target: PauboxSend) -> URL:
        if target.per_link_totals:
            return (self._account / "analytics/tracking_links_by_unique_link").with_query(
                campaign_mailing_send_id=target.send_id
            )
        return (self._account / "tracking_links").with_query(
            campaign_mailing_send_id=target.send_id,
            order_by=target.order_by,
            order=target.order,
        )

    def parse_page(self, target: PauboxSend, body: bytes) -> Page[LinkClick]:
        if target.per_link_totals:
            return Page(unique_link_clicks(target.send_id, _structure_unique_links(body)))
        return Page(to_clicks(target.send_id, _structure_response(body)))

    async def sends(
        self,
        *,
        search: str | None = None,
        order_by: str | None = None,
        order: Literal["asc", "desc"] | None = None,
    ) -> AsyncIterator[Campaign]:
        """The account's sent campaigns, optionally those whose list name matches ``search``."""
        if order not in (None, "asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
        query = {
            name: value
            for name, value in (("search", search), ("order_by", order_by), ("order", order))
            if value is not None
        }
        url = (self._account / "analytics/campaign_mailing_sends_table").with_query(query)
        async for page in self._paginate(url, _sends_listing, "paubox campaign sends"):
            for campaign in page:
                yield campaign

    def discover(self) -> AsyncIterator[Campaign]:
        """Every sent campaign of the account."""
        return self.sends()
