"""LinkStats: the concurrency cap, failure isolation, bounded streaming, clean shutdown."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self

import aiohttp
import pytest
from conftest import expected, paubox_source, sendgrid_source, uuid_for
from yarl import URL

from linkstats import (
    LinkClick,
    LinkStats,
    NotFoundError,
    PauboxSend,
    ResponseFormatError,
    SendGridAutomation,
    ServerError,
)
from linkstats.testing import Behavior, Faults, Simulator, SimulatorConfig

SLOW = SimulatorConfig(faults=Faults(latency=0.05))


def mixed_targets(count: int) -> list[PauboxSend | SendGridAutomation]:
    return [
        PauboxSend(uuid_for(n, kind=1)) if n % 2 else SendGridAutomation(uuid_for(n, kind=2))
        for n in range(count)
    ]


async def test_at_most_concurrency_requests_are_in_flight() -> None:
    """Across both sources the server sees `concurrency` requests at once, never more."""
    async with (
        Simulator(SLOW) as simulator,
        LinkStats(paubox_source(simulator), sendgrid_source(simulator), concurrency=5) as stats,
    ):
        result = await stats.collect(mixed_targets(30))

    assert result.ok
    assert simulator.log.max_in_flight == 5


async def test_the_cap_holds_across_concurrent_calls() -> None:
    """Two collects and a stream on one LinkStats share its `concurrency` slots."""
    async with Simulator(SLOW) as simulator:
        async with LinkStats(paubox_source(simulator), concurrency=3) as stats:
            targets = [PauboxSend(uuid_for(n)) for n in range(12)]

            async def stream() -> list[LinkClick]:
                return [click async for click in stats.clicks(targets)]

            await asyncio.gather(stats.collect(targets), stats.collect(targets), stream())

    assert simulator.log.max_in_flight == 3


async def test_the_connection_pool_does_not_cap_concurrency() -> None:
    """A source's own session opens as many connections as LinkStats allows."""
    async with Simulator(SimulatorConfig(faults=Faults(latency=1.0))) as simulator:
        async with LinkStats(paubox_source(simulator), concurrency=150) as stats:
            result = await stats.collect([PauboxSend(uuid_for(n)) for n in range(150)])

    assert result.ok
    assert simulator.log.max_in_flight == 150


async def test_one_failing_target_never_costs_another_its_records() -> None:
    """collect keeps every good target's records and types each failure."""
    config = SimulatorConfig(
        behaviors={
            uuid_for(3, kind=1): Behavior.NOT_FOUND,
            uuid_for(4, kind=2): Behavior.SERVER_ERROR,
            uuid_for(7, kind=1): Behavior.MALFORMED_JSON,
        }
    )
    targets = mixed_targets(12)
    async with (
        Simulator(config) as simulator,
        LinkStats(
            paubox_source(simulator, max_retries=1), sendgrid_source(simulator, max_retries=1)
        ) as stats,
    ):
        result = await stats.collect(targets)

    failed = {
        PauboxSend(uuid_for(3, kind=1)): NotFoundError,
        SendGridAutomation(uuid_for(4, kind=2)): ServerError,
        PauboxSend(uuid_for(7, kind=1)): ResponseFormatError,
    }
    assert {target: type(error) for target, error in result.errors.items()} == failed
    assert not result.ok
    assert list(result.clicks) == [
        record
        for target in targets
        if target not in failed
        for record in expected(simulator.config, target)
    ]


async def test_the_first_failure_of_a_stream_is_raised_and_stops_the_rest() -> None:
    """clicks() raises the failing target's error, with the target, and fetches no further."""
    broken = PauboxSend(uuid_for(0))
    config = SimulatorConfig(behaviors={broken.send_id: Behavior.NOT_FOUND}, faults=SLOW.faults)
    targets = [broken] + [PauboxSend(uuid_for(n)) for n in range(1, 40)]
    async with Simulator(config) as simulator:
        async with LinkStats(paubox_source(simulator), concurrency=4) as stats:
            with pytest.raises(NotFoundError) as caught:
                [click async for click in stats.clicks(targets)]
            sent = simulator.log.count()

    assert caught.value.target == broken
    assert sent < len(targets)
    assert simulator.log.count() == sent


async def test_a_paused_stream_holds_only_a_bounded_number_of_pages() -> None:
    """While the consumer waits, fetching stops once the queue and the workers are full."""
    targets = [PauboxSend(uuid_for(n)) for n in range(100)]
    async with Simulator() as simulator:
        async with LinkStats(paubox_source(simulator), concurrency=4) as stats:
            stream = stats.clicks(targets)
            await anext(stream)
            # One page being consumed, four queued, four more held by blocked workers.
            await simulator.log.wait_until(lambda log: log.count() >= 9)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await simulator.log.wait_until(lambda log: log.count() > 9)
            await stream.aclose()

    assert simulator.log.count() == 9


async def test_a_callers_session_is_used_and_left_open(simulator: Simulator) -> None:
    """session= is the caller's: requests go through it and it is not closed for them."""
    async with aiohttp.ClientSession() as session:
        async with LinkStats(paubox_source(simulator, session=session)) as stats:
            result = await stats.collect([PauboxSend(uuid_for(1))])
        assert not session.closed
        assert result.ok


async def test_owned_sessions_close_without_warnings(simulator: Simulator) -> None:
    """No 'Unclosed client session' even when the garbage collector runs right after."""
    source = sendgrid_source(simulator)
    async with LinkStats(source) as stats:
        await stats.collect([SendGridAutomation(uuid_for(1))])
    gc.collect()

    assert source._transport._session is None


async def test_a_source_entered_by_the_caller_outlives_linkstats(simulator: Simulator) -> None:
    """Entering is counted: the source stays open until its own async with ends."""
    target = PauboxSend(uuid_for(1))
    async with paubox_source(simulator) as source:
        async with LinkStats(source) as stats:
            await stats.collect([target])
        records = [click async for click in source.clicks(target)]

    assert records == expected(simulator.config, target)


class OneRecordSource:
    """A minimal third-party source: a provider name, target_types, async with and clicks()."""

    provider = "one-record"
    target_types = (str,)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def clicks(self, target: Any) -> AsyncIterator[LinkClick]:
        yield LinkClick("one-record", target, URL("https://example.com/"), 1)


async def test_any_source_following_the_protocol_plugs_in(simulator: Simulator) -> None:
    """LinkStats routes by target type to any LinkStatsSource, not only the built-in ones."""
    async with LinkStats(OneRecordSource(), paubox_source(simulator)) as stats:
        result = await stats.collect(["a", PauboxSend(uuid_for(1)), "b"])

    assert [click.source_id for click in result.clicks[:1]] == ["a"]
    assert result.clicks[-1] == LinkClick("one-record", "b", URL("https://example.com/"), 1)
    assert len(result.clicks) == 2 + len(expected(simulator.config, PauboxSend(uuid_for(1))))
