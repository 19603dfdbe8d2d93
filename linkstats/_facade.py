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
from typing import Any, Self

import attrs

from ._models import LinkClick
from ._source import HTTPSource, LinkStatsSource
from ._validation import integer_in_range

__all__ = ["CollectResult", "LinkStats"]

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
class _Failure:
    error: Exception


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
        return self._stream(self._plan(targets))

    async def collect(self, targets: Iterable[Hashable]) -> CollectResult:
        """All records of every target that succeeded, and the error of every one that failed.

        One failing target never costs another its records.
        """
        jobs = self._plan(targets)
        self._require_open()
        # One slot per target, in target order: a list of records or the exception.
        outcomes: list[list[LinkClick] | Exception] = [[] for _ in jobs]
        pending = iter(enumerate(jobs))

        async def work() -> None:
            async with self._slots:
                for index, job in pending:
                    # Nothing here awaits between pages, so a failure always ends the
                    # generator itself: it never needs closing from outside.
                    records: list[LinkClick] = []
                    try:
                        async for page in job.pages(job.target):
                            records.extend(page)
                    except Exception as error:
                        outcomes[index] = error
                    else:
                        outcomes[index] = records

        async with asyncio.TaskGroup() as group:
            for _ in range(min(self._concurrency, len(jobs))):
                group.create_task(work())
        clicks = list(chain.from_iterable(o for o in outcomes if not isinstance(o, Exception)))
        failed = {
            job.target: outcome
            for job, outcome in zip(jobs, outcomes, strict=True)
            if isinstance(outcome, Exception)
        }
        return CollectResult(clicks, MappingProxyType(failed))

    async def _stream(self, jobs: list[_Job]) -> AsyncIterator[LinkClick]:
        self._require_open()
        queue: asyncio.Queue[list[LinkClick] | _Failure | None] = asyncio.Queue(self._concurrency)
        pending = iter(jobs)

        async def work() -> None:
            async with self._slots:
                for job in pending:
                    try:
                        async with aclosing(job.pages(job.target)) as pages:
                            async for page in pages:
                                await queue.put(page)
                    except Exception as error:
                        await queue.put(_Failure(error))
                        return
            await queue.put(None)

        workers = {asyncio.create_task(work()) for _ in range(min(self._concurrency, len(jobs)))}
        self._workers |= workers
        try:
            running = len(workers)
            while running:
                item = await queue.get()
                if item is None:
                    running -= 1
                elif isinstance(item, _Failure):
                    raise item.error
                else:
                    for click in item:
                        yield click
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
