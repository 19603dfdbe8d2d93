"""SendGrid Marketing Campaigns stats: ``GET /v3/marketing/stats/automations/{id}/links``.

Reference: SendGrid's OpenAPI for Marketing Campaigns stats (``tsg_mc_stats_v3.json``,
``AutmoationsLinkStatsResponse``). ``url``, ``step_id`` and ``clicks`` are documented as
required, but ``step_id`` is "the ID of the step if the stats were requested to be grouped by
step_id", so it is read as optional. ``step_ids`` is one comma-separated value
(``explode: false``); pages are followed through the absolute ``_metadata.next`` URL, called
as-is. Auth is ``Authorization: Bearer <key>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import attrs
from cattrs.gen import make_dict_structure_fn, override
from yarl import URL

from .._models import LinkClick, Provider
from .._parsing import (
    integer,
    make_converter,
    optional_integer,
    optional_string,
    read_url,
    string,
    structurer,
)
from .._source import HTTPSource, Page
from .._validation import canonical_uuid, canonical_uuids, integer_in_range, non_empty_string

__all__ = ["DEFAULT_BASE_URL", "SendGridAutomation", "SendGridSource"]

DEFAULT_BASE_URL = "https://api.sendgrid.com"

MAX_PAGE_SIZE = 50


def _page_size(_: object, __: object, value: object) -> None:
    integer_in_range("page_size", value, 1, MAX_PAGE_SIZE)


@attrs.frozen(cache_hash=True)
class SendGridAutomation:
    """One SendGrid automation, by id; optionally only some steps, or split by step."""

    automation_id: str = attrs.field(converter=canonical_uuid)
    step_ids: tuple[str, ...] = attrs.field(default=(), kw_only=True, converter=canonical_uuids)
    group_by_step: bool = attrs.field(
        default=False, kw_only=True, validator=attrs.validators.instance_of(bool)
    )
    page_size: int = attrs.field(default=MAX_PAGE_SIZE, kw_only=True, validator=_page_size)


# The wire format: attrs classes mirroring the JSON. Plain (not frozen) classes, as they live
# only between decoding and mapping.


@attrs.define
class AutomationLink:
    """One row of ``results``: a link's clicks, per step when grouped by step."""

    url: str
    clicks: int
    step_id: str | None = None
    url_location: int | None = None


@attrs.define
class LinkTrackingMetadata:
    """``_metadata``: ``next`` is absent on the last page."""

    next: str | None = None
    prev: str | None = None
    self_url: str | None = None
    count: float | None = None


@attrs.define
class AutomationLinksResponse:
    """``AutmoationsLinkStatsResponse`` (sic)."""

    results: list[AutomationLink]
    total_clicks: int | None = None
    metadata: LinkTrackingMetadata | None = None


def _structure_link(value: Any, _: object) -> AutomationLink:
    get = value.get
    return AutomationLink(
        string(value["url"]),
        integer(value["clicks"]),
        optional_string(get("step_id")),
        optional_integer(get("url_location")),
    )


def _make_structurer() -> Callable[[bytes], AutomationLinksResponse]:
    # Rows come fifty to a page and a page is most of a response's work, so their hook is
    # written out: generated hooks build a keyword dict for every row.
    converter = make_converter()
    converter.register_structure_hook(AutomationLink, _structure_link)
    converter.register_structure_hook(
        LinkTrackingMetadata,
        make_dict_structure_fn(LinkTrackingMetadata, converter, self_url=override(rename="self")),
    )
    converter.register_structure_hook(
        AutomationLinksResponse,
        make_dict_structure_fn(
            AutomationLinksResponse, converter, metadata=override(rename="_metadata")
        ),
    )
    return structurer(converter, AutomationLinksResponse)


_structure_response = _make_structurer()


def to_clicks(automation_id: str, response: AutomationLinksResponse) -> list[LinkClick]:
    """Map each result row to a ``LinkClick``."""
    provider = Provider.SENDGRID
    return [
        LinkClick(
            provider,
            automation_id,
            read_url(row.url),
            row.clicks,
            None,
            None,
            None,
            row.step_id,
            row.url_location,
        )
        for row in response.results
    ]


class SendGridSource(HTTPSource[SendGridAutomation]):
    """Link stats of SendGrid automations, every page.

    Requests go to ``{base_url}/v3/marketing/stats/automations/{id}/links``. The key travels
    only in the ``Authorization`` header of each request, and only to ``base_url``'s origin.
    """

    provider = Provider.SENDGRID
    target_types = (SendGridAutomation,)

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | URL = DEFAULT_BASE_URL,
        timeout: float | None = 30.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_rate_limit_wait: float = 60.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        non_empty_string("api_key", api_key)
        super().__init__(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_rate_limit_wait=max_rate_limit_wait,
            session=session,
        )
        self._automations = self.base_url / "v3/marketing/stats/automations"

    def first_url(self, target: SendGridAutomation) -> URL:
        query = {"page_size": str(target.page_size)}
        if target.group_by_step:
            query["group_by"] = "step_id"
        if target.step_ids:
            query["step_ids"] = ",".join(target.step_ids)
        return (self._automations / target.automation_id / "links").with_query(query)

    def parse_page(self, target: SendGridAutomation, body: bytes) -> Page:
        response = _structure_response(body)
        next_link = response.metadata.next if response.metadata else None
        return Page(to_clicks(target.automation_id, response), next_link)
