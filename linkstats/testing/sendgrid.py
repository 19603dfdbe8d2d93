"""SendGrid's Marketing Campaigns stats as the simulator plays them: config, data, endpoints.

After SendGrid's own OpenAPI file (`tsg_mc_stats_v3.json`):

- `GET /v3/marketing/stats/automations/{id}/links` (`group_by=step_id`, `step_ids`);
- `GET /v3/marketing/stats/singlesends/{id}/links` (`group_by` of `ab_variation` and `ab_phase`,
  `ab_variation_id`, `ab_phase_id`);
- the listings `GET /v3/marketing/stats/automations` (`automation_ids`) and
  `GET /v3/marketing/stats/singlesends` (`singlesend_ids`).

Every list parameter is ONE comma-separated value (`explode: false`). `Authorization: Bearer
<key>`, `page_size` 1..50 (default 25), an opaque `page_token`, absolute `_metadata.next`/`prev`/
`self` links on the simulator's own origin, `_metadata.count` across all pages,
`{"errors":[{"field","message","help"}],"id"}` errors, and X-RateLimit-* headers on every answer.

The data is built as SendGrid's real answers come:

- Ungrouped rows, which sum a link's clicks over all steps or variations, carry `"all"` for
  `step_id`, `ab_variation` and `ab_phase` (the spec says `format: uuid`; SendGrid's own docs and
  answers say "all").
- Zero-click links are not listed (`clicks` has `minimum: 1`); the same URL can sit at several
  `url_location`s.
- Single sends: one variation means no A/B test and a `send` phase only; with two or three,
  every variation has a `test` phase and the winning one alone a `send` phase, as an A/B test
  sends the winner to the rest of the list.
- Listings: `stats.clicks` is the sum of the link stats' clicks; the other metrics are plausible
  (requests >= delivered >= opens >= unique_opens >= unique_clicks, clicks >= unique_clicks).
- Each period of `SimulatorConfig.period` adds clicks to some links, unlisted ones included;
  the listings' other metrics, lifetime totals too, never fall as clicks grow.
"""

from __future__ import annotations

import base64
import copy
import functools
import math
import random
from collections.abc import Callable, Collection, Hashable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs
import orjson
from aiohttp import web
from attrs import validators as v

from ._core import (
    GENEROUS_LIMIT,
    REASONS,
    SIMULATOR_STATE,
    Invalid,
    ProviderSimulation,
    SharedConfig,
    Subject,
    error_id,
    json_response,
    own_origin,
)
from ._draws import URL_POOL, grown, listed_ids, new_uuid, on_the_wire, rng, url_tag
from ._knobs import (
    Behavior,
    Quirks,
    RateLimit,
    account_ids,
    at_least_one,
    inclusive_range,
    is_uuid,
    require_uuid,
)

if TYPE_CHECKING:
    from multidict import MultiMapping
    from yarl import URL

__all__ = [
    "SendGridConfig",
    "sendgrid_automation_ids",
    "sendgrid_automation_links",
    "sendgrid_automation_list",
    "sendgrid_automation_steps",
    "sendgrid_single_send_ids",
    "sendgrid_single_send_links",
    "sendgrid_single_send_list",
    "sendgrid_single_send_variations",
]


@attrs.frozen(kw_only=True)
class SendGridConfig:
    """The simulated SendGrid account: key, data sizes, automations, single sends, rate limit."""

    api_key: str = attrs.field(default="SG.demo-key", validator=[v.instance_of(str), v.min_len(1)])
    # Inclusive ranges; equal bounds give exact sizes.
    steps_per_automation: tuple[int, int] = attrs.field(default=(1, 4), validator=inclusive_range)
    links_per_step: tuple[int, int] = attrs.field(default=(2, 12), validator=inclusive_range)
    # A single send with one variation is not A/B tested; (2, 3) makes every one an A/B test.
    variations_per_single_send: tuple[int, int] = attrs.field(
        default=(1, 3), validator=[inclusive_range, at_least_one]
    )
    links_per_variation: tuple[int, int] = attrs.field(default=(2, 12), validator=inclusive_range)
    # What the account lists, in listing order; None draws 30 automations and 20 single sends
    # from the seed. Every well-formed UUID still has link data.
    automation_ids: tuple[str, ...] | None = attrs.field(default=None, validator=account_ids)
    single_send_ids: tuple[str, ...] | None = attrs.field(default=None, validator=account_ids)
    # SendGrid reports a budget on every answer; the default is never reached on loopback.
    rate_limit: RateLimit = attrs.field(default=GENEROUS_LIMIT, validator=v.instance_of(RateLimit))


class _Configured(SharedConfig, Protocol):
    """What this module reads of a `SimulatorConfig`."""

    @property
    def quirks(self) -> Quirks: ...
    @property
    def sendgrid(self) -> SendGridConfig: ...


_SINGLE_SEND_GROUP_BY = ("ab_variation", "ab_phase")
_AB_PHASE_IDS = ("test", "send")
# How many of each the account lists when the config names none.
_DRAWN_AUTOMATIONS = 30
_DRAWN_SINGLE_SENDS = 20
_PAGINATION_PARAMETERS = ("page_size", "page_token")
# Parameters that hold one comma-separated list (`explode: false`).
_LIST_PARAMETERS = frozenset({"group_by", "step_ids", "automation_ids", "singlesend_ids"})
_DEFAULT_PAGE_SIZE = 25
_MAX_PAGE_SIZE = 50
# `automation_ids` and `singlesend_ids` have `minItems: 1` and `maxItems: 25`.
_MAX_LISTED_IDS = 25
_LISTING_FILTERS = {"automations": "automation_ids", "singlesends": "singlesend_ids"}


# The data


# The hash is kept: the id listings make it a key worth not rehashing on every cached lookup.
@attrs.frozen(cache_hash=True)
class _Shape:
    """The part of a config that determines the data, used as a cache key."""

    seed: int
    period: int
    steps_per_automation: tuple[int, int]
    links_per_step: tuple[int, int]
    variations_per_single_send: tuple[int, int]
    links_per_variation: tuple[int, int]
    unicode_urls: bool
    distinct_urls: bool
    # What the account lists, in listing order and lower case.
    automation_ids: tuple[str, ...]
    single_send_ids: tuple[str, ...]

    @classmethod
    def of(cls, config: _Configured) -> _Shape:
        sendgrid, seed = config.sendgrid, config.seed
        return cls(
            seed=seed,
            period=config.period,
            steps_per_automation=sendgrid.steps_per_automation,
            links_per_step=sendgrid.links_per_step,
            variations_per_single_send=sendgrid.variations_per_single_send,
            links_per_variation=sendgrid.links_per_variation,
            unicode_urls=config.quirks.unicode_urls,
            distinct_urls=config.distinct_urls,
            automation_ids=listed_ids(
                sendgrid.automation_ids, seed, "sendgrid/automations", _DRAWN_AUTOMATIONS
            ),
            single_send_ids=listed_ids(
                sendgrid.single_send_ids, seed, "sendgrid/singlesends", _DRAWN_SINGLE_SENDS
            ),
        )


@attrs.frozen
class _StepLink:
    url: str
    url_location: int
    clicks: int


@attrs.frozen
class _Step:
    step_id: str
    links: tuple[_StepLink, ...]


@functools.lru_cache(maxsize=1024)
def _automation_steps(shape: _Shape, automation_id: str) -> tuple[_Step, ...]:
    """The steps of one automation with every link in each, clicked or not."""
    generator = rng(shape.seed, "sendgrid", automation_id)
    steps = []
    for step in range(generator.randint(*shape.steps_per_automation)):
        step_id = new_uuid(generator)
        links = tuple(
            _StepLink(
                url=on_the_wire(
                    generator.choice(URL_POOL),
                    unicode_urls=shape.unicode_urls,
                    tag=url_tag(shape.distinct_urls, automation_id, 1000 * step + url_location),
                ),
                url_location=url_location,
                # The growth draws nothing from `generator`, so period 0 is the data as drawn.
                clicks=grown(
                    0 if generator.random() < 0.25 else generator.randint(1, 40),
                    shape.period,
                    shape.seed,
                    "sendgrid",
                    automation_id,
                    step,
                    url_location,
                ),
            )
            for url_location in range(generator.randint(*shape.links_per_step))
        )
        steps.append(_Step(step_id, links))
    return tuple(steps)


@attrs.frozen
class _LinkRows:
    """Every row of one SendGrid query across all pages, with the sum of their clicks."""

    rows: tuple[dict[str, Any], ...]
    total_clicks: int


@functools.lru_cache(maxsize=1024)
def _automation_link_rows(
    shape: _Shape, automation_id: str, step_ids: frozenset[str], group_by_step: bool
) -> _LinkRows:
    """Rows of one query: `automation_id` and `step_ids` in lower case, empty `step_ids` for all."""
    clicked = [
        (step.step_id, link)
        for step in _automation_steps(shape, automation_id)
        if not step_ids or step.step_id in step_ids
        for link in step.links
        if link.clicks
    ]
    rows: tuple[dict[str, Any], ...]
    if group_by_step:
        rows = tuple(
            {
                "url": link.url,
                "url_location": link.url_location,
                "step_id": step_id,
                "clicks": link.clicks,
            }
            for step_id, link in clicked
        )
    else:
        # Without grouping, a link's clicks are summed over the steps it appears in, in order of
        # first appearance, and rows say so as SendGrid's do: "step_id": "all".
        totals: dict[tuple[str, int], int] = {}
        for _, link in clicked:
            key = (link.url, link.url_location)
            totals[key] = totals.get(key, 0) + link.clicks
        rows = tuple(
            {"url": url, "url_location": url_location, "step_id": "all", "clicks": clicks}
            for (url, url_location), clicks in totals.items()
        )
    return _LinkRows(rows=rows, total_clicks=sum(link.clicks for _, link in clicked))


def _metrics(generator: random.Random, clicks: int, first_clicks: int) -> dict[str, int]:
    """All twelve `Metrics` around a known click count, in plausible proportions.

    The others are drawn around `first_clicks`, the count before any growth, so that none of
    these lifetime totals falls as `clicks` grows from period to period.
    """
    unique_clicks = generator.randint(math.ceil(first_clicks / 3), first_clicks)
    unique_opens = unique_clicks + generator.randint(0, 4 * unique_clicks + 50)
    opens = unique_opens + generator.randint(0, unique_opens)
    delivered = opens + generator.randint(20, 2 * opens + 100)
    bounces = generator.randint(0, delivered // 40)
    bounce_drops = generator.randint(0, bounces)
    spam_report_drops = generator.randint(0, 3)
    invalid_emails = generator.randint(0, 5)
    return {
        "bounce_drops": bounce_drops,
        "bounces": bounces,
        "clicks": clicks,
        "delivered": delivered,
        "invalid_emails": invalid_emails,
        "opens": opens,
        # Every request ends delivered, bounced or dropped.
        "requests": delivered + bounces + bounce_drops + spam_report_drops + invalid_emails,
        "spam_report_drops": spam_report_drops,
        "spam_reports": generator.randint(0, delivered // 500),
        "unique_clicks": unique_clicks,
        "unique_opens": unique_opens,
        "unsubscribes": generator.randint(0, delivered // 100),
    }


@functools.lru_cache(maxsize=16)
def _automation_list(shape: _Shape) -> tuple[dict[str, Any], ...]:
    """Every row of the automations listing, in listing order."""
    first = attrs.evolve(shape, period=0)
    return tuple(
        {
            "id": automation_id,
            "aggregation": "total",
            "step_id": "all",
            "stats": _metrics(
                rng(shape.seed, "sendgrid/automation-stats", automation_id),
                _automation_link_rows(shape, automation_id, frozenset(), False).total_clicks,
                _automation_link_rows(first, automation_id, frozenset(), False).total_clicks,
            ),
        }
        for automation_id in shape.automation_ids
    )


@attrs.frozen
class _LinkCell:
    """The clicks one link of one A/B variation had in one phase, zero included."""

    ab_variation: str
    ab_phase: str
    url: str
    url_location: int
    clicks: int


@attrs.frozen
class _SingleSend:
    """A single send's A/B variations and every link of each in each phase it was sent in."""

    variations: tuple[str, ...]
    cells: tuple[_LinkCell, ...]


@functools.lru_cache(maxsize=1024)
def _single_send(shape: _Shape, single_send_id: str) -> _SingleSend:
    """One single send, in variation, phase, then link order."""
    generator = rng(shape.seed, "sendgrid/singlesend", single_send_id)
    variations = tuple(
        new_uuid(generator) for _ in range(generator.randint(*shape.variations_per_single_send))
    )
    # An A/B test sends every variation to a sample, then the winner alone to the rest.
    winner = generator.choice(variations)
    cells: list[_LinkCell] = []
    for index, variation in enumerate(variations):
        links = [
            (
                on_the_wire(
                    generator.choice(URL_POOL),
                    unicode_urls=shape.unicode_urls,
                    tag=url_tag(shape.distinct_urls, single_send_id, 1000 * index + url_location),
                ),
                url_location,
            )
            for url_location in range(generator.randint(*shape.links_per_variation))
        ]
        phases: tuple[str, ...] = ("send",)
        if len(variations) > 1:
            phases = ("test", "send") if variation == winner else ("test",)
        for phase in phases:
            # The test phase goes to a sample of the list, so it draws fewer clicks.
            most_clicks = 12 if phase == "test" else 40
            for url, url_location in links:
                clicks = 0 if generator.random() < 0.25 else generator.randint(1, most_clicks)
                # The growth draws nothing from `generator`, so period 0 is the data as drawn.
                clicks = grown(
                    clicks,
                    shape.period,
                    shape.seed,
                    "sendgrid/singlesend",
                    single_send_id,
                    index,
                    phase,
                    url_location,
                )
                cells.append(_LinkCell(variation, phase, url, url_location, clicks))
    return _SingleSend(variations, tuple(cells))


@functools.lru_cache(maxsize=1024)
def _single_send_link_rows(
    shape: _Shape,
    single_send_id: str,
    group_by: frozenset[str],
    ab_variation_id: str | None,
    ab_phase_id: str | None,
) -> _LinkRows:
    """Rows of one single-send query; ids in lower case, None filters for all."""
    totals: dict[tuple[str, int, str, str], int] = {}
    for cell in _single_send(shape, single_send_id).cells:
        if not cell.clicks or (
            (ab_variation_id is not None and cell.ab_variation != ab_variation_id)
            or (ab_phase_id is not None and cell.ab_phase != ab_phase_id)
        ):
            continue
        # A field not grouped by is summed over: "all", or the one value its filter kept.
        variation = cell.ab_variation if "ab_variation" in group_by else ab_variation_id or "all"
        phase = cell.ab_phase if "ab_phase" in group_by else ab_phase_id or "all"
        key = (cell.url, cell.url_location, variation, phase)
        totals[key] = totals.get(key, 0) + cell.clicks
    rows = tuple(
        {
            "url": url,
            "url_location": url_location,
            "ab_variation": variation,
            "ab_phase": phase,
            "clicks": clicks,
        }
        for (url, url_location, variation, phase), clicks in totals.items()
    )
    return _LinkRows(rows=rows, total_clicks=sum(totals.values()))


@functools.lru_cache(maxsize=16)
def _single_send_list(shape: _Shape) -> tuple[dict[str, Any], ...]:
    """Every row of the single sends listing, in listing order."""
    no_filter = frozenset[str]()
    first = attrs.evolve(shape, period=0)
    return tuple(
        {
            "id": single_send_id,
            "ab_variation": "all",
            "ab_phase": "all",
            "aggregation": "total",
            "stats": _metrics(
                rng(shape.seed, "sendgrid/singlesend-stats", single_send_id),
                _single_send_link_rows(shape, single_send_id, no_filter, None, None).total_clicks,
                _single_send_link_rows(first, single_send_id, no_filter, None, None).total_clicks,
            ),
        }
        for single_send_id in shape.single_send_ids
    )


@functools.lru_cache(maxsize=256)
def _listing_rows(
    shape: _Shape, listing: Literal["automations", "singlesends"], ids: frozenset[str]
) -> tuple[dict[str, Any], ...]:
    """A SendGrid listing's rows, kept to `ids` (lower case) in listing order, or all of them."""
    rows = _automation_list(shape) if listing == "automations" else _single_send_list(shape)
    return tuple(row for row in rows if not ids or row["id"] in ids)


# What the simulator serves, without going through HTTP


def sendgrid_automation_ids(config: _Configured) -> tuple[str, ...]:
    """The automations the account lists, in listing order and lower case."""
    return _Shape.of(config).automation_ids


def sendgrid_single_send_ids(config: _Configured) -> tuple[str, ...]:
    """The single sends the account lists, in listing order and lower case."""
    return _Shape.of(config).single_send_ids


def sendgrid_automation_links(
    config: _Configured,
    automation_id: str,
    *,
    step_ids: Collection[str] = (),
    group_by_step: bool = False,
) -> list[dict[str, Any]]:
    """Every `results` row the automation links endpoint serves, across all pages in page order."""
    stats = _automation_link_rows(
        _Shape.of(config),
        require_uuid("automation_id", automation_id),
        frozenset(require_uuid("step_ids", step_id) for step_id in step_ids),
        group_by_step,
    )
    return [dict(row) for row in stats.rows]


def sendgrid_automation_steps(config: _Configured, automation_id: str) -> tuple[str, ...]:
    """The step ids of an automation, in step order."""
    steps = _automation_steps(_Shape.of(config), require_uuid("automation_id", automation_id))
    return tuple(step.step_id for step in steps)


def sendgrid_automation_list(config: _Configured) -> list[dict[str, Any]]:
    """Every `results` row the automations listing serves, across all pages in page order."""
    return copy.deepcopy(list(_listing_rows(_Shape.of(config), "automations", frozenset())))


def sendgrid_single_send_list(config: _Configured) -> list[dict[str, Any]]:
    """Every `results` row the single sends listing serves, across all pages in page order."""
    return copy.deepcopy(list(_listing_rows(_Shape.of(config), "singlesends", frozenset())))


def sendgrid_single_send_variations(config: _Configured, single_send_id: str) -> tuple[str, ...]:
    """The A/B variation ids of a single send; one means the send was not A/B tested."""
    single_send = _single_send(_Shape.of(config), require_uuid("single_send_id", single_send_id))
    return single_send.variations


def sendgrid_single_send_links(
    config: _Configured,
    single_send_id: str,
    *,
    group_by: Collection[str] = (),
    ab_variation_id: str | None = None,
    ab_phase_id: str | None = None,
) -> list[dict[str, Any]]:
    """Every `results` row the single-send links endpoint serves, across all pages in page order."""
    if not set(group_by) <= set(_SINGLE_SEND_GROUP_BY):
        raise ValueError(f"group_by must hold only {_SINGLE_SEND_GROUP_BY}, got {group_by!r}")
    if ab_phase_id is not None and ab_phase_id not in _AB_PHASE_IDS:
        raise ValueError(f"ab_phase_id must be one of {_AB_PHASE_IDS}, got {ab_phase_id!r}")
    stats = _single_send_link_rows(
        _Shape.of(config),
        require_uuid("single_send_id", single_send_id),
        frozenset(group_by),
        None if ab_variation_id is None else require_uuid("ab_variation_id", ab_variation_id),
        ab_phase_id,
    )
    return [dict(row) for row in stats.rows]


# Queries


class _PagedQuery(Hashable, Protocol):
    """A validated query of a paginated SendGrid endpoint; hashable, as pages are cached by it."""

    @property
    def subject(self) -> Subject: ...

    @property
    def page_size(self) -> int: ...

    def parameters(self) -> dict[str, str]:
        """The query's own parameters as the client gave them, kept in the pagination links."""
        ...

    def rows(self, shape: _Shape) -> tuple[dict[str, Any], ...]:
        """Every row the query selects, across all pages."""
        ...

    def total_clicks(self, shape: _Shape) -> int | None:
        """The page's `total_clicks`, or None where the endpoint reports none."""
        ...


@attrs.frozen
class _AutomationLinksQuery:
    """A validated automation links query, without its page position."""

    automation_id: str
    group_by_step: bool
    # As the client gave them, to keep them verbatim in the pagination links.
    step_ids: tuple[str, ...]
    page_size: int

    @property
    def subject(self) -> Subject:
        return Subject(self.automation_id)

    def parameters(self) -> dict[str, str]:
        parameters = {}
        if self.group_by_step:
            parameters["group_by"] = "step_id"
        if self.step_ids:
            parameters["step_ids"] = ",".join(self.step_ids)
        return parameters

    def rows(self, shape: _Shape) -> tuple[dict[str, Any], ...]:
        return self._stats(shape).rows

    def total_clicks(self, shape: _Shape) -> int | None:
        return self._stats(shape).total_clicks

    def _stats(self, shape: _Shape) -> _LinkRows:
        step_filter = frozenset(step_id.lower() for step_id in self.step_ids)
        return _automation_link_rows(shape, self.automation_id, step_filter, self.group_by_step)


@attrs.frozen
class _SingleSendLinksQuery:
    """A validated single-send links query, without its page position."""

    single_send_id: str
    # As the client gave them, to keep them verbatim in the pagination links.
    group_by: tuple[str, ...]
    ab_variation_id: str | None
    ab_phase_id: str | None
    page_size: int

    @property
    def subject(self) -> Subject:
        return Subject(self.single_send_id)

    def parameters(self) -> dict[str, str]:
        parameters = {}
        if self.group_by:
            parameters["group_by"] = ",".join(self.group_by)
        if self.ab_variation_id is not None:
            parameters["ab_variation_id"] = self.ab_variation_id
        if self.ab_phase_id is not None:
            parameters["ab_phase_id"] = self.ab_phase_id
        return parameters

    def rows(self, shape: _Shape) -> tuple[dict[str, Any], ...]:
        return self._stats(shape).rows

    def total_clicks(self, shape: _Shape) -> int | None:
        return self._stats(shape).total_clicks

    def _stats(self, shape: _Shape) -> _LinkRows:
        variation = None if self.ab_variation_id is None else self.ab_variation_id.lower()
        return _single_send_link_rows(
            shape, self.single_send_id, frozenset(self.group_by), variation, self.ab_phase_id
        )


@attrs.frozen
class _ListingQuery:
    """A validated query of the automations or single sends listing, without its page position."""

    listing: Literal["automations", "singlesends"]
    # As the client gave them, to keep them verbatim in the pagination links.
    ids: tuple[str, ...]
    page_size: int

    @property
    def subject(self) -> Subject:
        return Subject(self.listing, listing=True)

    def parameters(self) -> dict[str, str]:
        return {_LISTING_FILTERS[self.listing]: ",".join(self.ids)} if self.ids else {}

    def rows(self, shape: _Shape) -> tuple[dict[str, Any], ...]:
        return _listing_rows(shape, self.listing, frozenset(item.lower() for item in self.ids))

    def total_clicks(self, shape: _Shape) -> int | None:
        # The listings' `AutomationsResponse` and `SinglesendsResponse` carry no total_clicks.
        return None


def _repeated_key(query: MultiMapping[str], names: Collection[str]) -> Invalid | None:
    """The first of `names` given more than once, which SendGrid refuses, if any."""
    for name in names:
        if len(query.getall(name, ())) > 1:
            # The official Python client repeats the key for lists, which SendGrid refuses.
            if name in _LIST_PARAMETERS:
                message = f"{name} must be one comma-separated value, not a repeated key"
            else:
                message = f"{name} must be given once"
            return Invalid(400, name, message, f"one {name} parameter")
    return None


def _page_size(query: MultiMapping[str]) -> int | Invalid:
    """The `page_size` of a query, 25 if absent, or what is wrong with it."""
    page_size = query.get("page_size", str(_DEFAULT_PAGE_SIZE))
    # A few digits at most: int() refuses thousands of them, and none would be in range.
    if not (
        page_size.isascii()
        and page_size.isdigit()
        and len(page_size) <= 4
        and 1 <= int(page_size) <= _MAX_PAGE_SIZE
    ):
        return Invalid(
            400,
            "page_size",
            f"page_size must be an integer from 1 to {_MAX_PAGE_SIZE}",
            f"an integer from 1 to {_MAX_PAGE_SIZE}",
        )
    return int(page_size)


def _path_id(request: web.Request) -> str | Invalid:
    """The path's id in lower case, or the 400 for one that is not a UUID."""
    resource_id = request.match_info["id"]
    if not is_uuid(resource_id):
        return Invalid(400, "id", "id must be a UUID", "a UUID")
    return resource_id.lower()


def _automation_links_query(request: web.Request) -> _AutomationLinksQuery | Invalid:
    """A validated automation links query, or what is wrong with it."""
    query = request.query
    automation_id = _path_id(request)
    if isinstance(automation_id, Invalid):
        return automation_id
    repeated = _repeated_key(query, ("group_by", "step_ids", *_PAGINATION_PARAMETERS))
    if repeated is not None:
        return repeated
    group_by = query.get("group_by")
    if group_by is not None and any(item != "step_id" for item in group_by.split(",")):
        return Invalid(400, "group_by", "group_by must be step_id", "step_id")
    step_ids = tuple(query["step_ids"].split(",")) if "step_ids" in query else ()
    if not all(is_uuid(step_id) for step_id in step_ids):
        return Invalid(
            400, "step_ids", "step_ids must be UUIDs", "one comma-separated list of UUIDs"
        )
    if len({step_id.lower() for step_id in step_ids}) < len(step_ids):
        # The spec declares `uniqueItems: true`.
        return Invalid(
            400, "step_ids", "step_ids must not repeat", "one comma-separated list of UUIDs"
        )
    page_size = _page_size(query)
    if isinstance(page_size, Invalid):
        return page_size
    return _AutomationLinksQuery(
        automation_id=automation_id,
        group_by_step=group_by is not None,
        step_ids=step_ids,
        page_size=page_size,
    )


def _single_send_links_query(request: web.Request) -> _SingleSendLinksQuery | Invalid:
    """A validated single-send links query, or what is wrong with it."""
    query = request.query
    single_send_id = _path_id(request)
    if isinstance(single_send_id, Invalid):
        return single_send_id
    repeated = _repeated_key(
        query, ("group_by", "ab_variation_id", "ab_phase_id", *_PAGINATION_PARAMETERS)
    )
    if repeated is not None:
        return repeated
    group_by = tuple(query["group_by"].split(",")) if "group_by" in query else ()
    if not all(item in _SINGLE_SEND_GROUP_BY for item in group_by):
        return Invalid(
            400,
            "group_by",
            "group_by must be ab_variation, ab_phase or both",
            "one comma-separated list of ab_variation and ab_phase",
        )
    ab_variation_id = query.get("ab_variation_id")
    if ab_variation_id is not None and not is_uuid(ab_variation_id):
        return Invalid(400, "ab_variation_id", "ab_variation_id must be a UUID", "a UUID")
    ab_phase_id = query.get("ab_phase_id")
    if ab_phase_id is not None and ab_phase_id not in _AB_PHASE_IDS:
        expected = " or ".join(_AB_PHASE_IDS)
        return Invalid(400, "ab_phase_id", f"ab_phase_id must be {expected}", expected)
    page_size = _page_size(query)
    if isinstance(page_size, Invalid):
        return page_size
    return _SingleSendLinksQuery(
        single_send_id=single_send_id,
        group_by=group_by,
        ab_variation_id=ab_variation_id,
        ab_phase_id=ab_phase_id,
        page_size=page_size,
    )


def _listing_query(
    listing: Literal["automations", "singlesends"], request: web.Request
) -> _ListingQuery | Invalid:
    """A validated listing query, or what is wrong with it."""
    query = request.query
    filter_name = _LISTING_FILTERS[listing]
    repeated = _repeated_key(query, (filter_name, *_PAGINATION_PARAMETERS))
    if repeated is not None:
        return repeated
    ids = tuple(query[filter_name].split(",")) if filter_name in query else ()
    # The spec types the ids as plain strings: an unknown one matches nothing, an empty one is
    # no id at all.
    if filter_name in query and not (0 < len(ids) <= _MAX_LISTED_IDS and all(ids)):
        return Invalid(
            400,
            filter_name,
            f"{filter_name} must list 1 to {_MAX_LISTED_IDS} ids",
            f"one comma-separated list of 1 to {_MAX_LISTED_IDS} ids",
        )
    page_size = _page_size(query)
    if isinstance(page_size, Invalid):
        return page_size
    return _ListingQuery(listing=listing, ids=ids, page_size=page_size)


def _page_token(offset: int) -> str:
    """An opaque token for the page starting at `offset`."""
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _page_offset(token: str, count: int) -> int | None:
    """The offset a token we issued stands for, or None for anything else."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError included
        return None
    label, _, digits = text.partition(":")
    if label != "offset" or not (digits.isascii() and digits.isdigit() and len(digits) <= 18):
        return None
    offset = int(digits)
    # Only tokens this server would issue: canonical spelling, inside the list, never page 1.
    if _page_token(offset) != token or not 0 < offset < count:
        return None
    return offset


def _page_url(base: URL, query: _PagedQuery, offset: int) -> URL:
    """The absolute URL of a page, keeping the query's parameters."""
    parameters = {**query.parameters(), "page_size": str(query.page_size)}
    if offset:
        parameters["page_token"] = _page_token(offset)
    return base.with_query(parameters)


@functools.lru_cache(maxsize=4096)
def _results_page(
    shape: _Shape,
    base: URL,
    query: _PagedQuery,
    offset: int,
    behavior: Behavior | None,
    foreign_origin: URL,
) -> bytes:
    """The serialized body of one page, for one origin and path (`base`)."""
    rows = query.rows(shape)
    count = len(rows)
    end = offset + query.page_size
    metadata: dict[str, object] = {}
    if offset:
        metadata["prev"] = str(_page_url(base, query, max(0, offset - query.page_size)))
    metadata["self"] = str(_page_url(base, query, offset))
    if end < count:
        metadata["next"] = str(_page_url(base, query, end))
    if behavior is Behavior.FOREIGN_NEXT and not offset:
        # Present even when everything fits on one page, so the behaviour never goes unseen.
        page_2 = _page_url(base, query, query.page_size)
        metadata["next"] = str(foreign_origin.join(page_2.relative()))
    if behavior is Behavior.LOOPING_NEXT and (
        offset == query.page_size or count <= query.page_size
    ):
        metadata["next"] = str(_page_url(base, query, 0))
    metadata["count"] = count
    page: dict[str, object] = {"results": rows[offset:end]}
    total_clicks = query.total_clicks(shape)
    if total_clicks is not None:
        page["total_clicks"] = total_clicks
    page["_metadata"] = metadata
    return orjson.dumps(page)


# The endpoints


class SendGridSimulation(ProviderSimulation):
    """SendGrid's four paginated stats endpoints, with one rate-limit window per key."""

    name = "sendgrid"
    prefixes = ("/v3",)

    def __init__(self, config: _Configured) -> None:
        self.config = config.sendgrid
        self.rate_limit = self.config.rate_limit
        self._seed = config.seed
        self._shape = _Shape.of(config)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        pages = self._page
        router.add_get(
            "/v3/marketing/stats/automations",
            functools.partial(pages, functools.partial(_listing_query, "automations")),
        )
        router.add_get(
            "/v3/marketing/stats/automations/{id}/links",
            functools.partial(pages, _automation_links_query),
        )
        router.add_get(
            "/v3/marketing/stats/singlesends",
            functools.partial(pages, functools.partial(_listing_query, "singlesends")),
        )
        router.add_get(
            "/v3/marketing/stats/singlesends/{id}/links",
            functools.partial(pages, _single_send_links_query),
        )

    def environment(self, origin: URL) -> dict[str, str]:
        return {"SENDGRID_BASE_URL": str(origin), "SENDGRID_API_KEY": self.config.api_key}

    def error(self, request: web.Request, status: int) -> web.Response:
        return _error_body(status, REASONS[status], error_id=error_id(self._seed, request, status))

    def invalid(self, request: web.Request, invalid: Invalid) -> web.Response:
        return _error_body(
            invalid.status,
            invalid.message,
            field=invalid.field,
            help_={"expected": invalid.expected},
            error_id=error_id(self._seed, request, invalid.status),
        )

    def too_many_requests(self) -> web.Response:
        return _error_body(429, REASONS[429])

    def advance_to(self, period: int) -> None:
        self._shape = attrs.evolve(self._shape, period=period)

    async def _page(
        self, parse: Callable[[web.Request], _PagedQuery | Invalid], request: web.Request
    ) -> web.StreamResponse:
        """One page of a paginated endpoint whose query `parse` validates."""
        state = request.app[SIMULATOR_STATE]
        if request.headers.get("Authorization") != f"Bearer {self.config.api_key}":
            return _error_body(401, "authorization required")
        parsed = parse(request)
        if isinstance(parsed, Invalid):
            return self.invalid(request, parsed)
        offset = 0
        token = request.query.get("page_token")
        if token is not None:
            page_offset = _page_offset(token, len(parsed.rows(self._shape)))
            if page_offset is None:
                invalid = Invalid(400, "page_token", "invalid page_token", "a _metadata.next link")
                return self.invalid(request, invalid)
            offset = page_offset
        subject = parsed.subject
        body = functools.partial(
            _results_page,
            self._shape,
            own_origin(request).with_path(request.path),
            parsed,
            offset,
            subject.behavior(state.config),
            state.foreign_origin,
        )
        return await state.answer(request, self, subject, body)


def _error_body(
    status: int,
    message: str,
    *,
    field: str | None = None,
    help_: Mapping[str, str] | None = None,
    error_id: str | None = None,
) -> web.Response:
    """A SendGrid error: only `message` is always there, `field` may be null."""
    error: dict[str, object] = {"field": field, "message": message}
    if help_ is not None:
        error["help"] = dict(help_)
    payload: dict[str, object] = {"errors": [error]}
    if error_id is not None:
        payload["id"] = error_id
    return json_response(status, payload)
