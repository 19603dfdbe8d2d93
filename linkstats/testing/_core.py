"""The provider-free core of the simulator: run state, faults, rate windows, scripted behaviours.

Each simulated provider is a `ProviderSimulation`: its routes, its credentials and its way of
saying what went wrong. Around them the middleware here adds what real networks and deployments
add, in the order a request meets them: latency, the rate limiter at the edge, dropped
connections, server errors and gateway pages, malformed bodies, and the provider's clock on every
answer. Scripted behaviours (`Behavior`) replace one id's or one listing's answers.
"""

from __future__ import annotations

import abc
import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from email.utils import formatdate
from typing import Protocol

import attrs
import orjson
from aiohttp import web
from yarl import URL

from ._draws import digest, draw
from ._knobs import Behavior, BrokenResponse, Faults, RateLimit
from ._log import SimulatorLog

__all__ = ["SIMULATOR_STATE", "SimulatorState"]

# Error messages by status; providers phrase their errors around these.
REASONS = {
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
# Seconds to the reset of the scripted 429s.
_SCRIPTED_RESETS = {Behavior.RATE_LIMITED_FIRST: 1, Behavior.FAR_RESET_FIRST: 3600}
# The budget a scripted 429 reports where the provider is given none.
GENEROUS_LIMIT = RateLimit(limit=10_000, window=1.0)

_LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in</title></head>"
    "<body><form action=/login method=post><p>Please sign in to continue.</p></form></body></html>"
)

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


class SharedConfig(Protocol):
    """The part of a `SimulatorConfig` no single provider owns."""

    @property
    def seed(self) -> int: ...
    @property
    def period(self) -> int: ...
    @property
    def faults(self) -> Faults: ...
    @property
    def behaviors(self) -> Mapping[str, Behavior]: ...
    @property
    def listing_behavior(self) -> Behavior | None: ...
    @property
    def flaky_failures(self) -> int: ...
    @property
    def foreign_url(self) -> str: ...
    @property
    def broken_response(self) -> BrokenResponse: ...
    @property
    def clock_offset(self) -> float: ...
    @property
    def log_limit(self) -> int | None: ...
    @property
    def distinct_urls(self) -> bool: ...


@attrs.frozen
class Invalid:
    """A query parameter an endpoint refuses, and how it says so."""

    status: int
    field: str
    message: str
    expected: str


@attrs.frozen
class Subject:
    """Whose scripted behaviour a request meets: one id's (lower case), or one listing's."""

    key: str
    listing: bool = False

    def behavior(self, config: SharedConfig) -> Behavior | None:
        """The behaviour the config scripts for this id or listing, if any."""
        return config.listing_behavior if self.listing else config.behaviors.get(self.key)


class HangUp(Exception):  # noqa: N818 - a signal to close the connection, not an error
    """Raised inside a handler to close the connection, after writing `raw` if given."""

    def __init__(self, raw: bytes = b"") -> None:
        super().__init__()
        self.raw = raw


class ProviderSimulation(abc.ABC):
    """One provider's API as the simulator plays it: routes, credentials and error bodies."""

    #: The provider's name, as the request log and the library call it.
    name: str
    #: The path prefixes the provider's API answers under.
    prefixes: tuple[str, ...]
    #: The budget per API key; None where the provider reports no limits.
    rate_limit: RateLimit | None

    @abc.abstractmethod
    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Add the provider's endpoints."""

    @abc.abstractmethod
    def error(self, request: web.Request, status: int) -> web.Response:
        """The provider's body for a bare `status` (unknown paths, faults, scripted failures)."""

    @abc.abstractmethod
    def invalid(self, request: web.Request, invalid: Invalid) -> web.Response:
        """The provider's refusal of a query parameter."""

    @abc.abstractmethod
    def too_many_requests(self) -> web.Response:
        """The provider's 429 body; the rate-limit headers are added around it."""

    @abc.abstractmethod
    def environment(self, origin: URL) -> dict[str, str]:
        """The variables that point the library's source for this provider at `origin`."""

    @abc.abstractmethod
    def advance_to(self, period: int) -> None:
        """Serve the data as of `period` (`SharedConfig.period`) from the next request on."""

    def serves(self, path: str) -> bool:
        """Whether `path` belongs to this provider's API."""
        return any(path == prefix or path.startswith(prefix + "/") for prefix in self.prefixes)


@attrs.frozen
class _Quota:
    """A request's standing in its rate-limit window."""

    exceeded: bool
    headers: Mapping[str, str]


class SimulatorState:
    """Run state of one simulator app: its config, providers, request log and counters."""

    def __init__(self, config: SharedConfig, simulations: Iterable[ProviderSimulation]) -> None:
        self.config = config
        self.simulations = tuple(simulations)
        self.log = SimulatorLog(config.log_limit)
        self._foreign_origin = URL(config.foreign_url).origin()
        # Set at shutdown, so hanging requests end instead of holding the server open.
        self._closing = asyncio.Event()
        self._attempts: Counter[str] = Counter()
        self._requests_per_subject: Counter[Subject] = Counter()
        self._windows: dict[tuple[str, str], tuple[int, int]] = {}

    def advance_to(self, config: SharedConfig) -> None:
        """Answer by `config`, the current config at a later period, from the next request on.

        Only the data moves on: the log, attempt counts and rate windows carry over, as a real
        account's do while its counts grow.
        """
        self.config = config
        for simulation in self.simulations:
            simulation.advance_to(config.period)

    @property
    def foreign_origin(self) -> URL:
        """Where `FOREIGN_NEXT` and `REDIRECT` point: an origin that is not the simulator's."""
        return self._foreign_origin

    def now(self) -> float:
        """The provider's Unix time: ours, offset by `SimulatorConfig.clock_offset`."""
        return time.time() + self.config.clock_offset

    def simulation_of(self, path: str) -> ProviderSimulation | None:
        """The provider whose API `path` belongs to, if any."""
        return next((each for each in self.simulations if each.serves(path)), None)

    async def answer(
        self,
        request: web.Request,
        simulation: ProviderSimulation,
        subject: Subject,
        body: Callable[[], bytes],
    ) -> web.StreamResponse:
        """What the id's or listing's scripted behaviour answers, or else the 200 with
        ``body()``, broken as the behaviour may ask."""
        scripted = await self._scripted(request, simulation, subject)
        if scripted is not None:
            return scripted
        return self._data_response(subject, body())

    async def _scripted(
        self, request: web.Request, simulation: ProviderSimulation, subject: Subject
    ) -> web.StreamResponse | None:
        """What the id's or listing's scripted behaviour answers instead of its data, if any."""
        config = self.config
        behavior = subject.behavior(config)
        if behavior is None:
            return None
        earlier = self._requests_per_subject[subject]
        self._requests_per_subject[subject] = earlier + 1
        if behavior in _SCRIPTED_STATUSES:
            return simulation.error(request, _SCRIPTED_STATUSES[behavior])
        if behavior is Behavior.FLAKY and earlier < config.flaky_failures:
            return simulation.error(request, 503)
        if behavior is Behavior.DROP_FIRST and earlier < config.flaky_failures:
            raise HangUp
        reset_in = _SCRIPTED_RESETS.get(behavior)
        if reset_in is not None and not earlier:
            limit = simulation.rate_limit or GENEROUS_LIMIT
            now = self.now()
            response = simulation.too_many_requests()
            response.headers.update(rate_limit_headers(limit, 0, now + reset_in, now, refused=True))
            return response
        if behavior is Behavior.BROKEN_FIRST and earlier < config.flaky_failures:
            raise HangUp(_BROKEN_RESPONSES[config.broken_response])
        if behavior is Behavior.REDIRECT:
            location = self._foreign_origin.join(request.rel_url)
            return web.Response(status=302, headers={"Location": str(location)})
        if behavior is Behavior.HANG:
            # The handler is cancelled when the client goes away (`Simulator` runs the app with
            # handler_cancellation); otherwise it waits for the server to shut down.
            await self._closing.wait()
            raise HangUp
        return None

    def _data_response(self, subject: Subject, body: bytes) -> web.Response:
        """The 200 with `body`, unless the id or listing is scripted to send a broken one."""
        behavior = subject.behavior(self.config)
        if behavior is Behavior.MALFORMED_JSON:
            return _malformed("truncated", body)
        if behavior is Behavior.WRONG_SHAPE:
            return _malformed("wrapped", body)
        return web.Response(body=body, content_type="application/json")

    def _next_attempt(self, raw_path: str) -> int:
        """How many times this exact path and query arrived before."""
        attempt = self._attempts[raw_path]
        self._attempts[raw_path] = attempt + 1
        return attempt

    def _take_quota(self, simulation: ProviderSimulation, credentials: str) -> _Quota | None:
        """Count one request in its fixed window; None where the provider reports no limits."""
        limit = simulation.rate_limit
        if limit is None:
            return None
        now = self.now()
        window = math.floor(now / limit.window)
        bucket = (simulation.name, credentials)
        counted_window, used = self._windows.get(bucket, (window, 0))
        used = (used if counted_window == window else 0) + 1
        self._windows[bucket] = (window, used)
        exceeded = used > limit.limit
        headers = rate_limit_headers(
            limit, max(0, limit.limit - used), (window + 1) * limit.window, now, refused=exceeded
        )
        return _Quota(exceeded=exceeded, headers=headers)


SIMULATOR_STATE = web.AppKey("linkstats_simulator_state", SimulatorState)
"""Where `make_app` keeps the run state: `app[SIMULATOR_STATE].log` is the request log."""


def build_app(config: SharedConfig, simulations: Iterable[ProviderSimulation]) -> web.Application:
    """An application serving every provider in `simulations` behind the shared middleware."""
    app = web.Application(middlewares=[_simulate])
    state = SimulatorState(config, simulations)
    app[SIMULATOR_STATE] = state
    for simulation in state.simulations:
        simulation.add_routes(app.router)
    app.on_shutdown.append(_release_hanging_requests)
    return app


async def _release_hanging_requests(app: web.Application) -> None:
    app[SIMULATOR_STATE]._closing.set()


def json_response(status: int, payload: object) -> web.Response:
    """A JSON body serialized as the providers do, compactly."""
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")


def error_id(seed: int, request: web.Request, status: int) -> str:
    """An error id, stable for one request so tests can compare bodies."""
    return digest(seed, "error", status, request.raw_path).hex()


def own_origin(request: web.Request) -> URL:
    """The origin this server listens on, whatever the client's Host header says."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not sockname:
        return URL("http://127.0.0.1")
    return URL.build(scheme="http", host=sockname[0], port=sockname[1])


def rate_limit_headers(
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


def _hit(
    state: SimulatorState, fault: str, request: web.Request, attempt: int, rate: float
) -> bool:
    """Whether this attempt at this path and query suffers `fault`."""
    return rate > 0 and draw(state.config.seed, fault, request.raw_path, attempt) < rate


@web.middleware
async def _simulate(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Log each request from arrival to answer around everything else the simulator does."""
    state = request.app[SIMULATOR_STATE]
    simulation = state.simulation_of(request.path)
    record = state.log.arrived(
        request, None if simulation is None else simulation.name, state.now()
    )
    status = None
    try:
        response = await _answer(state, request, handler, simulation)
        status = response.status
    except HangUp as hang_up:
        if request.transport is not None:
            if hang_up.raw:
                request.transport.write(hang_up.raw)
            request.transport.close()
        # Never written: aiohttp finds the transport closing and drops the response.
        return web.Response()
    finally:
        state.log.finished(record, status)
    return response


def _error(
    request: web.Request, simulation: ProviderSimulation | None, status: int
) -> web.Response:
    """An error in the shape of the provider the path belongs to, plain text for none."""
    if simulation is None:
        return web.Response(status=status, text=f"{status}: {REASONS[status]}")
    return simulation.error(request, status)


async def _answer(
    state: SimulatorState,
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    simulation: ProviderSimulation | None,
) -> web.StreamResponse:
    """Apply latency, the rate limit and faults, in the order a real deployment meets them."""
    faults = state.config.faults
    seed = state.config.seed
    attempt = state._next_attempt(request.raw_path)
    if faults.latency:
        await asyncio.sleep(faults.latency)
    # The rate limiter sits at the edge: it counts every request, even those that fail later.
    quota = None
    if simulation is not None:
        quota = state._take_quota(simulation, request.headers.get("Authorization", ""))
    if simulation is not None and quota is not None and quota.exceeded:
        response: web.StreamResponse = simulation.too_many_requests()
    elif _hit(state, "drop", request, attempt, faults.drop_rate):
        raise HangUp
    elif _hit(state, "server_error", request, attempt, faults.server_error_rate):
        status_draw = draw(seed, "server_error_status", request.raw_path, attempt)
        status = _SERVER_ERROR_STATUSES[int(status_draw * len(_SERVER_ERROR_STATUSES))]
        if status in _GATEWAY_STATUSES:
            response = _gateway_page(status)
        else:
            response = _error(request, simulation, status)
    else:
        try:
            response = await handler(request)
        except web.HTTPNotFound:
            response = _error(request, simulation, 404)
        except web.HTTPMethodNotAllowed as exc:
            response = _error(request, simulation, 405)
            response.headers["Allow"] = exc.headers["Allow"]
        if (
            response.status == 200
            and isinstance(response, web.Response)
            and isinstance(response.body, bytes)
            and _hit(state, "malformed", request, attempt, faults.malformed_rate)
        ):
            kind_draw = draw(seed, "malformed_kind", request.raw_path, attempt)
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


def _gateway_page(status: int) -> web.Response:
    """The HTML a reverse proxy sends when the API behind it fails."""
    title = f"{status} {REASONS[status].title()}"
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
