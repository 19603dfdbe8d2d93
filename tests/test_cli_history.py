"""``linkstats sync``, ``changes`` and ``history``, run as a user would against the simulator."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import uuid_for
from test_cli import Finished, base_urls, credentials, run, start

from linkstats import LinkClick
from linkstats.history import Observation, SnapshotStore
from linkstats.testing import (
    Behavior,
    Simulator,
    SimulatorConfig,
    paubox_send_ids,
    paubox_tracking_links,
    sendgrid_automation_ids,
    sendgrid_automation_links,
    sendgrid_single_send_ids,
    sendgrid_single_send_links,
)

HUNG = uuid_for(1, kind=2)
MISSING = uuid_for(2, kind=2)
AUTOMATIONS = [uuid_for(n, kind=2) for n in range(10, 13)]


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    config = SimulatorConfig(seed=5, behaviors={HUNG: Behavior.HANG, MISSING: Behavior.NOT_FOUND})
    async with Simulator(config) as running:
        yield running


async def sync(simulator: Simulator, database: Path, *targets: str) -> Finished:
    return await run(
        "sync", f"--db={database}", *targets, *base_urls(simulator),
        environment=credentials(simulator),
    )  # fmt: skip


def clicks_per_url(config: SimulatorConfig) -> Counter[str]:
    """What the account's every campaign has, per URL, by the simulator's data functions."""
    per_url: Counter[str] = Counter()
    for automation_id in sendgrid_automation_ids(config):
        for row in sendgrid_automation_links(config, automation_id, group_by_step=True):
            per_url[row["url"]] += row["clicks"]
    for single_send_id in sendgrid_single_send_ids(config):
        split = ("ab_variation", "ab_phase")
        for row in sendgrid_single_send_links(config, single_send_id, group_by=split):
            per_url[row["url"]] += row["clicks"]
    for send_id in paubox_send_ids(config):
        for link in paubox_tracking_links(config, send_id):
            attributes = link["attributes"]
            per_url[attributes.get("target_url") or ""] += attributes.get("clicked") or 0
    return per_url


def dump(database: Path) -> list[str]:
    with sqlite3.connect(database) as db:
        return list(db.iterdump())


async def test_changes_between_two_syncs_are_exactly_the_growth_applied(
    simulator: Simulator, tmp_path: Path
) -> None:
    database = tmp_path / "clicks.db"
    before = simulator.config
    first = await sync(simulator, database, "--all")
    between = datetime.now(UTC)
    simulator.advance()
    second = await sync(simulator, database, "--all")
    gained = await run(
        "changes", f"--db={database}", f"--since={between.isoformat()}", "--by=url",
        "--format=json",
    )  # fmt: skip

    assert (first.code, second.code, gained.code) == (0, 0, 0)
    growth = clicks_per_url(simulator.config) - clicks_per_url(before)
    assert growth, "the period should have grown some links"
    rows = json.loads(gained.stdout)
    assert {row["url"]: row["clicks"] for row in rows} == dict(growth)
    assert list(rows[0]) == ["url", "clicks", "records"]
    # Up to the first sync, everything counts from zero.
    up_to_first = await run(
        "changes", f"--db={database}", "--since=2000-01-01", f"--until={between.isoformat()}",
        "--by=url", "--format=json",
    )  # fmt: skip
    assert {row["url"]: row["clicks"] for row in json.loads(up_to_first.stdout)} == {
        url: clicks for url, clicks in clicks_per_url(before).items() if clicks
    }


async def test_history_of_real_syncs_matches_changes_per_period(
    simulator: Simulator, tmp_path: Path
) -> None:
    database = tmp_path / "clicks.db"
    flags = [f"--sendgrid-automation={automation}" for automation in AUTOMATIONS]
    for _ in range(3):
        assert (await sync(simulator, database, *flags)).code == 0
        simulator.advance()
    history = await run(
        "history", f"--db={database}", "--every=hour", "--by=source", "--format=csv"
    )

    rows = list(csv.DictReader(io.StringIO(history.stdout)))
    assert rows
    for since, until in {(row["period_start"], row["period_end"]) for row in rows}:
        gained = await run(
            "changes", f"--db={database}", f"--since={since}", f"--until={until}",
            "--by=source", "--format=csv",
        )  # fmt: skip
        assert list(csv.DictReader(io.StringIO(gained.stdout))) == [
            {key: value for key, value in row.items() if not key.startswith("period_")}
            for row in rows
            if (row["period_start"], row["period_end"]) == (since, until)
        ]


async def test_an_interrupted_sync_leaves_the_database_as_it_was(
    simulator: Simulator, tmp_path: Path
) -> None:
    database = tmp_path / "clicks.db"
    flags = [f"--sendgrid-automation={automation}" for automation in AUTOMATIONS]
    assert (await sync(simulator, database, *flags)).code == 0
    recorded = dump(database)
    simulator.advance()

    process = await start(
        "sync", f"--db={database}", *flags, f"--sendgrid-automation={HUNG}",
        *base_urls(simulator), environment=credentials(simulator),
    )  # fmt: skip
    # The other targets are fetched, and one hangs: the run is well under way.
    await asyncio.wait_for(
        simulator.log.wait_until(
            lambda log: log.count(f"/v3/marketing/stats/automations/{HUNG}") > 0
        ),
        timeout=30,
    )
    process.send_signal(signal.SIGINT)
    async with asyncio.timeout(30):
        _, stderr = await process.communicate()

    assert process.returncode == 130
    assert stderr.decode().endswith("linkstats: interrupted\n")
    assert dump(database) == recorded


async def test_two_syncs_at_once_on_one_database_both_complete(
    simulator: Simulator, tmp_path: Path
) -> None:
    database = tmp_path / "clicks.db"
    both = await asyncio.gather(*(sync(simulator, database, "--all") for _ in range(2)))

    assert [finished.code for finished in both] == [0, 0]
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (2,)
        # Nothing moved between the two, so the second stored nothing again.
        assert (
            db.execute("SELECT count(*) FROM counts").fetchone()
            == db.execute("SELECT count(*) FROM rows").fetchone()
        )
        # Each target's observations are stored in time order: of two overlapping runs, the
        # one that finished writing second keeps only what it observed after the first.
        (targets,) = db.execute("SELECT count(*) FROM targets").fetchone()
        (observed,) = db.execute("SELECT count(*) FROM observations WHERE ok").fetchone()
        assert targets <= observed <= 2 * targets
        (out_of_order,) = db.execute(
            "SELECT count(*) FROM observations AS later JOIN observations AS earlier"
            " ON later.target_id = earlier.target_id AND later.id > earlier.id"
            " WHERE later.observed_at <= earlier.observed_at"
        ).fetchone()
        assert out_of_order == 0


async def test_a_failed_target_is_recorded_as_failed_not_as_zero(
    simulator: Simulator, tmp_path: Path
) -> None:
    database = tmp_path / "clicks.db"
    flags = [f"--sendgrid-automation={AUTOMATIONS[0]}", f"--sendgrid-automation={MISSING}"]
    first = await sync(simulator, database, *flags)
    between = datetime.now(UTC)
    simulator.advance()
    second = await sync(simulator, database, *flags)
    gained = await run(
        "changes", f"--db={database}", f"--since={between.isoformat()}", "--by=source",
        "--format=json",
    )  # fmt: skip

    assert (first.code, second.code) == (1, 1)
    assert second.stderr.startswith(f"failed: sendgrid automation {MISSING}: not found (HTTP 404)")
    with sqlite3.connect(database) as db:
        failures = db.execute(
            "SELECT targets.key, observations.error FROM observations"
            " JOIN targets ON targets.id = observations.target_id WHERE NOT observations.ok"
        ).fetchall()
    assert len(failures) == 2
    assert all(MISSING in key and "HTTP 404" in error for key, error in failures)
    assert [row["source_id"] for row in json.loads(gained.stdout)] == [AUTOMATIONS[0]]


T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def record(url: str, clicks: int, source_id: str) -> LinkClick:
    return LinkClick(provider="sendgrid", source_id=source_id, url=url, clicks=clicks)


async def recorded_history(database: Path) -> None:
    """Three days of observations of two campaigns."""
    async with SnapshotStore(database) as store:
        for hours, a, b in ((0, 1, 2), (5, 4, 2), (30, 4, 3), (31, 9, 3), (60, 12, 10)):
            at = T0 + timedelta(hours=hours)
            await store.record(
                [
                    Observation("a", at, [record("https://e.com/a", a, "a1")]),
                    Observation("b", at, [record("https://e.com/b", b, "b1")]),
                ]
            )


async def test_history_csv_is_changes_per_period_and_the_table_draws_the_trend(
    tmp_path: Path,
) -> None:
    database = tmp_path / "clicks.db"
    await recorded_history(database)
    as_csv = await run("history", f"--db={database}", "--every=day", "--format=csv")
    table = await run("history", f"--db={database}", "--every=day")

    assert (as_csv.code, table.code) == (0, 0)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert rows == [
        {"period_start": "2026-11-30T06:00:00Z", "period_end": "2026-12-01T00:00:00Z",
         "url": "https://e.com/a", "clicks": "3", "records": "1"},
        {"period_start": "2026-12-01T00:00:00Z", "period_end": "2026-12-02T00:00:00Z",
         "url": "https://e.com/a", "clicks": "5", "records": "1"},
        {"period_start": "2026-12-01T00:00:00Z", "period_end": "2026-12-02T00:00:00Z",
         "url": "https://e.com/b", "clicks": "1", "records": "1"},
        {"period_start": "2026-12-02T00:00:00Z", "period_end": "2026-12-03T00:00:00Z",
         "url": "https://e.com/b", "clicks": "7", "records": "1"},
        {"period_start": "2026-12-02T00:00:00Z", "period_end": "2026-12-03T00:00:00Z",
         "url": "https://e.com/a", "clicks": "3", "records": "1"},
    ]  # fmt: skip
    for since, until in sorted({(row["period_start"], row["period_end"]) for row in rows}):
        gained = await run(
            "changes", f"--db={database}", f"--since={since}", f"--until={until}", "--format=json"
        )
        assert {row["url"]: row["clicks"] for row in json.loads(gained.stdout)} == {
            row["url"]: int(row["clicks"])
            for row in rows
            if (row["period_start"], row["period_end"]) == (since, until)
        }
    lines = table.stdout.splitlines()
    assert "Clicks gained per day, trend over the last 3 days" in " ".join(
        line.strip() for line in lines[:2]
    )
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines if "│" in line]
    assert cells == [["https://e.com/a", "▅█▅", "11"], ["https://e.com/b", "▁▂█", "8"]]


async def test_history_by_source_as_json_lines(tmp_path: Path) -> None:
    database = tmp_path / "clicks.db"
    await recorded_history(database)
    by_source = await run(
        "history", f"--db={database}", "--every=week", "--by=source", "--format=jsonl"
    )

    assert by_source.code == 0
    assert [json.loads(line) for line in by_source.stdout.splitlines()] == [
        {"period_start": "2026-11-30T06:00:00Z", "period_end": "2026-12-07T00:00:00Z",
         "source_id": "a1", "clicks": 11, "records": 1},
        {"period_start": "2026-11-30T06:00:00Z", "period_end": "2026-12-07T00:00:00Z",
         "source_id": "b1", "clicks": 8, "records": 1},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["changes", "--since=1h"], "no database at {db}; linkstats sync --db {db} makes one"),
        (["history"], "no database at {db}; linkstats sync --db {db} makes one"),
        (
            ["changes", "--since=yesterday", "--by=url"],
            "--since: 'yesterday' is neither an ISO-8601 time (2026-12-01T06:00Z) nor an age "
            "(24h, 7d)",
        ),
        (
            ["changes", "--since=1h", "--until=2h"],
            "--until ({until}) must come after --since ({since})",
        ),
        (
            ["history", "--by=none"],
            "history totals by a grouping: use --by url, source, provider, ...",
        ),
    ],
)
async def test_history_usage_errors_say_what_is_wrong(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    database = tmp_path / "clicks.db"
    finished = await run(*arguments, f"--db={database}")

    assert finished.code == 2
    assert finished.stdout == ""
    first_line = finished.stderr.splitlines()[0]
    if "{until}" in message:
        assert first_line.startswith("linkstats: error: --until (")
        assert first_line.endswith("must come after --since (" + first_line.split("--since (")[1])
    else:
        assert first_line == "linkstats: error: " + message.format(db=database)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a database, but some notes", "file is not a database"),
        (None, "the database was written by a newer linkstats (schema 99, this one knows 1)"),
    ],
)
async def test_sync_into_a_file_it_cannot_use_sends_nothing(
    simulator: Simulator, tmp_path: Path, content: bytes | None, message: str
) -> None:
    database = tmp_path / "clicks.db"
    if content is None:
        with sqlite3.connect(database) as db:
            db.execute("PRAGMA user_version = 99")
    else:
        database.write_bytes(content)
    finished = await sync(simulator, database, "--all")

    assert finished.code == 2
    assert finished.stderr.startswith(f"linkstats: error: cannot use {database}: {message}")
    assert simulator.log.count() == 0


async def test_a_sync_refused_for_its_options_leaves_no_database(tmp_path: Path) -> None:
    database = tmp_path / "clicks.db"
    finished = await run("sync", f"--db={database}")

    assert finished.code == 2
    assert finished.stderr.startswith("linkstats: error: no targets: give --all")
    assert not database.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["changes", "--since=9999999d"], "--since: '9999999d' reaches back before the year 1"),
        (
            ["history", "--every=hour", "--since=1000-01-01"],
            "1000-01-01T00:00:00+00:00 to 2026-12-02T18:00:00+00:00 is more than 100,000 "
            "periods; start later or take longer periods",
        ),
    ],
)
async def test_ranges_too_far_are_usage_errors(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    database = tmp_path / "clicks.db"
    await recorded_history(database)
    finished = await run(*arguments, f"--db={database}")

    assert (finished.code, finished.stdout) == (2, "")
    assert finished.stderr == f"linkstats: error: {message}\n"


async def test_sync_into_a_missing_directory_sends_nothing(
    simulator: Simulator, tmp_path: Path
) -> None:
    database = tmp_path / "missing" / "clicks.db"
    finished = await sync(simulator, database, f"--sendgrid-automation={AUTOMATIONS[0]}")

    assert finished.code == 2
    assert finished.stderr == (
        f"linkstats: error: no directory {database.parent} for the database {database}\n"
    )
    assert simulator.log.count() == 0
