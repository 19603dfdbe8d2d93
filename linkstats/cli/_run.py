"""Fetching for the command line: live progress on a terminal, a tally at the end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Sequence

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
    PauboxSend,
    PauboxSource,
    SendGridAutomation,
    SendGridSingleSend,
    SendGridSource,
    TargetResult,
)


@attrs.frozen
class Tally:
    """What a fetch came to."""

    targets: int
    records: int
    failures: tuple[TargetResult, ...]
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


def kind_and_id(target: Hashable) -> tuple[str, str]:
    """What sort of campaign a target is (``send``, ``automation``, ``single-send``), and its id."""
    if isinstance(target, PauboxSend):
        return "send", target.send_id
    if isinstance(target, SendGridAutomation):
        return "automation", target.automation_id
    if isinstance(target, SendGridSingleSend):
        return "single-send", target.single_send_id
    return type(target).__name__, repr(target)


def describe(target: Hashable) -> str:
    """A target as a person would name it."""
    if not isinstance(target, PauboxSend | SendGridAutomation | SendGridSingleSend):
        return repr(target)
    kind, target_id = kind_and_id(target)
    provider = "paubox" if isinstance(target, PauboxSend) else "sendgrid"
    return f"{provider} {kind.replace('-', ' ')} {target_id}"


async def fetch(
    sources: Sequence[PauboxSource | SendGridSource],
    targets: Sequence[Hashable],
    *,
    concurrency: int,
    keep: Callable[[list[LinkClick]], None],
    console: Console,
) -> Tally:
    """Fetch every target, handing each good target's records to ``keep`` as it completes."""
    started = time.monotonic()
    records = 0
    failures: list[TargetResult] = []

    def waited() -> float:
        return sum(source.stats.rate_limit_wait for source in sources)

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
        retries=sum(source.stats.retries for source in sources),
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


def report_failures(tally: Tally, console: Console) -> None:
    """One line per failed target on standard error, with what the provider said."""
    for result in tally.failures:
        line = f"failed: {describe(result.target)}: {result.error}"
        console.print(line, markup=False, highlight=False, soft_wrap=True)
