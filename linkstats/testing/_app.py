"""The aiohttp application that plays Paubox Marketing and SendGrid for tests and benchmarks.

It serves, on one origin:

- Paubox, after the Paubox Marketing OpenAPI (`paubox-tracking-links.md`) and Paubox's published
  Marketing spec, under both `/v1/orca/{username}` and the newer `/v1/marketing` (no username):
  `GET /tracking_links` (a required UUID `campaign_mailing_send_id`, `order_by`, `order`),
  `GET /analytics/campaign_mailing_sends_table` (`search`, `order_by`, `order`) and
  `GET /analytics/tracking_links_by_unique_link` (a required UUID `campaign_mailing_send_id`);
  `authorization: Token token=<API_KEY>`, one unpaginated `{"data": [...]}` body each, and errors
  as `{"error","code","details"}` or, as some Paubox endpoints answer, `{"errors":[{"message"}]}`
  or `{"errors":"..."}`.
- SendGrid, after SendGrid's own OpenAPI file (`tsg_mc_stats_v3.json`):
  `GET /v3/marketing/stats/automations/{id}/links` (`group_by=step_id`, `step_ids`),
  `GET /v3/marketing/stats/singlesends/{id}/links` (`group_by` of `ab_variation` and `ab_phase`,
  `ab_variation_id`, `ab_phase_id`), and the listings `GET /v3/marketing/stats/automations`
  (`automation_ids`) and `GET /v3/marketing/stats/singlesends` (`singlesend_ids`); every list
  parameter is ONE comma-separated value (`explode: false`). `Authorization: Bearer <key>`,
  `page_size` 1..50 (default 25), an opaque `page_token`, absolute `_metadata.next`/`prev`/`self`
  links, `_metadata.count` across all pages, `{"errors":[{"field","message","help"}],"id"}`
  errors, and X-RateLimit-* headers on every answer.

Ungrouped automation rows, which sum a link's clicks over all steps, carry `"step_id": "all"`, as
SendGrid's real answers do.

Around the endpoints sit what real networks add: rate-limit windows, latency, server errors,
dropped connections and malformed bodies (`Faults`), and scripted behaviours (`Behavior`) per id
or, through `listing_behavior`, for the three listings.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Hashable, Mapping
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs
import orjson
from aiohttp import web
from yarl import URL

from ._config import Behavior, PauboxErrorShape, RateLimit, SimulatorConfig
from ._data import (
    AB_PHASE_IDS,
    PAUBOX_ORDER_BY,
    PAUBOX_ORDERS,
    PAUBOX_SENDS_ORDER_BY,
    SINGLE_SEND_GROUP_BY,
    DataShape,
    LinkRows,
    is_uuid,
    link_stats,
    listing_rows,
    paubox_body,
    paubox_sends_body,
    paubox_unique_links_body,
    single_send_link_stats,
)
from ._log import SimulatedProvider, SimulatorLog

if TYPE_CHECKING:
    from multidict import MultiMapping

__all__ = ["SIMULATOR_STATE", "SimulatorState", "make_app"]

# Paubox serves the same paths under its reference's base URL and its newer one without username.
_PAUBOX_BASES = ("/v1/orca/{username}", "/v1/marketing")
_PROVIDER_PREFIXES: tuple[tuple[str, SimulatedProvider], ...] = (
    ("/v1/orca", "paubox"),
    ("/v1/marketing", "paubox"),
    ("/v3", "sendgrid"),
)

# SendGrid reports a budget even when a test sets none; this one is never reached on loopback.
_GENEROUS_LIMIT = RateLimit(limit=10_000, window=1.0)

# Error messages by status; Paubox's `code` is the message in snake case, as Rails names statuses.
_REASONS = {
    400: "bad request",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    422: "unprocessable entity",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}
_SERVER_ERROR_STATUSES = (500, 502, 503, 504)
# Gateways in front of an API answer these two with their own HTML page.
_GATEWAY_STATUSES = frozenset({502, 504})
_MALFORMATIONS = ("truncated", "html", "wrapped")
_SCRIPTED_STATUSES = {
    Behavior.NOT_FOUND: 404,
    Behavior.FORBIDDEN: 403,
    Behavior.SERVER_ERROR: 500,
    Behavior.UNAVAILABLE: 503,
}
_PAGINATION_PARAMETERS = ("page_size", "page_token")
# Parameters that hold one comma-separated list (`explode: false`).
_LIST_PARAMETERS = frozenset({"group_by", "step_ids", "automation_ids", "singlesend_ids"})
_DEFAULT_PAGE_SIZE = 25
_MAX_PAGE_SIZE = 50
# `automation_ids` and `singlesend_ids` have `minItems: 1` and `maxItems: 25`.
_MAX_LISTED_IDS = 25
_LISTING_FILTERS = {"automations": "automation_ids", "singlesends": "singlesend_ids"}

_LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in</title></head>"
    "<body><form action=/login method=post><p>Please sign in to continue.</p></form></body></html>"
)


class SimulatorState:
    """Run state of one simulator app: its config, its request log and its counters."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.log = SimulatorLog(config.log_limit)
        self._shape = DataShape.of(config)
        self._foreign_origin = URL(config.foreign_url).origin()
        # Set at shutdown, so hanging requests end instead of holding the server open.
        self._closing = asyncio.Event()
        self._attempts: Counter[str] = Counter()
        self._requests_per_subject: Counter[_Subject] = Counter()
        self._windows: dict[tuple[SimulatedProvider, str], tuple[int, int]] = {}

    def now(self) -> float:
        """The provider's Unix time: ours, offset by `SimulatorConfig.clock_offset`."""
        return time.time() + self.config.clock_offset

    def _next_attempt(self, raw_path: str) -> int:
        """How many times this exact path and query arrived before."""
        attempt = self._attempts[raw_path]
        self._attempts[raw_path] = attempt + 1
        return attempt

    def _earlier_requests_for(self, subject: _Subject) -> int:
        """How many requests for this id or listing reached its behaviour before this one."""
        earlier = self._requests_per_subject[subject]
        self._requests_per_subject[subject] = earlier + 1
        return earlier

    def _rate_limit(self, provider: SimulatedProvider) -> RateLimit | None:
        """The provider's budget: SendGrid always reports one, Paubox only when given one."""
        if provider == "sendgrid":
            return self.config.rate_limit or _GENEROUS_LIMIT
        return self.config.paubox_rate_limit

    def _take_quota(self, provider: SimulatedProvider, credentials: str) -> _Quota | None:
        """Count one request in its fixed window; None where the provider reports no limits."""
        limit = self._rate_limit(provider)
        if limit is None:
            return None
        now = self.now()
        window = math.floor(now / limit.window)
        bucket = (provider, credentials)
        counted_window, used = self._windows.get(bucket, (window, 0))
        used = (used if counted_window == window else 0) + 1
        self._windows[bucket] = (window, used)
        exceeded = used > limit.limit
        headers = _rate_limit_headers(
            limit, max(0, limit.limit - used), (window + 1) * limit.window, now, refused=exceeded
        )
        return _Quota(exceeded=exceeded, headers=headers)


SIMULATOR_STATE = web.AppKey("linkstats_simulator_state", SimulatorState)
"""Where `make_app` keeps the run state: `app[SIMULATOR_STATE].log` is the request log."""


@attrs.frozen
class _Quota:
    """A request's standing in its rate-limit window."""

    exceeded: bool
    headers: Mapping[str, str]


@attrs.frozen
class _Invalid:
    """A query parameter the endpoint refuses, and how it says so."""

    status: int
    field: str
    message: str
    expected: str


@attrs.frozen
class _Subject:
    """Whose scripted behaviour a request meets: one id's (lower case), or one listing's."""

    key: str
    listing: bool = False

    def behavior(self, config: SimulatorConfig) -> Behavior | None:
        """The behaviour the config scripts for this id or listing, if any."""
        return config.listing_behavior if self.listing else config.behaviors.get(self.key)


class _PagedQuery(Hashable, Protocol):
    """A validated query of a paginated SendGrid endpoint; hashable, as pages are cached by it."""

    @property
    def subject(self) -> _Subject: ...

    @property
    def page_size(self) -> int: ...

    def parameters(self) -> dict[str, str]:
        """The query's own parameters as the client gave them, kept in the pagination links."""
        ...

    def rows(self, shape: DataShape) -> tuple[dict[str, Any], ...]:
        """Every row the query selects, across all pages."""
        ...

    def total_clicks(self, shape: DataShape) -> int | None:
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
    def subject(self) -> _Subject:
        return _Subject(self.automation_id)

    def parameters(self) -> dict[str, str]:
        parameters = {}
        if self.group_by_step:
            parameters["group_by"] = "step_id"
        if self.step_ids:
            parameters["step_ids"] = ",".join(self.step_ids)
        return parameters

    def rows(self, shape: DataShape) -> tuple[dict[str, Any], ...]:
        return self._stats(shape).rows

    def total_clicks(self, shape: DataShape) -> int | None:
        return self._stats(shape).total_clicks

    def _stats(self, shape: DataShape) -> LinkRows:
        step_filter = frozenset(step_id.lower() for step_id in self.step_ids)
        return link_stats(shape, self.automation_id, step_filter, self.group_by_step)


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
    def subject(self) -> _Subject:
        return _Subject(self.single_send_id)

    def parameters(self) -> dict[str, str]:
        parameters = {}
        if self.group_by:
            parameters["group_by"] = ",".join(self.group_by)
        if self.ab_variation_id is not None:
            parameters["ab_variation_id"] = self.ab_variation_id
        if self.ab_phase_id is not None:
            parameters["ab_phase_id"] = self.ab_phase_id
        return parameters

    def rows(self, shape: DataShape) -> tuple[dict[str, Any], ...]:
        return self._stats(shape).rows

    def total_clicks(self, shape: DataShape) -> int | None:
        return self._stats(shape).total_clicks

    def _stats(self, shape: DataShape) -> LinkRows:
        variation = None if self.ab_variation_id is None else self.ab_variation_id.lower()
        return single_send_link_stats(
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
    def subject(self) -> _Subject:
        return _Subject(self.listing, listing=True)

    def parameters(self) -> dict[str, str]:
        return {_LISTING_FILTERS[self.listing]: ",".join(self.ids)} if self.ids else {}

    def rows(self, shape: DataShape) -> tuple[dict[str, Any], ...]:
        return listing_rows(shape, self.listing, frozenset(item.lower() for item in self.ids))

    def total_clicks(self, shape: DataShape) -> int | None:
        # The listings' `AutomationsResponse` and `SinglesendsResponse` carry no total_clicks.
        return None


class _HangUp(Exception):  # noqa: N818 - a signal to close the connection, not an error
    """Raised inside a handler to close the connection without answering."""

    def __init__(self, raw: bytes = b"") -> None:
        super().__init__()
        self.raw = raw


# Seconds to the reset of the scripted 429s.
_SCRIPTED_RESETS = {Behavior.RATE_LIMITED_FIRST: 1, Behavior.FAR_RESET_FIRST: 3600}

# What a broken server writes instead of a response, by `SimulatorConfig.broken_response`.
_BROKEN_RESPONSES: dict[str, bytes] = {
    "status_line": b"HTTP/1.1 two hundred OK\r\nContent-Length: 2\r\n\r\n{}",
    "content_length": b"HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\n{}",
    "duplicate_content_length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
    ),
    "oversized_header": b"HTTP/1.1 200 OK\r\nX-Padding: " + b"x" * 65536 + b"\r\n\r\n{}",
    "chunk_size": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
    "short_body": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}",
}


def make_app(config: SimulatorConfig | None = None) -> web.Application:
    """Build the simulator application; its state is at `app[SIMULATOR_STATE]`."""
    app = web.Application(middlewares=[_simulate])
    app[SIMULATOR_STATE] = SimulatorState(config or SimulatorConfig())
    for base in _PAUBOX_BASES:
        app.router.add_get(f"{base}/tracking_links", _paubox_tracking_links)
        app.router.add_get(f"{base}/analytics/campaign_mailing_sends_table", _paubox_sends_table)
        app.router.add_get(
            f"{base}/analytics/tracking_links_by_unique_link", _paubox_tracking_links_by_unique_link
        )
    app.router.add_get("/v3/marketing/stats/automations", _sendgrid_automations)
    app.router.add_get("/v3/marketing/stats/automations/{id}/links", _sendgrid_automation_links)
    app.router.add_get("/v3/marketing/stats/singlesends", _sendgrid_single_sends)
    app.router.add_get("/v3/marketing/stats/singlesends/{id}/links", _sendgrid_single_send_links)
    app.on_shutdown.append(_release_hanging_requests)
    return app


async def _release_hanging_requests(app: web.Application) -> None:
    app[SIMULATOR_STATE]._closing.set()


def _provider_of(path: str) -> SimulatedProvider | None:
    for prefix, provider in _PROVIDER_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return provider
    return None


def _digest(*parts: object) -> bytes:
    """Sixteen bytes fixed by `parts`, the same in every process."""
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=16).digest()


def _draw(*parts: object) -> float:
    """A number in [0, 1) fixed by `parts`."""
    return int.from_bytes(_digest(*parts)[:8], "big") / 2**64


def _hit(
    state: SimulatorState, fault: str, request: web.Request, attempt: int, rate: float
) -> bool:
    """Whether this attempt at this path and query suffers `fault`."""
    return rate > 0 and _draw(state.config.seed, fault, request.raw_path, attempt) < rate


@web.middleware
async def _simulate(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Log each request from arrival to answer around everything else the simulator does."""
    state = request.app[SIMULATOR_STATE]
    provider = _provider_of(request.path)
    record = state.log.arrived(request, provider, state.now())
    status = None
    try:
        response = await _answer(state, request, handler, provider)
        status = response.status
    except _HangUp as hang_up:
        if request.transport is not None:
            if hang_up.raw:
                request.transport.write(hang_up.raw)
            request.transport.close()
        # Never written: aiohttp finds the transport closing and drops the response.
        return web.Response()
    finally:
        state.log.finished(record, status)
    return response


async def _answer(
    state: SimulatorState,
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    provider: SimulatedProvider | None,
) -> web.StreamResponse:
    """Apply latency, the rate limit and faults, in the order a real deployment meets them."""
    faults = state.config.faults
    attempt = state._next_attempt(request.raw_path)
    if faults.latency:
        await asyncio.sleep(faults.latency)
    # The rate limiter sits at the edge: it counts every request, even those that fail later.
    quota = None
    if provider is not None:
        quota = state._take_quota(provider, request.headers.get("Authorization", ""))
    if quota is not None and quota.exceeded:
        response: web.StreamResponse = _too_many_requests(state, provider)
    elif _hit(state, "drop", request, attempt, faults.drop_rate):
        raise _HangUp
    elif _hit(state, "server_error", request, attempt, faults.server_error_rate):
        status_draw = _draw(state.config.seed, "server_error_status", request.raw_path, attempt)
        status = _SERVER_ERROR_STATUSES[int(status_draw * len(_SERVER_ERROR_STATUSES))]
        if status in _GATEWAY_STATUSES:
            response = _gateway_page(status)
        else:
            response = _error(state, request, provider, status)
    else:
        try:
            response = await handler(request)
        except web.HTTPNotFound:
            response = _error(state, request, provider, 404)
        except web.HTTPMethodNotAllowed as exc:
            response = _error(state, request, provider, 405)
            response.headers["Allow"] = exc.headers["Allow"]
        if (
            response.status == 200
            and isinstance(response, web.Response)
            and isinstance(response.body, bytes)
            and _hit(state, "malformed", request, attempt, faults.malformed_rate)
        ):
            kind_draw = _draw(state.config.seed, "malformed_kind", request.raw_path, attempt)
            response = _malformed(
                _MALFORMATIONS[int(kind_draw * len(_MALFORMATIONS))], response.body
            )
    if quota is not None:
        # A scripted 429 brings its own rate-limit headers; keep them.
        for name, value in quota.headers.items():
            response.headers.setdefault(name, value)
    # The answer is stamped by the provider's clock, which may differ from the client's.
    response.headers["Date"] = formatdate(state.now(), usegmt=True)
    return response


def _rate_limit_headers(
    limit: RateLimit, remaining: int, reset_at: float, now: float, *, refused: bool
) -> dict[str, str]:
    """X-RateLimit-* (Reset as integer epoch seconds), plus Retry-After on refusals if asked."""
    headers = {
        "X-RateLimit-Limit": str(limit.limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(math.ceil(reset_at)),
    }
    if refused and limit.retry_after:
        headers["Retry-After"] = str(math.ceil(reset_at - now))
    return headers


def _json(status: int, payload: object) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")


def _paubox_error(
    shape: PauboxErrorShape, status: int, message: str, details: Mapping[str, str] | None = None
) -> web.Response:
    """A Paubox error in the configured one of its three shapes."""
    if shape == "errors_list":
        return _json(status, {"errors": [{"message": message}]})
    if shape == "errors_string":
        return _json(status, {"errors": message})
    code = _REASONS[status].replace(" ", "_")
    return _json(status, {"error": message, "code": code, "details": dict(details or {})})


def _sendgrid_error(
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
    return _json(status, payload)


def _error_id(state: SimulatorState, request: web.Request, status: int) -> str:
    """A SendGrid-style error id, stable for one request so tests can compare bodies."""
    return _digest(state.config.seed, "error", status, request.raw_path).hex()


def _error(
    state: SimulatorState, request: web.Request, provider: SimulatedProvider | None, status: int
) -> web.Response:
    """An error in the shape of the provider the path belongs to (SendGrid's for neither)."""
    if provider == "paubox":
        return _paubox_error(state.config.paubox_error_shape, status, _REASONS[status])
    return _sendgrid_error(status, _REASONS[status], error_id=_error_id(state, request, status))


def _invalid(
    state: SimulatorState, request: web.Request, provider: SimulatedProvider, invalid: _Invalid
) -> web.Response:
    """Refuse a query parameter, naming it as each provider does."""
    if provider == "paubox":
        details = {"parameter": invalid.field, "expected": invalid.expected}
        return _paubox_error(
            state.config.paubox_error_shape, invalid.status, invalid.message, details
        )
    return _sendgrid_error(
        invalid.status,
        invalid.message,
        field=invalid.field,
        help_={"expected": invalid.expected},
        error_id=_error_id(state, request, invalid.status),
    )


def _too_many_requests(state: SimulatorState, provider: SimulatedProvider | None) -> web.Response:
    """The 429 body: SendGrid's documented one, or Paubox's error shape."""
    if provider == "paubox":
        return _paubox_error(state.config.paubox_error_shape, 429, _REASONS[429])
    return _sendgrid_error(429, _REASONS[429])


def _gateway_page(status: int) -> web.Response:
    """The HTML a reverse proxy sends when the API behind it fails."""
    title = f"{status} {_REASONS[status].title()}"
    page = (
        f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center>"
        "<hr><center>nginx</center></body></html>"
    )
    return web.Response(status=status, text=page, content_type="text/html")


def _malformed(kind: str, body: bytes) -> web.Response:
    """A 200 a client cannot use: cut-off JSON, a login page, or JSON of the wrong shape."""
    if kind == "truncated":
        # A strict prefix of a JSON object is never valid JSON.
        return web.Response(body=body[: len(body) // 2], content_type="application/json")
    if kind == "html":
        return web.Response(text=_LOGIN_PAGE, content_type="text/html")
    # The right content inside an array: valid JSON, not the documented object.
    return web.Response(body=b"[" + body + b"]", content_type="application/json")


async def _scripted(
    state: SimulatorState, request: web.Request, provider: SimulatedProvider, subject: _Subject
) -> web.StreamResponse | None:
    """What the id's or listing's scripted behaviour answers instead of its data, if anything."""
    config = state.config
    behavior = subject.behavior(config)
    if behavior is None:
        return None
    earlier = state._earlier_requests_for(subject)
    if behavior in _SCRIPTED_STATUSES:
        return _error(state, request, provider, _SCRIPTED_STATUSES[behavior])
    if behavior is Behavior.FLAKY and earlier < config.flaky_failures:
        return _error(state, request, provider, 503)
    if behavior is Behavior.DROP_FIRST and earlier < config.flaky_failures:
        raise _HangUp
    reset_in = _SCRIPTED_RESETS.get(behavior)
    if reset_in is not None and not earlier:
        limit = state._rate_limit(provider) or _GENEROUS_LIMIT
        now = state.now()
        response = _too_many_requests(state, provider)
        response.headers.update(_rate_limit_headers(limit, 0, now + reset_in, now, refused=True))
        return response
    if behavior is Behavior.BROKEN_FIRST and earlier < config.flaky_failures:
        raise _HangUp(_BROKEN_RESPONSES[config.broken_response])
    if behavior is Behavior.REDIRECT:
        location = state._foreign_origin.join(request.rel_url)
        return web.Response(status=302, headers={"Location": str(location)})
    if behavior is Behavior.HANG:
        # The handler is cancelled when the client goes away (`Simulator` runs the app with
        # handler_cancellation); otherwise it waits for the server to shut down.
        await state._closing.wait()
        raise _HangUp
    return None


def _data_response(state: SimulatorState, subject: _Subject, body: bytes) -> web.Response:
    """The 200 with `body`, unless the id or listing is scripted to send a broken one."""
    behavior = subject.behavior(state.config)
    if behavior is Behavior.MALFORMED_JSON:
        return _malformed("truncated", body)
    if behavior is Behavior.WRONG_SHAPE:
        return _malformed("wrapped", body)
    return web.Response(body=body, content_type="application/json")


# Paubox


def _last(query: MultiMapping[str], name: str, default: str) -> str:
    """A parameter as Rails reads it: the last of repeated keys wins."""
    values = query.getall(name, ())
    return values[-1] if values else default


def _paubox_refusal(state: SimulatorState, request: web.Request) -> web.Response | None:
    """The 401 for a wrong key, or for a wrong username where the path carries one."""
    config = state.config
    username = request.match_info.get("username")
    authorized = request.headers.get("Authorization") == f"Token token={config.paubox_api_key}"
    if username is None:
        # The newer base URL carries no username: the key alone is checked.
        message = "invalid API key"
    else:
        authorized = authorized and username == config.paubox_username
        message = "invalid API key or username"
    return None if authorized else _paubox_error(config.paubox_error_shape, 401, message)


def _paubox_send_id(query: MultiMapping[str]) -> str | _Invalid:
    """The required campaign send id in lower case, or what is wrong with it."""
    send_id = _last(query, "campaign_mailing_send_id", "")
    if not send_id:
        # Rails' `params.require` treats an empty value as a missing one.
        return _Invalid(
            400,
            "campaign_mailing_send_id",
            "param is missing or the value is empty: campaign_mailing_send_id",
            "a UUID",
        )
    if not is_uuid(send_id):
        return _Invalid(
            422, "campaign_mailing_send_id", "campaign_mailing_send_id must be a UUID", "a UUID"
        )
    return send_id.lower()


def _paubox_order(
    query: MultiMapping[str], order_by_choices: tuple[str, ...]
) -> tuple[str, str] | _Invalid:
    """The `order_by` (the first choice by default) and `order` of a query, or what is wrong."""
    order = _last(query, "order", "desc")
    if order not in PAUBOX_ORDERS:
        return _Invalid(422, "order", "order must be asc or desc", " or ".join(PAUBOX_ORDERS))
    order_by = _last(query, "order_by", order_by_choices[0])
    if order_by not in order_by_choices:
        expected = ", ".join(order_by_choices)
        return _Invalid(422, "order_by", f"order_by must be one of {expected}", expected)
    return order_by, order


async def _paubox_tracking_links(request: web.Request) -> web.StreamResponse:
    """Every link of every delivered email of one campaign send, in one body."""
    state = request.app[SIMULATOR_STATE]
    refusal = _paubox_refusal(state, request)
    if refusal is not None:
        return refusal
    send_id = _paubox_send_id(request.query)
    if isinstance(send_id, _Invalid):
        return _invalid(state, request, "paubox", send_id)
    ordering = _paubox_order(request.query, PAUBOX_ORDER_BY)
    if isinstance(ordering, _Invalid):
        return _invalid(state, request, "paubox", ordering)
    subject = _Subject(send_id)
    scripted = await _scripted(state, request, "paubox", subject)
    if scripted is not None:
        return scripted
    return _data_response(state, subject, paubox_body(state._shape, send_id, *ordering))


async def _paubox_tracking_links_by_unique_link(request: web.Request) -> web.StreamResponse:
    """The click totals of each link of one campaign send's email, in one body."""
    state = request.app[SIMULATOR_STATE]
    refusal = _paubox_refusal(state, request)
    if refusal is not None:
        return refusal
    send_id = _paubox_send_id(request.query)
    if isinstance(send_id, _Invalid):
        return _invalid(state, request, "paubox", send_id)
    subject = _Subject(send_id)
    scripted = await _scripted(state, request, "paubox", subject)
    if scripted is not None:
        return scripted
    return _data_response(state, subject, paubox_unique_links_body(state._shape, send_id))


# The sends table has no id to key its behaviour by: it is a listing.
_SENDS_TABLE = _Subject("campaign_mailing_sends_table", listing=True)


async def _paubox_sends_table(request: web.Request) -> web.StreamResponse:
    """The account's sent campaigns, filtered by list name and sorted, in one body."""
    state = request.app[SIMULATOR_STATE]
    refusal = _paubox_refusal(state, request)
    if refusal is not None:
        return refusal
    ordering = _paubox_order(request.query, PAUBOX_SENDS_ORDER_BY)
    if isinstance(ordering, _Invalid):
        return _invalid(state, request, "paubox", ordering)
    scripted = await _scripted(state, request, "paubox", _SENDS_TABLE)
    if scripted is not None:
        return scripted
    # An empty search, like none, keeps every send.
    search = _last(request.query, "search", "") or None
    body = paubox_sends_body(state._shape, search, *ordering)
    return _data_response(state, _SENDS_TABLE, body)


# SendGrid


def _repeated_key(query: MultiMapping[str], names: Collection[str]) -> _Invalid | None:
    """The first of `names` given more than once, which SendGrid refuses, if any."""
    for name in names:
        if len(query.getall(name, ())) > 1:
            # The official Python client repeats the key for lists, which SendGrid refuses.
            if name in _LIST_PARAMETERS:
                message = f"{name} must be one comma-separated value, not a repeated key"
            else:
                message = f"{name} must be given once"
            return _Invalid(400, name, message, f"one {name} parameter")
    return None


def _page_size(query: MultiMapping[str]) -> int | _Invalid:
    """The `page_size` of a query, 25 if absent, or what is wrong with it."""
    page_size = query.get("page_size", str(_DEFAULT_PAGE_SIZE))
    # A few digits at most: int() refuses thousands of them, and none would be in range.
    if not (
        page_size.isascii()
        and page_size.isdigit()
        and len(page_size) <= 4
        and 1 <= int(page_size) <= _MAX_PAGE_SIZE
    ):
        return _Invalid(
            400,
            "page_size",
            f"page_size must be an integer from 1 to {_MAX_PAGE_SIZE}",
            f"an integer from 1 to {_MAX_PAGE_SIZE}",
        )
    return int(page_size)


def _path_id(request: web.Request) -> str | _Invalid:
    """The path's id in lower case, or the 400 for one that is not a UUID."""
    resource_id = request.match_info["id"]
    if not is_uuid(resource_id):
        return _Invalid(400, "id", "id must be a UUID", "a UUID")
    return resource_id.lower()


def _automation_links_query(request: web.Request) -> _AutomationLinksQuery | _Invalid:
    """A validated automation links query, or what is wrong with it."""
    query = request.query
    automation_id = _path_id(request)
    if isinstance(automation_id, _Invalid):
        return automation_id
    repeated = _repeated_key(query, ("group_by", "step_ids", *_PAGINATION_PARAMETERS))
    if repeated is not None:
        return repeated
    group_by = query.get("group_by")
    if group_by is not None and any(item != "step_id" for item in group_by.split(",")):
        return _Invalid(400, "group_by", "group_by must be step_id", "step_id")
    step_ids = tuple(query["step_ids"].split(",")) if "step_ids" in query else ()
    if not all(is_uuid(step_id) for step_id in step_ids):
        return _Invalid(
            400, "step_ids", "step_ids must be UUIDs", "one comma-separated list of UUIDs"
        )
    if len({step_id.lower() for step_id in step_ids}) < len(step_ids):
        # The spec declares `uniqueItems: true`.
        return _Invalid(
            400, "step_ids", "step_ids must not repeat", "one comma-separated list of UUIDs"
        )
    page_size = _page_size(query)
    if isinstance(page_size, _Invalid):
        return page_size
    return _AutomationLinksQuery(
        automation_id=automation_id,
        group_by_step=group_by is not None,
        step_ids=step_ids,
        page_size=page_size,
    )


def _single_send_links_query(request: web.Request) -> _SingleSendLinksQuery | _Invalid:
    """A validated single-send links query, or what is wrong with it."""
    query = request.query
    single_send_id = _path_id(request)
    if isinstance(single_send_id, _Invalid):
        return single_send_id
    repeated = _repeated_key(
        query, ("group_by", "ab_variation_id", "ab_phase_id", *_PAGINATION_PARAMETERS)
    )
    if repeated is not None:
        return repeated
    group_by = tuple(query["group_by"].split(",")) if "group_by" in query else ()
    if not all(item in SINGLE_SEND_GROUP_BY for item in group_by):
        return _Invalid(
            400,
            "group_by",
            "group_by must be ab_variation, ab_phase or both",
            "one comma-separated list of ab_variation and ab_phase",
        )
    ab_variation_id = query.get("ab_variation_id")
    if ab_variation_id is not None and not is_uuid(ab_variation_id):
        return _Invalid(400, "ab_variation_id", "ab_variation_id must be a UUID", "a UUID")
    ab_phase_id = query.get("ab_phase_id")
    if ab_phase_id is not None and ab_phase_id not in AB_PHASE_IDS:
        expected = " or ".join(AB_PHASE_IDS)
        return _Invalid(400, "ab_phase_id", f"ab_phase_id must be {expected}", expected)
    page_size = _page_size(query)
    if isinstance(page_size, _Invalid):
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
) -> _ListingQuery | _Invalid:
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
        return _Invalid(
            400,
            filter_name,
            f"{filter_name} must list 1 to {_MAX_LISTED_IDS} ids",
            f"one comma-separated list of 1 to {_MAX_LISTED_IDS} ids",
        )
    page_size = _page_size(query)
    if isinstance(page_size, _Invalid):
        return page_size
    return _ListingQuery(listing=listing, ids=ids, page_size=page_size)


def _own_origin(request: web.Request) -> URL:
    """The origin this server listens on, whatever the client's Host header says."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not sockname:
        return URL("http://127.0.0.1")
    return URL.build(scheme="http", host=sockname[0], port=sockname[1])


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
    shape: DataShape,
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


async def _sendgrid_page(
    request: web.Request, parse: Callable[[web.Request], _PagedQuery | _Invalid]
) -> web.StreamResponse:
    """One page of a paginated SendGrid endpoint whose query `parse` validates."""
    state = request.app[SIMULATOR_STATE]
    if request.headers.get("Authorization") != f"Bearer {state.config.sendgrid_api_key}":
        return _sendgrid_error(401, "authorization required")
    parsed = parse(request)
    if isinstance(parsed, _Invalid):
        return _invalid(state, request, "sendgrid", parsed)
    offset = 0
    token = request.query.get("page_token")
    if token is not None:
        page_offset = _page_offset(token, len(parsed.rows(state._shape)))
        if page_offset is None:
            invalid = _Invalid(400, "page_token", "invalid page_token", "a _metadata.next link")
            return _invalid(state, request, "sendgrid", invalid)
        offset = page_offset
    subject = parsed.subject
    scripted = await _scripted(state, request, "sendgrid", subject)
    if scripted is not None:
        return scripted
    body = _results_page(
        state._shape,
        _own_origin(request).with_path(request.path),
        parsed,
        offset,
        subject.behavior(state.config),
        state._foreign_origin,
    )
    return _data_response(state, subject, body)


async def _sendgrid_automation_links(request: web.Request) -> web.StreamResponse:
    """One page of an automation's click-tracking stats."""
    return await _sendgrid_page(request, _automation_links_query)


async def _sendgrid_single_send_links(request: web.Request) -> web.StreamResponse:
    """One page of a single send's click-tracking stats."""
    return await _sendgrid_page(request, _single_send_links_query)


async def _sendgrid_automations(request: web.Request) -> web.StreamResponse:
    """One page of the account's automations with their stats."""
    return await _sendgrid_page(request, functools.partial(_listing_query, "automations"))


async def _sendgrid_single_sends(request: web.Request) -> web.StreamResponse:
    """One page of the account's single sends with their stats."""
    return await _sendgrid_page(request, functools.partial(_listing_query, "singlesends"))
