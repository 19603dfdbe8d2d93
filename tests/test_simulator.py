"""The simulator at the wire level: plain aiohttp requests against `linkstats.testing`.

Each behaviour pinned here follows the provider references in the repository's shared reference
folder (`paubox-tracking-links.md`, SendGrid's `tsg_mc_stats_v3.json`); the quotes say which.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

import aiohttp
import attrs
import pytest
from multidict import CIMultiDictProxy
from yarl import URL

from linkstats.testing import (
    SIMULATOR_STATE,
    URL_POOL,
    Behavior,
    Faults,
    PauboxErrorShape,
    RateLimit,
    Simulator,
    SimulatorConfig,
    make_app,
    paubox_tracking_links,
    sendgrid_automation_links,
    sendgrid_automation_steps,
)

# The examples in the providers' own references.
SEND_ID = "1308ab8d-a128-498c-8367-f71ac16934e8"
AUTOMATION_ID = "f15982c1-a82c-4e87-a6b2-a4a63b4b7644"
OTHER_ID = "00000000-0000-4000-8000-000000000001"

PAUBOX_AUTH = {"authorization": "Token token=paubox-demo-key"}
SENDGRID_AUTH = {"Authorization": "Bearer SG.demo-key"}
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")

# A window this long never ends during a test: its boundaries are 2001-09-09 and 2033-05-18.
ENDLESS_WINDOW = 1e9

Query = Mapping[str, str] | Sequence[tuple[str, str]]

# ISO-8601 with optional fractional seconds (group 1) and a zone (group 2).
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+|)(Z|[+-]\d\d:\d\d)")


@attrs.frozen
class Answer:
    """A response read in full, so tests can compare after the connection is released."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client with aiohttp's defaults: no retries or checks of our own."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def tracking_links_url(sim: Simulator, username: str = "demo") -> URL:
    return sim.paubox_base_url / username / "tracking_links"


def automation_links_url(sim: Simulator, automation_id: str = AUTOMATION_ID) -> URL:
    return sim.sendgrid_base_url / "v3/marketing/stats/automations" / automation_id / "links"


async def get(
    session: aiohttp.ClientSession,
    url: URL | str,
    *,
    params: Query | None = None,
    headers: Mapping[str, str] | None = None,
    allow_redirects: bool = True,
) -> Answer:
    async with session.get(
        url, params=params, headers=headers, allow_redirects=allow_redirects
    ) as response:
        return Answer(response.status, response.headers, await response.read())


async def get_paubox(
    session: aiohttp.ClientSession,
    sim: Simulator,
    params: Query | None = None,
    *,
    headers: Mapping[str, str] = PAUBOX_AUTH,
) -> Answer:
    query = {"campaign_mailing_send_id": SEND_ID} if params is None else params
    return await get(session, tracking_links_url(sim), params=query, headers=headers)


async def get_sendgrid(
    session: aiohttp.ClientSession,
    sim: Simulator,
    params: Query | None = None,
    *,
    automation_id: str = AUTOMATION_ID,
    headers: Mapping[str, str] = SENDGRID_AUTH,
) -> Answer:
    url = automation_links_url(sim, automation_id)
    return await get(session, url, params=params, headers=headers)


async def all_pages(
    session: aiohttp.ClientSession, sim: Simulator, params: Query
) -> list[dict[str, Any]]:
    """Follow `_metadata.next` from the first page to the last, returning every page body."""
    pages = [(await get_sendgrid(session, sim, params)).json()]
    while "next" in pages[-1]["_metadata"]:
        answer = await get(session, pages[-1]["_metadata"]["next"], headers=SENDGRID_AUTH)
        assert answer.status == 200
        pages.append(answer.json())
    return pages


def sendgrid_400(field: str, message: str, expected: str, error_id: str) -> dict[str, Any]:
    """SendGrid's `ErrorResponse` for one refused parameter."""
    return {
        "errors": [{"field": field, "message": message, "help": {"expected": expected}}],
        "id": error_id,
    }


# Paubox: GET /tracking_links


async def test_paubox_serves_every_row_of_a_send_in_one_body(
    session: aiohttp.ClientSession,
) -> None:
    """One row per link per delivered email, all in one unpaginated body."""
    config = SimulatorConfig(deliveries_per_send=(3, 3), links_per_email=(4, 4))
    async with Simulator(config) as sim:
        answer = await get_paubox(session, sim)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    rows = paubox_tracking_links(config, SEND_ID)
    assert answer.json() == {"data": rows}
    assert len(rows) == 12
    assert {row["type"] for row in rows} == {"tracking_link"}


def test_equal_bounds_give_a_send_of_exactly_that_many_rows() -> None:
    """Deliveries times links per email, so equal bounds make a send of an exact size."""
    config = SimulatorConfig(deliveries_per_send=(250, 250), links_per_email=(6, 6))
    assert len(paubox_tracking_links(config, SEND_ID)) == 1500


async def test_paubox_authorization_header_name_is_case_insensitive(
    session: aiohttp.ClientSession,
) -> None:
    """HTTP header names are case-insensitive; the value `Token token=<API_KEY>` is exact."""
    async with Simulator() as sim:
        answer = await get_paubox(
            session, sim, headers={"AUTHORIZATION": "Token token=paubox-demo-key"}
        )
    assert answer.status == 200


@pytest.mark.parametrize(
    ("username", "headers"),
    [
        ("demo", {}),
        ("demo", {"authorization": "Token token=wrong"}),
        ("demo", {"authorization": "Bearer paubox-demo-key"}),
        ("demo", {"authorization": "token token=paubox-demo-key"}),
        ("someone-else", PAUBOX_AUTH),
    ],
)
async def test_paubox_refuses_a_wrong_key_or_username_with_401(
    session: aiohttp.ClientSession, username: str, headers: dict[str, str]
) -> None:
    """401 in Paubox's `Error` schema: `{"error", "code", "details"}`."""
    async with Simulator() as sim:
        url = tracking_links_url(sim, username)
        answer = await get(
            session, url, params={"campaign_mailing_send_id": SEND_ID}, headers=headers
        )
    assert answer.status == 401
    assert answer.json() == {
        "error": "invalid API key or username",
        "code": "unauthorized",
        "details": {},
    }
    assert not any(name in answer.headers for name in RATE_LIMIT_HEADERS)


@pytest.mark.parametrize(
    ("shape", "body"),
    [
        ("errors_list", {"errors": [{"message": "invalid API key or username"}]}),
        ("errors_string", {"errors": "invalid API key or username"}),
    ],
)
async def test_paubox_errors_come_in_the_configured_shape(
    session: aiohttp.ClientSession, shape: PauboxErrorShape, body: dict[str, Any]
) -> None:
    """Some Paubox endpoints answer `{"errors":[{"message"}]}` or a string `errors` instead."""
    async with Simulator(SimulatorConfig(paubox_error_shape=shape)) as sim:
        unauthorized = await get_paubox(session, sim, headers={})
        invalid = await get_paubox(session, sim, {"campaign_mailing_send_id": "nope"})
    assert (unauthorized.status, unauthorized.json()) == (401, body)
    assert invalid.status == 422
    message = "campaign_mailing_send_id must be a UUID"
    assert invalid.json() == (
        {"errors": [{"message": message}]} if shape == "errors_list" else {"errors": message}
    )


@pytest.mark.parametrize("query", [{}, {"campaign_mailing_send_id": ""}, {"order": "asc"}])
async def test_paubox_missing_send_id_is_400(
    session: aiohttp.ClientSession, query: dict[str, str]
) -> None:
    """The spec marks campaign_mailing_send_id `required: true`; Rails treats empty as missing."""
    async with Simulator() as sim:
        answer = await get_paubox(session, sim, query)
    assert answer.status == 400
    assert answer.json() == {
        "error": "param is missing or the value is empty: campaign_mailing_send_id",
        "code": "bad_request",
        "details": {"parameter": "campaign_mailing_send_id", "expected": "a UUID"},
    }


@pytest.mark.parametrize(
    ("query", "message", "parameter", "expected"),
    [
        (
            {"campaign_mailing_send_id": "1308ab8d"},
            "campaign_mailing_send_id must be a UUID",
            "campaign_mailing_send_id",
            "a UUID",
        ),
        (
            {"campaign_mailing_send_id": "{1308ab8d-a128-498c-8367-f71ac16934e8}"},
            "campaign_mailing_send_id must be a UUID",
            "campaign_mailing_send_id",
            "a UUID",
        ),
        (
            {"campaign_mailing_send_id": SEND_ID, "order": "descending"},
            "order must be asc or desc",
            "order",
            "asc or desc",
        ),
        (
            {"campaign_mailing_send_id": SEND_ID, "order_by": "updated_at"},
            "order_by must be one of created_at, opened_at, clicked, target_url",
            "order_by",
            "created_at, opened_at, clicked, target_url",
        ),
    ],
)
async def test_paubox_invalid_values_are_422(
    session: aiohttp.ClientSession,
    query: dict[str, str],
    message: str,
    parameter: str,
    expected: str,
) -> None:
    """`format: uuid` and `enum: [asc, desc]` violations are 422 (UnprocessableEntity)."""
    async with Simulator() as sim:
        answer = await get_paubox(session, sim, query)
    assert answer.status == 422
    assert answer.json() == {
        "error": message,
        "code": "unprocessable_entity",
        "details": {"parameter": parameter, "expected": expected},
    }


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("order_by", ["created_at", "opened_at", "clicked", "target_url"])
async def test_paubox_sorts_by_order_by_and_order(
    session: aiohttp.ClientSession, order_by: str, order: str
) -> None:
    """`order_by` is the "Attribute to sort on", `order` the "Direction to sort"."""
    config = SimulatorConfig(deliveries_per_send=(20, 20), links_per_email=(5, 5))
    async with Simulator(config) as sim:
        query = {"campaign_mailing_send_id": SEND_ID, "order_by": order_by, "order": order}
        rows = (await get_paubox(session, sim, query)).json()["data"]
    assert rows == paubox_tracking_links(config, SEND_ID, order_by=order_by, order=order)
    # Checked from the served text alone, on the rows where the sort attribute was served.
    attributes = [row["attributes"] for row in rows]
    descending = order == "desc"
    served: list[Any]
    if order_by == "opened_at":
        # Unopened links (clicked 0) sort as SQL NULL does: first descending, last ascending.
        unopened = [item["clicked"] == 0 for item in attributes if item.get("clicked") is not None]
        assert unopened == sorted(unopened, reverse=descending)
        served = [
            datetime.fromisoformat(item["opened_at"])
            for item in attributes
            if item.get("opened_at")
        ]
    elif order_by == "created_at":
        served = [datetime.fromisoformat(item["created_at"]) for item in attributes]
    else:
        served = [item[order_by] for item in attributes if item.get(order_by) is not None]
    assert served == sorted(served, reverse=descending)


async def test_paubox_default_order_is_created_at_descending(
    session: aiohttp.ClientSession,
) -> None:
    """Without order_by and order: "Default value is created_at", "Default value is descending"."""
    async with Simulator() as sim:
        rows = (await get_paubox(session, sim)).json()["data"]
    assert rows == paubox_tracking_links(
        SimulatorConfig(), SEND_ID, order_by="created_at", order="desc"
    )


def test_paubox_rows_exercise_a_tolerant_client() -> None:
    """Missing and null attributes, unopened links, varied timestamps and unknown fields."""
    config = SimulatorConfig(deliveries_per_send=(60, 60), links_per_email=(8, 8))
    rows = paubox_tracking_links(config, SEND_ID)
    documented = ("target_url", "opened_at", "clicked", "campaign_mailing_delivery_id")
    attributes = [row["attributes"] for row in rows]
    # "Nothing in the schema is required: any attribute may be missing."
    for name in documented:
        assert any(name not in item for item in attributes), name
        assert any(name in item and item[name] is None for item in attributes), name
    lacking = [item for item in attributes if not set(documented) <= set(item)]
    assert 0 < len(lacking) <= len(rows) // 10
    # Unopened links: `opened_at` null and `clicked` 0.
    assert any(item.get("clicked") == 0 and item.get("opened_at", 0) is None for item in attributes)
    assert all(item.get("opened_at") is None for item in attributes if item.get("clicked") == 0)
    spellings = [
        TIMESTAMP.fullmatch(item["opened_at"]) for item in attributes if item.get("opened_at")
    ]
    assert all(spellings)
    assert {len(match[1]) for match in spellings if match} >= {0, 4, 7}  # "", ".123", ".123456"
    assert {match[2] for match in spellings if match} >= {"Z", "+02:00", "-05:00", "+00:00"}
    assert all("created_at" in item for item in attributes)
    assert any(set(item) - {*documented, "created_at"} for item in attributes)
    assert any(set(row) - {"id", "type", "attributes"} for row in rows)


def test_url_pool_holds_the_awkward_urls_clients_must_keep() -> None:
    """Templates, non-ASCII path and host, mailto/tel, explicit default port and a fragment."""
    assert set(URL_POOL) >= {
        "https://example.com/welcome?name={{first_name}}",
        "https://example.com/members/{{custom_field}}/profile",
        "https://example.com/café/パス",
        "https://例え.jp/ページ",
        "mailto:support@example.com",
        "tel:+15551234567",
        "https://Example.COM:443/Offers",
        "https://example.com/guide#pricing",
    }
    assert any("utm_source=" in url for url in URL_POOL)


async def test_target_urls_arrive_verbatim(session: aiohttp.ClientSession) -> None:
    """A large enough send uses every URL of the pool, sent as UTF-8 without escapes."""
    config = SimulatorConfig(deliveries_per_send=(1, 1), links_per_email=(80, 80))
    async with Simulator(config) as sim:
        answer = await get_paubox(session, sim)
    served = {row["attributes"].get("target_url") for row in answer.json()["data"]}
    assert served - {None} == set(URL_POOL)
    assert "https://例え.jp/ページ".encode() in answer.body


async def test_unknown_paubox_path_is_404_in_paubox_shape(
    session: aiohttp.ClientSession,
) -> None:
    """Paths under /v1/orca answer in Paubox's error shape."""
    async with Simulator() as sim:
        answer = await get(session, sim.paubox_base_url / "demo" / "campaigns", headers=PAUBOX_AUTH)
    assert answer.status == 404
    assert answer.json() == {"error": "not found", "code": "not_found", "details": {}}


async def test_wrong_method_is_405_in_the_provider_shape(session: aiohttp.ClientSession) -> None:
    """Only GET is served; other methods get 405 with Allow, in the provider's error shape."""
    async with (
        Simulator() as sim,
        session.post(automation_links_url(sim), headers=SENDGRID_AUTH) as response,
    ):
        status, allow, body = response.status, response.headers["Allow"], await response.json()
    assert status == 405
    assert set(allow.split(",")) == {"GET", "HEAD"}
    assert body["errors"] == [{"field": None, "message": "method not allowed"}]


# SendGrid: GET /v3/marketing/stats/automations/{id}/links


async def test_sendgrid_pages_to_the_end_with_absolute_links(
    session: aiohttp.ClientSession,
) -> None:
    """`_metadata.next` is a full URL to call as-is, absent on the last page; count spans pages."""
    config = SimulatorConfig(steps_per_automation=(3, 3), links_per_step=(6, 6))
    expected = sendgrid_automation_links(config, AUTOMATION_ID, group_by_step=True)
    async with Simulator(config) as sim:
        pages = await all_pages(session, sim, {"group_by": "step_id", "page_size": "4"})
        first_url = automation_links_url(sim).with_query(group_by="step_id", page_size="4")
        origin = str(sim.url)
    assert len(pages) == math.ceil(len(expected) / 4) > 2
    assert [row for page in pages for row in page["results"]] == expected
    assert {page["total_clicks"] for page in pages} == {sum(row["clicks"] for row in expected)}
    assert {page["_metadata"]["count"] for page in pages} == {len(expected)}
    assert pages[0]["_metadata"]["self"] == str(first_url)
    assert "prev" not in pages[0]["_metadata"]
    for earlier, later in itertools.pairwise(pages):
        assert earlier["_metadata"]["next"] == later["_metadata"]["self"]
        assert later["_metadata"]["prev"] == earlier["_metadata"]["self"]
        next_url = URL(earlier["_metadata"]["next"])
        assert str(next_url.origin()) == origin
        assert next_url.query["group_by"] == "step_id"
        assert next_url.query["page_size"] == "4"
        assert next_url.query["page_token"]
    assert all(len(page["results"]) == 4 for page in pages[:-1])
    assert all(row["clicks"] >= 1 for row in expected)  # "clicks": {"minimum": 1}


async def test_sendgrid_default_page_size_is_25(session: aiohttp.ClientSession) -> None:
    """`page_size` "default: 25"."""
    config = SimulatorConfig(steps_per_automation=(4, 4), links_per_step=(12, 12))
    async with Simulator(config) as sim:
        body = (await get_sendgrid(session, sim, {"group_by": "step_id"})).json()
    assert body["_metadata"]["count"] > 25
    assert len(body["results"]) == 25
    assert URL(body["_metadata"]["next"]).query["page_size"] == "25"


async def test_rows_carry_step_id_only_when_grouped_by_step(
    session: aiohttp.ClientSession,
) -> None:
    """step_id is "the ID of the step if the stats were requested to be grouped by step_id"."""
    config = SimulatorConfig(steps_per_automation=(3, 3), links_per_step=(6, 6))
    async with Simulator(config) as sim:
        grouped = await all_pages(session, sim, {"group_by": "step_id", "page_size": "50"})
        ungrouped = await all_pages(session, sim, {"page_size": "50"})
    steps = sendgrid_automation_steps(config, AUTOMATION_ID)
    grouped_rows = [row for page in grouped for row in page["results"]]
    ungrouped_rows = [row for page in ungrouped for row in page["results"]]
    assert {row["step_id"] for row in grouped_rows} == set(steps)
    assert all(set(row) == {"url", "url_location", "clicks"} for row in ungrouped_rows)
    # Ungrouped, a link's clicks are summed over the steps it appears in.
    summed: dict[tuple[str, int], int] = {}
    for row in grouped_rows:
        key = (row["url"], row["url_location"])
        summed[key] = summed.get(key, 0) + row["clicks"]
    assert {(row["url"], row["url_location"]): row["clicks"] for row in ungrouped_rows} == summed
    assert len(ungrouped_rows) == len(summed)
    assert grouped[0]["total_clicks"] == ungrouped[0]["total_clicks"]


async def test_step_ids_keep_only_the_listed_steps(session: aiohttp.ClientSession) -> None:
    """`step_ids` is one comma-separated value (`style: form, explode: false`)."""
    config = SimulatorConfig(steps_per_automation=(3, 3), links_per_step=(6, 6))
    steps = sendgrid_automation_steps(config, AUTOMATION_ID)
    chosen = [steps[0], steps[2]]
    query = {"group_by": "step_id", "step_ids": ",".join(chosen), "page_size": "2"}
    async with Simulator(config) as sim:
        pages = await all_pages(session, sim, query)
    rows = [row for page in pages for row in page["results"]]
    assert rows == sendgrid_automation_links(
        config, AUTOMATION_ID, step_ids=chosen, group_by_step=True
    )
    assert {row["step_id"] for row in rows} == set(chosen)
    assert URL(pages[0]["_metadata"]["next"]).query["step_ids"] == ",".join(chosen)


async def test_unknown_step_ids_match_nothing(session: aiohttp.ClientSession) -> None:
    """A well-formed step id that is not in the automation filters everything out."""
    async with Simulator() as sim:
        answer = await get_sendgrid(session, sim, {"step_ids": OTHER_ID})
    assert answer.status == 200
    body = answer.json()
    assert body["results"] == []
    assert body["total_clicks"] == 0
    assert body["_metadata"]["count"] == 0
    assert set(body["_metadata"]) == {"self", "count"}


@pytest.mark.parametrize("page_size", ["1", "50"])
async def test_page_size_bounds_are_accepted(
    session: aiohttp.ClientSession, page_size: str
) -> None:
    """`page_size` has `minimum: 1` and `maximum: 50`."""
    config = SimulatorConfig(steps_per_automation=(4, 4), links_per_step=(20, 20))
    async with Simulator(config) as sim:
        answer = await get_sendgrid(session, sim, {"group_by": "step_id", "page_size": page_size})
    assert answer.status == 200
    assert len(answer.json()["results"]) == int(page_size)


@pytest.mark.parametrize("page_size", ["0", "51", "ten", "", "-1", "2.5"])
async def test_page_size_out_of_bounds_is_400(
    session: aiohttp.ClientSession, page_size: str
) -> None:
    """Anything but an integer from 1 to 50 is refused with SendGrid's `ErrorResponse`."""
    async with Simulator() as sim:
        answer = await get_sendgrid(session, sim, {"page_size": page_size})
    assert answer.status == 400
    body = answer.json()
    assert body == sendgrid_400(
        "page_size",
        "page_size must be an integer from 1 to 50",
        "an integer from 1 to 50",
        body["id"],
    )
    assert isinstance(body["id"], str)


@pytest.mark.parametrize("name", ["step_ids", "group_by"])
async def test_repeated_list_key_is_400(session: aiohttp.ClientSession, name: str) -> None:
    """`explode: false` makes a list ONE comma-separated value; repeating the key is refused."""
    steps = sendgrid_automation_steps(SimulatorConfig(), AUTOMATION_ID)
    value = {"step_ids": steps[0], "group_by": "step_id"}[name]
    async with Simulator() as sim:
        answer = await get_sendgrid(session, sim, [(name, value), (name, value)])
    assert answer.status == 400
    body = answer.json()
    assert body == sendgrid_400(
        name,
        f"{name} must be one comma-separated value, not a repeated key",
        f"one {name} parameter",
        body["id"],
    )


@pytest.mark.parametrize(
    ("automation_id", "query", "field", "message", "expected"),
    [
        ("automation-1", {}, "id", "id must be a UUID", "a UUID"),
        (AUTOMATION_ID.replace("-", ""), {}, "id", "id must be a UUID", "a UUID"),
        (AUTOMATION_ID, {"group_by": "url"}, "group_by", "group_by must be step_id", "step_id"),
        (
            AUTOMATION_ID,
            {"step_ids": f"{OTHER_ID},step-2"},
            "step_ids",
            "step_ids must be UUIDs",
            "one comma-separated list of UUIDs",
        ),
        (
            AUTOMATION_ID,
            {"step_ids": f"{OTHER_ID},{OTHER_ID.upper()}"},
            "step_ids",
            "step_ids must not repeat",
            "one comma-separated list of UUIDs",
        ),
        (
            AUTOMATION_ID,
            {"page_token": "not a token"},
            "page_token",
            "invalid page_token",
            "a _metadata.next link",
        ),
        (
            AUTOMATION_ID,
            # Spelled as the simulator's tokens are ("offset:9999"), but past the end of the list.
            {"page_token": "b2Zmc2V0Ojk5OTk"},
            "page_token",
            "invalid page_token",
            "a _metadata.next link",
        ),
        (
            AUTOMATION_ID,
            [("page_size", "5"), ("page_size", "6")],
            "page_size",
            "page_size must be given once",
            "one page_size parameter",
        ),
    ],
)
async def test_sendgrid_invalid_requests_are_400(
    session: aiohttp.ClientSession,
    automation_id: str,
    query: Query,
    field: str,
    message: str,
    expected: str,
) -> None:
    """`Stats400`: `{"errors":[{"field","message","help"}],"id"}`."""
    async with Simulator() as sim:
        answer = await get_sendgrid(session, sim, query, automation_id=automation_id)
    assert answer.status == 400
    body = answer.json()
    assert body == sendgrid_400(field, message, expected, body["id"])


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer SG.wrong"}, {"Authorization": "SG.demo-key"}, PAUBOX_AUTH],
)
async def test_sendgrid_refuses_a_missing_or_wrong_key_with_401(
    session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    """401 `{"errors":[{"field":null,"message":"authorization required"}]}`."""
    async with Simulator() as sim:
        answer = await get_sendgrid(session, sim, headers=headers)
    assert answer.status == 401
    assert answer.json() == {"errors": [{"field": None, "message": "authorization required"}]}
    assert all(name in answer.headers for name in RATE_LIMIT_HEADERS)


async def test_every_sendgrid_answer_carries_rate_limit_headers(
    session: aiohttp.ClientSession,
) -> None:
    """X-RateLimit-Limit, -Remaining and -Reset (Unix epoch seconds) on success and error alike."""
    async with Simulator() as sim:
        before = time.time()
        answers = [
            await get_sendgrid(session, sim),
            await get_sendgrid(session, sim, {"page_size": "0"}),
            await get_sendgrid(session, sim, headers={}),
            await get(session, sim.url / "v3/nothing/here", headers=SENDGRID_AUTH),
        ]
    assert [answer.status for answer in answers] == [200, 400, 401, 404]
    for answer in answers:
        assert answer.headers["X-RateLimit-Limit"] == "10000"
        assert int(answer.headers["X-RateLimit-Remaining"]) < 10000
        reset = int(answer.headers["X-RateLimit-Reset"])
        assert before < reset <= math.ceil(time.time()) + 1


async def test_unknown_paths_are_404_in_sendgrid_shape(session: aiohttp.ClientSession) -> None:
    """Paths under /v3, and paths of neither provider, answer in SendGrid's shape."""
    async with Simulator() as sim:
        sendgrid = await get(session, sim.url / "v3/marketing/singlesends", headers=SENDGRID_AUTH)
        neither = await get(session, sim.url / "favicon.ico")
    for answer in (sendgrid, neither):
        assert answer.status == 404
        body = answer.json()
        assert body == {"errors": [{"field": None, "message": "not found"}], "id": body["id"]}
    assert "X-RateLimit-Limit" in sendgrid.headers
    assert "X-RateLimit-Limit" not in neither.headers


# Rate limits


async def test_rate_limit_answers_429_past_the_window_budget(
    session: aiohttp.ClientSession,
) -> None:
    """Over the limit: 429 `{"errors":[{"field":null,"message":"too many requests"}]}`."""
    limit = RateLimit(limit=2, window=ENDLESS_WINDOW, retry_after=True)
    async with Simulator(SimulatorConfig(rate_limit=limit)) as sim:
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
    async with Simulator(SimulatorConfig(rate_limit=limit, paubox_rate_limit=limit)) as sim:
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
        behaviors={AUTOMATION_ID: Behavior.RATE_LIMITED_FIRST},
        rate_limit=RateLimit(limit=100, window=ENDLESS_WINDOW, retry_after=True),
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


def test_data_functions_refuse_what_the_endpoints_refuse() -> None:
    """Ids must be UUIDs and Paubox sort options valid, as over HTTP."""
    with pytest.raises(ValueError, match="send_id must be a UUID"):
        paubox_tracking_links(SimulatorConfig(), "send-1")
    with pytest.raises(ValueError, match="order must be one of"):
        paubox_tracking_links(SimulatorConfig(), SEND_ID, order="up")
    with pytest.raises(ValueError, match="step_ids must be a UUID"):
        sendgrid_automation_links(SimulatorConfig(), AUTOMATION_ID, step_ids=["step-1"])


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
    """`url` is the origin; Paubox's base adds /v1/orca, SendGrid's is the origin itself."""
    sim = Simulator()
    with pytest.raises(RuntimeError, match="not running"):
        _ = sim.url
    async with sim:
        assert sim.url.host == "127.0.0.1"
        assert sim.url.port
        assert sim.url.path == "/"
        assert sim.paubox_base_url == sim.url / "v1/orca"
        assert sim.sendgrid_base_url == sim.url
