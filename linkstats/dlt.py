"""A dlt source of link clicks (``pip install 'linkstats[dlt]'``): load them anywhere dlt loads.

Two tables, from one fetch per run: ``link_clicks``, each row's current lifetime total, merged
on ``row_id`` (the row's identity, ``history.row_id``), and ``link_click_observations``, every
row of every run appended with its ``observed_at``, from which any period's gains follow. The
fetch is a ``LinkStats`` run, with its concurrency limit, retries and rate-limit waits::

    pipeline = dlt.pipeline("linkstats", destination="duckdb", dataset_name="clicks")
    pipeline.run(linkstats_source())

A target that fails is logged (the ``linkstats`` logger) and left out of the run, so its rows
in ``link_clicks`` keep their last totals rather than fall to zero.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.sources import DltResource, DltSource

from ._facade import LinkStats, Targets
from ._registry import configured_sources, registered_providers
from ._source import LinkStatsSource
from .history import row_id, row_key
from .reports import to_dict

__all__ = ["linkstats_source", "sources_from_environment"]

logger = logging.getLogger("linkstats")

Sources = Callable[[], Sequence[LinkStatsSource[Any]]]


def sources_from_environment() -> list[LinkStatsSource[Any]]:
    """A source for each registered provider whose credentials the environment holds, as
    the command line makes them (``PAUBOX_API_KEY``, ``SENDGRID_API_KEY``, ...)."""
    sources = configured_sources(registered_providers(), os.environ)
    if not sources:
        raise RuntimeError("no provider's credentials are set in the environment")
    return sources


def linkstats_source(
    targets: Targets[Any] | None = None,
    *,
    sources: Sources = sources_from_environment,
    concurrency: int = 16,
) -> DltSource:
    """The dlt source: ``targets`` (default: every campaign the sources list), fetched from
    what ``sources()`` makes, called when the pipeline runs, in its own event loop."""

    @dlt.resource(name="link_click_observations", write_disposition="append")
    async def observations() -> AsyncIterator[list[dict[str, Any]]]:
        observed_at = datetime.now(UTC)
        async with LinkStats(*sources(), concurrency=concurrency) as stats:
            wanted = stats.discover() if targets is None else targets
            async for result in stats.results(wanted):
                if result.error is not None:
                    logger.warning("left out of this run: %s", result.error)
                    continue
                yield [_row(click, observed_at) for click in result.clicks]

    @dlt.transformer(
        data_from=observations,
        name="link_clicks",
        write_disposition="merge",
        primary_key="row_id",
    )
    def link_clicks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        # One target's rows; any its provider repeats are one row's clicks, summed as
        # `history.counts` sums them.
        merged: dict[str, dict[str, Any]] = {}
        for row in rows:
            kept = merged.get(row["row_id"])
            if kept is None:
                merged[row["row_id"]] = {
                    name: value for name, value in row.items() if name != "observed_at"
                }
            else:
                kept["clicks"] += row["clicks"]
        yield list(merged.values())

    resources: list[DltResource] = [observations, link_clicks]
    return DltSource(dlt.Schema("linkstats"), "linkstats", resources)


def _row(click: Any, observed_at: datetime) -> dict[str, Any]:
    return {"row_id": row_id(row_key(click)), **to_dict(click), "observed_at": observed_at}
