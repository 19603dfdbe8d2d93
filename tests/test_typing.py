"""What user code that reads results type-checks as: ``make test`` runs mypy --strict here.

Each ``assert_type`` is checked by mypy and is a no-op when run; the assertions after them check
that the values are what the types say.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, assert_type

from conftest import paubox_source, sendgrid_source, uuid_for

from linkstats import (
    Campaign,
    CollectResult,
    LinkClick,
    LinkStats,
    LinkStatsError,
    PauboxSend,
    SendGridAutomation,
    TargetResult,
)
from linkstats.testing import Behavior, Simulator, SimulatorConfig

FOUND, MISSING = PauboxSend(uuid_for(1)), PauboxSend(uuid_for(2))
CONFIG = SimulatorConfig(behaviors={MISSING.send_id: Behavior.NOT_FOUND})


async def test_results_are_typed_by_the_targets_given() -> None:
    """``result.target.send_id`` and ``result.errors[target].status`` need no casts."""
    async with Simulator(CONFIG) as simulator:
        async with LinkStats(paubox_source(simulator)) as stats:
            collected = await stats.collect([FOUND, MISSING])
            outcomes = [result async for result in stats.results([FOUND])]

    assert_type(collected, CollectResult[PauboxSend])
    assert_type(collected.errors[MISSING], LinkStatsError)
    status: int | None = collected.errors[MISSING].status
    (outcome,) = outcomes
    assert_type(outcome, TargetResult[PauboxSend])
    send_id: str = outcome.target.send_id
    assert (status, send_id) == (404, FOUND.send_id)


async def test_iterators_are_async_generators_that_close() -> None:
    """``aclose()`` type-checks on what ``clicks``, ``results`` and ``discover`` return."""
    async with Simulator(CONFIG) as simulator:
        async with LinkStats(paubox_source(simulator), sendgrid_source(simulator)) as stats:
            clicks = stats.clicks([FOUND, SendGridAutomation(uuid_for(3))])
            assert_type(clicks, AsyncGenerator[LinkClick, None])
            first = await anext(clicks)
            await clicks.aclose()
            campaigns = stats.discover()
            assert_type(campaigns, AsyncGenerator[Campaign[Any], None])
            campaign = await anext(campaigns)
            await campaigns.aclose()

    assert isinstance(first, LinkClick)
    assert campaign.provider == "paubox"
