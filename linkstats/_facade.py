"""``LinkStats``: many targets, many sources, one bounded pool of concurrent fetches."""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Hashable,
    Iterable,
    Mapping,
)
from contextlib import AsyncExitStack, aclosing
from itertools import chain
from types import MappingProxyType, TracebackType
from typing import Any, Protocol, Self, TypeVar, runtime_checkable

import attrs

from ._models import Campaign, LinkClick
from ._source import HTTPSource, LinkStatsSource
from ._validation import integer_in_range

__all__ = ["CollectResult", "LinkStats", "TargetResult"]

T = TypeVar("T")

Pages = Callable[[Any], AsyncGenerator[list[LinkClick], None]]


@attrs.frozen
class CollectResult:
    """What ``LinkStats.collect`` fetched.

    ``clicks`` holds every record of the targets that succeeded, grouped by target in the
    order the targets were given; ``errors`` maps each failed target to its exception.
    """

    clicks: list[LinkClick]
    errors: Mapping[Hashable, Exception]

    @property
    def ok(self) -> bool:
        """True when every target succeeded."""
        return not self.errors


@attrs.frozen
class _Job:
    target: Hashable
    pages: Pages


@attrs.frozen
class TargetResult:
    """One target's outcome: its records, or the error that stopped it.

    For a failed target, ``clicks`` holds the pages fetched before the failure.
    """

    target: Hashable
    clicks: list[LinkClick]
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """True when the target was fetched to its last page."""
        return self.error is None


@runtime_checkable
class _ListsCampaigns(Protocol):
    def discover(self) -> AsyncGenerator[Campaign, None]: ...


@attrs.frozen
class _Failure:
    error: Exception


class _Done:
    """A worker has no more targets."""


_DONE = _Done()


class LinkStats:
    """Fetch link clicks for many targets across several sources at once.

    Each target goes to the source whose ``target_types`` include its type. At most
    ``concurrency`` requests are in flight at any moment, across all sources and targets
    (and across concurrent calls on this object): each fetching task holds one of
    ``concurrency`` slots while it works through targets one at a time.
    """

    def __init__(self, *sources: LinkStatsSource[Any], concurrency: int = 16) -> None:
        if not sources:
            raise ValueError("LinkStats needs at least one source")
        integer_in_range("concurrency", concurrency, 1, 10_000)
        self._sources = sources
        self._concurrency = concurrency
        self._routes: dict[type[Any], Pages] = {}
        for source in sources:
            for target_type in source.target_types:
                if target_type in self._routes:
                    raise ValueError(f"more than one source fetches {target_type.__name__}")
                self._routes[target_type] = _pages_of(source)
        self._slots = asyncio.Semaphore(concurrency)
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

    def clicks(self, targets: Iterable[Hashable]) -> AsyncIterator[LinkClick]:
        """Every target's records, merged as they arrive.

        Targets are checked now, before anything is sent. The first failure stops the other
        fetches and is raised. Memory stays bounded by ``concurrency`` pages, however many
        records there are.
        """
        return _flatten(self._fan_out(self._plan(targets), _pages))

    def results(self, targets: Iterable[Hashable]) -> AsyncIterator[TargetResult]:
        """Each target's outcome as soon as that target is done, failures included.

        Targets are checked now, before anything is sent. A failing target is reported and
        the others carry on; memory holds at most ``concurrency`` targets' records at once.
        """
        return self._fan_out(self._plan(targets), _result)

    async def collect(self, targets: Iterable[Hashable]) -> CollectResult:
        """All records of every target that succeeded, and the error of every one that failed.

        One failing target never costs another its records.
        """
        jobs = self._plan(targets)
        self._require_open()
        done: list[TargetResult] = []
        pending = iter(jobs)

        # Unlike results(), nothing here needs to arrive early: workers keep what they
        # fetch, without a queue between them and the caller.
        async def work() -> None:
            async with self._slots:
                done.extend([await _outcome(job) for job in pending])

        async with asyncio.TaskGroup() as group:
            for _ in range(min(self._concurrency, len(jobs))):
                group.create_task(work())
        by_target = {result.target: result for result in done}
        ordered = [by_target[job.target] for job in jobs]
        clicks = list(chain.from_iterable(result.clicks for result in ordered if result.ok))
        failed = {result.target: result.error for result in ordered if result.error is not None}
        return CollectResult(clicks, MappingProxyType(failed))

    async def discover(self) -> AsyncIterator[Campaign]:
        """Every campaign each source can list, source after source.

        Each ``Campaign`` carries the target that fetches its clicks, so
        ``collect([campaign.target async for campaign in stats.discover()])`` is everything.
        """
        self._require_open()
        for source in self._sources:
            if isinstance(source, _ListsCampaigns):
                # Listing requests count against the concurrency limit like any other.
                async with self._slots, aclosing(source.discover()) as campaigns:
                    async for campaign in campaigns:
                        yield campaign

    async def _fan_out(
        self, jobs: list[_Job], produce: Callable[[_Job], AsyncGenerator[T, None]]
    ) -> AsyncIterator[T]:
        """What ``produce`` makes of each job, as it arrives, from ``concurrency`` workers.

        An exception out of ``produce`` stops every worker and is raised here.
        """
        self._require_open()
        queue: asyncio.Queue[T | _Failure | _Done] = asyncio.Queue(self._concurrency)
        pending = iter(jobs)

        async def work() -> None:
            async with self._slots:
                try:
                    for job in pending:
                        async with aclosing(produce(job)) as items:
                            async for item in items:
                                await queue.put(item)
                except Exception as error:
                    await queue.put(_Failure(error))
                    return
            await queue.put(_DONE)

        workers = {asyncio.create_task(work()) for _ in range(min(self._concurrency, len(jobs)))}
        self._workers |= workers
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
            await _stop(workers)
            self._workers -= workers

    def _plan(self, targets: Iterable[Hashable]) -> list[_Job]:
        """Route every target to its source, refusing any that no source fetches."""
        if isinstance(targets, str | bytes) or not isinstance(targets, Iterable):
            raise TypeError(f"targets must be an iterable of targets, got {type(targets).__name__}")
        return [_Job(target, self._route(target)) for target in dict.fromkeys(targets)]

    def _route(self, target: Hashable) -> Pages:
        for cls in type(target).__mro__:
            if (pages := self._routes.get(cls)) is not None:
                return pages
        known = ", ".join(cls.__name__ for cls in self._routes)
        raise TypeError(f"no source here fetches {type(target).__name__} (sources fetch: {known})")

    def _require_open(self) -> None:
        if self._stack is None:
            raise RuntimeError("use LinkStats in 'async with' before fetching")


def _pages(job: _Job) -> AsyncGenerator[list[LinkClick], None]:
    return job.pages(job.target)


async def _outcome(job: _Job) -> TargetResult:
    # Nothing here awaits between pages, so a failure always ends the page generator
    # itself: it never needs closing from outside.
    clicks: list[LinkClick] = []
    try:
        async for page in job.pages(job.target):
            clicks.extend(page)
    except Exception as error:
        return TargetResult(job.target, clicks, error)
    return TargetResult(job.target, clicks)


async def _result(job: _Job) -> AsyncGenerator[TargetResult, None]:
    yield await _outcome(job)


async def _flatten(pages: AsyncIterator[list[LinkClick]]) -> AsyncIterator[LinkClick]:
    async for page in pages:
        for click in page:
            yield click


def _pages_of(source: LinkStatsSource[Any]) -> Pages:
    """The built-in sources hand over whole pages; any other source, record by record."""
    if isinstance(source, HTTPSource):
        return source.pages

    async def one_by_one(target: Any) -> AsyncGenerator[list[LinkClick], None]:
        clicks = source.clicks(target)
        try:
            async for click in clicks:
                yield [click]
        finally:
            if isinstance(clicks, AsyncGenerator):
                await clicks.aclose()

    return one_by_one


async def _stop(workers: set[asyncio.Task[None]]) -> None:
    for worker in workers:
        worker.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
