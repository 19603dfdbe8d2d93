"""SendGrid Marketing Campaigns stats: link clicks of automations and single sends.

Reference: SendGrid's OpenAPI for Marketing Campaigns stats (``tsg_mc_stats_v3.json``):
``GET /v3/marketing/stats/automations/{id}/links`` (``AutmoationsLinkStatsResponse``),
``GET /v3/marketing/stats/singlesends/{id}/links`` (``SinglesendsLinkStatsResponse``), and the
listings ``GET /v3/marketing/stats/automations`` and ``GET /v3/marketing/stats/singlesends``.
``url`` and ``clicks`` are required; an automation row's ``step_id`` is the step's id when
grouped by step and ``"all"`` when not, and a single send row's ``ab_variation`` and
``ab_phase`` are ``"all"`` when not split. Records keep ``"all"`` as SendGrid says it; rows
without these fields (as some answers have) are read as ``None``. List parameters are
one comma-separated value (``explode: false``); pages are followed through the absolute
``_metadata.next`` URL, called as-is. Auth is ``Authorization: Bearer <key>``. The EU region is
the same API at ``https://api.eu.sendgrid.com``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from operator import attrgetter
from typing import Any, Final, Literal, Unpack

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn, override
from yarl import URL

from .._errors import ErrorDetails, ProviderMessage
from .._http import PageRequest, Response, read_error_body
from .._models import Campaign, LinkClick, Listing
from .._parsing import (
    make_converter,
    optional_integer,
    optional_string,
    positive_count,
    read_url,
    string,
    structurer,
)
from .._registry import ProviderInfo, TargetKind
from .._source import HTTPSource, Page, SourceOptions
from .._validation import canonical_uuid, canonical_uuids, integer_in_range, non_empty_string

__all__ = [
    "DEFAULT_BASE_URL",
    "EU_BASE_URL",
    "NAME",
    "PROVIDER",
    "SendGridAutomation",
    "SendGridSingleSend",
    "SendGridSource",
]

NAME: Final = "sendgrid"
DEFAULT_BASE_URL = "https://api.sendgrid.com"
EU_BASE_URL = "https://api.eu.sendgrid.com"

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


def _optional_uuid(value: Any) -> str | None:
    return None if value is None else canonical_uuid(value)


@attrs.frozen(cache_hash=True)
class SendGridSingleSend:
    """One SendGrid single send, by id; optionally split by A/B variation or phase, or filtered."""

    single_send_id: str = attrs.field(converter=canonical_uuid)
    group_by: Literal["ab_variation", "ab_phase"] | None = attrs.field(
        default=None,
        kw_only=True,
        validator=attrs.validators.optional(attrs.validators.in_(("ab_variation", "ab_phase"))),
    )
    ab_variation_id: str | None = attrs.field(default=None, kw_only=True, converter=_optional_uuid)
    ab_phase_id: Literal["test", "send"] | None = attrs.field(
        default=None,
        kw_only=True,
        validator=attrs.validators.optional(attrs.validators.in_(("test", "send"))),
    )
    page_size: int = attrs.field(default=MAX_PAGE_SIZE, kw_only=True, validator=_page_size)


# The wire format: attrs classes mirroring the JSON. Plain (not frozen) classes, as they live
# only between decoding and mapping.


@attrs.define
class AutomationLink:
    """One row of ``AutmoationsLinkStatsResponse.results``: a link's clicks (per step)."""

    url: str
    clicks: int
    step_id: str | None = None
    url_location: int | None = None


@attrs.define
class SingleSendLink:
    """One row of ``SinglesendsLinkStatsResponse.results``: a link's clicks (per A/B split)."""

    url: str
    clicks: int
    ab_variation: str | None = None
    ab_phase: str | None = None
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


@attrs.define
class SingleSendLinksResponse:
    """``SinglesendsLinkStatsResponse``."""

    results: list[SingleSendLink]
    total_clicks: int | None = None
    metadata: LinkTrackingMetadata | None = None


@attrs.define
class AutomationStats:
    """One row of ``AutomationsResponse.results``; its ``stats`` are not needed here."""

    id: str
    aggregation: str | None = None
    step_id: str | None = None


@attrs.define
class AutomationsResponse:
    """``AutomationsResponse``: the account's automations."""

    results: list[AutomationStats]
    metadata: LinkTrackingMetadata | None = None


@attrs.define
class SingleSendStats:
    """One row of ``SinglesendsResponse.results``; its ``stats`` are not needed here."""

    id: str
    aggregation: str | None = None
    ab_variation: str | None = None
    ab_phase: str | None = None


@attrs.define
class SingleSendsResponse:
    """``SinglesendsResponse``: the account's single sends."""

    results: list[SingleSendStats]
    metadata: LinkTrackingMetadata | None = None


def _structure_automation_link(value: Any, _: object) -> AutomationLink:
    if type(value) is not dict:
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    get = value.get
    return AutomationLink(
        string(value["url"]),
        positive_count(value["clicks"]),
        optional_string(get("step_id")),
        optional_integer(get("url_location")),
    )


def _structure_single_send_link(value: Any, _: object) -> SingleSendLink:
    if type(value) is not dict:
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    get = value.get
    return SingleSendLink(
        string(value["url"]),
        positive_count(value["clicks"]),
        optional_string(get("ab_variation")),
        optional_string(get("ab_phase")),
        optional_integer(get("url_location")),
    )


def _converter() -> cattrs.Converter:
    # Link rows come fifty to a page and are most of a response's work, so their hooks are
    # written out: generated hooks build a keyword dict for every row.
    converter = make_converter()
    converter.register_structure_hook(AutomationLink, _structure_automation_link)
    converter.register_structure_hook(SingleSendLink, _structure_single_send_link)
    converter.register_structure_hook(
        LinkTrackingMetadata,
        make_dict_structure_fn(LinkTrackingMetadata, converter, self_url=override(rename="self")),
    )
    for response in (
        AutomationLinksResponse,
        SingleSendLinksResponse,
        AutomationsResponse,
        SingleSendsResponse,
    ):
        converter.register_structure_hook(
            response,
            make_dict_structure_fn(response, converter, metadata=override(rename="_metadata")),
        )
    return converter


_CONVERTER = _converter()
_structure_automation_links = structurer(_CONVERTER, AutomationLinksResponse)
_structure_single_send_links = structurer(_CONVERTER, SingleSendLinksResponse)
_structure_automations = structurer(_CONVERTER, AutomationsResponse)
_structure_single_sends = structurer(_CONVERTER, SingleSendsResponse)


def _next_link(metadata: LinkTrackingMetadata | None) -> str | None:
    return metadata.next if metadata else None


def automation_clicks(automation_id: str, response: AutomationLinksResponse) -> list[LinkClick]:
    """Map each automation link row to a ``LinkClick``."""
    provider = NAME
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


def single_send_clicks(single_send_id: str, response: SingleSendLinksResponse) -> list[LinkClick]:
    """Map each single send link row to a ``LinkClick``."""
    provider = NAME
    return [
        LinkClick(
            provider,
            single_send_id,
            read_url(row.url),
            row.clicks,
            url_location=row.url_location,
            ab_variation=row.ab_variation,
            ab_phase=row.ab_phase,
        )
        for row in response.results
    ]


def _automation_listing(response: Response) -> Page[tuple[SendGridAutomation, str | None]]:
    automations = _structure_automations(response.body)
    rows = [(SendGridAutomation(row.id), row.step_id) for row in automations.results]
    return Page(rows, _next_link(automations.metadata))


def _single_send_listing(response: Response) -> Page[SendGridSingleSend]:
    single_sends = _structure_single_sends(response.body)
    sends = [SendGridSingleSend(row.id) for row in single_sends.results]
    return Page(sends, _next_link(single_sends.metadata))


def parse_error_body(body: bytes) -> ErrorDetails:
    """SendGrid's ``{"errors": [{"field", "message", "help"}], "id"}``; anything else (a
    gateway's page, say) is read by the shared default."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if not isinstance(errors, list) or not all(isinstance(item, dict) for item in errors):
        return read_error_body(body)
    messages = tuple(
        ProviderMessage(item["message"], field if isinstance(field, str) and field else None)
        for item in errors
        if isinstance(item.get("message"), str) and item["message"]
        for field in (item.get("field"),)
    )
    error_id = payload.get("id") if isinstance(payload, dict) else None
    return ErrorDetails(messages, error_id if isinstance(error_id, str) else None)


SendGridTarget = SendGridAutomation | SendGridSingleSend


class SendGridSource(HTTPSource[SendGridTarget]):
    """Link stats of SendGrid automations and single sends, every page.

    Requests go to ``{base_url}/v3/marketing/stats/...``. The key travels only in the
    ``Authorization`` header of each request, and only to ``base_url``'s origin.
    """

    provider = NAME
    target_types = (SendGridAutomation, SendGridSingleSend)

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | URL = DEFAULT_BASE_URL,
        **options: Unpack[SourceOptions],
    ) -> None:
        non_empty_string("api_key", api_key)
        super().__init__(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            secrets=(api_key,),
            **options,
        )
        self._stats = self.base_url / "v3/marketing/stats"

    def first_request(self, target: SendGridTarget) -> PageRequest:
        query = {"page_size": str(target.page_size)}
        if isinstance(target, SendGridAutomation):
            if target.group_by_step:
                query["group_by"] = "step_id"
            if target.step_ids:
                query["step_ids"] = ",".join(target.step_ids)
            path = self._stats / "automations" / target.automation_id / "links"
            return PageRequest(path.with_query(query))
        if target.group_by:
            query["group_by"] = target.group_by
        if target.ab_variation_id:
            query["ab_variation_id"] = target.ab_variation_id
        if target.ab_phase_id:
            query["ab_phase_id"] = target.ab_phase_id
        path = self._stats / "singlesends" / target.single_send_id / "links"
        return PageRequest(path.with_query(query))

    def parse_page(self, target: SendGridTarget, response: Response) -> Page[LinkClick]:
        if isinstance(target, SendGridAutomation):
            automation = _structure_automation_links(response.body)
            clicks = automation_clicks(target.automation_id, automation)
            return Page(clicks, _next_link(automation.metadata))
        single_send = _structure_single_send_links(response.body)
        clicks = single_send_clicks(target.single_send_id, single_send)
        return Page(clicks, _next_link(single_send.metadata))

    def parse_error(self, response: Response) -> ErrorDetails:
        return parse_error_body(response.body)

    async def automations(self) -> AsyncGenerator[Campaign[SendGridAutomation], None]:
        """Every automation of the account, with the step ids the listing names."""
        steps: dict[SendGridAutomation, list[str]] = {}
        request = self._listing_request("automations")
        subject = Listing(NAME, "automations")
        async for page in self.paginate(request, _automation_listing, subject=subject):
            for automation, step_id in page:
                named = steps.setdefault(automation, [])
                if step_id not in (None, "all") and step_id not in named:
                    named.append(step_id)
        for automation, step_ids in steps.items():
            yield Campaign(NAME, automation, step_ids=tuple(step_ids))

    async def single_sends(self) -> AsyncGenerator[Campaign[SendGridSingleSend], None]:
        """Every single send of the account."""
        seen: set[SendGridSingleSend] = set()
        request = self._listing_request("singlesends")
        subject = Listing(NAME, "single sends")
        async for page in self.paginate(request, _single_send_listing, subject=subject):
            for single_send in page:
                if single_send not in seen:
                    seen.add(single_send)
                    yield Campaign(NAME, single_send)

    async def discover(self) -> AsyncGenerator[Campaign[SendGridTarget], None]:
        """Every automation, then every single send."""
        async for automation in self.automations():
            yield automation
        async for single_send in self.single_sends():
            yield single_send

    def _listing_request(self, listing: str) -> PageRequest:
        return PageRequest((self._stats / listing).with_query(page_size=str(MAX_PAGE_SIZE)))


def _from_environment(environ: Mapping[str, str], base_url: str | None) -> SendGridSource | None:
    api_key = environ.get("SENDGRID_API_KEY") or None
    if api_key is None:
        return None
    return SendGridSource(api_key=api_key, base_url=base_url or DEFAULT_BASE_URL)


PROVIDER = ProviderInfo(
    name=NAME,
    title="SendGrid",
    target_kinds=(
        TargetKind(
            name="automation",
            target_type=SendGridAutomation,
            from_id=SendGridAutomation,
            id_of=attrgetter("automation_id"),
            help="a SendGrid automation id",
        ),
        TargetKind(
            name="single-send",
            target_type=SendGridSingleSend,
            from_id=SendGridSingleSend,
            id_of=attrgetter("single_send_id"),
            help="a SendGrid single send id",
        ),
    ),
    environment={"SENDGRID_API_KEY": "the API key"},
    from_environment=_from_environment,
    default_base_url=DEFAULT_BASE_URL,
    base_url_help=f"SendGrid API base URL ({EU_BASE_URL} for the EU region)",
)
