"""Credentials stay in per-request headers, on the configured origin, out of every message."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from conftest import paubox_source, places_holding, sendgrid_source, serving, uuid_for

from linkstats import (
    AuthenticationError,
    LinkClick,
    LinkStats,
    LinkStatsError,
    Page,
    PaginationError,
    PauboxSend,
    Response,
    ResponseFormatError,
    SendGridAutomation,
    SendGridSource,
    TransportError,
    UnexpectedStatusError,
)
from linkstats.testing import Behavior, Simulator, SimulatorConfig

AUTOMATION = SendGridAutomation(uuid_for(1), page_size=2)


@pytest.fixture
async def foreign() -> AsyncIterator[Simulator]:
    """A second server on another port: a different origin that must never hear from us."""
    async with Simulator() as running:
        yield running


def pointing_at(foreign: Simulator, behavior: Behavior) -> SimulatorConfig:
    return SimulatorConfig(
        behaviors={AUTOMATION.automation_id: behavior, uuid_for(1, kind=1): behavior},
        foreign_url=str(foreign.url),
    )


async def test_a_next_link_to_another_origin_is_refused_unsent(foreign: Simulator) -> None:
    """A _metadata.next on another host or port fails the target; nothing goes there."""
    async with Simulator(pointing_at(foreign, Behavior.FOREIGN_NEXT)) as simulator:
        async with LinkStats(sendgrid_source(simulator)) as stats:
            result = await stats.collect([AUTOMATION])

    error = result.errors[AUTOMATION]
    assert type(error) is PaginationError
    assert str(foreign.url.origin()) in str(error)
    assert result.clicks == []
    assert simulator.log.count() == 1
    assert foreign.log.count() == 0


async def test_a_redirect_is_not_followed(foreign: Simulator) -> None:
    """A 302 elsewhere is an error for that target, and the key does not travel with it."""
    paubox_target = PauboxSend(uuid_for(1, kind=1))
    async with Simulator(pointing_at(foreign, Behavior.REDIRECT)) as simulator:
        async with LinkStats(paubox_source(simulator), sendgrid_source(simulator)) as stats:
            result = await stats.collect([AUTOMATION, paubox_target])

    for target in (AUTOMATION, paubox_target):
        error = result.errors[target]
        assert type(error) is UnexpectedStatusError
        assert error.status == 302
        assert "not followed" in str(error)
    assert simulator.log.count() == 2
    assert foreign.log.count() == 0


async def test_a_next_link_that_repeats_a_page_ends_the_target() -> None:
    """A next link back to a page already fetched is an error, not an endless loop."""
    config = SimulatorConfig(behaviors={AUTOMATION.automation_id: Behavior.LOOPING_NEXT})
    async with Simulator(config) as simulator, sendgrid_source(simulator) as source:
        with pytest.raises(PaginationError, match="repeats a page") as caught:
            [click async for click in source.clicks(AUTOMATION)]

    assert caught.value.target == AUTOMATION
    assert simulator.log.count() == 2


async def test_the_key_travels_only_in_the_authorization_header(simulator: Simulator) -> None:
    """Not in the path, not in the query, only in the header the provider documents."""
    key = simulator.config.sendgrid.api_key
    async with sendgrid_source(simulator) as source:
        [click async for click in source.clicks(AUTOMATION)]

    for request in simulator.log.requests:
        assert key not in request.path
        assert all(key not in value for _, value in request.query)
        assert [name for name, value in request.headers.items() if key in value] == [
            "Authorization"
        ]


async def test_the_key_is_in_no_repr_str_log_or_error(
    foreign: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Sources, facade, results, errors and their causes, log lines: no key anywhere."""
    config = SimulatorConfig(
        behaviors={
            uuid_for(1): Behavior.FOREIGN_NEXT,
            uuid_for(2): Behavior.NOT_FOUND,
            uuid_for(3): Behavior.UNAVAILABLE,
            uuid_for(4): Behavior.MALFORMED_JSON,
            uuid_for(5): Behavior.HANG,
        },
        foreign_url=str(foreign.url),
    )
    targets = [SendGridAutomation(uuid_for(n)) for n in range(1, 7)] + [
        PauboxSend(uuid_for(n)) for n in range(1, 7)
    ]
    async with Simulator(config) as simulator:
        paubox = paubox_source(simulator, max_retries=1, timeout=0.2)
        sendgrid = sendgrid_source(simulator, max_retries=1, timeout=0.2)
        with caplog.at_level(logging.DEBUG):
            async with LinkStats(paubox, sendgrid) as stats:
                result = await stats.collect(targets)
                texts = [repr(paubox), str(paubox), repr(sendgrid), repr(stats), repr(result)]

    keys = (config.paubox.api_key, config.sendgrid.api_key)
    assert {type(error) for error in result.errors.values()} >= {PaginationError, TransportError}
    for error in result.errors.values():
        assert isinstance(error, LinkStatsError)
        assert [place for key in keys for place in places_holding(key, error)] == []
    texts += [record.getMessage() for record in caplog.records]
    assert not [text for text in texts for key in keys if key in text]


@pytest.fixture
async def echoing() -> AsyncIterator[str]:
    """A server that echoes the request's authorization into every error it answers.

    The first automation's links answer 401 with the header in the messages, field, id and
    code; any other path answers 200 with it where a URL should be a string.
    """

    async def answer(request: web.Request) -> web.Response:
        echoed = request.headers.get("Authorization", "")
        if uuid_for(1) in request.path:
            body = {
                "errors": [{"field": echoed, "message": f"key {echoed} refused"}],
                "id": echoed,
                "code": echoed,
            }
            return web.json_response(body, status=401)
        return web.json_response({"results": [{"url": [echoed], "clicks": 1}]})

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    async with serving(app) as origin:
        yield origin


class GroupingSendGridSource(SendGridSource):
    """A provider whose decoder reports the wrong values it met, quoted, in an ExceptionGroup."""

    def parse_page(self, target: Any, response: Response) -> Page[LinkClick]:
        url = orjson.loads(response.body)["results"][0]["url"]
        raise ExceptionGroup("while structuring the page", [TypeError(f"url: {url!r}")])


async def test_a_key_quoted_by_a_grouped_decoder_error_is_not_kept(echoing: str) -> None:
    key = "SG.echoed-key-0123456789"
    target = SendGridAutomation(uuid_for(2))
    async with LinkStats(GroupingSendGridSource(api_key=key, base_url=echoing)) as stats:
        result = await stats.collect([target])

    assert type(result.errors[target]) is ResponseFormatError
    assert list(places_holding(key, result.errors[target])) == []


async def test_a_key_a_server_echoes_is_cut_out_of_every_error(echoing: str) -> None:
    """Messages, field, id, code, excerpt, summary and causes: no key, even when echoed."""
    key = "SG.echoed-key-0123456789"
    refused = SendGridAutomation(uuid_for(1))
    malformed = SendGridAutomation(uuid_for(2))
    async with LinkStats(SendGridSource(api_key=key, base_url=echoing)) as stats:
        result = await stats.collect([refused, malformed])

    assert type(result.errors[refused]) is AuthenticationError
    assert type(result.errors[malformed]) is ResponseFormatError
    assert [place for error in result.errors.values() for place in places_holding(key, error)] == []
    assert "[redacted]" in (result.errors[refused].body_excerpt or "")
