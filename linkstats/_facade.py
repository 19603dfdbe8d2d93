"""``LinkStats``: many targets, many sources, one bounded pool of concurrent fetches."""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
)
from contextlib import AsyncExitStack
from itertools import chain
from operator import itemgetter
from types import MappingProxyType, TracebackType
from typing import Any, Generic, NamedTuple, Self, TypeAlias, TypeVar

import attrs

from ._errors import LinkStatsError
from ._models import Campaign, LinkClick
from ._source import LinkStatsSource, SupportsDiscovery, SupportsPages
from ._transport import sharing_slots
from ._validation import integer_in_range

__all__ = ["CollectResult", "LinkStats", "TargetResult", "Targets"]

T = TypeVar("T")
TargetT = TypeVar("TargetT", bound=Hashable)

Targets: TypeAlias = (
    Iterable[TargetT | Campaign[TargetT]] | AsyncIterable[TargetT | Campaign[TargetT]]
)
"""What the fetching methods take: targets or campaigns, given up front or as they arrive."""

Pages = Callable[[Any], AsyncIterator[list[LinkClick]]]


@attrs.frozen
class CollectResult(Generic[TargetT]):
    """What ``LinkStats.collect`` fetched.

    ``clicks`` holds every record of the targets that succeeded, grouped by target in the
    order the targets were given; ``errors`` maps each failed target to its error.
    """

    clicks: list[LinkClick]
    errors: Mapping[TargetT, LinkStatsError]

    @property
    def ok(self) -> bool:
        """True when every target succeeded."""
        return not self.errors


@attrs.frozen
class TargetResult(Generic[TargetT]):
    """One target's outcome: its records, or the error that stopped it.

    For a failed target, ``clicks`` holds the pages fetched before the failure.
    """

    target: TargetT
    clicks: list[LinkClick]
    error: LinkStatsError | None = None

    @property
    def ok(self) -> bool:
        """True when the target was fetched to its last page."""
        return self.error is None


class _Job(NamedTuple):
    target: Any
    pages: Pages
    position: int


class _Feed:
    """Targets routed to their sources, handed to the workers one at a time.

    Targets given up front are routed at once, so a bad one fails before anything is sent;
    targets from an async iterable (``discover()``, say) are routed as they arrive, and
    workers start on the first while the rest are still coming.
    """

    def __init__(self, route: Callable[[Any], Pages], targets: Targets[Any]) -> None:
        self._route = route
        self._seen: set[Any] = set()
        self._arriving: AsyncIterator[Any] | None = None
        self._planned: Iterator[_Job] = iter(())
        self._lock = asyncio.Lock()
        #: How many targets there are, where that is known before fetching starts.
        self.size: int | None = None
        if isinstance(targets, AsyncIterable):
            self._arriving = aiter(targets)
        elif isinstance(targets, str | bytes) or not isinstance(targets, Iterable):
            raise TypeError(f"targets must be an iterable of targets, got {type(targets).__name__}")
        else:
            jobs = [job for job in map(self._job, targets) if job is not None]
            self._planned = iter(jobs)
            self.size = len(jobs)

    def _job(self, item: Any) -> _Job | None:
        target = item.target if isinstance(item, Campaign) else item
        if target in self._seen:
            return None
        pages = self._route(target)
        self._seen.add(target)
        return _Job(target, pages, len(self._seen))

    async def next(self) -> _Job | None:
        """The next target to fetch, or ``None`` when there are no more."""
        if self._arriving is None:
            return next(self._planned, None)
        async with self._lock:
            async for item in self._arriving:
                if (job := self._job(item)) is not None:
                    return job
            return None

    async def aclose(self) -> None:
        if self._arriving is not None:
            await _close(self._arriving)


@attrs.frozen
class _Failure:
    error: BaseException


class _Done:
    """A worker has no more targets."""


_DONE = _Done()


class LinkStats:
    """Fetch link clicks for many targets across several sources at once.

    Each target goes to the source whose ``target_types`` include its type. At most
    ``concurrency`` requests are in flight at any moment, across all sources, listings and
    concurrent calls on this object; each holds its slot only while it is in flight.
    """

    def __init__(self, *sources: LinkStatsSource[Any], concurrency: int = 16) -> None:
        if not sources:
            raise ValueError("LinkStats needs at least one source")
        integer_in_range("concurrency", concurrency, 1, 10_000)
        self._sources = sources
        self._concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._routes: dict[type[Any], Pages] = {}
        for source in sources:
            for target_type in source.target_types:
                if target_type in self._routes:
                    raise ValueError(f"more than one source fetches {target_type.__name__}")
                self._routes[target_type] = self._pages_of(source)
        self._stack: AsyncExitStack | None = None
        self._workers: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        sources = ", ".join(repr(source) for source in self._sources)
        return f"LinkStats({sources}, concurrency={self._concurrency})"

    async def __aenter__(self) -> Self:
        if self._stack is not None:
            raise RuntimeError("this LinkStats is already open")
        async with AsyncExitStack() as stack:
            for source in self._sources:
                await stack.enter_async_context(source)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        await _stop(set(self._workers))
        if stack is not None:
            await stack.aclose()

    def clicks(self, targets: Targets[TargetT]) -> AsyncGenerator[LinkClick, None]:
        """Every target's records, merged as they arrive.

        Targets (or campaigns) given up front are checked now, before anything is sent. The
        first failure stops the other fetches and is raised. Memory stays bounded by
        ``concurrency`` pages, however many records there are.
        """
        return _flatten(self._fan_out(_Feed(self._route, targets), _pages))

    def results(self, targets: Targets[TargetT]) -> AsyncGenerator[TargetResult[TargetT], None]:
        """Each target's outcome as soon as that target is done, failures included.

        Targets given up front are checked now, before anything is sent. A target failing
        with a ``LinkStatsError`` is reported and the others carry on; memory holds at most
        ``concurrency`` targets' records at once.
        """
        return self._fan_out(_Feed(self._route, targets), _result)

    async def collect(self, targets: Targets[TargetT]) -> CollectResult[TargetT]:
        """All records of every target that succeeded, and the error of every one that failed.

        One failing target never costs another its records; only a fault that is not a
        ``LinkStatsError`` (a bug in a source, say) stops the rest, and is raised.
        """
        feed = _Feed(self._route, targets)
        self._require_open()
        done: list[tuple[int, TargetResult[TargetT]]] = []

        # Nothing here needs to arrive early: workers keep what they fetch, with no queue
        # between them and the caller.
        async def keep(job: _Job) -> None:
            done.append((job.position, await _outcome(job)))

        workers = self._start(feed, keep)
        try:
            if workers:
                finished, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
                for worker in finished:
                    if (error := worker.exception()) is not None:
                        raise error
        finally:
            await self._stop(workers, feed)
        done.sort(key=itemgetter(0))
        ordered = [result for _, result in done]
        clicks = list(chain.from_iterable(result.clicks for result in ordered if result.ok))
        failed = {result.target: result.error for result in ordered if result.error is not None}
        return CollectResult(clicks, MappingProxyType(failed))

    async def discover(self) -> AsyncGenerator[Campaign[Any], None]:
        """Every campaign each source that can list them lists, source after source.

        Each ``Campaign`` carries the target that fetches its clicks, so
        ``await stats.collect(stats.discover())`` is everything.
        """
        self._require_open()
        for source in self._sources:
            if not isinstance(source, SupportsDiscovery):
                continue
            campaigns = aiter(source.discover())
            try:
                while True:
                    # Listing requests count against the concurrency limit like any other,
                    # and nothing is held while the caller works on what was listed.
                    campaign = await self._next(source, campaigns)
                    if campaign is None:
                        break
                    yield campaign
            finally:
                await _close(campaigns)

    async def _next(self, source: LinkStatsSource[Any], items: AsyncIterator[T]) -> T | None:
        """The source's next item, its requests counted against ``concurrency``."""
        if _takes_request_slots(source):
            with sharing_slots(self._slots):
                return await anext(items, None)
        async with self._slots:
            return await anext(items, None)

    async def _fan_out(
        self,
        feed: _Feed,
        deliver: Callable[[_Job, Callable[[Any], Awaitable[None]]], Awaitable[None]],
    ) -> AsyncGenerator[Any, None]:
        """What ``deliver`` hands over for each job, as it arrives, from the workers.

        An exception out of ``deliver`` stops every worker and is raised here.
        """
        self._require_open()
        queue: asyncio.Queue[Any] = asyncio.Queue(self._concurrency)

        async def hand_over(job: _Job) -> None:
            await deliver(job, queue.put)

        async def finish(error: Exception | None) -> None:
            await queue.put(_DONE if error is None else _Failure(error))

        workers = self._start(feed, hand_over, finish)
        try:
            running = len(workers)
            while running:
                item = await queue.get()
                if isinstance(item, _Done):
                    running -= 1
                elif isinstance(item, _Failure):
                    raise item.error
                else:
                    yield item
        finally:
            await self._stop(workers, feed)

    def _start(
        self,
        feed: _Feed,
        deliver: Callable[[_Job], Awaitable[None]],
        finish: Callable[[Exception | None], Awaitable[None]] | None = None,
    ) -> set[asyncio.Task[None]]:
        """The one worker pool behind ``clicks``, ``results`` and ``collect``.

        Workers hold no slot of their own: each request takes one while it is in flight, so
        a worker waiting on a full queue, a backoff or a rate limit holds nothing another
        fetch could need. A worker's failure is handed to ``finish`` if given, else raised.
        """

        async def work() -> None:
            try:
                with sharing_slots(self._slots):
                    while (job := await feed.next()) is not None:
                        await deliver(job)
            except Exception as error:
                if finish is None:
                    raise
                await finish(error)
                return
            if finish is not None:
                await finish(None)

        workers = {asyncio.create_task(work()) for _ in range(self._workers_for(feed))}
        self._workers |= workers
        return workers

    async def _stop(self, workers: set[asyncio.Task[None]], feed: _Feed) -> None:
        await _stop(workers)
        self._workers -= workers
        await feed.aclose()

    def _workers_for(self, feed: _Feed) -> int:
        return self._concurrency if feed.size is None else min(self._concurrency, feed.size)

    def _pages_of(self, source: LinkStatsSource[Any]) -> Pages:
        """How to fetch a target of this source: whole pages where it hands them over,
        otherwise its records one by one; a slot held around each wait on a source that
        does not take one per request itself."""
        if isinstance(source, SupportsPages):
            pages: Pages = source.pages
        else:

            async def pages(target: Any) -> AsyncGenerator[list[LinkClick], None]:
                clicks = source.clicks(target)
                try:
                    async for click in clicks:
                        yield [click]
                finally:
                    await _close(clicks)

        if _takes_request_slots(source):
            return pages

        async def holding_slots(target: Any) -> AsyncGenerator[list[LinkClick], None]:
            items = pages(target)
            try:
                while (page := await self._next(source, items)) is not None:
                    yield page
            finally:
                await _close(items)

        return holding_slots

    def _route(self, target: Any) -> Pages:
        for cls in type(target).__mro__:
            if (pages := self._routes.get(cls)) is not None:
                return pages
        known = ", ".join(cls.__name__ for cls in self._routes)
        raise TypeError(f"no source here fetches {type(target).__name__} (sources fetch: {known})")

    def _require_open(self) -> None:
        if self._stack is None:
            raise RuntimeError("use LinkStats in 'async with' before fetching")


async def _pages(job: _Job, put: Callable[[Any], Awaitable[None]]) -> None:
    pages = job.pages(job.target)
    try:
        async for page in pages:
            await put(page)
    except BaseException:
        await _close(pages)
        raise


async def _result(job: _Job, put: Callable[[Any], Awaitable[None]]) -> None:
    await put(await _outcome(job))


async def _outcome(job: _Job) -> TargetResult[Any]:
    clicks: list[LinkClick] = []
    pages = job.pages(job.target)
    try:
        async for page in pages:
            clicks.extend(page)
    except LinkStatsError as error:
        await _close(pages)
        return TargetResult(job.target, clicks, error)
    except BaseException:
        await _close(pages)
        raise
    return TargetResult(job.target, clicks)


async def _flatten(pages: AsyncIterator[list[LinkClick]]) -> AsyncGenerator[LinkClick, None]:
    try:
        async for page in pages:
            for click in page:
                yield click
    finally:
        await _close(pages)


def _takes_request_slots(source: LinkStatsSource[Any]) -> bool:
    return getattr(source, "takes_request_slots", False) is True


async def _close(iterator: AsyncIterator[Any]) -> None:
    """Close an async generator (or anything with ``aclose``) we stopped iterating early;
    one run to its end needs no closing."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


async def _stop(workers: set[asyncio.Task[None]]) -> None:
    for worker in workers:
        worker.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
