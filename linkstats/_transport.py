"""The one place requests are performed: session, slots, timeouts, retries and rate-limit waits.

Providers describe what to fetch and parse what comes back; everything between (which
session, how many requests may be in flight, how long to wait, when to retry, when the whole
source must pause) lives here and is shared by every provider. What to do after a failure is
decided by ``RetryPolicy`` and ``RateLimitGate`` (``_policy``); this module carries it out.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping
from types import TracebackType
from typing import Any, Self

import aiohttp
import attrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._errors import ErrorDetails, LinkStatsError, ProviderMessage, TransportError
from ._http import PageRequest, Response, error_for_response, excerpt, redact
from ._policy import Action, Failure, Outcome, RateLimitGate, RetryPolicy
from ._version import USER_AGENT

logger = logging.getLogger("linkstats")

# Deadlines (below) bound every attempt; aiohttp's own timers would only duplicate them.
_NO_AIOHTTP_TIMEOUT = aiohttp.ClientTimeout()

# The concurrency slots of the LinkStats whose task this is, if any.
_request_slots: contextvars.ContextVar[asyncio.Semaphore | None] = contextvars.ContextVar(
    "linkstats_request_slots", default=None
)


@contextlib.asynccontextmanager
async def request_slot() -> AsyncIterator[None]:
    """Hold one of the running ``LinkStats``' concurrency slots for one request.

    A source that is not an ``HTTPSource`` wraps each of its requests in this (and sets
    ``takes_request_slots = True``), so that ``LinkStats`` counts its requests, not its
    waits, against ``concurrency``. Outside ``LinkStats`` it holds nothing.
    """
    slots = _request_slots.get()
    if slots is None:
        yield
        return
    async with slots:
        yield


@contextlib.contextmanager
def sharing_slots(slots: asyncio.Semaphore) -> Iterator[None]:
    """Let the requests made in this block take their slots from ``slots``."""
    token = _request_slots.set(slots)
    try:
        yield
    finally:
        _request_slots.reset(token)


@attrs.define
class TransportStats:
    """Running counts for one source, for progress displays and summaries."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    #: Seconds of wall time during which requests were held back for the rate limit
    #: (however many tasks waited at once).
    rate_limit_wait: float = 0.0


class Deadlines:
    """Per-attempt timeouts for many concurrent requests, enforced by one shared timer.

    A timer of its own per request (``asyncio.timeout``, aiohttp's ``total``) costs about as
    much as the rest of our bookkeeping for that request. Instead each attempt notes its
    deadline, and one periodic check, running only while attempts are in flight, cancels
    those past it: an attempt ends at most ``resolution`` seconds after its deadline.
    """

    def __init__(self, timeout: float | None) -> None:
        self._timeout = math.inf if timeout is None else timeout
        self.resolution = min(self._timeout / 10, 0.5)
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._check: asyncio.TimerHandle | None = None

    def start(
        self, loop: asyncio.AbstractEventLoop, until: float | None
    ) -> asyncio.Task[Any] | None:
        """Start the current task's attempt, to end by ``until`` (event-loop time) at the
        latest; pass the task to ``finish`` when it ends. ``None`` if nothing bounds it."""
        # Given the loop, asyncio need not look it up (which costs a getpid() call each time).
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("requests must run inside an asyncio task")
        deadline = loop.time() + self._timeout
        if until is not None and until < deadline:
            deadline = until
        if deadline == math.inf:
            return None
        self._deadlines[task] = deadline
        if self._check is None:
            self._check = loop.call_later(self.resolution, self._cancel_expired, loop)
        return task

    def finish(self, task: asyncio.Task[Any]) -> bool:
        """End the attempt; True if it was cancelled for running out of time."""
        self._deadlines.pop(task, None)
        if task not in self._expired:
            return False
        self._expired.discard(task)
        return True

    def _cancel_expired(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for task, deadline in list(self._deadlines.items()):
            if deadline <= now:
                del self._deadlines[task]
                self._expired.add(task)
                task.cancel()
        self._check = (
            loop.call_later(self.resolution, self._cancel_expired, loop)
            if self._deadlines
            else None
        )

    def close(self) -> None:
        if self._check is not None:
            self._check.cancel()
            self._check = None


class Transport:
    """Performs GET requests for one source, on a session of its own.

    Without a session given, it opens and closes its own. Given one, it makes a session of its
    own on the caller's connector (so its pool, TLS settings and limits are shared) with the
    caller's headers, cookie jar, auth, proxy setting and trace configs, and closes only that:
    the caller's session object is never changed. The caller's ``base_url``, middlewares and
    header size limits are not carried over.
    """

    def __init__(
        self,
        *,
        provider: str,
        headers: Mapping[str, str],
        secrets: Collection[str],
        read_error: Callable[[Response], ErrorDetails],
        timeout: float | None,
        retry: RetryPolicy,
        session: aiohttp.ClientSession | None,
        max_connections: int | None = None,
        proxy: URL | None = None,
    ) -> None:
        self._provider = provider
        # Only the transport's own session goes through it; a caller's keeps its settings.
        self._proxy = proxy if session is None else None
        # Built once: aiohttp takes a multidict as it is, where a dict would be copied into
        # one on every request.
        self._headers: Mapping[str, str] = CIMultiDictProxy(CIMultiDict(headers))
        # A header carrying a secret is as secret as the secret itself.
        self._secrets = tuple(
            {*secrets, *(value for value in headers.values() if _holds(value, secrets))}
        )
        self._read_error = read_error
        self._connections = None if max_connections is None else asyncio.Semaphore(max_connections)
        self._deadlines = Deadlines(timeout)
        self.retry = retry
        self._callers_session = session
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._entered = 0
        self.gate = RateLimitGate(retry.max_rate_limit_wait)
        self.stats = TransportStats()
        self._waited_until = 0.0  # event-loop time up to which waiting is counted

    async def __aenter__(self) -> Self:
        if self._entered == 0:
            caller = self._callers_session
            # A closed session is kept as it is: requests then fail as TransportErrors.
            self._session = caller if caller is not None and caller.closed else self._open()
            # Looked up once: asyncio checks the process id on every lookup.
            self._loop = asyncio.get_running_loop()
        self._entered += 1
        return self

    def _open(self) -> aiohttp.ClientSession:
        caller = self._callers_session
        if caller is None:
            session = aiohttp.ClientSession(
                # The caller's LinkStats(concurrency=...) bounds requests; a pool limit
                # below it would quietly cap throughput.
                connector=aiohttp.TCPConnector(limit=0),
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"User-Agent": USER_AGENT},
            )
        else:
            session = aiohttp.ClientSession(
                connector=caller.connector,
                connector_owner=False,
                headers=caller.headers,
                skip_auto_headers=caller.skip_auto_headers,
                cookie_jar=caller.cookie_jar,
                auth=caller.auth,
                trust_env=caller.trust_env,
                trace_configs=caller.trace_configs,
                auto_decompress=caller.auto_decompress,
                requote_redirect_url=caller.requote_redirect_url,
            )
        # aiohttp resends a GET once by itself when a reused connection drops; the retry
        # policy owns retries, so that max_retries means what it says. (aiohttp's own test
        # client turns this off the same way.)
        session._retry_connection = False
        return session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._entered -= 1
        if self._entered:
            return
        self._deadlines.close()
        session, self._session, self._loop = self._session, None, None
        if session is not None and session is not self._callers_session:
            await session.close()

    async def get(self, request: PageRequest, *, deadline: float | None = None) -> Response:
        """Send ``request``, retrying what the policy retries; raise a typed error otherwise.

        ``deadline`` (event-loop time) is when the target's time is up, if it has a limit.
        """
        session, loop = self._session, self._loop
        if session is None or loop is None or self._entered == 0:
            raise RuntimeError("use the source in 'async with' before fetching")
        url = request.url
        headers = self._headers
        if request.headers:
            # A request's own header replaces the source's of that name, whatever its case.
            headers = CIMultiDict(headers)
            headers.update(request.headers)
        retries = 0
        gate = self.gate
        while True:
            if (wait := gate.take(loop.time())) > 0:
                await self._wait_for_budget(url, deadline, wait)
            self.stats.requests += 1
            sent = time.time()
            answer = await self._attempt(session, loop, url, headers, deadline)
            if isinstance(answer, _Failed):
                outcome = Outcome(failure=answer.failure)
                error: LinkStatsError = self._transport_error(url, answer)
            else:
                raw, body = answer
                wall, now = time.time(), loop.time()
                response = Response(request, raw.status, raw.reason, raw.headers, body)
                self.gate.observe(response.headers, now=now, sent=sent, wall=wall)
                if 200 <= response.status < 300:
                    return response
                asked = None
                if response.status == 429:
                    self.stats.rate_limited += 1
                    asked = self.gate.requested_wait(response.headers, wall)
                outcome = Outcome(status=response.status, rate_limit_wait=asked)
                error = self._status_error(response, asked)
            now = loop.time()
            decision = self.retry.decide(
                outcome,
                retries=retries,
                remaining=None if deadline is None else deadline - now,
                jitter=random.random(),
            )
            if decision.action is Action.GIVE_UP:
                raise error
            retries += 1
            self.stats.retries += 1
            if decision.action is Action.PAUSE:
                # Every task of the source waits for the gate, this one included.
                self.gate.pause(decision.delay, now)
                delay = 0.0
            else:
                delay = decision.delay
            logger.info(
                "%s: retry %d of %d for GET %s in %.2fs after: %s",
                self._provider,
                retries,
                self.retry.max_retries,
                url,
                max(delay, self.gate.remaining(now)),
                error.summary,
            )
            await asyncio.sleep(delay)

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        loop: asyncio.AbstractEventLoop,
        url: URL,
        headers: Mapping[str, str],
        deadline: float | None,
    ) -> tuple[aiohttp.ClientResponse, bytes] | _Failed:
        """One request, its body read whole, holding the source's connection cap (if it has
        one) and then a LinkStats slot (if it runs in one) only while it is in flight."""
        # request_slot(), written out as this runs once per request; the connection cap comes
        # first, so that a LinkStats slot is not held while the provider's cap is awaited.
        connections, slots = self._connections, _request_slots.get()
        if connections is not None:
            await connections.acquire()
        if slots is not None:
            try:
                await slots.acquire()
            except BaseException:
                if connections is not None:
                    connections.release()
                raise
        deadlines = self._deadlines
        task = deadlines.start(loop, deadline)
        try:
            async with session.get(
                url,
                headers=headers,
                timeout=_NO_AIOHTTP_TIMEOUT,
                allow_redirects=False,
                raise_for_status=False,
                proxy=self._proxy,
            ) as raw:
                return raw, await raw.read()
        except asyncio.CancelledError:
            # A timeout only if the deadline passed and nobody else asked to cancel the task.
            if task is None or not deadlines.finish(task) or task.uncancel():
                raise
            return _Failed(Failure.TIMEOUT, "timed out")
        except TimeoutError:
            return _Failed(Failure.TIMEOUT, "timed out")
        except aiohttp.ClientError as exc:
            return _Failed(_failure_of(exc), f"{type(exc).__name__}: {exc}")
        except RuntimeError:
            if not session.closed:
                raise
            return _Failed(Failure.CLOSED, "the session given to the source is closed")
        finally:
            if task is not None:
                deadlines.finish(task)
            if slots is not None:
                slots.release()
            if connections is not None:
                connections.release()

    async def _wait_for_budget(self, url: URL, deadline: float | None, wait: float) -> None:
        """Wait while the gate holds requests back (``wait``, the gate's first answer, is
        more than 0), but never longer than the cap in all."""
        loop = asyncio.get_running_loop()
        waited = 0.0
        cap = self.retry.max_rate_limit_wait
        while waited < cap and wait > 0:
            wait = min(wait, cap - waited)
            if deadline is not None and loop.time() + wait >= deadline:
                raise TransportError(
                    f"gave up: the rate limit's wait would pass the target's deadline "
                    f"of {self.retry.deadline} s",
                    provider=self._provider,
                    url=url,
                    failure=Failure.TIMEOUT,
                )
            self._count_wait(wait)
            await asyncio.sleep(wait)
            waited += wait
            wait = self.gate.take(loop.time())

    def _count_wait(self, seconds: float) -> None:
        """Add the part of this wait that no other task's wait already covers."""
        now = asyncio.get_running_loop().time()
        start, until = max(now, self._waited_until), now + seconds
        if until > start:
            self.stats.rate_limit_wait += until - start
            self._waited_until = until

    def _status_error(self, response: Response, asked: float | None) -> LinkStatsError:
        return error_for_response(
            self._provider,
            status=response.status,
            reason=response.reason,
            headers=response.headers,
            url=response.url,
            details=self._redacted(self._read_error(response)),
            body_excerpt=excerpt(response.body, self._secrets),
            retry_after=asked,
        )

    def redact(self, text: str) -> str:
        """``text`` with every secret cut out, should a server have echoed one into it."""
        return redact(text, self._secrets)

    def _redacted(self, details: ErrorDetails) -> ErrorDetails:
        if not any(secret in repr(details) for secret in self._secrets if secret):
            return details
        return ErrorDetails(
            tuple(
                ProviderMessage(
                    self.redact(item.message),
                    None if item.field is None else self.redact(item.field),
                )
                for item in details.messages
            ),
            None if details.error_id is None else self.redact(details.error_id),
            None if details.code is None else self.redact(details.code),
        )

    def _transport_error(self, url: URL, failed: _Failed) -> TransportError:
        # The aiohttp exception itself is not kept: some hold the request, headers and key.
        return TransportError(
            f"GET {url} failed: {self.redact(failed.reason)}",
            provider=self._provider,
            url=url,
            failure=failed.failure,
        )


@attrs.frozen
class _Failed:
    """An attempt that got no usable response: why, and aiohttp's words for it."""

    failure: Failure
    reason: str


def _failure_of(exc: aiohttp.ClientError) -> Failure:
    """What kind of failure an aiohttp exception is, for the retry policy."""
    if isinstance(exc, aiohttp.ClientSSLError):
        return Failure.TLS
    if isinstance(exc, aiohttp.ClientConnectionError):
        return Failure.CONNECTION
    # With redirects and raise_for_status off, a ClientResponseError is an answer that
    # broke HTTP (its status line or headers); a ClientPayloadError, its body.
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return Failure.MALFORMED
    return Failure.REQUEST


def _holds(value: str, secrets: Collection[str]) -> bool:
    return any(secret and secret in value for secret in secrets)
