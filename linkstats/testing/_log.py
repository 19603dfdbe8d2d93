"""What reached the simulator: one record per request, kept from arrival to answer."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from aiohttp import web
    from multidict import CIMultiDictProxy

__all__ = ["RequestRecord", "SimulatorLog"]


@attrs.define
class RequestRecord:
    """One request as it arrived; `status` is filled in when answered (None if never answered)."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: CIMultiDictProxy[str]
    #: The provider whose API the path belongs to, by its name (``"sendgrid"``), if any.
    provider: str | None
    received_at: float
    #: The provider's Unix time on arrival, by the simulator's (possibly offset) clock.
    provider_time: float = 0.0
    status: int | None = None


class SimulatorLog:
    """Requests received, in arrival order, and how many are being handled at once.

    A simulator serving for hours keeps only the latest ``limit`` requests.
    """

    def __init__(self, limit: int | None = None) -> None:
        #: The latest requests, at most ``limit`` of them (``None``: every one).
        self.requests: deque[RequestRecord] = deque(maxlen=limit)
        self.in_flight = 0
        self.max_in_flight = 0
        # Created only while someone waits, so an unobserved log costs nothing per request.
        self._change: asyncio.Event | None = None

    def count(self, path_prefix: str | None = None) -> int:
        """How many requests arrived, all of them or those whose path starts with `path_prefix`."""
        if path_prefix is None:
            return len(self.requests)
        return sum(record.path.startswith(path_prefix) for record in self.requests)

    def clear(self) -> None:
        """Forget past requests; the peak restarts from the requests still in flight."""
        self.requests.clear()
        self.max_in_flight = self.in_flight
        self._changed()

    async def wait_until(self, predicate: Callable[[SimulatorLog], bool]) -> None:
        """Return once `predicate(log)` holds, re-checking on every arrival and answer."""
        while not predicate(self):
            if self._change is None:
                self._change = asyncio.Event()
            await self._change.wait()

    def arrived(
        self, request: web.BaseRequest, provider: str | None, provider_time: float
    ) -> RequestRecord:
        """Record a request as it arrives and count it in flight."""
        record = RequestRecord(
            method=request.method,
            path=request.path,
            query=tuple(request.query.items()),
            # The request's own headers are immutable, so they are kept rather than copied.
            headers=request.headers,
            provider=provider,
            received_at=time.monotonic(),
            provider_time=provider_time,
        )
        self.requests.append(record)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self._changed()
        return record

    def finished(self, record: RequestRecord, status: int | None) -> None:
        """Note how a request was answered (None: not at all) and count it out of flight."""
        record.status = status
        self.in_flight -= 1
        self._changed()

    def _changed(self) -> None:
        if self._change is not None:
            self._change.set()
            self._change = None
