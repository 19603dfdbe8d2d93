"""``linkstats sync``, ``changes`` and ``history``: lifetime totals kept over time in SQLite."""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .. import ProviderInfo, TargetResult
from ..history import KEY_FIELDS, Change, Observation, SnapshotStore, parse_when
from ..reports import GROUPINGS, Totals, normalize_url
from . import EXIT_OK, UsageError
from ._fetch import conclude, plan_fetch, with_options
from ._output import check_output, destination, write_rows
from ._run import fetch as run_fetch
from ._run import plural
from ._terminal import messages

# A sync keeps the finest rows each provider gives (SendGrid's split by step and A/B test),
# so that changes and history can total them by any grouping afterwards.
_FINEST = frozenset(GROUPINGS.values())

# The trend line's glyphs, lowest to highest, and how many periods it shows at most.
_SPARKS = "▁▂▃▄▅▆▇█"
_TREND_PERIODS = 60


async def sync(arguments: argparse.Namespace) -> int:
    """Fetch the targets and record one observation of each in the database."""
    providers: Mapping[str, ProviderInfo] = arguments.providers
    errors = messages()
    # Targets named on the command line are checked before the database is made; listing
    # them all waits until it is open, so that nothing is sent for an unusable one.
    plan = None if arguments.all else await plan_fetch(arguments, errors)
    async with _store(arguments.db, create=True) as store:
        if plan is None:
            plan = await plan_fetch(arguments, errors)
        if plan.nothing_listed:
            return plan.exit_code
        targets = [with_options(arguments, providers, target, _FINEST) for target in plan.targets]
        started = datetime.now(UTC)
        observed: list[Observation] = []

        def keep(result: TargetResult[Hashable]) -> None:
            observed.append(Observation.of(result))

        tally = await run_fetch(
            plan.sources,
            targets,
            concurrency=arguments.concurrency,
            keep=keep,
            console=errors,
            progress=not arguments.quiet,
        )
        # A failed target is recorded as failed: its rows stay as they were, never zero.
        observed += [Observation.of(result) for result in tally.failures]
        summary = await store.record(observed, started_at=started)
    recorded = f"recorded run {summary.run_id} in {arguments.db}: "
    return conclude(
        arguments,
        tally,
        plan.listed,
        errors,
        recorded + f"{plural(summary.changed, 'row')} changed",
    )


async def changes(arguments: argparse.Namespace) -> int:
    """Clicks gained between two times, totalled by a grouping or row by row."""
    check_output(arguments.output, arguments.format)
    since, until = _bounds(arguments)
    assert since is not None, "the parser requires --since"
    async with _store(arguments.db, create=False) as store:
        moved = await store.changes(since, until)
    _warn_of_falls(moved)
    if arguments.by == ("none",):
        rows = [change.as_dict() for change in moved]
        columns: Sequence[str] = (*KEY_FIELDS, "before", "after", "clicks")
    else:
        totals = _totals(arguments)
        totals.add(moved)
        rows, columns = totals.rows(), totals.columns
    with destination(arguments.output) as file:
        write_rows(
            file, arguments.format, rows, columns, title=_title("Clicks gained", since, until)
        )
    return EXIT_OK


async def history(arguments: argparse.Namespace) -> int:
    """Clicks gained per period: a trend line per group in a table, a row per period else."""
    check_output(arguments.output, arguments.format)
    if arguments.by == ("none",):
        raise UsageError("history totals by a grouping: use --by url, source, provider, ...")
    since, until = _bounds(arguments)
    async with _store(arguments.db, create=False) as store:
        try:
            periods = await store.history(arguments.every, since=since, until=until)
        except ValueError as error:
            raise UsageError(str(error)) from None
    _warn_of_falls([change for period in periods for change in period.changes])
    per_period = []
    for period in periods:
        totals = _totals(arguments)
        totals.add(period.changes)
        per_period.append((period.start, period.end, totals.rows()))
    names = _totals(arguments).columns[:-2]
    with destination(arguments.output) as file:
        if arguments.format == "table":
            rows, columns = _trends(per_period, names)
            shown = plural(min(len(periods), _TREND_PERIODS), arguments.every)
            title = f"Clicks gained per {arguments.every}, trend over the last {shown}"
            write_rows(file, "table", rows, columns, title=title)
        else:
            rows = [
                {"period_start": _text(start), "period_end": _text(end), **row}
                for start, end, grouped in per_period
                for row in grouped
            ]
            columns = ("period_start", "period_end", *names, "clicks", "records")
            write_rows(file, arguments.format, rows, columns, title="")
    return EXIT_OK


def _trends(
    per_period: list[tuple[datetime, datetime, list[dict[str, Any]]]], names: Sequence[str]
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """One row per group: its trend line over the latest periods and its total gain."""
    recent = per_period[-_TREND_PERIODS:]
    series: dict[tuple[Any, ...], list[int]] = {}
    for index, (_, _, rows) in enumerate(recent):
        for row in rows:
            group = tuple(row[name] for name in names)
            series.setdefault(group, [0] * len(recent))[index] += row["clicks"]
    ordered = sorted(series.items(), key=lambda item: -sum(item[1]))
    rows = [
        {**dict(zip(names, group, strict=True)), "trend": sparkline(gains), "clicks": sum(gains)}
        for group, gains in ordered
    ]
    return rows, (*names, "trend", "clicks")


def sparkline(values: Sequence[int]) -> str:
    """A small trend line: each value as one of eight heights, zero or less as the lowest."""
    highest = max(values, default=0)
    if highest <= 0:
        return _SPARKS[0] * len(values)
    top = len(_SPARKS) - 1
    return "".join(_SPARKS[max(0, round(value / highest * top))] for value in values)


def _totals(arguments: argparse.Namespace) -> Totals:
    return Totals(arguments.by, normalize=normalize_url if arguments.normalize_urls else None)


def _warn_of_falls(moved: Sequence[Change]) -> None:
    falls = sum(change.decreased for change in moved)
    if falls:
        messages().print(
            f"linkstats: warning: {plural(falls, 'row')} fell, which lifetime totals should "
            "never do; --by none lists every row with its before and after"
        )


def _bounds(arguments: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
    now = datetime.now(UTC)
    bounds = []
    for option, text in (("--since", arguments.since), ("--until", arguments.until)):
        try:
            bounds.append(None if text is None else parse_when(text, now=now))
        except ValueError as error:
            raise UsageError(f"{option}: {error}") from None
    since, until = bounds
    if since is not None and until is not None and until <= since:
        raise UsageError(f"--until ({_text(until)}) must come after --since ({_text(since)})")
    return since, until


@contextlib.asynccontextmanager
async def _store(path: str, *, create: bool) -> AsyncIterator[SnapshotStore]:
    """The database, open, before anything is sent; what is wrong with it in one line."""
    store = SnapshotStore(path, create=create)
    try:
        await store.__aenter__()
    except FileNotFoundError as error:
        hint = "" if create else f"; linkstats sync --db {path} makes one"
        raise UsageError(f"{error}{hint}") from None
    except (OSError, RuntimeError, sqlite3.Error) as error:
        raise UsageError(f"cannot use {path}: {error}") from None
    try:
        yield store
    finally:
        await store.__aexit__(None, None, None)


def _title(what: str, since: datetime, until: datetime | None) -> str:
    """A table's title, its bounds to the second: for reading, not for feeding back."""
    shown = f"{what} after {_text(since, 'seconds')}"
    return shown + (f" up to {_text(until, 'seconds')}" if until else "")


def _text(instant: datetime, timespec: str = "auto") -> str:
    # By default to the microsecond where it has one: a period's bounds fed back to changes
    # must select exactly the same observations.
    return instant.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
