"""Fetching for the command line: live progress on a terminal, a tally at the end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import attrs
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from .. import (
    AuthenticationError,
    LinkClick,
    LinkStats,
    LinkStatsSource,
    ProviderInfo,
    TargetResult,
    TransportStats,
)


@attrs.frozen
class Tally:
    """What a fetch came to."""

    targets: int
    records: int
    failures: tuple[TargetResult[Hashable], ...]
    retries: int
    rate_limit_wait: float
    seconds: float

    @property
    def credentials_refused(self) -> bool:
        return any(isinstance(result.error, AuthenticationError) for result in self.failures)

    def summary(self) -> str:
        return (
            f"{self.targets - len(self.failures):,} of {self.targets:,} targets, "
            f"{self.records:,} records, {len(self.failures):,} failed, {self.retries:,} retries, "
            f"{self.rate_limit_wait:.1f} s waiting on rate limits, {self.seconds:.1f} s"
        )


def provider_of(providers: Mapping[str, ProviderInfo], target: Hashable) -> ProviderInfo:
    """The registered provider that fetches this kind of target."""
    for info in providers.values():
        if info.kind_of(target) is not None:
            return info
    raise LookupError(f"no registered provider fetches {type(target).__name__}")


def kind_and_id(providers: Mapping[str, ProviderInfo], target: Hashable) -> tuple[str, str]:
    """What sort of campaign a target is (``send``, ``automation``, ...), and its id."""
    info = provider_of(providers, target)
    kind = info.kind_of(target)
    assert kind is not None
    return kind.name, kind.id_of(target)


async def fetch(
    sources: Sequence[LinkStatsSource[Any]],
    targets: Sequence[Hashable],
    *,
    concurrency: int,
    keep: Callable[[list[LinkClick]], None],
    console: Console,
) -> Tally:
    """Fetch every target, handing each good target's records to ``keep`` as it completes."""
    started = time.monotonic()
    records = 0
    failures: list[TargetResult[Hashable]] = []
    # Sources that count their requests (as HTTPSource does) say what retries and waits cost.
    counted = [
        stats
        for source in sources
        if isinstance(stats := getattr(source, "stats", None), TransportStats)
    ]

    def waited() -> float:
        return sum(stats.rate_limit_wait for stats in counted)

    with _progress(console) as progress:
        task = progress.add_task("Fetching", total=len(targets), records=0, failed=0, waiting=0.0)
        async with LinkStats(*sources, concurrency=concurrency) as stats:
            ticker = asyncio.create_task(_tick(progress, task, waited))
            try:
                async for result in stats.results(targets):
                    if result.ok:
                        keep(result.clicks)
                        records += len(result.clicks)
                    else:
                        failures.append(result)
                    progress.update(
                        task, advance=1, records=records, failed=len(failures), waiting=waited()
                    )
            finally:
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)
    return Tally(
        targets=len(targets),
        records=records,
        failures=tuple(failures),
        retries=sum(stats.retries for stats in counted),
        rate_limit_wait=waited(),
        seconds=time.monotonic() - started,
    )


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("targets, {task.fields[records]:,} records, {task.fields[failed]} failed,"),
        TextColumn("{task.fields[waiting]:.1f} s rate-limited"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


async def _tick(progress: Progress, task: TaskID, waited: Callable[[], float]) -> None:
    """Keep the rate-limit figure moving between targets."""
    while True:
        await asyncio.sleep(0.5)
        progress.update(task, waiting=waited())


def report_failures(providers: Mapping[str, ProviderInfo], tally: Tally, console: Console) -> None:
    """One line per failed target on standard error, with what the provider said."""
    for result in tally.failures:
        line = f"failed: {provider_of(providers, result.target).describe(result.target)}: "
        line += str(result.error)
        console.print(line, markup=False, highlight=False, soft_wrap=True)
