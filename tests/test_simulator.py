"""The simulator's provider-free core at the wire level: rate windows, scripted behaviours,
faults, determinism, the request log and the configuration, across both providers.
"""

import asyncio
import base64
import email.utils
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import aiohttp
import pytest
from simulator_http import (
    AUTOMATION_ID,
    ENDLESS_WINDOW,
    OTHER_ID,
    PAUBOX_AUTH,
    RATE_LIMIT_HEADERS,
    SEND_ID,
    SENDGRID_AUTH,
    SINGLE_SEND_ID,
    automation_links_url,
    automations_url,
    get,
    get_paubox,
    get_sendgrid,
    sends_table_url,
    single_send_links_url,
    single_sends_url,
    tracking_links_url,
)
from yarl import URL

from linkstats.testing import (
    SIMULATOR_STATE,
    Behavior,
    BrokenResponse,
    Faults,
    PauboxConfig,
    RateLimit,
    SendGridConfig,
    Simulator,
    SimulatorConfig,
    make_app,
    paubox_sends_table,
    paubox_tracking_links,
    paubox_tracking_links_by_unique_link,
    sendgrid_automation_ids,
    sendgrid_automation_links,
    sendgrid_automation_list,
    sendgrid_automation_steps,
    sendgrid_single_send_links,
    sendgrid_single_send_list,
    sendgrid_single_send_variations,
)

# Rate limits


async def test_rate_limit_answers_429_past_the_window_budget(
    session: aiohttp.ClientSession,
) -> None:
    """Over the limit: 429 `{"errors":[{"field":null,"message":"too many requests"}]}`."""
    limit = RateLimit(limit=2, window=ENDLESS_WINDOW, retry_after=True)
    async with Simulator(SimulatorConfig(sendgrid=SendGridConfig(rate_limit=limit))) as sim:
        first = await get_sendgrid(session, sim)
        second = await get_sendgrid(session, sim)
        before = time.time()
        refused = await get_sendgrid(session, sim)
        after = time.time()
        other_key = await get_sendgrid(session, sim, headers={"Authorization": "Bearer SG.other"})
    assert [first.status, second.status, refused.status] == [200, 200, 429]
    assert refused.json() == {"errors": [{"field": None, "message": "too many requests"}]}
    assert [answer.headers["X-RateLimit-Remaining"] for answer in (first, second, refused)] == [
        "1",
        "0",
        "0",
    ]
    for answer in (first, second, refused):
        assert answer.headers["X-RateLimit-Limit"] == "2"
        assert answer.headers["X-RateLimit-Reset"] == "2000000000"
    assert "Retry-After" not in second.headers
    retry_after = int(refused.headers["Retry-After"])
    assert math.ceil(2e9 - after) <= retry_after <= math.ceil(2e9 - before)
    # Counted per API key: another key has a budget of its own.
    assert other_key.status == 401
    assert other_key.headers["X-RateLimit-Remaining"] == "1"


async def test_paubox_rate_limit_is_counted_apart_from_sendgrid(
    session: aiohttp.ClientSession,
) -> None:
    """Each provider has its own windows; Paubox answers 429 in its own error shape."""
    limit = RateLimit(limit=1, window=ENDLESS_WINDOW)
    async with Simulator(
        SimulatorConfig(
            paubox=PauboxConfig(rate_limit=limit), sendgrid=SendGridConfig(rate_limit=limit)
        )
    ) as sim:
        paubox = [await get_paubox(session, sim) for _ in range(2)]
        sendgrid = await get_sendgrid(session, sim)
    assert [answer.status for answer in paubox] == [200, 429]
    assert paubox[1].json() == {
        "error": "too many requests",
        "code": "too_many_requests",
        "details": {},
    }
    assert "Retry-After" not in paubox[1].headers
    assert sendgrid.status == 200
    assert sendgrid.headers["X-RateLimit-Remaining"] == "0"


async def test_paubox_sends_no_rate_limit_headers_unless_given_a_limit(
    session: aiohttp.ClientSession,
) -> None:
    """Paubox documents no rate limits, so its answers carry no X-RateLimit-* by default."""
    async with Simulator() as sim:
        answer = await get_paubox(session, sim)
    assert answer.status == 200
    assert not any(name in answer.headers for name in RATE_LIMIT_HEADERS)


# Scripted behaviours


@pytest.mark.parametrize(
    ("behavior", "status", "reason"),
    [
        (Behavior.NOT_FOUND, 404, "not found"),
        (Behavior.FORBIDDEN, 403, "forbidden"),
        (Behavior.SERVER_ERROR, 500, "internal server error"),
        (Behavior.UNAVAILABLE, 503, "service unavailable"),
    ],
)
async def test_fixed_status_behaviours_answer_every_time_in_provider_shape(
    session: aiohttp.ClientSession, behavior: Behavior, status: int, reason: str
) -> None:
    """NOT_FOUND, FORBIDDEN, SERVER_ERROR and UNAVAILABLE never relent."""
    config = SimulatorConfig(behaviors={SEND_ID: behavior, AUTOMATION_ID: behavior})
    async with Simulator(config) as sim:
        paubox = [await get_paubox(session, sim) for _ in range(3)]
        sendgrid = [await get_sendgrid(session, sim) for _ in range(3)]
    for answer in paubox:
        assert answer.status == status
        assert answer.json() == {"error": reason, "code": reason.replace(" ", "_"), "details": {}}
    for answer in sendgrid:
        assert answer.status == status
        body = answer.json()
        assert body == {"errors": [{"field": None, "message": reason}], "id": body["id"]}


async def test_behaviours_are_keyed_by_id_case_insensitively(
    session: aiohttp.ClientSession,
) -> None:
    """UUIDs compare case-insensitively, so an upper-case id or key is the same id."""
    config = SimulatorConfig(behaviors={SEND_ID.upper(): Behavior.NOT_FOUND})
    async with Simulator(config) as sim:
        answer = await get_paubox(session, sim)
        upper = await get_paubox(session, sim, {"campaign_mailing_send_id": SEND_ID.upper()})
    assert answer.status == upper.status == 404


async def test_malformed_json_behaviour_sends_a_body_that_is_not_json(
    session: aiohttp.ClientSession,
) -> None:
    """MALFORMED_JSON: 200 with a JSON content type whose body does not parse."""
    config = SimulatorConfig(behaviors={SEND_ID: Behavior.MALFORMED_JSON})
    async with Simulator(config) as sim:
        answer = await get_paubox(session, sim)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        answer.json()


async def test_wrong_shape_behaviour_sends_json_of_another_shape(
    session: aiohttp.ClientSession,
) -> None:
    """WRONG_SHAPE: 200 with valid JSON that is not the documented object."""
    config = SimulatorConfig(behaviors={AUTOMATION_ID: Behavior.WRONG_SHAPE})
    async with Simulator(config) as sim:
        answer = await get_sendgrid(session, sim)
    assert answer.status == 200
    assert isinstance(answer.json(), list)


async def test_flaky_behaviour_fails_the_first_requests_then_recovers(
    session: aiohttp.ClientSession,
) -> None:
    """FLAKY: 503 for the first `flaky_failures` requests for the id, then normal."""
    config = SimulatorConfig(behaviors={AUTOMATION_ID: Behavior.FLAKY}, flaky_failures=2)
    async with Simulator(config) as sim:
        other = await get_sendgrid(session, sim, automation_id=OTHER_ID)
        statuses = [(await get_sendgrid(session, sim)).status for _ in range(4)]
    assert other.status == 200
    assert statuses == [503, 503, 200, 200]


async def test_drop_first_behaviour_closes_the_connection_then_recovers(
    session: aiohttp.ClientSession,
) -> None:
    """DROP_FIRST: the first `flaky_failures` requests get no answer, then normal."""
    config = SimulatorConfig(behaviors={SEND_ID: Behavior.DROP_FIRST}, flaky_failures=2)
    async with Simulator(config) as sim:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await get_paubox(session, sim)
        answer = await get_paubox(session, sim)
        statuses = [record.status for record in sim.log.requests]
    assert answer.status == 200
    # aiohttp itself resends an idempotent request once after a disconnect (RFC 9112,
    # "Retrying Requests"), so one failed call used up both drops.
    assert statuses == [None, None, 200]


async def test_rate_limited_first_behaviour_asks_to_wait_a_second_once(
    session: aiohttp.ClientSession,
) -> None:
    """RATE_LIMITED_FIRST: one 429 with Remaining 0 and Reset one second ahead, then normal."""
    config = SimulatorConfig(
        sendgrid=SendGridConfig(
            rate_limit=RateLimit(limit=100, window=ENDLESS_WINDOW, retry_after=True)
        ),
        behaviors={AUTOMATION_ID: Behavior.RATE_LIMITED_FIRST},
    )
    async with Simulator(config) as sim:
        before = time.time()
        refused = await get_sendgrid(session, sim)
        after = time.time()
        answer = await get_sendgrid(session, sim)
    assert refused.status == 429
    assert refused.json() == {"errors": [{"field": None, "message": "too many requests"}]}
    assert refused.headers["X-RateLimit-Limit"] == "100"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    reset = int(refused.headers["X-RateLimit-Reset"])
    assert math.ceil(before + 1) <= reset <= math.ceil(after + 1)
    assert refused.headers["Retry-After"] == "1"
    assert answer.status == 200
    assert answer.headers["X-RateLimit-Remaining"] == "98"


async def test_foreign_next_behaviour_points_page_one_at_the_foreign_origin(
    session: aiohttp.ClientSession,
) -> None:
    """FOREIGN_NEXT: page 1's next is `foreign_url` with the same path and query."""
    config = SimulatorConfig(
        behaviors={AUTOMATION_ID: Behavior.FOREIGN_NEXT}, foreign_url="http://127.0.0.2:9"
    )
    async with Simulator(config) as sim:
        page_1 = (await get_sendgrid(session, sim, {"page_size": "2"})).json()
        next_url = URL(page_1["_metadata"]["next"])
        # The same path and query on the simulator is the genuine page 2.
        page_2 = (
            await get(session, sim.url.join(next_url.relative()), headers=SENDGRID_AUTH)
        ).json()
    assert str(next_url.origin()) == "http://127.0.0.2:9"
    assert page_2["_metadata"]["prev"] == page_1["_metadata"]["self"]


async def test_looping_next_behaviour_points_page_two_back_at_page_one(
    session: aiohttp.ClientSession,
) -> None:
    """LOOPING_NEXT: page 2's next is page 1's URL; a lone page 1 points at itself."""
    config = SimulatorConfig(behaviors={AUTOMATION_ID: Behavior.LOOPING_NEXT})
    async with Simulator(config) as sim:
        page_1 = (await get_sendgrid(session, sim, {"page_size": "2"})).json()
        page_2 = (await get(session, page_1["_metadata"]["next"], headers=SENDGRID_AUTH)).json()
        lone = (await get_sendgrid(session, sim, {"page_size": "50"})).json()
    assert page_2["_metadata"]["next"] == page_1["_metadata"]["self"]
    assert lone["_metadata"]["count"] <= 50
    assert lone["_metadata"]["next"] == lone["_metadata"]["self"]


async def test_redirect_behaviour_sends_the_client_to_the_foreign_origin(
    session: aiohttp.ClientSession,
) -> None:
    """REDIRECT: 302 with Location on `foreign_url`, same path and query."""
    config = SimulatorConfig(
        behaviors={SEND_ID: Behavior.REDIRECT}, foreign_url="https://elsewhere.example:8443"
    )
    async with Simulator(config) as sim:
        answer = await get(
            session,
            tracking_links_url(sim),
            params={"campaign_mailing_send_id": SEND_ID, "order": "asc"},
            headers=PAUBOX_AUTH,
            allow_redirects=False,
        )
    assert answer.status == 302
    assert answer.headers["Location"] == (
        "https://elsewhere.example:8443/v1/orca/demo/tracking_links"
        f"?campaign_mailing_send_id={SEND_ID}&order=asc"
    )


async def test_hang_behaviour_waits_until_the_client_leaves(
    session: aiohttp.ClientSession,
) -> None:
    """HANG: no answer ever; the handler ends as soon as the client gives up."""
    config = SimulatorConfig(behaviors={SEND_ID: Behavior.HANG})
    async with Simulator(config) as sim:
        request = asyncio.create_task(get_paubox(session, sim))
        await sim.log.wait_until(lambda log: log.in_flight == 1)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        await sim.log.wait_until(lambda log: log.in_flight == 0)
        assert [record.status for record in sim.log.requests] == [None]


async def test_hanging_requests_end_when_the_simulator_stops(
    session: aiohttp.ClientSession,
) -> None:
    """Leaving the `async with` block ends hanging handlers: nothing is left behind."""
    config = SimulatorConfig(behaviors={SEND_ID: Behavior.HANG})
    async with Simulator(config) as sim:
        request = asyncio.create_task(get_paubox(session, sim))
        await sim.log.wait_until(lambda log: log.in_flight == 1)
    with pytest.raises(aiohttp.ClientConnectionError):
        await request
    assert sim.log.in_flight == 0
    assert asyncio.all_tasks() == {asyncio.current_task()}


# Scripted behaviours: single-send links and the listings


# Each behaviour that answers, the statuses of three requests, and the first one's message.
ANSWERING_BEHAVIOURS = [
    (Behavior.NOT_FOUND, [404, 404, 404], "not found"),
    (Behavior.FORBIDDEN, [403, 403, 403], "forbidden"),
    (Behavior.SERVER_ERROR, [500, 500, 500], "internal server error"),
    (Behavior.UNAVAILABLE, [503, 503, 503], "service unavailable"),
    (Behavior.FLAKY, [503, 503, 200], "service unavailable"),
    (Behavior.RATE_LIMITED_FIRST, [429, 200, 200], "too many requests"),
]


@pytest.mark.parametrize(
    ("behavior", "statuses", "message"),
    [*ANSWERING_BEHAVIOURS, (Behavior.REDIRECT, [302, 302, 302], None)],
)
async def test_single_send_links_meet_their_ids_behaviour(
    session: aiohttp.ClientSession, behavior: Behavior, statuses: list[int], message: str | None
) -> None:
    """Behaviours keyed by a single send id apply to its links as to an automation's."""
    config = SimulatorConfig(behaviors={SINGLE_SEND_ID: behavior}, flaky_failures=2)
    async with Simulator(config) as sim:
        answers = [
            await get(
                session, single_send_links_url(sim), headers=SENDGRID_AUTH, allow_redirects=False
            )
            for _ in range(3)
        ]
        other = await get(session, single_send_links_url(sim, OTHER_ID), headers=SENDGRID_AUTH)
    assert [answer.status for answer in answers] == statuses
    assert other.status == 200
    if message is None:
        assert answers[0].headers["Location"] == (
            f"http://127.0.0.2:9/v3/marketing/stats/singlesends/{SINGLE_SEND_ID}/links"
        )
    else:
        assert answers[0].json()["errors"] == [{"field": None, "message": message}]


@pytest.mark.parametrize("behavior", [Behavior.MALFORMED_JSON, Behavior.WRONG_SHAPE])
async def test_single_send_links_can_be_scripted_to_break_their_body(
    session: aiohttp.ClientSession, behavior: Behavior
) -> None:
    """MALFORMED_JSON sends JSON cut short, WRONG_SHAPE a JSON array, both with status 200."""
    config = SimulatorConfig(behaviors={SINGLE_SEND_ID: behavior})
    async with Simulator(config) as sim:
        answer = await get(session, single_send_links_url(sim), headers=SENDGRID_AUTH)
    assert answer.status == 200
    if behavior is Behavior.MALFORMED_JSON:
        with pytest.raises(json.JSONDecodeError):
            answer.json()
    else:
        assert isinstance(answer.json(), list)


async def test_single_send_links_next_links_can_point_abroad_or_back(
    session: aiohttp.ClientSession,
) -> None:
    """FOREIGN_NEXT points page 1 at `foreign_url`; LOOPING_NEXT points page 2 back at page 1."""
    looping = "00000000-0000-4000-8000-000000000002"
    config = SimulatorConfig(
        behaviors={SINGLE_SEND_ID: Behavior.FOREIGN_NEXT, looping: Behavior.LOOPING_NEXT}
    )
    async with Simulator(config) as sim:
        foreign = await get(
            session, single_send_links_url(sim), params={"page_size": "2"}, headers=SENDGRID_AUTH
        )
        page_1 = (
            await get(
                session,
                single_send_links_url(sim, looping),
                params={"page_size": "2"},
                headers=SENDGRID_AUTH,
            )
        ).json()
        page_2 = (await get(session, page_1["_metadata"]["next"], headers=SENDGRID_AUTH)).json()
    assert str(URL(foreign.json()["_metadata"]["next"]).origin()) == "http://127.0.0.2:9"
    assert page_2["_metadata"]["next"] == page_1["_metadata"]["self"]


async def test_single_send_links_can_drop_or_hang(session: aiohttp.ClientSession) -> None:
    """DROP_FIRST closes the first connections unanswered; HANG never answers."""
    hanging = "00000000-0000-4000-8000-000000000002"
    config = SimulatorConfig(
        behaviors={SINGLE_SEND_ID: Behavior.DROP_FIRST, hanging: Behavior.HANG}, flaky_failures=2
    )
    async with Simulator(config) as sim:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await get(session, single_send_links_url(sim), headers=SENDGRID_AUTH)
        answer = await get(session, single_send_links_url(sim), headers=SENDGRID_AUTH)
        request = asyncio.create_task(
            get(session, single_send_links_url(sim, hanging), headers=SENDGRID_AUTH)
        )
        await sim.log.wait_until(lambda log: log.in_flight == 1)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        await sim.log.wait_until(lambda log: log.in_flight == 0)
        statuses = [record.status for record in sim.log.requests]
    assert answer.status == 200
    assert statuses == [None, None, 200, None]


# The three listings: SendGrid's automations and single sends, Paubox's sends table.
LISTINGS = ["automations", "singlesends", "sends_table"]


def listing_url(sim: Simulator, listing: str) -> URL:
    if listing == "sends_table":
        return sends_table_url(sim)
    return sim.sendgrid_base_url / "v3/marketing/stats" / listing


def listing_auth(listing: str) -> Mapping[str, str]:
    return PAUBOX_AUTH if listing == "sends_table" else SENDGRID_AUTH


@pytest.mark.parametrize("listing", LISTINGS)
@pytest.mark.parametrize(("behavior", "statuses", "message"), ANSWERING_BEHAVIOURS)
async def test_listing_behavior_makes_the_listings_fail(
    session: aiohttp.ClientSession,
    listing: str,
    behavior: Behavior,
    statuses: list[int],
    message: str,
) -> None:
    """`listing_behavior` scripts the listings, each counting its own requests."""
    config = SimulatorConfig(listing_behavior=behavior, flaky_failures=2)
    async with Simulator(config) as sim:
        answers = [
            await get(session, listing_url(sim, listing), headers=listing_auth(listing))
            for _ in range(3)
        ]
        other_listing = "automations" if listing != "automations" else "sends_table"
        first_of_other = await get(
            session, listing_url(sim, other_listing), headers=listing_auth(other_listing)
        )
    assert [answer.status for answer in answers] == statuses
    assert first_of_other.status == statuses[0]
    body = answers[0].json()
    if listing == "sends_table":
        assert body == {"error": message, "code": message.replace(" ", "_"), "details": {}}
    else:
        assert body["errors"] == [{"field": None, "message": message}]


@pytest.mark.parametrize("listing", LISTINGS)
@pytest.mark.parametrize("behavior", [Behavior.MALFORMED_JSON, Behavior.WRONG_SHAPE])
async def test_listing_behavior_can_break_the_listings_bodies(
    session: aiohttp.ClientSession, listing: str, behavior: Behavior
) -> None:
    """MALFORMED_JSON and WRONG_SHAPE spoil the listings' 200 bodies."""
    async with Simulator(SimulatorConfig(listing_behavior=behavior)) as sim:
        answer = await get(session, listing_url(sim, listing), headers=listing_auth(listing))
    assert answer.status == 200
    if behavior is Behavior.MALFORMED_JSON:
        with pytest.raises(json.JSONDecodeError):
            answer.json()
    else:
        assert isinstance(answer.json(), list)


@pytest.mark.parametrize("listing", ["automations", "singlesends"])
async def test_listing_behavior_can_send_foreign_or_looping_next_links(
    session: aiohttp.ClientSession, listing: str
) -> None:
    """FOREIGN_NEXT and LOOPING_NEXT reach the SendGrid listings' `_metadata.next`."""
    query = {"page_size": "3"}
    async with Simulator(SimulatorConfig(listing_behavior=Behavior.FOREIGN_NEXT)) as sim:
        foreign = await get(session, listing_url(sim, listing), params=query, headers=SENDGRID_AUTH)
    async with Simulator(SimulatorConfig(listing_behavior=Behavior.LOOPING_NEXT)) as sim:
        page_1 = (
            await get(session, listing_url(sim, listing), params=query, headers=SENDGRID_AUTH)
        ).json()
        page_2 = (await get(session, page_1["_metadata"]["next"], headers=SENDGRID_AUTH)).json()
    next_url = URL(foreign.json()["_metadata"]["next"])
    assert str(next_url.origin()) == "http://127.0.0.2:9"
    assert next_url.path == f"/v3/marketing/stats/{listing}"
    assert page_2["_metadata"]["next"] == page_1["_metadata"]["self"]


@pytest.mark.parametrize("listing", LISTINGS)
async def test_listing_behavior_can_hang_the_listings(
    session: aiohttp.ClientSession, listing: str
) -> None:
    """HANG: the listing never answers; the handler ends when the client gives up."""
    async with Simulator(SimulatorConfig(listing_behavior=Behavior.HANG)) as sim:
        request = asyncio.create_task(
            get(session, listing_url(sim, listing), headers=listing_auth(listing))
        )
        await sim.log.wait_until(lambda log: log.in_flight == 1)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        await sim.log.wait_until(lambda log: log.in_flight == 0)
        assert [record.status for record in sim.log.requests] == [None]


async def test_listing_and_id_behaviours_stay_apart(session: aiohttp.ClientSession) -> None:
    """`listing_behavior` spares the links endpoints; an id's behaviour spares the listings."""
    listed = sendgrid_automation_ids(SimulatorConfig())[0]
    config = SimulatorConfig(
        listing_behavior=Behavior.SERVER_ERROR, behaviors={listed: Behavior.NOT_FOUND}
    )
    async with Simulator(config) as sim:
        links = await get(session, automation_links_url(sim, OTHER_ID), headers=SENDGRID_AUTH)
        listing = await get(session, automations_url(sim), headers=SENDGRID_AUTH)
        tracking = await get_paubox(session, sim)
    async with Simulator(SimulatorConfig(behaviors={listed: Behavior.NOT_FOUND})) as sim:
        unscripted_listing = await get(session, automations_url(sim), headers=SENDGRID_AUTH)
    assert (links.status, listing.status, tracking.status) == (200, 500, 200)
    assert unscripted_listing.status == 200
    assert unscripted_listing.json()["results"][0]["id"] == listed


# Faults


async def test_latency_delays_every_answer(session: aiohttp.ClientSession) -> None:
    """`latency` seconds pass before any answer, errors included."""
    async with Simulator(SimulatorConfig(faults=Faults(latency=0.05))) as sim:
        started = time.monotonic()
        answer = await get_sendgrid(session, sim, headers={})
        elapsed = time.monotonic() - started
    assert answer.status == 401
    assert elapsed >= 0.05


async def test_server_error_rate_one_fails_every_request(session: aiohttp.ClientSession) -> None:
    """500 and 503 come in the provider's shape; 502 and 504 as a gateway's HTML page."""
    async with Simulator(SimulatorConfig(faults=Faults(server_error_rate=1.0))) as sim:
        answers = [
            await get_sendgrid(session, sim, {"page_size": str(size)}) for size in range(1, 21)
        ]
    assert {answer.status for answer in answers} == {500, 502, 503, 504}
    for answer in answers:
        if answer.status in (502, 504):
            assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
            assert answer.body.startswith(b"<html>")
        else:
            assert answer.json()["errors"][0]["message"] in (
                "internal server error",
                "service unavailable",
            )
        assert "X-RateLimit-Reset" in answer.headers


async def test_drop_rate_one_closes_every_connection(session: aiohttp.ClientSession) -> None:
    """The server closes the connection without answering; the client sees a disconnect."""
    async with Simulator(SimulatorConfig(faults=Faults(drop_rate=1.0))) as sim:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await get_sendgrid(session, sim)
        assert sim.log.count() == 2  # aiohttp's own single resend included
        assert {record.status for record in sim.log.requests} == {None}


async def test_malformed_rate_one_spoils_every_success(session: aiohttp.ClientSession) -> None:
    """Would-be 200s carry truncated JSON, an HTML page, or JSON of the wrong shape."""
    async with Simulator(SimulatorConfig(faults=Faults(malformed_rate=1.0))) as sim:
        answers = [
            await get_sendgrid(session, sim, {"page_size": str(size)}) for size in range(1, 21)
        ]
        refused = await get_sendgrid(session, sim, headers={})
    kinds = set()
    for answer in answers:
        assert answer.status == 200
        if answer.headers["Content-Type"] == "text/html; charset=utf-8":
            kinds.add("html")
            continue
        try:
            body = answer.json()
        except json.JSONDecodeError:
            kinds.add("truncated")
        else:
            assert isinstance(body, list)
            kinds.add("wrong shape")
    assert kinds == {"html", "truncated", "wrong shape"}
    assert refused.status == 401
    assert refused.json() == {"errors": [{"field": None, "message": "authorization required"}]}


async def test_faults_depend_on_the_request_and_its_repetition_only(
    session: aiohttp.ClientSession,
) -> None:
    """Same seed, same requests, same faults; a repeated request can succeed."""
    config = SimulatorConfig(faults=Faults(server_error_rate=0.5))
    runs = []
    for _ in range(2):
        async with Simulator(config) as sim:
            runs.append([(await get_sendgrid(session, sim)).status for _ in range(12)])
    assert runs[0] == runs[1]
    assert 200 in runs[0]
    assert set(runs[0]) - {200}


# Determinism


def test_same_seed_gives_the_same_data_and_another_seed_other_data() -> None:
    """Data derives from (seed, id) alone."""
    config = SimulatorConfig(seed=7)
    same = SimulatorConfig(seed=7, faults=Faults(latency=1.0))
    other = SimulatorConfig(seed=8)
    assert paubox_tracking_links(config, SEND_ID) == paubox_tracking_links(same, SEND_ID)
    assert paubox_tracking_links(config, SEND_ID) != paubox_tracking_links(other, SEND_ID)
    assert sendgrid_automation_links(config, AUTOMATION_ID) == sendgrid_automation_links(
        same, AUTOMATION_ID
    )
    assert sendgrid_automation_steps(config, AUTOMATION_ID) != sendgrid_automation_steps(
        other, AUTOMATION_ID
    )
    assert paubox_tracking_links(config, SEND_ID) != paubox_tracking_links(config, OTHER_ID)


def test_data_is_the_same_in_every_process() -> None:
    """The generators are seeded with strings, not `hash()`, which is salted per process."""
    script = (
        "from linkstats.testing import SimulatorConfig, sendgrid_automation_steps;"
        f"print(','.join(sendgrid_automation_steps(SimulatorConfig(), '{AUTOMATION_ID}')))"
    )
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=environment
    )
    in_process = sendgrid_automation_steps(SimulatorConfig(), AUTOMATION_ID)
    assert result.stdout.strip() == ",".join(in_process)


def test_new_data_derives_from_seed_and_id_alone() -> None:
    """Single sends, listings and sends tables are the same for equal seeds, not for others."""
    config = SimulatorConfig(seed=7)
    same = SimulatorConfig(seed=7, faults=Faults(latency=1.0))
    other = SimulatorConfig(seed=8)
    for function in (sendgrid_automation_list, sendgrid_single_send_list, paubox_sends_table):
        assert function(config) == function(same)
        assert function(config) != function(other)
    links, same_links = (sendgrid_single_send_links(c, SINGLE_SEND_ID) for c in (config, same))
    assert links == same_links
    variations = sendgrid_single_send_variations(config, SINGLE_SEND_ID)
    assert variations != sendgrid_single_send_variations(other, SINGLE_SEND_ID)


def test_data_functions_refuse_what_the_endpoints_refuse() -> None:
    """Ids must be UUIDs and Paubox sort options valid, as over HTTP."""
    with pytest.raises(ValueError, match="send_id must be a UUID"):
        paubox_tracking_links(SimulatorConfig(), "send-1")
    with pytest.raises(ValueError, match="order must be one of"):
        paubox_tracking_links(SimulatorConfig(), SEND_ID, order="up")
    with pytest.raises(ValueError, match="step_ids must be a UUID"):
        sendgrid_automation_links(SimulatorConfig(), AUTOMATION_ID, step_ids=["step-1"])
    with pytest.raises(ValueError, match="group_by must hold only"):
        sendgrid_single_send_links(SimulatorConfig(), SINGLE_SEND_ID, group_by=["step_id"])
    with pytest.raises(ValueError, match="ab_variation_id must be a UUID"):
        sendgrid_single_send_links(SimulatorConfig(), SINGLE_SEND_ID, ab_variation_id="a")
    with pytest.raises(ValueError, match="ab_phase_id must be one of"):
        sendgrid_single_send_links(SimulatorConfig(), SINGLE_SEND_ID, ab_phase_id="all")
    with pytest.raises(ValueError, match="single_send_id must be a UUID"):
        sendgrid_single_send_variations(SimulatorConfig(), "single-send-1")
    with pytest.raises(ValueError, match="order_by must be one of"):
        paubox_sends_table(SimulatorConfig(), order_by="created_at")
    with pytest.raises(ValueError, match="order must be one of"):
        paubox_sends_table(SimulatorConfig(), order="newest")
    with pytest.raises(ValueError, match="send_id must be a UUID"):
        paubox_tracking_links_by_unique_link(SimulatorConfig(), "send-1")


# The request log


async def test_log_records_each_request_as_it_arrived(session: aiohttp.ClientSession) -> None:
    """Method, path, query with repeats in order, all headers, provider and status."""
    async with Simulator() as sim:
        started = time.monotonic()
        await get_sendgrid(session, sim, [("step_ids", OTHER_ID), ("step_ids", OTHER_ID)])
        await get_paubox(session, sim)
        await get(session, sim.url / "elsewhere")
        records = list(sim.log.requests)
        counts = (sim.log.count(), sim.log.count("/v3/"), sim.log.count("/v1/orca/demo"))
        sim.log.clear()
        assert sim.log.count() == 0
    assert counts == (3, 1, 1)
    sendgrid, paubox, elsewhere = records
    assert sendgrid.method == "GET"
    assert sendgrid.path == f"/v3/marketing/stats/automations/{AUTOMATION_ID}/links"
    assert sendgrid.query == (("step_ids", OTHER_ID), ("step_ids", OTHER_ID))
    assert sendgrid.headers["authorization"] == "Bearer SG.demo-key"
    assert (sendgrid.provider, sendgrid.status) == ("sendgrid", 400)
    assert paubox.headers["Authorization"] == "Token token=paubox-demo-key"
    assert (paubox.provider, paubox.status) == ("paubox", 200)
    assert (elsewhere.provider, elsewhere.status) == (None, 404)
    assert started <= sendgrid.received_at <= paubox.received_at <= elsewhere.received_at


async def test_log_names_the_provider_of_every_endpoint(session: aiohttp.ClientSession) -> None:
    """Listings and both Paubox base URLs are logged under their provider."""
    async with Simulator() as sim:
        for url, headers in [
            (automations_url(sim), SENDGRID_AUTH),
            (single_sends_url(sim), SENDGRID_AUTH),
            (single_send_links_url(sim), SENDGRID_AUTH),
            (sends_table_url(sim), PAUBOX_AUTH),
            (sim.paubox_marketing_base_url / "analytics/campaign_mailing_sends_table", PAUBOX_AUTH),
        ]:
            await get(session, url, headers=headers)
        logged = [(record.provider, record.status) for record in sim.log.requests]
    assert logged == [("sendgrid", 200)] * 3 + [("paubox", 200)] * 2


async def test_log_counts_requests_in_flight_and_their_peak(
    session: aiohttp.ClientSession,
) -> None:
    """`in_flight` is the requests being handled now, `max_in_flight` the most at once."""
    hanging = [f"00000000-0000-4000-8000-00000000000{number}" for number in range(3)]
    config = SimulatorConfig(behaviors=dict.fromkeys(hanging, Behavior.HANG))
    async with Simulator(config) as sim:
        requests = [
            asyncio.create_task(get_sendgrid(session, sim, automation_id=automation_id))
            for automation_id in hanging
        ]
        await sim.log.wait_until(lambda log: log.in_flight == 3)
        for request in requests:
            request.cancel()
        await asyncio.gather(*requests, return_exceptions=True)
        await sim.log.wait_until(lambda log: log.in_flight == 0)
        assert sim.log.max_in_flight == 3
        assert sim.log.count() == 3


# Configuration and running


@pytest.mark.parametrize(
    "options",
    [
        {"deliveries_per_send": (5, 4)},
        {"links_per_email": (-1, 2)},
        {"steps_per_automation": [1, 2]},
        {"paubox_error_shape": "html"},
        {"paubox_username": "a/b"},
        {"foreign_url": "/relative"},
        {"behaviors": {SEND_ID: "hang"}},
        {"flaky_failures": -1},
        {"variations_per_single_send": (0, 2)},
        {"links_per_variation": (3, 2)},
        {"automation_ids": [AUTOMATION_ID]},
        {"single_send_ids": ("single-send-1",)},
        {"paubox_send_ids": (SEND_ID, SEND_ID.upper())},
        {"listing_behavior": "hang"},
    ],
)
def test_config_refuses_invalid_values(options: dict[str, Any]) -> None:
    """A mistyped knob fails where it is written."""
    with pytest.raises((TypeError, ValueError)):
        SimulatorConfig(**options)


def test_faults_and_rate_limits_refuse_invalid_values() -> None:
    """Rates are shares from 0 to 1; limits and windows are positive."""
    with pytest.raises(ValueError, match="drop_rate"):
        Faults(drop_rate=1.5)
    with pytest.raises(ValueError, match="latency"):
        Faults(latency=-1)
    with pytest.raises(ValueError, match="limit"):
        RateLimit(limit=0)
    with pytest.raises(ValueError, match="window"):
        RateLimit(limit=1, window=0)


def test_config_behaviors_are_read_only() -> None:
    """The behaviours are copied into an immutable mapping."""
    behaviors = {SEND_ID: Behavior.HANG}
    config = SimulatorConfig(behaviors=behaviors)
    behaviors[OTHER_ID] = Behavior.FLAKY
    assert isinstance(config.behaviors, MappingProxyType)
    assert dict(config.behaviors) == {SEND_ID: Behavior.HANG}


def test_make_app_keeps_its_state_under_an_app_key() -> None:
    """Other runners reach the config and log through `app[SIMULATOR_STATE]`."""
    config = SimulatorConfig(seed=3)
    state = make_app(config)[SIMULATOR_STATE]
    assert state.config is config
    assert state.log.count() == 0


async def test_simulator_urls_point_at_the_loopback_port() -> None:
    """`url` is the origin; Paubox's bases add /v1/orca or /v1/marketing; SendGrid's is `url`."""
    sim = Simulator()
    with pytest.raises(RuntimeError, match="not running"):
        _ = sim.url
    async with sim:
        assert sim.url.host == "127.0.0.1"
        assert sim.url.port
        assert sim.url.path == "/"
        assert sim.paubox_base_url == sim.url / "v1/orca"
        assert sim.paubox_marketing_base_url == sim.url / "v1/marketing"
        assert sim.sendgrid_base_url == sim.url


@pytest.mark.parametrize("offset", [30.0, -30.0])
async def test_a_clock_offset_moves_date_and_rate_limit_resets_together(offset: float) -> None:
    """Date and X-RateLimit-Reset both run on the provider's clock, `offset` from ours."""
    config = SimulatorConfig(
        sendgrid=SendGridConfig(rate_limit=RateLimit(limit=5, window=1.0)), clock_offset=offset
    )
    async with Simulator(config) as sim, aiohttp.ClientSession() as session:
        before = time.time()
        async with session.get(
            automation_links_url(sim),
            headers={"Authorization": f"Bearer {config.sendgrid.api_key}"},
        ) as response:
            after = time.time()
            stamped = email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()
            reset = int(response.headers["X-RateLimit-Reset"])

    assert math.floor(before + offset) <= stamped <= after + offset
    assert before + offset < reset <= after + offset + 1


async def test_a_far_reset_is_an_hour_ahead_once() -> None:
    """FAR_RESET_FIRST: one 429 whose reset lies an hour away, then the data."""
    config = SimulatorConfig(behaviors={AUTOMATION_ID: Behavior.FAR_RESET_FIRST})
    headers = {"Authorization": f"Bearer {config.sendgrid.api_key}"}
    async with Simulator(config) as sim, aiohttp.ClientSession() as session:
        started = time.time()
        async with session.get(automation_links_url(sim), headers=headers) as first:
            refused = first.status, int(first.headers["X-RateLimit-Reset"])
        async with session.get(automation_links_url(sim), headers=headers) as second:
            status = second.status

    assert refused[0] == 429
    assert started + 3599 <= refused[1] <= time.time() + 3601
    assert status == 200


@pytest.mark.parametrize("broken", ["status_line", "duplicate_content_length", "short_body"])
async def test_a_broken_answer_breaks_http_then_heals(broken: BrokenResponse) -> None:
    """BROKEN_FIRST: aiohttp cannot read the first answer; the second is the data."""
    config = SimulatorConfig(
        behaviors={AUTOMATION_ID: Behavior.BROKEN_FIRST}, broken_response=broken, flaky_failures=1
    )
    headers = {"Authorization": f"Bearer {config.sendgrid.api_key}"}
    async with Simulator(config) as sim:
        async with aiohttp.ClientSession() as session:
            with pytest.raises((aiohttp.ClientResponseError, aiohttp.ClientPayloadError)):
                async with session.get(automation_links_url(sim), headers=headers) as first:
                    await first.read()
        async with aiohttp.ClientSession() as session:
            async with session.get(automation_links_url(sim), headers=headers) as second:
                status = second.status

    assert status == 200
    assert [record.status for record in sim.log.requests] == [None, 200]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"page_size": "9" * 4301}, "page_size"),
        (
            {"page_token": base64.urlsafe_b64encode(b"offset:" + b"7" * 4300).decode().rstrip("=")},
            "page_token",
        ),
    ],
)
async def test_huge_numbers_in_the_query_get_the_documented_400(
    query: dict[str, str], field: str
) -> None:
    """Thousands of digits are refused in SendGrid's error shape, not with a 500."""
    config = SimulatorConfig()
    headers = {"Authorization": f"Bearer {config.sendgrid.api_key}"}
    async with Simulator(config) as sim, aiohttp.ClientSession() as session:
        url = automation_links_url(sim).with_query(query)
        async with session.get(url, headers=headers) as response:
            status, body = response.status, await response.json()

    assert status == 400
    assert body["errors"][0]["field"] == field


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1:99999", "[::1"])
async def test_next_links_name_the_simulators_own_origin_whatever_the_host_header(
    host: str,
) -> None:
    """A client's Host header neither breaks the answer nor moves its `_metadata` links."""
    config = SimulatorConfig()
    headers = {"Authorization": f"Bearer {config.sendgrid.api_key}", "Host": host}
    async with Simulator(config) as sim, aiohttp.ClientSession() as session:
        origin = sim.url
        url = automation_links_url(sim).with_query(page_size="1")
        async with session.get(url, headers=headers) as response:
            status, body = response.status, await response.json()

    assert status == 200
    assert URL(body["_metadata"]["self"]).origin() == origin
    assert URL(body["_metadata"]["next"]).origin() == origin


async def test_the_request_log_keeps_only_the_latest_requests() -> None:
    """With `log_limit`, a long run's log stays that size; the newest are kept."""
    config = SimulatorConfig(log_limit=3)
    headers = {"Authorization": f"Bearer {config.sendgrid.api_key}"}
    async with Simulator(config) as sim, aiohttp.ClientSession() as session:
        for size in range(1, 6):
            url = automation_links_url(sim).with_query(page_size=str(size))
            async with session.get(url, headers=headers) as response:
                await response.read()

    assert sim.log.count() == 3
    assert [dict(record.query)["page_size"] for record in sim.log.requests] == ["3", "4", "5"]


def test_distinct_urls_differ_from_campaign_to_campaign_and_place_to_place() -> None:
    """An `lsid` tag on each http(s) link; off, the same pool URLs as ever."""
    plain = SimulatorConfig()
    distinct = SimulatorConfig(distinct_urls=True)
    first, second = sendgrid_automation_ids(distinct)[:2]

    def urls(config: SimulatorConfig, automation_id: str) -> list[str]:
        rows = sendgrid_automation_links(config, automation_id, group_by_step=True)
        return [row["url"] for row in rows]

    tagged = urls(distinct, first)
    assert [url.split("lsid=")[0].rstrip("?&") for url in tagged if "lsid=" in url] == [
        url.split("#")[0] for url in urls(plain, first) if url.startswith("http")
    ]
    assert all(f"lsid={first[:8]}." in url for url in tagged if url.startswith("http"))
    assert not set(tagged) & set(urls(distinct, second))
