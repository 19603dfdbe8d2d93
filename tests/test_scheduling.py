"""One request scheduler: slots per request, the provider's clock, retries of broken answers.

Against the simulator on loopback: a provider clock 30 s off ours, a reset an hour away, every
nesting of the facade's calls at ``concurrency=1``, answers that break HTTP, dropped
connections with an owned and a caller's session, deadlines, and errors whose every reachable
object is free of the key.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any, get_args

import aiohttp
import pytest
from conftest import expected, paubox_source, places_holding, sendgrid_source, uuid_for

from linkstats import (
    LinkStats,
    PauboxSend,
    RetryPolicy,
    SendGridAutomation,
    TransportError,
)
from linkstats.testing import (
    Behavior,
    BrokenResponse,
    PauboxConfig,
    RateLimit,
    SendGridConfig,
    Simulator,
    SimulatorConfig,
)

KEY = SendGridConfig().api_key


@pytest.mark.parametrize("offset", [30.0, -30.0, 0.0])
async def test_a_skewed_provider_clock_still_gets_the_whole_rate(offset: float) -> None:
    """Provider clock 30 s ahead or behind: every window is used in full, at most one 429."""
    limit = 20
    config = SimulatorConfig(
        sendgrid=SendGridConfig(rate_limit=RateLimit(limit=limit, window=1.0)), clock_offset=offset
    )
    targets = [SendGridAutomation(uuid_for(n)) for n in range(4 * limit)]
    async with Simulator(config) as simulator:
        source = sendgrid_source(simulator, max_rate_limit_wait=5.0)
        async with LinkStats(source, concurrency=8) as stats:
            async with asyncio.timeout(30):
                result = await stats.collect(targets)

    assert result.errors == {}
    assert result.clicks == [click for target in targets for click in expected(config, target)]
    requests = simulator.log.requests
    fetched = Counter(math.floor(r.provider_time) for r in requests if r.status == 200)
    refused = Counter(math.floor(r.provider_time) for r in requests if r.status == 429)
    # Four windows' worth of requests take four windows: the allowed rate, no less.
    assert sorted(fetched.values()) == [limit] * 4
    assert max(refused.values(), default=0) <= 1


async def test_a_far_reset_costs_one_capped_wait_not_one_per_request() -> None:
    """A 429 whose reset is an hour away waits the cap once; fresh windows rule after it."""
    target = SendGridAutomation(uuid_for(1), group_by_step=True, page_size=1)
    config = SimulatorConfig(
        sendgrid=SendGridConfig(steps_per_automation=(3, 3), links_per_step=(4, 4)),
        behaviors={target.automation_id: Behavior.FAR_RESET_FIRST},
    )
    async with Simulator(config) as simulator:
        source = sendgrid_source(simulator, max_rate_limit_wait=1.0)
        async with source:
            async with asyncio.timeout(10):
                records = [click async for click in source.clicks(target)]

    assert records == expected(config, target)
    assert len(records) >= 6
    assert [r.status for r in simulator.log.requests] == [429] + [200] * len(records)
    # One pause of the cap; the pages after it go without waiting for it again.
    assert 0.9 <= source.stats.rate_limit_wait < 1.5


def nested(outer: str, inner: str) -> Callable[[LinkStats], Any]:
    """A coroutine function running ``inner`` inside the loop of ``outer``."""

    async def run_inner(stats: LinkStats, targets: list[Any]) -> Any:
        if inner == "discover":
            return [campaign.target async for campaign in stats.discover()]
        if inner == "clicks":
            return [click async for click in stats.clicks(targets)]
        if inner == "results":
            return [result.clicks async for result in stats.results(targets)]
        return (await stats.collect(targets)).clicks

    async def run(stats: LinkStats) -> list[Any]:
        sends = [PauboxSend(uuid_for(1)), PauboxSend(uuid_for(2))]
        if outer == "discover":
            return [
                (campaign.target, await run_inner(stats, [campaign.target]))
                async for campaign in stats.discover()
            ]
        if outer == "clicks":
            automation = SendGridAutomation(uuid_for(3))
            return [
                (click, await run_inner(stats, [automation])) async for click in stats.clicks(sends)
            ]
        return [
            (result.target, await run_inner(stats, [result.target]))
            async for result in stats.results(sends)
        ]

    return run


@pytest.mark.parametrize("inner", ["discover", "clicks", "results", "collect"])
@pytest.mark.parametrize("outer", ["discover", "clicks", "results"])
async def test_every_nesting_of_the_facade_finishes_at_concurrency_one(
    outer: str, inner: str
) -> None:
    """A call inside another's loop gets slots: none is held across a yield or a queue."""
    config = SimulatorConfig(
        paubox=PauboxConfig(send_ids=(uuid_for(1), uuid_for(2))),
        sendgrid=SendGridConfig(automation_ids=(), single_send_ids=()),
    )
    async with Simulator(config) as simulator:
        async with LinkStats(
            paubox_source(simulator), sendgrid_source(simulator), concurrency=1
        ) as stats:
            async with asyncio.timeout(20):
                seen = await nested(outer, inner)(stats)
            assert simulator.log.max_in_flight == 1

    listed = [PauboxSend(send_id) for send_id in config.paubox.send_ids or ()]

    def fetched(targets: list[Any]) -> Any:
        if inner == "discover":
            return listed
        records = [click for target in targets for click in expected(config, target)]
        if inner == "results":
            return [expected(config, target) for target in targets]
        return records

    automation = SendGridAutomation(uuid_for(3))
    if outer == "clicks":
        outer_records = [c for t in listed for c in expected(config, t)]
        assert [click for click, _ in seen] == outer_records
        assert all(inner_seen == fetched([automation]) for _, inner_seen in seen)
    else:
        assert sorted((target for target, _ in seen), key=repr) == sorted(listed, key=repr)
        assert all(inner_seen == fetched([target]) for target, inner_seen in seen)


@pytest.mark.parametrize("broken", get_args(BrokenResponse))
async def test_an_answer_that_breaks_http_is_retried(broken: BrokenResponse) -> None:
    """A broken status line, length, header or chunk is a transport failure worth a retry."""
    target = SendGridAutomation(uuid_for(1))
    config = SimulatorConfig(
        behaviors={target.automation_id: Behavior.BROKEN_FIRST},
        broken_response=broken,
        flaky_failures=1,
    )
    async with Simulator(config) as simulator:
        async with sendgrid_source(simulator, max_retries=1) as source:
            records = [click async for click in source.clicks(target)]

    assert records == expected(config, target)
    assert [r.status for r in simulator.log.requests] == [None, 200]


@pytest.mark.parametrize("broken", ["status_line", "chunk_size", "short_body"])
async def test_an_answer_broken_every_time_fails_as_malformed_without_the_key(
    broken: BrokenResponse,
) -> None:
    """After every retry: a TransportError saying "malformed", with nothing holding the key."""
    target = SendGridAutomation(uuid_for(1))
    config = SimulatorConfig(
        behaviors={target.automation_id: Behavior.BROKEN_FIRST},
        broken_response=broken,
        flaky_failures=10,
    )
    async with Simulator(config) as simulator:
        async with LinkStats(sendgrid_source(simulator, max_retries=2)) as stats:
            result = await stats.collect([target])

    error = result.errors[target]
    assert type(error) is TransportError
    assert error.failure == "malformed"
    assert error.target == target
    assert simulator.log.count() == 3
    assert not list(places_holding(KEY, error))


async def every_kind_of_failure() -> list[BaseException]:
    behaviors = {
        uuid_for(1): Behavior.BROKEN_FIRST,
        uuid_for(2): Behavior.DROP_FIRST,
        uuid_for(3): Behavior.NOT_FOUND,
        uuid_for(4): Behavior.MALFORMED_JSON,
        uuid_for(5): Behavior.UNAVAILABLE,
        uuid_for(6): Behavior.FOREIGN_NEXT,
        uuid_for(7): Behavior.REDIRECT,
        uuid_for(8): Behavior.HANG,
    }
    config = SimulatorConfig(behaviors=behaviors, flaky_failures=10)
    targets = [SendGridAutomation(automation_id, page_size=1) for automation_id in behaviors]
    async with Simulator(config) as simulator:
        source = sendgrid_source(simulator, max_retries=1, timeout=0.3)
        async with LinkStats(source) as stats:
            result = await stats.collect(targets)
    assert set(result.errors) == set(targets)
    return list(result.errors.values())


async def test_no_object_reachable_from_any_error_holds_the_key() -> None:
    """Broken answers, drops, timeouts, statuses, bad bodies, foreign links and redirects."""
    errors = await every_kind_of_failure()

    assert [place for error in errors for place in places_holding(KEY, error)] == []
    assert {getattr(error, "failure", None) for error in errors} >= {
        "malformed",
        "connection",
        "timeout",
    }


@pytest.fixture
async def callers_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"X-Caller": "yes"}) as session:
        yield session


@pytest.mark.parametrize("given", [False, True])
async def test_a_dropping_server_sees_one_plus_max_retries_requests(
    callers_session: aiohttp.ClientSession, given: bool
) -> None:
    """No hidden resends, with a session of the source's own or the caller's."""
    config = SimulatorConfig(behaviors={uuid_for(1): Behavior.DROP_FIRST}, flaky_failures=10)
    session = callers_session if given else None
    async with Simulator(config) as simulator:
        # A first, good request leaves a connection in the pool for the next to reuse.
        async with sendgrid_source(simulator, max_retries=3, session=session) as source:
            [click async for click in source.clicks(SendGridAutomation(uuid_for(2)))]
            simulator.log.clear()
            with pytest.raises(TransportError) as caught:
                [click async for click in source.clicks(SendGridAutomation(uuid_for(1)))]

    assert simulator.log.count() == 4
    assert caught.value.failure == "connection"
    assert not callers_session.closed


async def test_a_callers_session_lends_its_settings_and_stays_as_it_was(
    callers_session: aiohttp.ClientSession,
) -> None:
    """Its headers go with each request; afterwards it is open and unchanged."""
    target = SendGridAutomation(uuid_for(1))
    before = dict(vars(callers_session)) if hasattr(callers_session, "__dict__") else None
    async with Simulator() as simulator:
        async with sendgrid_source(simulator, session=callers_session) as source:
            records = [click async for click in source.clicks(target)]
        async with callers_session.get(simulator.url / "v3/marketing/stats/automations") as raw:
            status = raw.status

    assert records == expected(simulator.config, target)
    assert simulator.log.requests[0].headers["X-Caller"] == "yes"
    assert status == 401  # the caller's own request, still served, without our key
    assert not callers_session.closed
    if before is not None:
        assert dict(vars(callers_session)) == before


async def test_a_closed_callers_session_is_a_transport_error_for_the_target() -> None:
    """Not a bare RuntimeError: a LinkStatsError that names its target."""
    session = aiohttp.ClientSession()
    await session.close()
    target = SendGridAutomation(uuid_for(1))
    async with Simulator() as simulator:
        async with LinkStats(sendgrid_source(simulator, session=session)) as stats:
            result = await stats.collect([target])

    error = result.errors[target]
    assert type(error) is TransportError
    assert error.failure == "closed"
    assert error.target == target
    assert simulator.log.count() == 0


async def test_a_targets_deadline_bounds_every_attempt_and_wait() -> None:
    """With no per-attempt timeout, the target's deadline still ends a hanging fetch."""
    target = SendGridAutomation(uuid_for(1))
    config = SimulatorConfig(behaviors={target.automation_id: Behavior.HANG})
    async with Simulator(config) as simulator:
        source = sendgrid_source(
            simulator, timeout=None, retry=RetryPolicy(max_retries=5, deadline=0.3)
        )
        async with LinkStats(source) as stats:
            async with asyncio.timeout(5):
                result = await stats.collect([target])

    error = result.errors[target]
    assert type(error) is TransportError
    assert error.failure == "timeout"
    # The first attempt used the whole deadline: no retry could end before it.
    assert simulator.log.count() == 1


async def test_the_retry_policy_is_one_argument_the_keywords_refine() -> None:
    """``retry=`` gives the policy; ``max_retries=`` and friends override its fields."""
    async with Simulator() as simulator:
        policy = RetryPolicy(max_retries=7, max_backoff=2.0)
        source = sendgrid_source(simulator, retry=policy, max_retries=1)

    assert source.retry == RetryPolicy(max_retries=1, max_backoff=2.0, backoff=0)
