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
from typing import Annotated, Any, Final, Literal, Unpack

import attrs
import msgspec
import orjson
from yarl import URL

from .._errors import ErrorDetails, ProviderMessage
from .._http import PageRequest, Response, read_error_body
from .._models import Campaign, LinkClick, Listing
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


SingleSendSplit = Literal["ab_variation", "ab_phase"]
_SINGLE_SEND_SPLITS: tuple[SingleSendSplit, ...] = ("ab_variation", "ab_phase")


def _group_by(value: object) -> SingleSendSplit | tuple[SingleSendSplit, ...] | None:
    """One split, or several in the API's order (one of them is kept as that one)."""
    if value is None or isinstance(value, str):
        if value is not None and value not in _SINGLE_SEND_SPLITS:
            raise ValueError(f"group_by must be ab_variation, ab_phase or both, got {value!r}")
        return value
    if not isinstance(value, tuple | list | set | frozenset) or not set(value) <= set(
        _SINGLE_SEND_SPLITS
    ):
        raise ValueError(f"group_by must be ab_variation, ab_phase or both, got {value!r}")
    chosen = tuple(split for split in _SINGLE_SEND_SPLITS if split in value)
    return chosen[0] if len(chosen) == 1 else (chosen or None)


@attrs.frozen(cache_hash=True)
class SendGridSingleSend:
    """One SendGrid single send, by id; optionally split by A/B variation, phase or both
    (``group_by=("ab_variation", "ab_phase")``), or filtered."""

    single_send_id: str = attrs.field(converter=canonical_uuid)
    group_by: SingleSendSplit | tuple[SingleSendSplit, ...] | None = attrs.field(
        default=None, kw_only=True, converter=_group_by
    )
    ab_variation_id: str | None = attrs.field(default=None, kw_only=True, converter=_optional_uuid)
    ab_phase_id: Literal["test", "send"] | None = attrs.field(
        default=None,
        kw_only=True,
        validator=attrs.validators.optional(attrs.validators.in_(("test", "send"))),
    )
    page_size: int = attrs.field(default=MAX_PAGE_SIZE, kw_only=True, validator=_page_size)


# SendGrid's shapes, from the OpenAPI file, decoded by msgspec: in C, checked as strictly as
# the schema says (a number is not a string, a bool not a count), into small structs in place
# of the dicts a plain JSON decoder would build, each link row then made one record. What is
# not needed here (a listing row's `stats`, say) is not declared, so it is skipped.


class _AutomationRow(msgspec.Struct, gc=False):
    """A row of ``AutmoationsLinkStatsResponse`` (sic): ``step_id`` is ``"all"`` unless
    grouped by step."""

    url: str
    clicks: Annotated[int, msgspec.Meta(ge=1)]
    step_id: str | None = None
    url_location: int | None = None


class _SingleSendRow(msgspec.Struct, gc=False):
    """A row of ``SinglesendsLinkStatsResponse``: the splits are ``"all"`` unless grouped."""

    url: str
    clicks: Annotated[int, msgspec.Meta(ge=1)]
    ab_variation: str | None = None
    ab_phase: str | None = None
    url_location: int | None = None


class _Metadata(msgspec.Struct, gc=False, rename={"self_url": "self"}):
    """``LinkTrackingMetadata``: ``next`` is absent on the last page."""

    next: str | None = None
    prev: str | None = None
    self_url: str | None = None
    count: float | None = None


class _AutomationLinks(msgspec.Struct, rename={"metadata": "_metadata"}):
    results: list[_AutomationRow]
    total_clicks: int | None = None
    metadata: _Metadata | None = None


class _SingleSendLinks(msgspec.Struct, rename={"metadata": "_metadata"}):
    results: list[_SingleSendRow]
    total_clicks: int | None = None
    metadata: _Metadata | None = None


class _AutomationStats(msgspec.Struct, gc=False):
    """One row of ``AutomationsResponse.results``."""

    id: str
    aggregation: str | None = None
    step_id: str | None = None


class _Automations(msgspec.Struct, rename={"metadata": "_metadata"}):
    """``AutomationsResponse``: the account's automations."""

    results: list[_AutomationStats]
    metadata: _Metadata | None = None


class _SingleSendStats(msgspec.Struct, gc=False):
    """One row of ``SinglesendsResponse.results``."""

    id: str
    aggregation: str | None = None
    ab_variation: str | None = None
    ab_phase: str | None = None


class _SingleSends(msgspec.Struct, rename={"metadata": "_metadata"}):
    """``SinglesendsResponse``: the account's single sends."""

    results: list[_SingleSendStats]
    metadata: _Metadata | None = None


_decode_automation_links = msgspec.json.Decoder(_AutomationLinks).decode
_decode_single_send_links = msgspec.json.Decoder(_SingleSendLinks).decode
_decode_automations = msgspec.json.Decoder(_Automations).decode
_decode_single_sends = msgspec.json.Decoder(_SingleSends).decode


def _next_link(metadata: _Metadata | None) -> str | None:
    return None if metadata is None else metadata.next


def automation_clicks(automation_id: str, body: bytes) -> Page[LinkClick]:
    """An automation's page of link rows as records, and its next link."""
    page = _decode_automation_links(body)
    provider, record = NAME, LinkClick
    clicks = [
        record(
            provider=provider,
            source_id=automation_id,
            url=row.url,
            clicks=row.clicks,
            step_id=row.step_id,
            url_location=row.url_location,
        )
        for row in page.results
    ]
    return Page(clicks, _next_link(page.metadata))


def single_send_clicks(single_send_id: str, body: bytes) -> Page[LinkClick]:
    """A single send's page of link rows as records, and its next link."""
    page = _decode_single_send_links(body)
    provider, record = NAME, LinkClick
    clicks = [
        record(
            provider=provider,
            source_id=single_send_id,
            url=row.url,
            clicks=row.clicks,
            url_location=row.url_location,
            ab_variation=row.ab_variation,
            ab_phase=row.ab_phase,
        )
        for row in page.results
    ]
    return Page(clicks, _next_link(page.metadata))


def _automation_listing(response: Response) -> Page[tuple[SendGridAutomation, str | None]]:
    automations = _decode_automations(response.body)
    rows = [(SendGridAutomation(row.id), row.step_id) for row in automations.results]
    return Page(rows, _next_link(automations.metadata))


def _single_send_listing(response: Response) -> Page[SendGridSingleSend]:
    single_sends = _decode_single_sends(response.body)
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
            kind, target_id = "automations", target.automation_id
        else:
            if target.group_by:
                splits = target.group_by
                query["group_by"] = splits if isinstance(splits, str) else ",".join(splits)
            if target.ab_variation_id:
                query["ab_variation_id"] = target.ab_variation_id
            if target.ab_phase_id:
                query["ab_phase_id"] = target.ab_phase_id
            kind, target_id = "singlesends", target.single_send_id
        # Canonical UUIDs need no quoting: joined as they are, which costs half as much.
        path = self._stats.joinpath(kind, target_id, "links", encoded=True)
        return PageRequest(path.with_query(query))

    def parse_page(self, target: SendGridTarget, response: Response) -> Page[LinkClick]:
        if isinstance(target, SendGridAutomation):
            return automation_clicks(target.automation_id, response.body)
        return single_send_clicks(target.single_send_id, response.body)

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


def _split(target: SendGridTarget, fields: frozenset[str]) -> SendGridTarget:
    """Ask SendGrid for rows per step, or per A/B variation and phase, when a report needs
    them: without asking, it sums over them and says "all"."""
    if isinstance(target, SendGridAutomation):
        return attrs.evolve(target, group_by_step=True) if "step_id" in fields else target
    wanted = [split for split in _SINGLE_SEND_SPLITS if split in fields]
    if not wanted:
        return target
    current = target.group_by
    already = {current} if isinstance(current, str) else set(current or ())
    return attrs.evolve(target, group_by=tuple({*already, *wanted}))


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
    split=_split,
)
