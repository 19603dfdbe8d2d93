"""Fetching for the command line: live progress on a terminal, a tally at the end."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import attrs

from .. import (
    AuthenticationError,
    Campaign,
    InvalidRequestError,
    LinkStats,
    LinkStatsError,
    LinkStatsSource,
    NotFoundError,
    PaginationError,
    ProviderInfo,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    TargetResult,
    TransportError,
    TransportStats,
)
from ._terminal import Messages, Update, status
from ._terminal import progress as show_progress


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
    def all_refused(self) -> bool:
        """Nothing was fetched because every target's credentials were refused (401/403)."""
        return _all_refused([result.error for result in self.failures], self.targets)

    def summary(self) -> str:
        return (
            f"{self.targets - len(self.failures):,} of {plural(self.targets, 'target')}, "
            f"{plural(self.records, 'record')}, {len(self.failures):,} failed, "
            f"{plural(self.retries, 'retry')}, "
            f"{self.rate_limit_wait:.1f} s waiting on rate limits, {self.seconds:.1f} s"
        )


def _all_refused(errors: Sequence[LinkStatsError | None], attempted: int) -> bool:
    """Whether each of ``attempted`` things failed, every one for its credentials."""
    return (
        attempted > 0
        and len(errors) == attempted
        and all(isinstance(error, AuthenticationError) for error in errors)
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
    keep: Callable[[TargetResult[Hashable]], None],
    console: Messages,
    progress: bool = True,
) -> Tally:
    """Fetch every target, handing each good target's result to ``keep`` as it completes."""
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

    with show_progress(console, shown=progress, total=len(targets)) as update:
        async with LinkStats(*sources, concurrency=concurrency) as stats:
            ticker = asyncio.create_task(_tick(update, waited))
            try:
                async for result in stats.results(targets):
                    if result.ok:
                        keep(result)
                        records += len(result.clicks)
                    else:
                        failures.append(result)
                    update(advance=1, records=records, failed=len(failures), waiting=waited())
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


async def _tick(update: Update, waited: Callable[[], float]) -> None:
    """Keep the rate-limit figure moving between targets."""
    while True:
        await asyncio.sleep(0.5)
        update(waiting=waited())


# What went wrong, in a few words, by the kind of error; the first that matches.
_KINDS: tuple[tuple[type[LinkStatsError], str], ...] = (
    (AuthenticationError, "credentials refused"),
    (NotFoundError, "not found"),
    (RateLimitError, "rate limited"),
    (ServerError, "server error"),
    (InvalidRequestError, "request refused"),
    (TransportError, "no answer"),
    (ResponseFormatError, "not the documented response"),
    (PaginationError, "broken pagination"),
    (LinkStatsError, "unexpected answer"),
)


def failure_kind(error: LinkStatsError) -> str:
    """What went wrong, in a few words: ``not found``, ``credentials refused``, ..."""
    return next(words for kind, words in _KINDS if isinstance(error, kind))


def failure_line(subject: str, error: LinkStatsError, *, verbose: bool) -> str:
    """One line for a failed target or listing: which, what went wrong, and what the provider
    said; the request and the whole error only when asked for."""
    line = f"failed: {subject}: {failure_kind(error)}"
    if error.status is not None:
        line += f" (HTTP {error.status})"
    elif isinstance(error, TransportError) and error.failure is not None:
        line += f" ({error.failure})"
    if error.provider_messages:
        line += ": " + "; ".join(str(message) for message in error.provider_messages)
    if error.error_id:
        line += f" (error id {error.error_id})"
    if verbose:
        line += f" [{error.summary}]"
    return line


def report_failures(
    providers: Mapping[str, ProviderInfo], tally: Tally, console: Messages, *, verbose: bool
) -> None:
    """One line per failed target on standard error, then how many failed of each kind."""
    kinds: Counter[str] = Counter()
    for result in tally.failures:
        assert result.error is not None
        kinds[failure_kind(result.error)] += 1
        subject = provider_of(providers, result.target).describe(result.target)
        line = failure_line(subject, result.error, verbose=verbose)
        console.print(line)
    if kinds:
        counted = ", ".join(f"{count:,} {kind}" for kind, count in kinds.most_common())
        console.print(f"{plural(len(tally.failures), 'target')} failed: {counted}")


def plural(count: int, noun: str) -> str:
    """``1 retry``, ``2 retries``, ``3 targets``, ``2 days``."""
    if count == 1:
        return f"1 {noun}"
    consonant_y = noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u")
    return f"{count:,} {noun[:-1] + 'ies' if consonant_y else noun + 's'}"


@attrs.frozen
class Listed:
    """What the sources listed, and the listings that failed."""

    campaigns: list[Campaign[Hashable]]
    failures: tuple[LinkStatsError, ...]
    sources: int
    seconds: float

    def summary(self) -> str:
        listed = self.sources - len(self.failures)
        return (
            f"listed {plural(len(self.campaigns), 'campaign')} from {listed:,} of "
            f"{plural(self.sources, 'provider')}, {self.seconds:.1f} s"
        )

    @property
    def all_refused(self) -> bool:
        """Every source's listing refused its credentials (401/403)."""
        return _all_refused(self.failures, self.sources)


async def list_all(
    sources: Sequence[LinkStatsSource[Any]],
    *,
    concurrency: int,
    console: Messages,
    verbose: bool,
    progress: bool = True,
) -> Listed:
    """Every campaign each source lists; a failing listing is reported on ``console`` and the
    other sources are still listed. A spinner shows on a terminal meanwhile."""
    started = time.monotonic()
    campaigns: list[Campaign[Hashable]] = []
    failures: list[LinkStatsError] = []
    with status(console, "Listing campaigns", shown=progress):
        for source in sources:
            async with LinkStats(source, concurrency=concurrency) as stats:
                try:
                    campaigns += [campaign async for campaign in stats.discover()]
                except LinkStatsError as error:
                    failures.append(error)
                    line = failure_line(f"listing {error.target}", error, verbose=verbose)
                    console.print(line)
    return Listed(campaigns, tuple(failures), len(sources), time.monotonic() - started)
