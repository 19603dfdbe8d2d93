"""Paubox Marketing as the simulator plays it: config, data, endpoints and error bodies.

After the Paubox Marketing OpenAPI and Paubox's published Marketing spec, under both
`/v1/orca/{username}` and the newer `/v1/marketing` (no username):

- `GET /tracking_links`: a required UUID `campaign_mailing_send_id`, `order_by`, `order`;
- `GET /analytics/campaign_mailing_sends_table`: `search`, `order_by`, `order`;
- `GET /analytics/tracking_links_by_unique_link`: a required UUID `campaign_mailing_send_id`.

`authorization: Token token=<API_KEY>`, one unpaginated `{"data": [...]}` body each, and errors
as `{"error","code","details"}` or, as some Paubox endpoints answer, `{"errors":[{"message"}]}`
or `{"errors":"..."}`. Paubox documents no rate limits, so none apply unless one is configured.

The data is built to exercise a tolerant client:

- Tracking-links rows: one per link per delivered email. Unopened links leave `opened_at` out and
  have `clicked` 0; `opened_at` comes in several ISO-8601 spellings (`Z`, `+02:00`, 0/3/6
  fractional digits); in every send of three rows or more, a few rows lack one of the four
  documented attributes. With `Quirks(nulls=True)`, unopened links and a few others send `null`
  instead; with `Quirks(unknown_fields=True)`, every row carries an undocumented `created_at`
  attribute (the sort key of the default order) and a few carry more unknown fields at row and
  attribute level.
- Per-link totals (`tracking_links_by_unique_link`) sum the `clicked` the tracking-links rows
  serve, a missing or null one counting 0, per link of the email (`html_id` "link-0", ...), so
  the two endpoints agree even where a row lacks its `target_url`.
- The sends table: list names include non-ASCII ones ("Patients — Spring 2024").
- Each period of `SimulatorConfig.period` adds clicks to some opened links, never to unopened
  ones.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

import attrs
import orjson
from aiohttp import web
from attrs import validators as v

from ._core import (
    REASONS,
    SIMULATOR_STATE,
    Invalid,
    ProviderSimulation,
    SharedConfig,
    Subject,
    json_response,
)
from ._draws import URL_POOL, grown, iso, listed_ids, new_uuid, on_the_wire, rng, url_tag
from ._knobs import (
    Quirks,
    RateLimit,
    account_ids,
    inclusive_range,
    is_uuid,
    require_uuid,
)

if TYPE_CHECKING:
    from multidict import MultiMapping
    from yarl import URL

__all__ = [
    "SUBSCRIPTION_LIST_NAMES",
    "PauboxConfig",
    "PauboxErrorShape",
    "paubox_send_ids",
    "paubox_sends_table",
    "paubox_tracking_links",
    "paubox_tracking_links_by_unique_link",
]

PauboxErrorShape = Literal["error", "errors_list", "errors_string"]
"""`{"error","code","details"}`, `{"errors":[{"message"}]}` or `{"errors":"..."}`."""

SUBSCRIPTION_LIST_NAMES: tuple[str, ...] = (
    "Newsletter subscribers",
    "Patients — Spring 2024",
    "Pacientes — Clínica Norte",
    "Flu shot reminders",
    "Praxis Müller: Patienten",
    "患者さまへのお知らせ",
    "Dental recall 2024",
    "VIP members",
)
"""Names of the subscription lists campaigns are sent to, some with non-ASCII letters."""


@attrs.frozen(kw_only=True)
class PauboxConfig:
    """The simulated Paubox account: credentials, error shape, data sizes, sends, rate limit."""

    username: str = attrs.field(
        default="demo", validator=[v.instance_of(str), v.matches_re(r"[^/]+")]
    )
    api_key: str = attrs.field(
        default="paubox-demo-key", validator=[v.instance_of(str), v.min_len(1)]
    )
    error_shape: PauboxErrorShape = attrs.field(
        default="error", validator=v.in_(get_args(PauboxErrorShape))
    )
    # Inclusive ranges. Equal bounds give exact sizes: a send has deliveries x links-per-email
    # rows, so (10_000, 10_000) and (6, 6) make 60,000 rows.
    deliveries_per_send: tuple[int, int] = attrs.field(default=(5, 40), validator=inclusive_range)
    links_per_email: tuple[int, int] = attrs.field(default=(2, 8), validator=inclusive_range)
    # The campaign sends the account lists, in order; None draws 25 from the seed. Every
    # well-formed UUID still has tracking links.
    send_ids: tuple[str, ...] | None = attrs.field(default=None, validator=account_ids)
    # Paubox documents no rate limits, so it sends no rate-limit headers unless given one.
    rate_limit: RateLimit | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(RateLimit))
    )


class _Configured(SharedConfig, Protocol):
    """What this module reads of a `SimulatorConfig`."""

    @property
    def quirks(self) -> Quirks: ...
    @property
    def paubox(self) -> PauboxConfig: ...


# Paubox serves the same paths under its reference's base URL and its newer one without username.
_BASES = ("/v1/orca/{username}", "/v1/marketing")
# The first `order_by` of each endpoint is its default.
_ORDER_BY = ("created_at", "opened_at", "clicked", "target_url")
_ORDERS = ("asc", "desc")
_SENDS_ORDER_BY = ("sent_at", "campaign_mailing_created_at", "subscription_list_name")
_DRAWN_SENDS = 25
# The documented attributes, any of which a row may lack or have null.
_ATTRIBUTES = ("target_url", "opened_at", "clicked", "campaign_mailing_delivery_id")
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_YEAR = timedelta(days=365)
_WEEK = timedelta(days=7)

# (zone, precision, spell UTC as "Z"): the spellings of `opened_at` a client must all accept.
_OPENED_AT_SPELLINGS: tuple[tuple[timezone, str, bool], ...] = (
    (UTC, "milliseconds", True),
    (UTC, "seconds", True),
    (timezone(timedelta(hours=2)), "microseconds", False),
    (timezone(timedelta(hours=-5)), "seconds", False),
    (UTC, "milliseconds", False),
    (timezone(timedelta(hours=5, minutes=30)), "microseconds", False),
)


# The data


# The hash is kept: the id listing makes it a key worth not rehashing on every cached lookup.
@attrs.frozen(cache_hash=True)
class _Shape:
    """The part of a config that determines the data, used as a cache key."""

    seed: int
    period: int
    deliveries_per_send: tuple[int, int]
    links_per_email: tuple[int, int]
    unicode_urls: bool
    nulls: bool
    unknown_fields: bool
    distinct_urls: bool
    # What the account lists, in listing order and lower case.
    send_ids: tuple[str, ...]

    @classmethod
    def of(cls, config: _Configured) -> _Shape:
        paubox = config.paubox
        return cls(
            seed=config.seed,
            period=config.period,
            deliveries_per_send=paubox.deliveries_per_send,
            links_per_email=paubox.links_per_email,
            unicode_urls=config.quirks.unicode_urls,
            nulls=config.quirks.nulls,
            unknown_fields=config.quirks.unknown_fields,
            distinct_urls=config.distinct_urls,
            send_ids=listed_ids(paubox.send_ids, config.seed, "paubox/sends", _DRAWN_SENDS),
        )


def _truncated(instant: datetime, precision: str) -> datetime:
    """Drop the digits `precision` does not show, so sorting agrees with the rendered text."""
    if precision == "seconds":
        return instant.replace(microsecond=0)
    if precision == "milliseconds":
        return instant.replace(microsecond=instant.microsecond // 1000 * 1000)
    return instant


@attrs.frozen
class _TrackingLink:
    """One row: its wire form plus the true values the endpoint sorts on."""

    wire: dict[str, Any]
    created_at: datetime
    opened_at: datetime | None
    clicked: int
    target_url: str
    # The link's position in the email, which a row lacking `target_url` still belongs to.
    html_index: int


def _opened(generator: random.Random, created_at: datetime) -> tuple[datetime, str]:
    """When a link was first clicked, and that instant in one of the accepted spellings."""
    zone, precision, utc_as_z = generator.choice(_OPENED_AT_SPELLINGS)
    offset = timedelta(
        microseconds=generator.randrange(60_000_000, _WEEK // timedelta(microseconds=1))
    )
    instant = _truncated(created_at + offset, precision)
    return instant, iso(instant, zone, precision, utc_as_z=utc_as_z)


@attrs.frozen
class _SendPlan:
    """The outline of a campaign send: how many emails, the links of their template, when."""

    deliveries: int
    template: tuple[str, ...]
    sent_at: datetime


def _draw_plan(shape: _Shape, send_id: str, generator: random.Random) -> _SendPlan:
    """The first draws of a send's generator: its outline, before any tracking link."""
    deliveries = generator.randint(*shape.deliveries_per_send)
    # Every email of a campaign comes from one template, so every delivery has the same links;
    # a URL may appear twice in it, as a logo and a button often share a target.
    drawn = generator.choices(URL_POOL, k=generator.randint(*shape.links_per_email))
    template = tuple(
        on_the_wire(
            url,
            unicode_urls=shape.unicode_urls,
            tag=url_tag(shape.distinct_urls, send_id, position),
        )
        for position, url in enumerate(drawn)
    )
    sent_at = _EPOCH + timedelta(seconds=generator.randrange(int(_YEAR.total_seconds())))
    return _SendPlan(deliveries, template, sent_at)


@functools.lru_cache(maxsize=1024)
def _send_plan(shape: _Shape, send_id: str) -> _SendPlan:
    """A send's outline alone, without drawing its (possibly many) tracking links."""
    return _draw_plan(shape, send_id, rng(shape.seed, "paubox", send_id))


@functools.lru_cache(maxsize=64)
def _tracking_links(shape: _Shape, send_id: str) -> tuple[_TrackingLink, ...]:
    """Every tracking link of one send, in creation order."""
    generator = rng(shape.seed, "paubox", send_id)
    plan = _draw_plan(shape, send_id, generator)
    deliveries, template, sent_at = plan.deliveries, plan.template, plan.sent_at
    total = deliveries * len(template)
    # Quirky rows sit at drawn positions, so even a small send has each kind at least once.
    quirky = min(total // 3, max(1, total // 30))
    positions = generator.sample(range(total), 3 * quirky)
    lacking = dict(zip(positions[:quirky], itertools.cycle(_ATTRIBUTES), strict=False))
    nulled = dict(zip(positions[quirky : 2 * quirky], itertools.cycle(_ATTRIBUTES), strict=False))
    extended = set(positions[2 * quirky :])
    links: list[_TrackingLink] = []
    for _ in range(deliveries):
        delivery_id = new_uuid(generator)
        for html_index, target_url in enumerate(template):
            index = len(links)
            created_at = sent_at + timedelta(milliseconds=37 * index)
            opened_at, opened_text = (
                _opened(generator, created_at) if generator.random() < 0.45 else (None, None)
            )
            clicked = 0
            if opened_at is not None:
                # The growth draws nothing from `generator`, so period 0 is the data as drawn.
                clicked = grown(
                    generator.choice((1, 1, 1, 2, 2, 3, 5, 8)),
                    shape.period,
                    shape.seed,
                    "paubox",
                    send_id,
                    index,
                )
            attributes: dict[str, Any] = {
                "target_url": target_url,
                "opened_at": opened_text,
                "clicked": clicked,
                "campaign_mailing_delivery_id": delivery_id,
            }
            if shape.unknown_fields:
                # Undocumented, though it is the default order's sort key.
                attributes["created_at"] = iso(created_at, UTC, "milliseconds", utc_as_z=True)
            if opened_text is None and not shape.nulls:
                # Never opened: the schema has no null, so the attribute is left out.
                del attributes["opened_at"]
            if index in lacking:
                attributes.pop(lacking[index], None)
            if index in nulled and shape.nulls:
                attributes[nulled[index]] = None
            wire: dict[str, Any] = {
                "id": new_uuid(generator),
                "type": "tracking_link",
                "attributes": attributes,
            }
            if index in extended and shape.unknown_fields:
                attributes["html_id"] = f"link-{html_index}"
                wire["relationships"] = {
                    "campaign_mailing_delivery": {
                        "data": {"id": delivery_id, "type": "campaign_mailing_delivery"}
                    }
                }
            links.append(
                _TrackingLink(wire, created_at, opened_at, clicked, target_url, html_index)
            )
    return tuple(links)


# Sort keys end with created_at, which is unique, so every order is total. A missing `opened_at`
# sorts as SQL NULL does in PostgreSQL: last ascending, first descending.
_SORT_KEYS: dict[str, Callable[[_TrackingLink], tuple[Any, ...]]] = {
    "created_at": lambda link: (link.created_at,),
    "opened_at": lambda link: (link.opened_at is None, link.opened_at or _EPOCH, link.created_at),
    "clicked": lambda link: (link.clicked, link.created_at),
    "target_url": lambda link: (link.target_url, link.created_at),
}


@functools.lru_cache(maxsize=1024)
def _tracking_links_body(shape: _Shape, send_id: str, order_by: str, order: str) -> bytes:
    """The serialized 200 body for one send in one order (`send_id` in lower case)."""
    links = sorted(
        _tracking_links(shape, send_id), key=_SORT_KEYS[order_by], reverse=order == "desc"
    )
    return orjson.dumps({"data": [link.wire for link in links]})


@functools.lru_cache(maxsize=1024)
def _unique_links_body(shape: _Shape, send_id: str) -> bytes:
    """The serialized 200 body of a send's per-link totals (`send_id` in lower case)."""
    template = _send_plan(shape, send_id).template
    clicked = [0] * len(template)
    for link in _tracking_links(shape, send_id):
        # The total of what the tracking-links rows serve: a missing or null `clicked` counts 0.
        clicked[link.html_index] += link.wire["attributes"].get("clicked") or 0
    rows = [
        {"html_id": f"link-{html_index}", "target_url": target_url, "clicked": clicked[html_index]}
        for html_index, target_url in enumerate(template)
    ]
    return orjson.dumps({"data": rows})


@attrs.frozen
class _CampaignSend:
    """One row of the sends table: its wire form plus the true values it sorts on."""

    wire: dict[str, Any]
    send_id: str
    sent_at: datetime
    created_at: datetime
    list_name: str


@functools.lru_cache(maxsize=1024)
def _campaign_send(shape: _Shape, send_id: str) -> _CampaignSend:
    """A sent campaign as the sends table lists it, sent when its tracking links were created."""
    sent_at = _send_plan(shape, send_id).sent_at
    generator = rng(shape.seed, "paubox/campaign", send_id)
    # A campaign mailing is written an hour to two weeks before it is sent.
    created_at = sent_at - timedelta(seconds=generator.randrange(3600, 14 * 86400))
    list_name = generator.choice(SUBSCRIPTION_LIST_NAMES)
    wire = {
        "id": send_id,
        "marketing_email_id": new_uuid(generator),
        "campaign_mailing_id": new_uuid(generator),
        "campaign_mailing_created_at": iso(created_at, UTC, "milliseconds", utc_as_z=True),
        "sent_at": iso(sent_at, UTC, "milliseconds", utc_as_z=True),
        "subscription_list_name": list_name,
    }
    return _CampaignSend(wire, send_id, sent_at, created_at, list_name)


# Sort keys end with the send id, unique in a listing, so every order is total. Names sort by
# code point, as PostgreSQL's "C" collation does.
_SENDS_SORT_KEYS: dict[str, Callable[[_CampaignSend], tuple[Any, ...]]] = {
    "sent_at": lambda send: (send.sent_at, send.send_id),
    "campaign_mailing_created_at": lambda send: (send.created_at, send.send_id),
    "subscription_list_name": lambda send: (send.list_name, send.sent_at, send.send_id),
}


@functools.lru_cache(maxsize=256)
def _sends_body(shape: _Shape, search: str | None, order_by: str, order: str) -> bytes:
    """The serialized 200 body of the sends table, filtered by list name and sorted."""
    sends = [_campaign_send(shape, send_id) for send_id in shape.send_ids]
    if search:
        needle = search.casefold()
        sends = [send for send in sends if needle in send.list_name.casefold()]
    sends.sort(key=_SENDS_SORT_KEYS[order_by], reverse=order == "desc")
    return orjson.dumps({"data": [send.wire for send in sends]})


# What the simulator serves, without going through HTTP


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def paubox_send_ids(config: _Configured) -> tuple[str, ...]:
    """The campaign sends the account lists, in the config's order and lower case."""
    return _Shape.of(config).send_ids


def paubox_tracking_links(
    config: _Configured, send_id: str, *, order_by: str = "created_at", order: str = "desc"
) -> list[dict[str, Any]]:
    """The `data` rows the tracking-links endpoint serves for `send_id`, before any fault."""
    body = _tracking_links_body(
        _Shape.of(config),
        require_uuid("send_id", send_id),
        _choice("order_by", order_by, _ORDER_BY),
        _choice("order", order, _ORDERS),
    )
    rows: list[dict[str, Any]] = orjson.loads(body)["data"]
    return rows


def paubox_sends_table(
    config: _Configured,
    *,
    search: str | None = None,
    order_by: str = "sent_at",
    order: str = "desc",
) -> list[dict[str, Any]]:
    """The `data` rows the sends table serves for these options, before any fault."""
    body = _sends_body(
        _Shape.of(config),
        search,
        _choice("order_by", order_by, _SENDS_ORDER_BY),
        _choice("order", order, _ORDERS),
    )
    rows: list[dict[str, Any]] = orjson.loads(body)["data"]
    return rows


def paubox_tracking_links_by_unique_link(config: _Configured, send_id: str) -> list[dict[str, Any]]:
    """The `data` rows of a send's per-link totals, one per link of its email, in email order."""
    body = _unique_links_body(_Shape.of(config), require_uuid("send_id", send_id))
    rows: list[dict[str, Any]] = orjson.loads(body)["data"]
    return rows


# The endpoints


def _last(query: MultiMapping[str], name: str, default: str) -> str:
    """A parameter as Rails reads it: the last of repeated keys wins."""
    values = query.getall(name, ())
    return values[-1] if values else default


def _send_id(query: MultiMapping[str]) -> str | Invalid:
    """The required campaign send id in lower case, or what is wrong with it."""
    send_id = _last(query, "campaign_mailing_send_id", "")
    if not send_id:
        # Rails' `params.require` treats an empty value as a missing one.
        return Invalid(
            400,
            "campaign_mailing_send_id",
            "param is missing or the value is empty: campaign_mailing_send_id",
            "a UUID",
        )
    if not is_uuid(send_id):
        return Invalid(
            422, "campaign_mailing_send_id", "campaign_mailing_send_id must be a UUID", "a UUID"
        )
    return send_id.lower()


def _order(
    query: MultiMapping[str], order_by_choices: tuple[str, ...]
) -> tuple[str, str] | Invalid:
    """The `order_by` (the first choice by default) and `order` of a query, or what is wrong."""
    order = _last(query, "order", "desc")
    if order not in _ORDERS:
        return Invalid(422, "order", "order must be asc or desc", " or ".join(_ORDERS))
    order_by = _last(query, "order_by", order_by_choices[0])
    if order_by not in order_by_choices:
        expected = ", ".join(order_by_choices)
        return Invalid(422, "order_by", f"order_by must be one of {expected}", expected)
    return order_by, order


# The sends table has no id to key its behaviour by: it is a listing.
_SENDS_TABLE = Subject("campaign_mailing_sends_table", listing=True)


class PauboxSimulation(ProviderSimulation):
    """Paubox's three endpoints under both base URLs, with one rate-limit window per key."""

    name = "paubox"
    prefixes = ("/v1/orca", "/v1/marketing")

    def __init__(self, config: _Configured) -> None:
        self.config = config.paubox
        self.rate_limit = self.config.rate_limit
        self._shape = _Shape.of(config)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        for base in _BASES:
            router.add_get(f"{base}/tracking_links", self._tracking_links)
            router.add_get(f"{base}/analytics/campaign_mailing_sends_table", self._sends_table)
            router.add_get(f"{base}/analytics/tracking_links_by_unique_link", self._unique_links)

    def environment(self, origin: URL) -> dict[str, str]:
        return {
            "PAUBOX_BASE_URL": str(origin / "v1/orca"),
            "PAUBOX_USERNAME": self.config.username,
            "PAUBOX_API_KEY": self.config.api_key,
        }

    def error(self, request: web.Request, status: int) -> web.Response:
        return self._error_body(status, REASONS[status])

    def invalid(self, request: web.Request, invalid: Invalid) -> web.Response:
        details = {"parameter": invalid.field, "expected": invalid.expected}
        return self._error_body(invalid.status, invalid.message, details)

    def too_many_requests(self) -> web.Response:
        return self._error_body(429, REASONS[429])

    def advance_to(self, period: int) -> None:
        self._shape = attrs.evolve(self._shape, period=period)

    def _error_body(
        self, status: int, message: str, details: Mapping[str, str] | None = None
    ) -> web.Response:
        """An error in the configured one of Paubox's three shapes."""
        shape = self.config.error_shape
        if shape == "errors_list":
            return json_response(status, {"errors": [{"message": message}]})
        if shape == "errors_string":
            return json_response(status, {"errors": message})
        # Rails names statuses in snake case.
        code = REASONS[status].replace(" ", "_")
        return json_response(
            status, {"error": message, "code": code, "details": dict(details or {})}
        )

    def _refusal(self, request: web.Request) -> web.Response | None:
        """The 401 for a wrong key, or for a wrong username where the path carries one."""
        username = request.match_info.get("username")
        authorized = request.headers.get("Authorization") == f"Token token={self.config.api_key}"
        if username is None:
            # The newer base URL carries no username: the key alone is checked.
            message = "invalid API key"
        else:
            authorized = authorized and username == self.config.username
            message = "invalid API key or username"
        return None if authorized else self._error_body(401, message)

    def _send_asked(self, request: web.Request) -> str | web.Response:
        """The send a per-send request asks for, or the answer refusing it: credentials
        first, then the query."""
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        send_id = _send_id(request.query)
        if isinstance(send_id, Invalid):
            return self.invalid(request, send_id)
        return send_id

    async def _tracking_links(self, request: web.Request) -> web.StreamResponse:
        """Every link of every delivered email of one campaign send, in one body."""
        state = request.app[SIMULATOR_STATE]
        send_id = self._send_asked(request)
        if not isinstance(send_id, str):
            return send_id
        ordering = _order(request.query, _ORDER_BY)
        if isinstance(ordering, Invalid):
            return self.invalid(request, ordering)
        body = functools.partial(_tracking_links_body, self._shape, send_id, *ordering)
        return await state.answer(request, self, Subject(send_id), body)

    async def _unique_links(self, request: web.Request) -> web.StreamResponse:
        """The click totals of each link of one campaign send's email, in one body."""
        state = request.app[SIMULATOR_STATE]
        send_id = self._send_asked(request)
        if not isinstance(send_id, str):
            return send_id
        body = functools.partial(_unique_links_body, self._shape, send_id)
        return await state.answer(request, self, Subject(send_id), body)

    async def _sends_table(self, request: web.Request) -> web.StreamResponse:
        """The account's sent campaigns, filtered by list name and sorted, in one body."""
        state = request.app[SIMULATOR_STATE]
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        ordering = _order(request.query, _SENDS_ORDER_BY)
        if isinstance(ordering, Invalid):
            return self.invalid(request, ordering)
        # An empty search, like none, keeps every send.
        search = _last(request.query, "search", "") or None
        body = functools.partial(_sends_body, self._shape, search, *ordering)
        return await state.answer(request, self, _SENDS_TABLE, body)
