"""Retries, rate limits, timeouts and typed errors: what is retried, what is not, and how often."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest
from conftest import expected, expected_sendgrid, paubox_source, sendgrid_source
from conftest import uuid_for as uid

from linkstats import (
    AuthenticationError,
    InvalidRequestError,
    LinkStats,
    LinkStatsError,
    NotFoundError,
    PauboxSend,
    PauboxSource,
    RateLimitError,
    ResponseFormatError,
    SendGridAutomation,
    SendGridSource,
    ServerError,
    TransportError,
)
from linkstats.testing import (
    Behavior,
    Faults,
    PauboxConfig,
    RateLimit,
    SendGridConfig,
    Simulator,
    SimulatorConfig,
)


class EventHandler(logging.Handler):
    """Sets an event when the library logs a retry: the moment a 429 has been handled."""

    def __init__(self, event: asyncio.Event) -> None:
        super().__init__()
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        self.event.set()


@pytest.fixture
def retry_logged() -> Iterator[asyncio.Event]:
    """An event set when the library logs its first retry."""
    event = asyncio.Event()
    logger = logging.getLogger("linkstats")
    handler = EventHandler(event)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield event
    logger.removeHandler(handler)
    logger.setLevel(level)


def scripted(**behaviors: Behavior) -> SimulatorConfig:
    return SimulatorConfig(behaviors={uid(int(key[1:])): value for key, value in behaviors.items()})


@pytest.mark.parametrize("behavior", [Behavior.FLAKY, Behavior.DROP_FIRST])
async def test_transient_failures_are_retried_until_success(behavior: Behavior) -> None:
    """503s and dropped connections are retried; the third request's records come back."""
    target = SendGridAutomation(uid(1))
    async with Simulator(scripted(n1=behavior)) as simulator:
        async with sendgrid_source(simulator, max_retries=2) as source:
            records = [click async for click in source.clicks(target)]
            assert source.stats.retries == 2

    assert records == expected_sendgrid(simulator.config, target)
    failed = None if behavior is Behavior.DROP_FIRST else 503
    assert [r.status for r in simulator.log.requests] == [failed, failed, 200]


async def test_connections_dropped_every_time_cost_exactly_one_plus_max_retries() -> None:
    """No hidden resends: a source's own session sends 1 + max_retries requests, then fails."""
    config = SimulatorConfig(behaviors={uid(1): Behavior.DROP_FIRST}, flaky_failures=10)
    async with Simulator(config) as simulator:
        async with sendgrid_source(simulator, max_retries=3) as source:
            with pytest.raises(TransportError):
                [click async for click in source.clicks(SendGridAutomation(uid(1)))]

    assert simulator.log.count() == 4


@pytest.mark.parametrize(
    ("behavior", "error_type", "status"),
    [(Behavior.SERVER_ERROR, ServerError, 500), (Behavior.UNAVAILABLE, ServerError, 503)],
)
async def test_persistent_server_errors_fail_after_every_retry(
    behavior: Behavior, error_type: type[LinkStatsError], status: int
) -> None:
    """A 5xx that does not go away: exactly 1 + max_retries requests, then ServerError."""
    target = PauboxSend(uid(1))
    async with Simulator(scripted(n1=behavior)) as simulator:
        async with paubox_source(simulator, max_retries=2) as source:
            with pytest.raises(error_type) as caught:
                [click async for click in source.clicks(target)]

    assert simulator.log.count() == 3
    assert caught.value.status == status
    assert caught.value.target == target
    assert caught.value.messages


@pytest.mark.parametrize(
    ("behavior", "error_type", "status"),
    [
        (Behavior.NOT_FOUND, NotFoundError, 404),
        (Behavior.FORBIDDEN, AuthenticationError, 403),
        (Behavior.MALFORMED_JSON, ResponseFormatError, 200),
        (Behavior.WRONG_SHAPE, ResponseFormatError, 200),
    ],
)
async def test_permanent_failures_are_never_retried(
    behavior: Behavior, error_type: type[LinkStatsError], status: int
) -> None:
    """404, 403 and malformed bodies fail on the first request, with the provider's words."""
    targets = [PauboxSend(uid(1)), SendGridAutomation(uid(1))]
    async with (
        Simulator(scripted(n1=behavior)) as simulator,
        LinkStats(
            paubox_source(simulator, max_retries=3), sendgrid_source(simulator, max_retries=3)
        ) as stats,
    ):
        result = await stats.collect(targets)

    assert simulator.log.count() == 2
    assert result.clicks == []
    for target in targets:
        error = result.errors[target]
        assert isinstance(error, LinkStatsError)
        assert type(error) is error_type
        assert error.status == status
        assert error.target == target
        assert error.messages or error_type is ResponseFormatError


async def test_wrong_key_is_an_authentication_error_with_the_providers_message(
    simulator: Simulator,
) -> None:
    """401 is never retried and says what the provider said."""
    source = SendGridSource(api_key="SG.wrong", base_url=simulator.sendgrid_base_url)
    async with source:
        with pytest.raises(AuthenticationError) as caught:
            [click async for click in source.clicks(SendGridAutomation(uid(1)))]

    assert caught.value.status == 401
    assert caught.value.messages == ("authorization required",)
    assert simulator.log.count() == 1


@pytest.mark.parametrize("shape", ["error", "errors_list", "errors_string"])
async def test_paubox_errors_are_read_in_every_shape(shape: str) -> None:
    """Paubox answers {error, code, details}, {errors: [...]} or {errors: "..."}."""
    async with Simulator(SimulatorConfig(paubox=PauboxConfig(error_shape=shape))) as simulator:  # type: ignore[arg-type]
        source = PauboxSource(username="demo", api_key="wrong", base_url=simulator.paubox_base_url)
        async with source:
            with pytest.raises(AuthenticationError) as caught:
                [click async for click in source.clicks(PauboxSend(uid(1)))]

    assert caught.value.status == 401
    assert len(caught.value.messages) >= 1
    assert all(message for message in caught.value.messages)


async def test_provider_validation_errors_are_invalid_request_errors(
    simulator: Simulator,
) -> None:
    """The provider's 422 for an order_by it does not know is not retried."""
    async with paubox_source(simulator) as source:
        with pytest.raises(InvalidRequestError) as caught:
            [click async for click in source.clicks(PauboxSend(uid(1), order_by="colour"))]

    assert caught.value.status == 422
    assert simulator.log.count() == 1


async def test_a_hanging_server_times_out_after_every_retry() -> None:
    """timeout is per attempt: 1 + max_retries attempts, then TransportError."""
    async with Simulator(scripted(n1=Behavior.HANG)) as simulator:
        async with paubox_source(simulator, timeout=0.2, max_retries=1) as source:
            started = time.monotonic()
            with pytest.raises(TransportError, match="timed out") as caught:
                [click async for click in source.clicks(PauboxSend(uid(1)))]
            elapsed = time.monotonic() - started

    assert simulator.log.count() == 2
    assert caught.value.status is None
    assert 0.4 <= elapsed < 2.0


async def test_cancelling_a_fetch_is_not_mistaken_for_a_timeout() -> None:
    """A caller's cancel during a request propagates at once: no retry, no TransportError."""
    async with Simulator(scripted(n1=Behavior.HANG)) as simulator:
        async with paubox_source(simulator, timeout=5, max_retries=3) as source:
            fetch = asyncio.create_task(anext(source.clicks(PauboxSend(uid(1)))))
            await simulator.log.wait_until(lambda log: log.in_flight == 1)
            fetch.cancel()
            with pytest.raises(asyncio.CancelledError):
                await fetch
        await simulator.log.wait_until(lambda log: log.in_flight == 0)

    assert simulator.log.count() == 1


async def test_a_refused_connection_is_a_transport_error() -> None:
    """Nothing listening: TransportError after the retries, never a raw aiohttp error."""
    async with Simulator() as simulator:
        base_url = simulator.sendgrid_base_url
    source = SendGridSource(api_key="SG.key", base_url=base_url, backoff=0, max_retries=1)
    async with source:
        with pytest.raises(TransportError) as caught:
            [click async for click in source.clicks(SendGridAutomation(uid(1)))]

    assert caught.value.provider == "sendgrid"
    assert source.stats.requests == 2


async def test_random_faults_are_ridden_out_without_losing_a_record() -> None:
    """With 5xx, drops and malformed bodies on a share of requests, retries get everything."""
    config = SimulatorConfig(faults=Faults(server_error_rate=0.2, drop_rate=0.1), seed=7)
    targets = [PauboxSend(uid(n, kind=1)) for n in range(20)] + [
        SendGridAutomation(uid(n, kind=2), page_size=4) for n in range(20)
    ]
    async with (
        Simulator(config) as simulator,
        LinkStats(
            paubox_source(simulator, max_retries=8), sendgrid_source(simulator, max_retries=8)
        ) as stats,
    ):
        result = await stats.collect(targets)

    assert result.errors == {}
    assert list(result.clicks) == [r for t in targets for r in expected(simulator.config, t)]
    failed = [r for r in simulator.log.requests if r.status != 200]
    assert failed, "the faults were not exercised"


async def test_a_429_pauses_every_request_of_the_source_until_the_reset(
    retry_logged: asyncio.Event,
) -> None:
    """After a 429 with X-RateLimit-Reset, other tasks of that source wait for the reset too."""
    limited = SendGridAutomation(uid(1))
    other = SendGridAutomation(uid(2))
    async with Simulator(scripted(n1=Behavior.RATE_LIMITED_FIRST)) as simulator:
        async with sendgrid_source(simulator) as source:

            async def fetch(target: SendGridAutomation) -> list[object]:
                return [click async for click in source.clicks(target)]

            first = asyncio.create_task(fetch(limited))
            async with asyncio.timeout(5):
                await retry_logged.wait()
            second = asyncio.create_task(fetch(other))
            from_limited, from_other = await asyncio.gather(first, second)

    assert from_limited == expected(simulator.config, limited)
    assert from_other == expected(simulator.config, other)
    refused, *rest = simulator.log.requests
    assert refused.status == 429
    assert [r.status for r in rest] == [200, 200]
    # The reset is at least one second ahead (epoch seconds, rounded up): nobody goes sooner.
    assert min(r.received_at for r in rest) - refused.received_at >= 0.9


async def test_rate_limit_error_after_retries_reports_the_requested_wait() -> None:
    """A window that stays exhausted: 1 + max_retries requests, then RateLimitError."""
    config = SimulatorConfig(sendgrid=SendGridConfig(rate_limit=RateLimit(limit=1, window=3600)))
    async with Simulator(config) as simulator:
        async with sendgrid_source(simulator, max_retries=2, max_rate_limit_wait=0.05) as source:
            first = [click async for click in source.clicks(SendGridAutomation(uid(1)))]
            with pytest.raises(RateLimitError) as caught:
                [click async for click in source.clicks(SendGridAutomation(uid(2)))]

    assert first == expected(simulator.config, SendGridAutomation(uid(1)))
    assert simulator.log.count() == 4
    assert [r.status for r in simulator.log.requests] == [200, 429, 429, 429]
    assert caught.value.messages == ("too many requests",)
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 1


async def test_a_spent_window_is_waited_out_before_the_next_request() -> None:
    """X-RateLimit-Remaining 0 pauses the source until the reset, so no 429 is provoked."""
    config = SimulatorConfig(sendgrid=SendGridConfig(rate_limit=RateLimit(limit=3, window=1.0)))
    target = SendGridAutomation(uid(1), page_size=1)
    async with Simulator(config) as simulator, sendgrid_source(simulator) as source:
        records = [click async for click in source.clicks(target)]

    assert records == expected(simulator.config, target)
    assert len(records) > 3
    assert [r.status for r in simulator.log.requests] == [200] * len(records)


async def test_concurrent_requests_share_the_window_budget() -> None:
    """Tasks count their requests against the window together, so 429s do not happen.

    (One could, if a request sent just before a window ends reaches the server after it.)
    """
    config = SimulatorConfig(sendgrid=SendGridConfig(rate_limit=RateLimit(limit=6, window=1.0)))
    targets = [SendGridAutomation(uid(n)) for n in range(14)]
    async with Simulator(config) as simulator:
        source = sendgrid_source(simulator)
        started = time.monotonic()
        async with LinkStats(source, concurrency=4) as stats:
            result = await stats.collect(targets)
        elapsed = time.monotonic() - started

    # Waiting is counted as wall time, however many tasks waited together.
    assert 0 < source.stats.rate_limit_wait < elapsed

    assert result.ok
    assert list(result.clicks) == [r for t in targets for r in expected(simulator.config, t)]
    statuses = [r.status for r in simulator.log.requests]
    assert statuses.count(200) == len(targets)
    assert statuses.count(429) <= 1


async def test_retries_are_logged_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    """Each retry is logged at INFO with the URL and the reason, never the credentials."""
    async with Simulator(scripted(n1=Behavior.FLAKY)) as simulator:
        with caplog.at_level(logging.DEBUG, logger="linkstats"):
            async with sendgrid_source(simulator, max_retries=2) as source:
                [click async for click in source.clicks(SendGridAutomation(uid(1)))]

    retries = [record for record in caplog.records if "retry" in record.getMessage()]
    assert len(retries) == 2
    assert all(record.levelno == logging.INFO for record in retries)
    assert not any("SG.demo-key" in record.getMessage() for record in caplog.records)


async def test_an_abandoned_stream_leaves_no_task_running() -> None:
    """Breaking out of clicks() and leaving async with cancels every fetch at once."""
    config = SimulatorConfig(faults=Faults(latency=0.05))
    targets = [PauboxSend(uid(n)) for n in range(30)]
    async with Simulator(config) as simulator:
        async with LinkStats(paubox_source(simulator), concurrency=4) as stats:
            async for _ in stats.clicks(targets):
                break
        assert not [t for t in asyncio.all_tasks() if "LinkStats" in repr(t.get_coro())]
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert simulator.log.count() < len(targets)
