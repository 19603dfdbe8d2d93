"""The one place requests are performed: session, timeouts, retries and rate-limit waits.

Providers describe what to fetch and parse what comes back; everything between (which
session, how long to wait, when to retry, when the whole source must pause) lives here and is
shared by every provider.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Collection, Mapping
from types import TracebackType
from typing import Any, Self

import aiohttp
import attrs
from yarl import URL

from ._errors import ErrorDetails, LinkStatsError, ProviderMessage, TransportError
from ._http import (
    RETRYABLE_STATUSES,
    PageRequest,
    Response,
    error_for_response,
    excerpt,
    rate_limit_delay,
    rate_limit_window,
    redact,
)

logger = logging.getLogger("linkstats")

# Deadlines (below) bound every attempt; aiohttp's own timers would only duplicate them.
_NO_AIOHTTP_TIMEOUT = aiohttp.ClientTimeout()

# Connection failures worth another attempt. A certificate error will not heal by retrying,
# and any other client error is a fault in the request itself.
_RETRYABLE_EXCEPTIONS = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    TimeoutError,
)


@attrs.frozen
class RetryPolicy:
    """How many times to retry, and how long to back off in between.

    Backoff is capped exponential with full jitter: retry ``n`` (from 0) sleeps a uniform
    random time in ``[0, min(max_backoff, backoff * 2**n)]``. A 429 instead waits what the
    provider asked for, capped at ``max_rate_limit_wait``.
    """

    max_retries: int = attrs.field(default=3, validator=attrs.validators.ge(0))
    backoff: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    max_backoff: float = attrs.field(default=30.0, validator=attrs.validators.ge(0))
    max_rate_limit_wait: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))

    def backoff_delay(self, retry: int) -> float:
        """Full-jitter delay before retry number ``retry`` (0-based)."""
        return random.uniform(0, min(self.max_backoff, self.backoff * 2**retry))


@attrs.define
class TransportStats:
    """Running counts for one source, for progress displays and summaries."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    #: Seconds of wall time during which requests were held back for the rate limit
    #: (however many tasks waited at once).
    rate_limit_wait: float = 0.0


class RateLimitGate:
    """The provider's request budget, shared by every request of one source.

    Two things hold a request back: a pause after a 429, for as long as the provider asked,
    and the budget of the current rate-limit window. Responses say how large the window is
    and when it resets (``X-RateLimit-*``); the gate counts the requests sent against it, so
    that once the budget is spent every task waits for the reset instead of earning a 429.
    """

    def __init__(self) -> None:
        self._resume_at = 0.0  # event-loop time
        self._limit: int | None = None
        self._window_end: float | None = None  # Unix time
        self._window_header: str | None = None  # X-RateLimit-Reset of that window, verbatim
        self._used = 0

    def remaining(self) -> float:
        """Seconds left in the pause in force, if any."""
        return max(0.0, self._resume_at - asyncio.get_running_loop().time())

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (a 429 asked for it)."""
        resume_at = asyncio.get_running_loop().time() + seconds
        self._resume_at = max(self._resume_at, resume_at)
        if self._limit is not None:
            self._used = self._limit

    def take(self) -> float:
        """Count one request and return 0 if it may go now, else the seconds to wait first."""
        delay = self._resume_at - asyncio.get_running_loop().time()
        if delay > 0:
            return delay
        if self._window_end is not None:
            now = time.time()
            if now >= self._window_end:
                self._window_end, self._window_header, self._used = None, None, 0
            elif self._limit is not None and self._used >= self._limit:
                return self._window_end - now
        self._used += 1
        return 0.0

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn the window from a response's headers."""
        reset = headers.get("X-RateLimit-Reset")
        if reset is None:
            return
        if reset != self._window_header:
            now = time.time()
            window = rate_limit_window(headers, now)
            if window is None or window.reset_at <= now:
                return
            if self._window_end is not None and window.reset_at < self._window_end:
                return
            self._limit, self._window_end = window.limit, window.reset_at
            self._window_header = reset
            used = window.limit - window.remaining
        else:
            # The same window as before: only the count can have moved.
            remaining = headers.get("X-RateLimit-Remaining", "")
            if self._limit is None or not remaining.isdigit():
                return
            used = self._limit - int(remaining)
        # The provider may have counted requests we did not send (another client of the key).
        self._used = max(self._used, used)


class Deadlines:
    """Per-attempt timeouts for many concurrent requests, enforced by one shared timer.

    A timer of its own per request (``asyncio.timeout``, aiohttp's ``total``) costs about as
    much as the rest of our bookkeeping for that request. Instead each attempt notes its
    deadline, and one periodic check, running only while attempts are in flight, cancels
    those past it: an attempt ends at most ``resolution`` seconds after its deadline.
    """

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self.resolution = min(timeout / 10, 0.5)
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._check: asyncio.TimerHandle | None = None

    def start(self) -> asyncio.Task[Any]:
        """Start the current task's attempt; pass the task to ``finish`` when it ends."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("requests must run inside an asyncio task")
        loop = task.get_loop()
        self._deadlines[task] = loop.time() + self._timeout
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
    """Performs GET requests for one source, owning its session unless given one."""

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
    ) -> None:
        self._provider = provider
        self._headers = dict(headers)
        # A header carrying a secret is as secret as the secret itself.
        self._secrets = tuple(
            {*secrets, *(value for value in headers.values() if _holds(value, secrets))}
        )
        self._read_error = read_error
        self._connections = None if max_connections is None else asyncio.Semaphore(max_connections)
        self._deadlines = None if timeout is None else Deadlines(timeout)
        self._retry = retry
        self._session = session
        self._owns_session = session is None
        self._entered = 0
        self.gate = RateLimitGate()
        self.stats = TransportStats()
        self._waited_until = 0.0  # event-loop time up to which waiting is counted

    async def __aenter__(self) -> Self:
        if self._entered == 0 and self._owns_session:
            session = aiohttp.ClientSession(
                # The caller's LinkStats(concurrency=...) bounds requests; a pool limit
                # below it would quietly cap throughput.
                connector=aiohttp.TCPConnector(limit=0),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            # aiohttp resends a GET once by itself when the connection drops; the retry
            # policy owns retries, so that max_retries means what it says. (aiohttp's own
            # test client turns this off the same way.)
            session._retry_connection = False
            self._session = session
        self._entered += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._entered -= 1
        if self._entered:
            return
        if self._deadlines is not None:
            self._deadlines.close()
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def get(self, request: PageRequest) -> Response:
        """Send ``request``, retrying what is retryable; raise a typed error for anything else."""
        session = self._session
        if session is None or self._entered == 0:
            raise RuntimeError("use the source in 'async with' before fetching")
        url = request.url
        headers = {**self._headers, **request.headers} if request.headers else self._headers
        retry = 0
        while True:
            await self._wait_for_budget()
            self.stats.requests += 1
            try:
                raw, body = await self._attempt(session, url, headers)
            except aiohttp.ClientSSLError as exc:
                raise self._transport_error(url, exc) from exc
            except _RETRYABLE_EXCEPTIONS as exc:
                error: LinkStatsError = self._transport_error(url, exc)
                delay = self._retry.backoff_delay(retry)
            except aiohttp.ClientError as exc:
                raise self._transport_error(url, exc) from exc
            else:
                response = Response(request, raw.status, raw.reason, raw.headers, body)
                self.gate.observe(response.headers)
                if 200 <= response.status < 300:
                    return response
                requested = self._rate_limit_pause(response)
                error = error_for_response(
                    self._provider,
                    status=response.status,
                    reason=response.reason,
                    headers=response.headers,
                    url=url,
                    details=self._redacted(self._read_error(response)),
                    body_excerpt=excerpt(body, self._secrets),
                    retry_after=requested,
                )
                if response.status not in RETRYABLE_STATUSES:
                    raise error
                # After a 429 the shared gate holds the retry back; otherwise back off.
                delay = 0.0 if requested else self._retry.backoff_delay(retry)
            if retry >= self._retry.max_retries:
                raise error
            retry += 1
            self.stats.retries += 1
            logger.info(
                "%s: retry %d of %d for GET %s in %.2fs after: %s",
                self._provider,
                retry,
                self._retry.max_retries,
                url,
                max(delay, self.gate.remaining()),
                error.summary,
            )
            await asyncio.sleep(delay)

    async def _attempt(
        self, session: aiohttp.ClientSession, url: URL, headers: Mapping[str, str]
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        """One request, its body read whole, within the source's connection cap if it has one."""
        if self._connections is None:
            return await self._send(session, url, headers)
        async with self._connections:
            return await self._send(session, url, headers)

    async def _send(
        self, session: aiohttp.ClientSession, url: URL, headers: Mapping[str, str]
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        """One request, its body read whole; TimeoutError once past the deadline."""
        deadlines = self._deadlines
        task = None if deadlines is None else deadlines.start()
        try:
            async with session.get(
                url,
                headers=headers,
                timeout=_NO_AIOHTTP_TIMEOUT,
                allow_redirects=False,
                raise_for_status=False,
            ) as raw:
                return raw, await raw.read()
        except asyncio.CancelledError:
            # A timeout only if the deadline passed and nobody else asked to cancel the task.
            if deadlines is None or task is None or not deadlines.finish(task):
                raise
            if task.uncancel():
                raise
            raise TimeoutError from None
        finally:
            if deadlines is not None and task is not None:
                deadlines.finish(task)

    async def _wait_for_budget(self) -> None:
        """Wait while the gate holds requests back, but never longer than the cap in all."""
        waited = 0.0
        cap = self._retry.max_rate_limit_wait
        while waited < cap and (wait := self.gate.take()) > 0:
            wait = min(wait, cap - waited)
            self._count_wait(wait)
            await asyncio.sleep(wait)
            waited += wait

    def _count_wait(self, seconds: float) -> None:
        """Add the part of this wait that no other task's wait already covers."""
        now = asyncio.get_running_loop().time()
        start, until = max(now, self._waited_until), now + seconds
        if until > start:
            self.stats.rate_limit_wait += until - start
            self._waited_until = until

    def _rate_limit_pause(self, response: Response) -> float | None:
        """For a 429, pause the whole source as long as asked (capped); return what was asked."""
        if response.status != 429:
            return None
        self.stats.rate_limited += 1
        requested = rate_limit_delay(response.headers, time.time())
        if requested is None or requested <= 0:
            return None
        self.gate.pause(min(requested, self._retry.max_rate_limit_wait))
        return requested

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

    def _transport_error(self, url: URL, exc: BaseException) -> TransportError:
        reason = "timed out" if isinstance(exc, TimeoutError) else (str(exc) or type(exc).__name__)
        error = TransportError(f"GET {url} failed: {reason}", provider=self._provider, url=url)
        error.__cause__ = exc
        return error


def _holds(value: str, secrets: Collection[str]) -> bool:
    return any(secret and secret in value for secret in secrets)
