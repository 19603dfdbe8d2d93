"""History of lifetime totals: the identity of a row, deltas, and a snapshot store on SQLite.

Every link-stats endpoint returns running totals, so what a scheduled job wants to know
(clicks gained since yesterday, and the trend) is a difference between two fetches. This
module names a row across fetches (``row_key``), computes deltas from two observations
(``changes``), and keeps observations over time in a SQLite file (``SnapshotStore``)::

    async with SnapshotStore("clicks.db") as store, LinkStats(*sources) as stats:
        await store.sync(stats, targets)             # cron, hourly
        gained = await store.changes(since=yesterday)
        rows = totals(gained, by=("url",))           # clicks gained per URL

Only the standard library's ``sqlite3`` is used; every database call runs in a thread of the
store's own, so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeVar

import attrs
import orjson
from yarl import URL

from ._facade import LinkStats, TargetResult, Targets
from ._models import LinkClick
from ._parsing import read_url

__all__ = [
    "KEY_FIELDS",
    "SCHEMA_VERSION",
    "Change",
    "Observation",
    "Period",
    "RowKey",
    "RunSummary",
    "SnapshotStore",
    "changes",
    "counts",
    "parse_when",
    "row_id",
    "row_key",
]

T = TypeVar("T")

RowKey = tuple[
    str, str, str, str | None, str | None, str | None, int | None, str | None, str | None
]
"""What ``row_key`` returns: the values of ``KEY_FIELDS``, in that order."""

KEY_FIELDS: Final = (
    "provider",
    "source_id",
    "url",
    "step_id",
    "ab_variation",
    "ab_phase",
    "url_location",
    "link_id",
    "delivery_id",
)
"""The record fields that identify a row across fetches: its provider and campaign, the URL's
text, and whatever splits that provider's rows (an automation step, an A/B variation and
phase, the link's place in the email, a Paubox tracking link and delivery). ``clicks`` and
``opened_at`` are what a row says, not which row it is."""


def row_key(click: LinkClick) -> RowKey:
    """The identity of a record's row, the same in every fetch whatever the order or paging."""
    return (
        str(click.provider),
        click.source_id,
        click.url_text,
        click.step_id,
        click.ab_variation,
        click.ab_phase,
        click.url_location,
        click.link_id,
        click.delivery_id,
    )


def row_id(key: RowKey) -> str:
    """A row key as one short text (32 hex digits), for tables that want a single non-null
    key column: the same for the same key in every process and version."""
    return hashlib.blake2b(_key_text(key).encode(), digest_size=16).hexdigest()


def _key_text(key: RowKey) -> str:
    return orjson.dumps(key).decode()


def counts(clicks: Iterable[LinkClick]) -> dict[RowKey, int]:
    """Clicks per row key; rows a provider repeats within one observation are summed."""
    counted: dict[RowKey, int] = {}
    for click in clicks:
        key = row_key(click)
        counted[key] = counted.get(key, 0) + click.clicks
    return counted


@attrs.frozen
class Change:
    """How one row's running total moved between two observations.

    A row missing from an observation counts zero there. ``clicks`` is what it gained, so
    changes total like records (``reports.totals(changes, by=...)``); a negative ``clicks``
    (``decreased``) is something cumulative totals should never show, reported as it is.
    """

    key: RowKey
    before: int
    after: int

    @property
    def clicks(self) -> int:
        """Clicks gained: ``after - before``."""
        return self.after - self.before

    @property
    def decreased(self) -> bool:
        return self.after < self.before

    @property
    def provider(self) -> str:
        return self.key[0]

    @property
    def source_id(self) -> str:
        return self.key[1]

    @property
    def url_text(self) -> str:
        return self.key[2]

    @property
    def url(self) -> URL:
        return read_url(self.key[2])

    @property
    def step_id(self) -> str | None:
        return self.key[3]

    @property
    def ab_variation(self) -> str | None:
        return self.key[4]

    @property
    def ab_phase(self) -> str | None:
        return self.key[5]

    def as_dict(self) -> dict[str, Any]:
        """The key's fields by name, with ``before``, ``after`` and ``clicks`` gained."""
        return {
            **dict(zip(KEY_FIELDS, self.key, strict=True)),
            "before": self.before,
            "after": self.after,
            "clicks": self.clicks,
        }


def changes(before: Mapping[RowKey, int], after: Mapping[RowKey, int]) -> list[Change]:
    """Every row whose count differs between two observations of the same targets (see
    ``counts``), a row missing on one side counting zero; rows of ``after`` first."""
    moved = [
        Change(key, before.get(key, 0), count)
        for key, count in after.items()
        if before.get(key, 0) != count
    ]
    moved += [Change(key, count, 0) for key, count in before.items() if key not in after and count]
    return moved


def _utc(instant: datetime) -> datetime:
    if not isinstance(instant, datetime):
        raise TypeError(f"expected a datetime, got {type(instant).__name__}")
    if instant.tzinfo is None:
        raise ValueError(f"{instant.isoformat()} has no time zone; give an aware datetime")
    return instant.astimezone(UTC)


@attrs.frozen
class Observation:
    """One target's outcome in one run, when it arrived, under the name its history is kept.

    ``target_key`` names the target across runs; by default its ``repr`` (provider, id and
    options), so the same target fetched with other options (another grouping) has a history
    of its own.
    """

    target_key: str
    #: When the target's result arrived: an aware datetime, kept in UTC.
    observed_at: datetime = attrs.field(converter=_utc)
    clicks: Sequence[LinkClick] | None
    error: str | None = None

    @classmethod
    def of(
        cls,
        result: TargetResult[Any],
        *,
        observed_at: datetime | None = None,
        target_key: Callable[[Hashable], str] = repr,
    ) -> Observation:
        """A ``TargetResult`` as an observation: a failed one keeps its error, not its
        partial records, so it is never taken for a fall in clicks."""
        when = _utc(observed_at) if observed_at is not None else datetime.now(UTC)
        if result.error is not None:
            return cls(target_key(result.target), when, None, str(result.error))
        return cls(target_key(result.target), when, result.clicks)


@attrs.frozen
class RunSummary:
    """What one recorded run came to."""

    run_id: int
    targets: int
    failed: int
    records: int
    #: Rows whose stored count changed (new rows included): what the run added to the file.
    changed: int
    #: Observations left out because a later one of the same target was stored first (a run
    #: that overlapped this one and finished writing before it).
    superseded: int = 0


@attrs.frozen
class Period:
    """The changes over one period of ``history``: after ``start``, up to and including
    ``end``."""

    start: datetime
    end: datetime
    changes: tuple[Change, ...]


SCHEMA_VERSION: Final = 1
"""The schema version this linkstats writes; older files are migrated when opened."""

# Each entry brings the schema from the version before it to the next; a later version adds
# its migration at the end, never edits one.
_MIGRATIONS: Final = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL
    );
    CREATE TABLE targets (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE
    );
    CREATE TABLE observations (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        target_id INTEGER NOT NULL REFERENCES targets (id),
        observed_at TEXT NOT NULL,
        ok INTEGER NOT NULL,
        records INTEGER NOT NULL,
        clicks INTEGER NOT NULL,
        error TEXT
    );
    CREATE INDEX observations_by_target ON observations (target_id, observed_at);
    CREATE TABLE rows (
        id INTEGER PRIMARY KEY,
        target_id INTEGER NOT NULL REFERENCES targets (id),
        key TEXT NOT NULL,
        provider TEXT NOT NULL,
        source_id TEXT NOT NULL,
        url TEXT NOT NULL,
        step_id TEXT,
        ab_variation TEXT,
        ab_phase TEXT,
        url_location INTEGER,
        link_id TEXT,
        delivery_id TEXT,
        clicks INTEGER NOT NULL,
        UNIQUE (target_id, key)
    );
    -- A row's count, stored only by the observations at which it changed.
    CREATE TABLE counts (
        row_id INTEGER NOT NULL REFERENCES rows (id),
        observation_id INTEGER NOT NULL REFERENCES observations (id),
        observed_at TEXT NOT NULL,
        clicks INTEGER NOT NULL,
        gained INTEGER NOT NULL,
        PRIMARY KEY (row_id, observation_id)
    ) WITHOUT ROWID;
    CREATE INDEX counts_by_time ON counts (observed_at);
    """,
)

# Times are stored as UTC text of one fixed width (2026-12-01T06:00:00.000000Z), so that text
# order is time order.


class SnapshotStore:
    """Observations of lifetime totals over time, in one SQLite file.

    The file and its schema are created on first use; a file from an older version is
    migrated, one from a newer one refused. A run (``record``, ``sync``) is one transaction:
    interrupted or cancelled, it leaves the file as it was (unless cancelled while its commit
    is already under way, when it is recorded whole). Two runs on one file, from two
    processes, wait for each other (up to ``timeout`` seconds) rather than interleave. A
    row's count is stored only when it changed, so frequent runs over months stay small.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, create: bool = True, timeout: float = 600.0
    ) -> None:
        """``create=False`` opens only a file that exists (``FileNotFoundError`` otherwise),
        for readers that should not leave an empty database behind."""
        self.path = os.fspath(path)
        self._create = create
        self._timeout = timeout
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SnapshotStore({self.path!r})"

    async def __aenter__(self) -> Self:
        if self._executor is not None:
            raise RuntimeError("this SnapshotStore is already open")
        # One thread owns the connection: SQLite calls never run on the event loop.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="linkstats-db")
        try:
            await self._call(self._open)
        except BaseException:
            # Cancelled after the file was opened, the connection is still to close.
            await _finish(asyncio.get_running_loop().run_in_executor(self._executor, self._close))
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        with contextlib.suppress(sqlite3.Error):
            await _finish(asyncio.get_running_loop().run_in_executor(executor, self._close))
        executor.shutdown(wait=False)

    async def record(
        self, observations: Iterable[Observation], *, started_at: datetime | None = None
    ) -> RunSummary:
        """Record one run of observations, in one transaction; ``started_at`` is when the run
        began (default: its first observation)."""
        observed = list(observations)
        if started_at is None:
            started_at = min((item.observed_at for item in observed), default=datetime.now(UTC))
        started = _utc(started_at)
        return await self._call(self._write, lambda db: _record(db, observed, started))

    async def sync(
        self,
        stats: LinkStats,
        targets: Targets[Any],
        *,
        target_key: Callable[[Hashable], str] = repr,
    ) -> RunSummary:
        """Fetch ``targets`` with ``stats`` and record them as one run.

        Nothing is written until every target is done, so an interrupted fetch leaves the
        file as it was; failed targets are recorded as failed, their rows kept as they stood.
        """
        started = datetime.now(UTC)
        observed = [
            Observation.of(result, target_key=target_key) async for result in stats.results(targets)
        ]
        return await self.record(observed, started_at=started)

    async def changes(self, since: datetime, until: datetime | None = None) -> list[Change]:
        """How each row moved from the last observation of its target at or before ``since``
        to the last at or before ``until`` (default: the latest). A target first observed
        after ``since`` counts from zero; one not observed by ``until`` is left out."""
        if until is not None and _utc(until) < _utc(since):
            raise ValueError(
                f"until ({until.isoformat()}) comes before since ({since.isoformat()})"
            )
        start = _stamp(since)
        end = _stamp(until) if until is not None else None
        return await self._call(self._read, lambda db: _changes(db, start, end))

    async def history(
        self,
        every: Literal["hour", "day", "week"] | timedelta,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Period]:
        """Changes per period, each period the same as ``changes(period.start, period.end)``.

        Periods are whole UTC hours, days or weeks (from Monday), or runs of ``every`` from
        the Unix epoch. By default they start at the end of the first run that observed
        anything, the baseline (targets first observed later count from zero, as in
        ``changes``), and end with the period of the latest observation.
        """
        step = _period_length(every)
        start = _utc(since) if since is not None else None
        end = _utc(until) if until is not None else None
        return await self._call(self._read, lambda db: _history(db, step, start, end))

    async def totals(self, at: datetime | None = None) -> dict[RowKey, int]:
        """Each row key's count at the last observation of its target at or before ``at``
        (default: the latest), summed over the targets that hold it; keys at zero left out."""
        start = _stamp(datetime(1970, 1, 1, tzinfo=UTC))
        end = _stamp(at) if at is not None else None
        moved = await self._call(self._read, lambda db: _changes(db, start, end))
        current: dict[RowKey, int] = {}
        for change in moved:
            current[change.key] = current.get(change.key, 0) + change.after
        return {key: count for key, count in current.items() if count}

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise RuntimeError("use the SnapshotStore in 'async with' first")
        # Cancelled, the call asks its transaction to roll back, and returns only once it
        # has: the file is never left for another process mid-write.
        abandon = threading.Event()
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, partial(function, *args, abandon)
        )
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            abandon.set()
            await _finish(future)
            raise

    def _open(self, abandon: threading.Event) -> None:
        if not self._create and not os.path.exists(self.path):
            raise FileNotFoundError(f"no database at {self.path}")
        directory = os.path.dirname(self.path) or "."
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"no directory {directory} for the database {self.path}")
        db = sqlite3.connect(self.path, timeout=_BUSY_WAIT, isolation_level=None)
        try:
            db.execute("PRAGMA foreign_keys = ON")
            if not self._create and _schema_version(db) == 0:
                raise FileNotFoundError(f"no linkstats database at {self.path}")
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                # Readers (changes, history) go on while a run writes.
                self._when_free(db, "PRAGMA journal_mode = WAL", abandon)
            self._connection = db
            # Only a file that needs its schema made or migrated waits for the write lock.
            if _schema_version(db) != SCHEMA_VERSION:
                self._write(_migrate, abandon)
        except BaseException:
            self._connection = None
            db.close()
            raise

    def _close(self) -> None:
        db, self._connection = self._connection, None
        if db is not None:
            db.close()

    def _write(self, work: Callable[[sqlite3.Connection], T], abandon: threading.Event) -> T:
        return self._transaction("BEGIN IMMEDIATE", work, abandon)

    def _read(self, work: Callable[[sqlite3.Connection], T], abandon: threading.Event) -> T:
        return self._transaction("BEGIN", work, abandon)

    def _transaction(
        self, begin: str, work: Callable[[sqlite3.Connection], T], abandon: threading.Event
    ) -> T:
        db = self._connection
        assert db is not None
        self._when_free(db, begin, abandon)
        try:
            result = work(db)
            if abandon.is_set():
                raise _AbandonedError
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    def _when_free(self, db: sqlite3.Connection, statement: str, abandon: threading.Event) -> None:
        """Run a statement that takes a lock, waiting while another connection holds it (at
        most ``timeout`` seconds), in short steps, so that a cancelled call stops waiting."""
        give_up = time.monotonic() + self._timeout
        while True:
            try:
                db.execute(statement)
            except sqlite3.OperationalError as error:
                if abandon.is_set():
                    raise _AbandonedError from None
                busy = getattr(error, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")
                if not busy or time.monotonic() >= give_up:
                    raise
            else:
                return


# How long SQLite itself waits for a lock before the store checks whether to go on waiting.
_BUSY_WAIT = 0.1


class _AbandonedError(Exception):
    """The caller was cancelled before the transaction could commit."""


async def _finish(future: asyncio.Future[Any]) -> None:
    """Wait for a database call to end, whatever it raises, even if cancelled meanwhile."""
    while not future.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([future])
    if not future.cancelled():
        future.exception()


def _schema_version(db: sqlite3.Connection) -> int:
    version: int = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"the database was written by a newer linkstats (schema {version}, this one "
            f"knows {SCHEMA_VERSION}); upgrade linkstats to use it"
        )
    return version


def _migrate(db: sqlite3.Connection) -> None:
    version = _schema_version(db)
    for script in _MIGRATIONS[version:]:
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _record(db: sqlite3.Connection, observed: list[Observation], started: datetime) -> RunSummary:
    finished = max((item.observed_at for item in observed), default=started)
    run_id = _insert(
        db,
        "INSERT INTO runs (started_at, finished_at) VALUES (?, ?)",
        (_stamp(started), _stamp(max(started, finished))),
    )
    failed = records = changed = superseded = 0
    for item in observed:
        db.execute("INSERT OR IGNORE INTO targets (key) VALUES (?)", (item.target_key,))
        (target_id,) = db.execute(
            "SELECT id FROM targets WHERE key = ?", (item.target_key,)
        ).fetchone()
        # Two runs that overlap commit in turn: an observation older than one already stored
        # for its target is superseded by it, and left out, so time order is kept.
        (previous,) = db.execute(
            "SELECT max(observed_at) FROM observations WHERE target_id = ?", (target_id,)
        ).fetchone()
        when = _stamp(item.observed_at)
        if previous is not None and when <= previous:
            superseded += 1
            continue
        if item.clicks is None:
            failed += 1
            db.execute(
                "INSERT INTO observations (run_id, target_id, observed_at, ok, records, clicks,"
                " error) VALUES (?, ?, ?, 0, 0, 0, ?)",
                (run_id, target_id, when, item.error),
            )
            continue
        seen = counts(item.clicks)
        records += len(item.clicks)
        observation_id = _insert(
            db,
            "INSERT INTO observations (run_id, target_id, observed_at, ok, records, clicks)"
            " VALUES (?, ?, ?, 1, ?, ?)",
            (run_id, target_id, when, len(item.clicks), sum(seen.values())),
        )
        stored = {
            key: (stored_id, clicks)
            for stored_id, key, clicks in db.execute(
                "SELECT id, key, clicks FROM rows WHERE target_id = ?", (target_id,)
            )
        }
        updates: list[tuple[int, int, int]] = []
        for key, clicks in seen.items():
            text = _key_text(key)
            found = stored.pop(text, None)
            if found is None:
                if not clicks:
                    # A row at zero is as good as missing: nothing to store until it counts.
                    continue
                new_id = _insert(
                    db,
                    f"INSERT INTO rows (target_id, key, {', '.join(KEY_FIELDS)}, clicks)"
                    f" VALUES (?, ?, {', '.join('?' * len(KEY_FIELDS))}, ?)",
                    (target_id, text, *key, clicks),
                )
                updates.append((new_id, clicks, clicks))
            elif found[1] != clicks:
                updates.append((found[0], clicks, clicks - found[1]))
        # A row this observation no longer has counts zero from now on.
        updates += [(gone_id, 0, -clicks) for gone_id, clicks in stored.values() if clicks]
        db.executemany(
            "INSERT INTO counts (row_id, observation_id, observed_at, clicks, gained)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (changed_id, observation_id, when, clicks, gained)
                for changed_id, clicks, gained in updates
            ],
        )
        db.executemany(
            "UPDATE rows SET clicks = ? WHERE id = ?",
            [(clicks, changed_id) for changed_id, clicks, _ in updates],
        )
        changed += len(updates)
    return RunSummary(run_id, len(observed), failed, records, changed, superseded)


def _insert(db: sqlite3.Connection, statement: str, values: Sequence[Any]) -> int:
    row_number = db.execute(statement, values).lastrowid
    assert row_number is not None
    return row_number


# A row's value at a bound is its count as of its target's last successful observation at or
# before the bound; counts are stored only at successful observations, when they change.
_CHANGES = """
WITH bounds AS (
    SELECT target_id,
           max(CASE WHEN observed_at <= :since THEN id END) AS before_id,
           max(CASE WHEN observed_at <= :until THEN id END) AS after_id
    FROM observations WHERE ok GROUP BY target_id
)
SELECT moved.key, moved.before, moved.after FROM (
    SELECT rows.id, rows.key,
        coalesce((SELECT clicks FROM counts WHERE row_id = rows.id
                  AND observation_id <= bounds.before_id
                  ORDER BY observation_id DESC LIMIT 1), 0) AS before,
        coalesce((SELECT clicks FROM counts WHERE row_id = rows.id
                  AND observation_id <= bounds.after_id
                  ORDER BY observation_id DESC LIMIT 1), 0) AS after
    FROM bounds JOIN rows ON rows.target_id = bounds.target_id
    WHERE bounds.after_id IS NOT NULL
) AS moved
WHERE moved.before != moved.after
ORDER BY moved.id
"""

_LATEST = "9999-12-31T23:59:59.999999Z"


def _changes(db: sqlite3.Connection, since: str, until: str | None) -> list[Change]:
    found = db.execute(_CHANGES, {"since": since, "until": until or _LATEST})
    return [Change(_key(text), before, after) for text, before, after in found]


def _key(text: str) -> RowKey:
    key: RowKey = tuple(orjson.loads(text))
    return key


_HISTORY = """
SELECT rows.id, rows.key, counts.observed_at, counts.clicks - counts.gained, counts.clicks
FROM counts JOIN rows ON rows.id = counts.row_id
WHERE counts.observed_at > :since AND counts.observed_at <= :until
ORDER BY counts.observed_at, rows.id
"""


def _history(
    db: sqlite3.Connection, step: timedelta, since: datetime | None, until: datetime | None
) -> list[Period]:
    # The first run that observed anything is the baseline: each target it observed counts
    # from its state there.
    first, last = db.execute(
        "SELECT max(observed_at) FILTER (WHERE run_id = (SELECT min(run_id) FROM observations)),"
        " max(observed_at) FROM observations"
    ).fetchone()
    if first is None:
        return []
    start = since or _parse_stamp(first)
    latest = until or _parse_stamp(last)
    if latest <= start and until is not None:
        return []
    # Whole periods in between; the last ends at `until`, else with the latest observation's.
    if (latest - start) / step > _MOST_PERIODS:
        raise ValueError(
            f"{start.isoformat()} to {latest.isoformat()} is more than {_MOST_PERIODS:,} "
            "periods; start later or take longer periods"
        )
    bounds = [start]
    boundary = _period_start(start, step) + step
    while boundary < latest:
        bounds.append(boundary)
        boundary += step
    bounds.append(until or boundary)
    # Per stored row (one target's), its count before and after each period.
    periods: list[dict[int, list[Any]]] = [{} for _ in bounds[:-1]]
    index = 0
    stamps = [_stamp(bound) for bound in bounds]
    for stored_id, text, observed_at, before, after in db.execute(
        _HISTORY, {"since": stamps[0], "until": stamps[-1]}
    ):
        while observed_at > stamps[index + 1]:
            index += 1
        moved = periods[index].setdefault(stored_id, [text, before, after])
        moved[2] = after
    return [
        Period(
            bounds[number],
            bounds[number + 1],
            tuple(
                Change(_key(text), before, after)
                for text, before, after in moved.values()
                if before != after
            ),
        )
        for number, moved in enumerate(periods)
    ]


# More periods than anyone reads; enough to refuse a range that would not fit in memory.
_MOST_PERIODS: Final = 100_000

_NAMED_PERIODS: Final = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}
# 1970-01-05 was a Monday: weeks are counted from it.
_WEEKS_FROM: Final = datetime(1970, 1, 5, tzinfo=UTC)


def _period_length(every: str | timedelta) -> timedelta:
    if isinstance(every, timedelta):
        if every <= timedelta(0):
            raise ValueError(f"every must be a positive timedelta, got {every!r}")
        return every
    if every not in _NAMED_PERIODS:
        raise ValueError(f"every must be hour, day, week or a timedelta, got {every!r}")
    return _NAMED_PERIODS[every]


def _period_start(instant: datetime, step: timedelta) -> datetime:
    origin = _WEEKS_FROM if step == _NAMED_PERIODS["week"] else datetime(1970, 1, 1, tzinfo=UTC)
    return origin + (instant - origin) // step * step


def _stamp(instant: datetime) -> str:
    # isoformat writes every year with four digits, which strftime on some platforms does not.
    return _utc(instant).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)


_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d|w)")
_AGE_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, *, now: datetime | None = None) -> datetime:
    """A bound as people write one: an ISO-8601 time (UTC unless it gives an offset) or an
    age back from ``now``: ``90s``, ``15m``, ``24h``, ``7d``, ``2w``."""
    text = text.strip()
    if age := _AGE.fullmatch(text):
        seconds = float(age.group(1)) * _AGE_UNITS[age.group(2)]
        try:
            return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
        except OverflowError:
            raise ValueError(f"{text!r} reaches back before the year 1") from None
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO-8601 time (2026-12-01T06:00Z) nor an age (24h, 7d)"
        ) from None
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
