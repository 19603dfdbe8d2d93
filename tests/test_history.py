"""Row identity, deltas and the SQLite snapshot store, through ``linkstats.history``."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import sendgrid_source, uuid_for

from linkstats import LinkClick, LinkStats, SendGridAutomation
from linkstats.history import (
    KEY_FIELDS,
    SCHEMA_VERSION,
    Change,
    Observation,
    RunSummary,
    SnapshotStore,
    changes,
    counts,
    parse_when,
    row_id,
    row_key,
)
from linkstats.reports import totals
from linkstats.testing import Behavior, Simulator, SimulatorConfig, sendgrid_automation_links

T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def click(url: str, clicks: int, *, source_id: str = "a1", step_id: str | None = None) -> LinkClick:
    return LinkClick(
        provider="sendgrid", source_id=source_id, url=url, clicks=clicks, step_id=step_id
    )


def seen(target: str, at: datetime, *rows: LinkClick) -> Observation:
    return Observation(target_key=target, observed_at=at, clicks=list(rows))


def failed(target: str, at: datetime) -> Observation:
    return Observation(target_key=target, observed_at=at, clicks=None, error="HTTP 503")


# The pure rules


def test_a_row_key_names_every_identifying_field_in_order() -> None:
    record = LinkClick(
        provider="paubox",
        source_id="s1",
        url="https://example.com/a",
        clicks=4,
        link_id="l1",
        delivery_id="d1",
        opened_at=T0,
        url_location=2,
    )
    assert row_key(record) == (
        "paubox", "s1", "https://example.com/a", None, None, None, 2, "l1", "d1"
    )  # fmt: skip
    assert len(KEY_FIELDS) == len(row_key(record))
    # What a row says is not which row it is.
    assert row_key(record) == row_key(
        LinkClick(
            provider="paubox",
            source_id="s1",
            url="https://example.com/a",
            clicks=9,
            link_id="l1",
            delivery_id="d1",
            url_location=2,
        )
    )


def test_a_row_id_is_fixed_text_for_a_key() -> None:
    key = row_key(click("https://example.com/a", 1))
    assert row_id(key) == row_id(tuple(key))  # type: ignore[arg-type]
    assert len(row_id(key)) == 32
    assert row_id(key) != row_id(row_key(click("https://example.com/b", 1)))


def test_counts_sum_rows_repeated_within_one_observation() -> None:
    rows = [click("https://e.com/a", 2), click("https://e.com/a", 3), click("https://e.com/b", 1)]
    assert counts(rows) == {
        row_key(rows[0]): 5,
        row_key(rows[2]): 1,
    }


A, B, C = (row_key(click(f"https://e.com/{name}", 1)) for name in "abc")


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({}, {}, []),
        ({A: 3}, {A: 3}, []),
        ({A: 3}, {A: 5}, [Change(A, 3, 5)]),
        # A row missing on one side counts zero there.
        ({}, {A: 2}, [Change(A, 0, 2)]),
        ({A: 2}, {}, [Change(A, 2, 0)]),
        # A fall is reported as it is, not hidden.
        ({A: 5, B: 1}, {A: 4, B: 1, C: 7}, [Change(A, 5, 4), Change(C, 0, 7)]),
    ],
)
def test_changes_between_two_observations(
    before: dict[tuple[object, ...], int],
    after: dict[tuple[object, ...], int],
    expected: list[Change],
) -> None:
    assert changes(before, after) == expected  # type: ignore[arg-type]


def test_a_change_reads_like_a_record_for_totals() -> None:
    moved = [
        Change(A, 3, 5),
        Change(B, 0, 4),
        Change(row_key(click("https://e.com/a", 1, source_id="a2")), 1, 2),
    ]
    assert moved[0].clicks == 2
    assert not moved[0].decreased
    assert Change(A, 5, 4).decreased
    assert totals(moved, by=("url",)) == [
        {"url": "https://e.com/b", "clicks": 4, "records": 1},
        {"url": "https://e.com/a", "clicks": 3, "records": 2},
    ]
    assert moved[1].as_dict() == {
        **dict(zip(KEY_FIELDS, B, strict=True)),
        "before": 0,
        "after": 4,
        "clicks": 4,
    }


NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("90s", NOW - timedelta(seconds=90)),
        ("15m", NOW - timedelta(minutes=15)),
        ("2w", NOW - timedelta(weeks=2)),
        ("1.5h", NOW - timedelta(minutes=90)),
        ("2026-12-01T06:00:00Z", datetime(2026, 12, 1, 6, tzinfo=UTC)),
        ("2026-12-01T08:00:00+02:00", datetime(2026, 12, 1, 6, tzinfo=UTC)),
        # Without an offset, UTC.
        ("2026-12-01 06:00", datetime(2026, 12, 1, 6, tzinfo=UTC)),
        ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),
    ],
)
def test_parse_when(text: str, expected: datetime) -> None:
    assert parse_when(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "24", "h", "-3d", "2026-13-01"])
def test_parse_when_refuses_what_is_neither_a_time_nor_an_age(text: str) -> None:
    with pytest.raises(ValueError, match="neither an ISO-8601 time"):
        parse_when(text, now=NOW)


# The store


async def test_a_store_records_runs_and_tells_the_changes_between_them(tmp_path: Path) -> None:
    path = tmp_path / "clicks.db"
    async with SnapshotStore(path) as store:
        first = await store.record(
            [
                seen("t1", T0, click("https://e.com/a", 3), click("https://e.com/b", 1)),
                seen("t2", T0, click("https://e.com/c", 2, source_id="a2")),
            ]
        )
        second = await store.record(
            [
                seen(
                    "t1",
                    T0 + timedelta(hours=1),
                    click("https://e.com/a", 5),
                    click("https://e.com/b", 1),
                ),
                seen(
                    "t2",
                    T0 + timedelta(hours=1),
                    click("https://e.com/c", 2, source_id="a2"),
                    click("https://e.com/d", 4, source_id="a2"),
                ),
            ]
        )
        assert first == RunSummary(run_id=1, targets=2, failed=0, records=3, changed=3)
        # Only what moved is stored again.
        assert second == RunSummary(run_id=2, targets=2, failed=0, records=4, changed=2)
        between = T0 + timedelta(minutes=30)
        assert await store.changes(since=between) == [
            Change(row_key(click("https://e.com/a", 1)), 3, 5),
            Change(row_key(click("https://e.com/d", 1, source_id="a2")), 0, 4),
        ]
        # Before the first observation every row counts from zero; up to it, nothing moved.
        assert len(await store.changes(since=T0 - timedelta(days=1))) == 4
        assert await store.changes(since=T0 - timedelta(days=1), until=between) == [
            Change(row_key(click("https://e.com/a", 1)), 0, 3),
            Change(row_key(click("https://e.com/b", 1)), 0, 1),
            Change(row_key(click("https://e.com/c", 1, source_id="a2")), 0, 2),
        ]
        assert await store.totals() == {
            row_key(click("https://e.com/a", 1)): 5,
            row_key(click("https://e.com/b", 1)): 1,
            row_key(click("https://e.com/c", 1, source_id="a2")): 2,
            row_key(click("https://e.com/d", 1, source_id="a2")): 4,
        }
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM counts").fetchone() == (5,)
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_a_failed_target_keeps_its_rows_as_they_stood(tmp_path: Path) -> None:
    async with SnapshotStore(tmp_path / "clicks.db") as store:
        await store.record([seen("t1", T0, click("https://e.com/a", 3))])
        summary = await store.record([failed("t1", T0 + timedelta(hours=1))])
        assert summary == RunSummary(run_id=2, targets=1, failed=1, records=0, changed=0)
        # Not a fall to zero: the last good observation stands.
        assert await store.changes(since=T0) == []
        assert await store.totals() == {row_key(click("https://e.com/a", 1)): 3}
        await store.record([seen("t1", T0 + timedelta(hours=2), click("https://e.com/a", 4))])
        assert await store.changes(since=T0) == [Change(row_key(click("https://e.com/a", 1)), 3, 4)]


async def test_a_row_gone_counts_zero_and_a_fall_is_reported(tmp_path: Path) -> None:
    async with SnapshotStore(tmp_path / "clicks.db") as store:
        await store.record(
            [seen("t1", T0, click("https://e.com/a", 3), click("https://e.com/b", 2))]
        )
        await store.record([seen("t1", T0 + timedelta(hours=1), click("https://e.com/a", 1))])
        moved = await store.changes(since=T0)
    assert moved == [
        Change(row_key(click("https://e.com/a", 1)), 3, 1),
        Change(row_key(click("https://e.com/b", 1)), 2, 0),
    ]
    assert all(change.decreased for change in moved)


async def test_history_splits_the_changes_into_periods_that_match_changes(tmp_path: Path) -> None:
    url = "https://e.com/a"
    async with SnapshotStore(tmp_path / "clicks.db") as store:
        for hours, count in ((0, 1), (5, 4), (30, 4), (31, 9), (60, 12)):
            await store.record([seen("t1", T0 + timedelta(hours=hours), click(url, count))])
        periods = await store.history("day")
        # The first observation is the baseline; days are whole UTC days after it.
        assert [(period.start, period.end) for period in periods] == [
            (T0, datetime(2026, 12, 1, tzinfo=UTC)),
            (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)),
            (datetime(2026, 12, 2, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC)),
        ]
        assert [[change.clicks for change in period.changes] for period in periods] == [
            [3], [5], [3]
        ]  # fmt: skip
        for period in periods:
            assert list(period.changes) == await store.changes(period.start, period.end)
        assert await store.history("week", since=T0 - timedelta(days=1)) == [
            # 2026-11-30 is a Monday: one whole week from the day before it.
            type(periods[0])(
                T0 - timedelta(days=1),
                datetime(2026, 11, 30, tzinfo=UTC),
                (),
            ),
            type(periods[0])(
                datetime(2026, 11, 30, tzinfo=UTC),
                datetime(2026, 12, 7, tzinfo=UTC),
                (Change(row_key(click(url, 1)), 0, 12),),
            ),
        ]
        assert await store.history(timedelta(hours=12), until=T0) == []


async def test_history_starts_after_the_whole_first_run(tmp_path: Path) -> None:
    a, b = click("https://e.com/a", 2), click("https://e.com/b", 5, source_id="a2")
    async with SnapshotStore(tmp_path / "clicks.db") as store:
        # The first run's targets arrive one after the other; all of them are the baseline.
        await store.record([seen("t1", T0, a), seen("t2", T0 + timedelta(seconds=2), b)])
        await store.record(
            [
                seen("t1", T0 + timedelta(hours=1), click("https://e.com/a", 3)),
                seen("t2", T0 + timedelta(hours=1), b),
            ]
        )
        (period,) = await store.history("day")
    assert period.start == T0 + timedelta(seconds=2)
    assert period.changes == (Change(row_key(a), 2, 3),)


async def test_an_empty_store_has_no_history_and_no_changes(tmp_path: Path) -> None:
    async with SnapshotStore(tmp_path / "clicks.db") as store:
        assert await store.history("hour") == []
        assert await store.changes(since=T0) == []
        assert await store.totals() == {}


async def test_a_store_refuses_a_file_from_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "clicks.db"
    async with SnapshotStore(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="written by a newer linkstats"):
        async with SnapshotStore(path):
            pass


async def test_a_store_in_a_missing_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no directory"):
        async with SnapshotStore(tmp_path / "missing" / "clicks.db"):
            pass


async def test_a_reading_store_does_not_make_a_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no database at"):
        async with SnapshotStore(tmp_path / "clicks.db", create=False):
            pass
    assert not (tmp_path / "clicks.db").exists()


async def test_a_store_must_be_open_to_use(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "clicks.db")
    with pytest.raises(RuntimeError, match="async with"):
        await store.changes(since=T0)


class _Held(list[LinkClick]):
    """Records that, read by the store inside its transaction, say so and wait to be let go."""

    def __init__(self, *rows: LinkClick) -> None:
        super().__init__(rows)
        self.reading = threading.Event()
        self.release = threading.Event()

    def __iter__(self) -> Iterator[LinkClick]:
        self.reading.set()
        self.release.wait(timeout=30)
        return super().__iter__()


async def test_a_cancelled_run_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "clicks.db"
    held = _Held(click("https://e.com/a", 9), click("https://e.com/b", 1))
    async with SnapshotStore(path) as store:
        await store.record([seen("t1", T0, click("https://e.com/a", 3))])
        run = asyncio.create_task(store.record([Observation("t1", T0 + timedelta(hours=1), held)]))
        # The run is inside its transaction, its first rows written, when it is cancelled.
        await asyncio.get_running_loop().run_in_executor(None, held.reading.wait, 30)
        run.cancel()
        # Let go once the task has taken the cancellation (callbacks run in order).
        asyncio.get_running_loop().call_soon(held.release.set)
        with pytest.raises(asyncio.CancelledError):
            await run
        assert await store.totals() == {row_key(click("https://e.com/a", 1)): 3}
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM observations").fetchone() == (1,)


async def test_two_stores_on_one_file_take_turns(tmp_path: Path) -> None:
    path = tmp_path / "clicks.db"
    async with SnapshotStore(path) as one, SnapshotStore(path) as other:
        summaries = await asyncio.gather(
            *(
                store.record(
                    [
                        seen(
                            f"t{number}",
                            T0,
                            click("https://e.com/a", number + 1, source_id=f"s{number}"),
                        )
                    ]
                )
                for number, store in enumerate([one, other] * 5)
            )
        )
        assert sorted(summary.run_id for summary in summaries) == list(range(1, 11))
        assert len(await one.totals()) == 10


async def test_an_observation_older_than_one_stored_is_superseded(tmp_path: Path) -> None:
    # A run that fetched earlier but finishes writing after a later one adds nothing stale.
    async with SnapshotStore(tmp_path / "clicks.db") as store:
        await store.record([seen("t1", T0 + timedelta(hours=2), click("https://e.com/a", 5))])
        late = await store.record(
            [
                seen("t1", T0 + timedelta(hours=1), click("https://e.com/a", 7)),
                seen("t2", T0 + timedelta(hours=1), click("https://e.com/b", 1)),
            ]
        )
        assert (late.superseded, late.changed) == (1, 1)
        assert await store.totals() == {
            row_key(click("https://e.com/a", 1)): 5,
            row_key(click("https://e.com/b", 1)): 1,
        }
        (period,) = await store.history("day", since=T0)
        assert not any(change.decreased for change in period.changes)


def test_an_observation_of_a_failed_result_keeps_the_error_not_the_records() -> None:
    from linkstats import NotFoundError, TargetResult

    error = NotFoundError("HTTP 404 Not Found for GET /x", provider="sendgrid", status=404)
    result = TargetResult("t1", [click("https://e.com/a", 1)], error)
    observation = Observation.of(result, observed_at=T0, target_key=str)
    assert observation == Observation("t1", T0, None, str(error))
    assert Observation.of(
        TargetResult("t1", [click("https://e.com/a", 1)]), observed_at=T0
    ).clicks == [click("https://e.com/a", 1)]


async def test_sync_fetches_and_records_one_run(tmp_path: Path) -> None:
    automations = [SendGridAutomation(uuid_for(n, kind=2), group_by_step=True) for n in range(3)]
    missing = SendGridAutomation(uuid_for(9, kind=2))
    config = SimulatorConfig(seed=11, behaviors={missing.automation_id: Behavior.NOT_FOUND})
    async with Simulator(config) as simulator, SnapshotStore(tmp_path / "clicks.db") as store:
        async with LinkStats(sendgrid_source(simulator)) as stats:
            first = await store.sync(stats, [*automations, missing])
            between = datetime.now(UTC)
            before = simulator.config
            simulator.advance()
            second = await store.sync(stats, [*automations, missing])
        moved = await store.changes(since=between)

    def rows(config: SimulatorConfig) -> dict[tuple[str, str, int], int]:
        return {
            (target.automation_id, row["url"], row["url_location"]): row["clicks"]
            for target in automations
            for row in sendgrid_automation_links(config, target.automation_id, group_by_step=True)
        }

    grown = {
        key: (rows(before).get(key, 0), clicks)
        for key, clicks in rows(simulator.config).items()
        if clicks != rows(before).get(key, 0)
    }
    assert (first.targets, first.failed, second.failed) == (4, 1, 1)
    assert second.changed == len(moved) == len(grown) > 0
    assert sorted(
        ((change.source_id, change.url_text, change.key[6]), (change.before, change.after))
        for change in moved
    ) == sorted(grown.items())


async def test_one_row_kept_under_two_targets_moves_for_each(tmp_path: Path) -> None:
    shared = click("https://e.com/a", 10)
    async with SnapshotStore(tmp_path / "clicks.db") as store:
        await store.record([seen("t1", T0, shared), seen("t2", T0, click("https://e.com/a", 100))])
        later = T0 + timedelta(hours=1)
        await store.record(
            [
                seen("t1", later, click("https://e.com/a", 12)),
                seen("t2", later, click("https://e.com/a", 103)),
            ]
        )
        (period,) = await store.history("day")
        assert list(period.changes) == await store.changes(period.start, period.end)
        assert list(period.changes) == [
            Change(row_key(shared), 10, 12),
            Change(row_key(shared), 100, 103),
        ]
        assert await store.totals() == {row_key(shared): 115}


async def test_an_empty_first_run_is_no_baseline(tmp_path: Path) -> None:
    async with SnapshotStore(tmp_path / "clicks.db") as store:
        await store.record([], started_at=T0)
        await store.record([seen("t1", T0 + timedelta(hours=1), click("https://e.com/a", 3))])
        await store.record([seen("t1", T0 + timedelta(hours=2), click("https://e.com/a", 5))])
        (period,) = await store.history("day")
    assert period.start == T0 + timedelta(hours=1)
    assert period.changes == (Change(row_key(click("https://e.com/a", 1)), 3, 5),)


async def test_a_run_waiting_for_another_writer_stops_when_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "clicks.db"
    async with SnapshotStore(path) as store:
        await store.record([seen("t1", T0, click("https://e.com/a", 3))])
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            run = asyncio.create_task(
                store.record([seen("t1", T0 + timedelta(hours=1), click("https://e.com/a", 9))])
            )
            # Held back by the other writer (the store would wait up to ten minutes)...
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(run), timeout=0.5)
            run.cancel()
            # ...it stops within a step of its wait once cancelled, the lock still held.
            async with asyncio.timeout(5):
                with pytest.raises(asyncio.CancelledError):
                    await run
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert await store.totals() == {row_key(click("https://e.com/a", 1)): 3}


async def test_times_before_the_year_1000_still_sort_before_later_ones(tmp_path: Path) -> None:
    async with SnapshotStore(tmp_path / "clicks.db") as store:
        await store.record([seen("t1", T0, click("https://e.com/a", 3))])
        assert await store.changes(since=datetime(999, 1, 1, tzinfo=UTC)) == [
            Change(row_key(click("https://e.com/a", 1)), 0, 3)
        ]


async def test_a_history_of_too_many_periods_is_refused(tmp_path: Path) -> None:
    async with SnapshotStore(tmp_path / "clicks.db") as store:
        await store.record([seen("t1", T0, click("https://e.com/a", 3))])
        with pytest.raises(ValueError, match="more than 100,000 periods"):
            await store.history("hour", since=datetime(1000, 1, 1, tzinfo=UTC))


async def test_changes_refuse_bounds_in_the_wrong_order(tmp_path: Path) -> None:
    async with SnapshotStore(tmp_path / "clicks.db") as store:
        with pytest.raises(ValueError, match="comes before since"):
            await store.changes(since=T0, until=T0 - timedelta(hours=1))


async def test_a_reading_store_does_not_take_an_empty_file_for_a_database(tmp_path: Path) -> None:
    path = tmp_path / "clicks.db"
    path.write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="no linkstats database"):
        async with SnapshotStore(path, create=False):
            pass
    assert path.read_bytes() == b""


def test_an_observation_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        Observation("t1", datetime(2026, 12, 1, 6), [])
    assert Observation("t1", datetime(2026, 12, 1, 8, tzinfo=timezone(timedelta(hours=2))), []) == (
        Observation("t1", datetime(2026, 12, 1, 6, tzinfo=UTC), [])
    )


def test_an_age_reaching_before_the_year_1_is_refused() -> None:
    with pytest.raises(ValueError, match="reaches back before the year 1"):
        parse_when("9999999d", now=NOW)
