"""Records into pandas and polars with the documented column types, whatever the rows hold."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

import pandas as pd
import polars as pl
from conftest import paubox_source, sendgrid_source, uuid_for

from linkstats import LinkClick, LinkStats, PauboxSend, SendGridAutomation
from linkstats.reports import RECORD_FIELDS, RECORD_SCHEMA, to_pandas, to_polars
from linkstats.testing import Simulator

# 150 rows without an opening time or a place, then one with both: the rows a schema inferred
# from the first hundred gets wrong.
RECORDS = [
    *(LinkClick("paubox", "s", f"https://example.com/{n}", 0, link_id=f"l{n}") for n in range(150)),
    LinkClick(
        "sendgrid",
        "a",
        "https://例え.jp/ページ",
        3,
        opened_at=datetime(2024, 5, 1, 10, 15, tzinfo=UTC),
        step_id="all",
        url_location=2,
    ),
]


def test_the_schema_names_every_record_field() -> None:
    assert tuple(RECORD_SCHEMA) == RECORD_FIELDS


def test_pandas_gets_the_documented_dtypes() -> None:
    frame = to_pandas(RECORDS)

    assert list(frame.columns) == list(RECORD_FIELDS)
    opened = frame["opened_at"].dtype
    assert isinstance(opened, pd.DatetimeTZDtype)
    assert str(opened.tz) == "UTC"
    assert str(frame["url_location"].dtype) == "Int64"
    assert str(frame["clicks"].dtype) == "int64"
    assert all(str(frame[name].dtype) == "string" for name in ("provider", "url", "step_id"))
    last = frame.iloc[-1]
    assert (last["url"], last["url_location"], last["clicks"]) == ("https://例え.jp/ページ", 2, 3)
    assert last["opened_at"] == pd.Timestamp("2024-05-01T10:15:00Z")
    assert frame["url_location"].isna().sum() == 150


def test_polars_gets_the_documented_types_without_inferring_them() -> None:
    frame = to_polars(RECORDS)

    assert frame.columns == list(RECORD_FIELDS)
    assert frame.schema["opened_at"] == pl.Datetime("us", "UTC")
    assert frame.schema["url_location"] == pl.Int64
    assert frame.schema["step_id"] == pl.String
    assert frame.row(-1, named=True)["url_location"] == 2
    assert frame["opened_at"].null_count() == 150


async def test_fetched_records_load_into_both(simulator: Simulator) -> None:
    targets = [PauboxSend(uuid_for(1)), SendGridAutomation(uuid_for(2))]
    async with LinkStats(paubox_source(simulator), sendgrid_source(simulator)) as stats:
        result = await stats.collect(targets)

    assert len(to_pandas(result.clicks)) == len(to_polars(result.clicks)) == len(result.clicks)


async def test_importing_the_reports_does_not_import_pandas_or_polars() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys, linkstats, linkstats.reports; "
        "sys.exit('pandas' in sys.modules or 'polars' in sys.modules)",
    )
    assert await process.wait() == 0
