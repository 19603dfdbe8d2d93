"""The dlt source, loaded twice into DuckDB with counts grown in between."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from conftest import paubox_source, sendgrid_source, uuid_for

from linkstats import LinkClick, LinkStats, LinkStatsSource, SendGridAutomation
from linkstats.dlt import linkstats_source
from linkstats.history import row_id, row_key
from linkstats.testing import Behavior, PauboxConfig, SendGridConfig, Simulator, SimulatorConfig

CONFIG = SimulatorConfig(
    seed=3,
    paubox=PauboxConfig(send_ids=(uuid_for(1, kind=1), uuid_for(2, kind=1))),
    sendgrid=SendGridConfig(
        automation_ids=(uuid_for(1, kind=2), uuid_for(2, kind=2)),
        single_send_ids=(uuid_for(1, kind=3),),
    ),
)


@pytest.fixture(autouse=True)
def _quiet_dlt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No telemetry, and the pipeline's state in the test's own folder.
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))


def pipeline_in(folder: Path, name: str) -> Any:
    """A pipeline into a DuckDB file of its own, its state kept in ``folder``."""
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(folder / "linkstats.duckdb")),
        dataset_name="marketing",
        pipelines_dir=str(folder / "pipelines"),
    )


def load(pipeline: Any, simulator: Simulator, targets: Any = None) -> Any:
    def sources() -> list[LinkStatsSource[Any]]:
        return [paubox_source(simulator), sendgrid_source(simulator)]

    return pipeline.run(linkstats_source(targets, sources=sources, concurrency=4))


async def current_totals(simulator: Simulator) -> dict[str, int]:
    async with LinkStats(paubox_source(simulator), sendgrid_source(simulator)) as stats:
        result = await stats.collect(stats.discover())
    assert result.ok
    totals: dict[str, int] = {}
    for click in result.clicks:
        key = row_id(row_key(click))
        totals[key] = totals.get(key, 0) + click.clicks
    return totals


async def test_two_loads_merge_the_totals_and_append_the_observations(tmp_path: Path) -> None:
    database = tmp_path / "linkstats.duckdb"
    pipeline = pipeline_in(tmp_path, "linkstats_test")
    async with Simulator(CONFIG) as simulator:
        # The pipeline runs its own event loop; this one keeps serving the simulator.
        await asyncio.to_thread(load, pipeline, simulator)
        first = await current_totals(simulator)
        simulator.advance()
        await asyncio.to_thread(load, pipeline, simulator)
        second = await current_totals(simulator)

    assert first != second
    with duckdb.connect(str(database), read_only=True) as db:
        merged = dict(db.execute("SELECT row_id, clicks FROM marketing.link_clicks").fetchall())
        observed = db.execute(
            "SELECT count(*), count(DISTINCT observed_at) FROM marketing.link_click_observations"
        ).fetchone()
        columns = [row[0] for row in db.execute("DESCRIBE marketing.link_clicks").fetchall()]
    assert merged == second
    assert observed == (len(first) + len(second), 2)
    assert columns[:4] == ["row_id", "provider", "source_id", "url"]


async def test_a_failed_target_is_left_out_and_keeps_its_totals(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "linkstats.duckdb"
    pipeline = pipeline_in(tmp_path, "linkstats_failures")
    good, bad = SendGridAutomation(uuid_for(1, kind=2)), SendGridAutomation(uuid_for(2, kind=2))
    async with Simulator(CONFIG) as simulator:
        await asyncio.to_thread(load, pipeline, simulator, [good, bad])
        with duckdb.connect(str(database), read_only=True) as db:
            (before,) = db.execute("SELECT sum(clicks) FROM marketing.link_clicks").fetchone() or (
                0,
            )
        failing = SimulatorConfig(
            seed=3, sendgrid=CONFIG.sendgrid, behaviors={uuid_for(2, kind=2): Behavior.NOT_FOUND}
        )
    async with Simulator(failing) as simulator:
        await asyncio.to_thread(load, pipeline, simulator, [good, bad])

    with duckdb.connect(str(database), read_only=True) as db:
        (after,) = db.execute("SELECT sum(clicks) FROM marketing.link_clicks").fetchone() or (0,)
    assert after == before
    assert any("left out of this run" in record.getMessage() for record in caplog.records)


async def test_importing_linkstats_and_its_history_does_not_import_dlt() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys, linkstats, linkstats.history, linkstats.reports; "
        "sys.exit('dlt' in sys.modules or 'duckdb' in sys.modules)",
    )
    assert await process.wait() == 0


class _Repeating:
    """A source whose one target reports the same row twice, as `history.counts` allows."""

    provider = "repeating"
    target_types = (str,)

    async def __aenter__(self) -> _Repeating:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def clicks(self, target: str) -> AsyncIterator[LinkClick]:
        for clicks in (1, 10):
            yield LinkClick(
                provider="repeating", source_id=target, url="https://e.com/a", clicks=clicks
            )


async def test_a_row_repeated_within_a_target_is_merged_as_its_sum(tmp_path: Path) -> None:
    pipeline = pipeline_in(tmp_path, "linkstats_repeats")
    source = linkstats_source(["t1"], sources=lambda: [_Repeating()])
    await asyncio.to_thread(pipeline.run, source)

    with duckdb.connect(str(tmp_path / "linkstats.duckdb"), read_only=True) as db:
        merged = db.execute("SELECT source_id, clicks FROM marketing.link_clicks").fetchall()
        observed = db.execute("SELECT count(*) FROM marketing.link_click_observations").fetchone()
    assert merged == [("t1", 11)]
    assert observed == (2,)
