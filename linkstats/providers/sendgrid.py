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
    not_an_object,
    optional_integer,
    optional_string,
    positive_count,
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


# Link pages are parsed straight from the decoded JSON into records, one construction per row,
# as rows are most of a response's work. The wire shapes, from the OpenAPI file:
#
#   AutmoationsLinkStatsResponse (sic) and SinglesendsLinkStatsResponse:
#     {"results": [row, ...], "total_clicks": int, "_metadata": LinkTrackingMetadata}
#   an automation row:  {"url": str, "clicks": int >= 1, "step_id": str, "url_location": int}
#   a single send row:  {"url": str, "clicks": int >= 1, "ab_variation": str, "ab_phase": str,
#                        "url_location": int}
#   LinkTrackingMetadata: {"next": str, "prev": str, "self": str, "count": number}
#
# `url` and `clicks` are required; the rest may be missing or null. Listings, a page or two per
# account, go through attrs wire classes and cattrs.


def _results(payload: Any) -> list[Any]:
    """The page's ``results`` list, its ``total_clicks`` and ``_metadata`` checked."""
    if type(payload) is not dict:
        raise not_an_object(payload)
    results = payload["results"]
    if type(results) is not list:
        raise TypeError(f"expected a list of results, got {type(results).__name__}")
    optional_integer(payload.get("total_clicks"))
    return results


def _next_link(payload: dict[str, Any]) -> str | None:
    metadata = payload.get("_metadata")
    if type(metadata) is dict:
        link, prev, self_url, count = (
            metadata.get("next"), metadata.get("prev"), metadata.get("self"), metadata.get("count")
        )  # fmt: skip
        # Every page checks its links; only a page that fails the quick check is structured,
        # for the error that says what is wrong.
        if (
            (link is None or type(link) is str)
            and (prev is None or type(prev) is str)
            and (self_url is None or type(self_url) is str)
            and (count is None or type(count) is int or type(count) is float)
        ):
            return link
    structured = _structure_metadata(metadata)
    return structured.next if structured else None


def _check_row(url: Any, count: Any, url_location: Any, *labels: Any) -> None:
    """Raise the error that names what is wrong with a row the quick check refused."""
    string(url)
    positive_count(count)
    optional_integer(url_location)
    for label in labels:
        optional_string(label)


def automation_clicks(automation_id: str, payload: Any) -> list[LinkClick]:
    """Each automation link row of a decoded page as a ``LinkClick``."""
    provider, record = NAME, LinkClick
    clicks = []
    for row in _results(payload):
        if type(row) is not dict:
            raise not_an_object(row)
        url, count, step_id, url_location = (
            row["url"], row["clicks"], row.get("step_id"), row.get("url_location")
        )  # fmt: skip
        if not (
            type(url) is str
            and type(count) is int
            and count >= 1
            and (step_id is None or type(step_id) is str)
            and (url_location is None or type(url_location) is int)
        ):
            _check_row(url, count, url_location, step_id)
        clicks.append(
            record(
                provider=provider,
                source_id=automation_id,
                url=url,
                clicks=count,
                step_id=step_id,
                url_location=url_location,
            )
        )
    return clicks


def single_send_clicks(single_send_id: str, payload: Any) -> list[LinkClick]:
    """Each single send link row of a decoded page as a ``LinkClick``."""
    provider, record = NAME, LinkClick
    clicks = []
    for row in _results(payload):
        if type(row) is not dict:
            raise not_an_object(row)
        url, count, url_location = row["url"], row["clicks"], row.get("url_location")
        variation, phase = row.get("ab_variation"), row.get("ab_phase")
        if not (
            type(url) is str
            and type(count) is int
            and count >= 1
            and (variation is None or type(variation) is str)
            and (phase is None or type(phase) is str)
            and (url_location is None or type(url_location) is int)
        ):
            _check_row(url, count, url_location, variation, phase)
        clicks.append(
            record(
                provider=provider,
                source_id=single_send_id,
                url=url,
                clicks=count,
                url_location=url_location,
                ab_variation=variation,
                ab_phase=phase,
            )
        )
    return clicks


@attrs.define
class LinkTrackingMetadata:
    """``_metadata``: ``next`` is absent on the last page."""

    next: str | None = None
    prev: str | None = None
    self_url: str | None = None
    count: float | None = None


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


def _converter() -> cattrs.Converter:
    converter = make_converter()
    converter.register_structure_hook(
        LinkTrackingMetadata,
        make_dict_structure_fn(LinkTrackingMetadata, converter, self_url=override(rename="self")),
    )
    for response in (AutomationsResponse, SingleSendsResponse):
        converter.register_structure_hook(
            response,
            make_dict_structure_fn(response, converter, metadata=override(rename="_metadata")),
        )
    return converter


_CONVERTER = _converter()
_structure_automations = structurer(_CONVERTER, AutomationsResponse)
_structure_single_sends = structurer(_CONVERTER, SingleSendsResponse)
_metadata_hook = _CONVERTER.get_structure_hook(LinkTrackingMetadata | None)


def _structure_metadata(value: Any) -> LinkTrackingMetadata | None:
    return _metadata_hook(value, LinkTrackingMetadata | None)  # type: ignore[no-any-return]


def _automation_listing(response: Response) -> Page[tuple[SendGridAutomation, str | None]]:
    automations = _structure_automations(response.body)
    rows = [(SendGridAutomation(row.id), row.step_id) for row in automations.results]
    return Page(rows, automations.metadata.next if automations.metadata else None)


def _single_send_listing(response: Response) -> Page[SendGridSingleSend]:
    single_sends = _structure_single_sends(response.body)
    sends = [SendGridSingleSend(row.id) for row in single_sends.results]
    return Page(sends, single_sends.metadata.next if single_sends.metadata else None)


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
        payload = orjson.loads(response.body)
        if isinstance(target, SendGridAutomation):
            clicks = automation_clicks(target.automation_id, payload)
        else:
            clicks = single_send_clicks(target.single_send_id, payload)
        return Page(clicks, _next_link(payload))

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
