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

from linkstats import (
    Campaign,
    LinkClick,
    LinkStats,
    Listing,
    NotFoundError,
    Page,
    PauboxSend,
    Response,
    ResponseFormatError,
    SendGridAutomation,
    SendGridSource,
    ServerError,
)
from linkstats.testing import (
    Behavior,
    Faults,
    PauboxConfig,
    SendGridConfig,
    Simulator,
    SimulatorConfig,
)

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
        yield LinkClick("one-record", target, "https://example.com/", 1)


async def test_any_source_following_the_protocol_plugs_in(simulator: Simulator) -> None:
    """LinkStats routes by target type to any LinkStatsSource, not only the built-in ones."""
    async with LinkStats(OneRecordSource(), paubox_source(simulator)) as stats:
        result = await stats.collect(["a", PauboxSend(uuid_for(1)), "b"])

    assert [click.source_id for click in result.clicks[:1]] == ["a"]
    assert result.clicks[-1] == LinkClick("one-record", "b", "https://example.com/", 1)
    assert len(result.clicks) == 2 + len(expected(simulator.config, PauboxSend(uuid_for(1))))


class TypoSource(SendGridSource):
    """A provider whose mapping has a bug: a misspelt attribute."""

    def parse_page(self, target: Any, response: Response) -> Page[LinkClick]:
        return Page(response.bodyy)  # type: ignore[attr-defined]


@pytest.mark.parametrize("method", ["collect", "results", "clicks"])
async def test_a_bug_in_a_provider_surfaces_as_itself(simulator: Simulator, method: str) -> None:
    """An AttributeError in a mapping is a fault, not a ResponseFormatError, and stops all."""
    source = TypoSource(api_key=simulator.config.sendgrid.api_key, base_url=simulator.url)
    targets = [SendGridAutomation(uuid_for(n)) for n in range(5)]

    async def consume(stats: LinkStats) -> object:
        if method == "collect":
            return await stats.collect(targets)
        if method == "results":
            return [result async for result in stats.results(targets)]
        return [click async for click in stats.clicks(targets)]

    async with LinkStats(source, concurrency=2) as stats:
        with pytest.raises(AttributeError, match="bodyy"):
            await consume(stats)
        workers_left = [
            task for task in asyncio.all_tasks() if "LinkStats." in repr(task.get_coro())
        ]

    assert workers_left == []
    assert simulator.log.count() <= 2


class GroupingSource(SendGridSource):
    """A provider whose decoder reports every wrong field at once, in an ExceptionGroup."""

    def __init__(self, simulator: Simulator, *errors: Exception) -> None:
        super().__init__(api_key=simulator.config.sendgrid.api_key, base_url=simulator.url)
        self.errors = errors

    def parse_page(self, target: Any, response: Response) -> Page[LinkClick]:
        raise ExceptionGroup("while structuring the page", list(self.errors))


async def test_a_group_of_shape_errors_is_a_format_error_for_that_target(
    simulator: Simulator,
) -> None:
    """As cattrs' detailed validation raises them: each target fails on its own, typed."""
    source = GroupingSource(simulator, ValueError("clicks: -1"), KeyError("url"))
    targets = [SendGridAutomation(uuid_for(1)), SendGridAutomation(uuid_for(2))]

    async with LinkStats(source) as stats:
        result = await stats.collect(targets)

    assert result.clicks == []
    assert {target: type(error) for target, error in result.errors.items()} == dict.fromkeys(
        targets, ResponseFormatError
    )
    assert "while structuring the page" in str(result.errors[targets[0]])
    assert simulator.log.count() == 2


async def test_a_group_holding_a_bug_surfaces_as_itself(simulator: Simulator) -> None:
    source = GroupingSource(simulator, ValueError("clicks: -1"), AttributeError("bodyy"))

    async with LinkStats(source) as stats:
        with pytest.raises(ExceptionGroup) as raised:
            await stats.collect([SendGridAutomation(uuid_for(1))])

    assert [type(error) for error in raised.value.exceptions] == [ValueError, AttributeError]


def discovery_config() -> SimulatorConfig:
    return SimulatorConfig(
        paubox=PauboxConfig(send_ids=tuple(uuid_for(n, kind=1) for n in range(7))),
        sendgrid=SendGridConfig(
            automation_ids=tuple(uuid_for(n, kind=2) for n in range(5)), single_send_ids=()
        ),
    )


@pytest.mark.parametrize("concurrency", [1, 2, 16])
async def test_collecting_what_discover_lists_is_everything(concurrency: int) -> None:
    """``collect(stats.discover())`` streams listings into fetching, at any concurrency."""
    config = discovery_config()
    async with Simulator(config) as simulator:
        sources = (paubox_source(simulator), sendgrid_source(simulator))
        async with LinkStats(*sources, concurrency=concurrency) as stats:
            async with asyncio.timeout(10):
                result = await stats.collect(stats.discover())
            listed = [campaign.target async for campaign in stats.discover()]

    assert set(listed) == {PauboxSend(send_id) for send_id in config.paubox.send_ids or ()} | {
        SendGridAutomation(automation_id) for automation_id in config.sendgrid.automation_ids or ()
    }
    assert result.errors == {}
    assert result.clicks == [click for target in listed for click in expected(config, target)]
    # Three listings per discover() (sends, automations, single sends), then one request
    # per send and per automation (each one page).
    assert simulator.log.count() == 2 * 3 + len(listed)


async def test_campaigns_and_async_iterables_are_taken_as_targets() -> None:
    """Every method takes campaigns as their targets, given up front or as they arrive."""
    config = discovery_config()
    async with Simulator(config) as simulator:
        async with LinkStats(paubox_source(simulator), sendgrid_source(simulator)) as stats:
            campaigns = [campaign async for campaign in stats.discover()]
            targets = [campaign.target for campaign in campaigns]

            async def arriving() -> AsyncIterator[Campaign[Any]]:
                for campaign in campaigns + campaigns:
                    yield campaign

            streamed = [click async for click in stats.clicks(arriving())]
            outcomes = [result async for result in stats.results(campaigns)]
            collected = await stats.collect(arriving())

    everything = [click for target in targets for click in expected(config, target)]
    assert sorted(streamed, key=repr) == sorted(everything, key=repr)
    assert {result.target for result in outcomes} == set(targets)
    assert all(result.ok for result in outcomes)
    assert collected.clicks == everything


async def test_a_target_no_source_fetches_fails_when_it_arrives(simulator: Simulator) -> None:
    """From an async iterable a target is routed as it arrives; an unroutable one raises."""

    async def arriving() -> AsyncIterator[Any]:
        yield PauboxSend(uuid_for(1))
        yield "not a target"

    async with LinkStats(paubox_source(simulator)) as stats:
        with pytest.raises(TypeError, match="no source here fetches str"):
            await stats.collect(arriving())


async def test_a_failing_listing_fails_the_collect_that_streams_it() -> None:
    """The caller's iterable failing is the caller's failure: it is raised, not swallowed."""
    config = SimulatorConfig(listing_behavior=Behavior.NOT_FOUND)
    async with Simulator(config) as simulator:
        async with LinkStats(sendgrid_source(simulator)) as stats:
            with pytest.raises(NotFoundError) as caught:
                await stats.collect(stats.discover())

    assert caught.value.target == Listing("sendgrid", "automations")
