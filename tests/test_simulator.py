"""The simulator at the wire level: plain aiohttp requests against `linkstats.testing`.

Each behaviour pinned here follows the provider references in the repository's shared reference
folder (`paubox-tracking-links.md`, SendGrid's `tsg_mc_stats_v3.json`); the quotes say which.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import itertools
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
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
    SUBSCRIPTION_LIST_NAMES,
    URL_POOL,
    Behavior,
    BrokenResponse,
    Faults,
    PauboxErrorShape,
    Quirks,
    RateLimit,
    Simulator,
    SimulatorConfig,
    make_app,
    paubox_send_ids,
    paubox_sends_table,
    paubox_tracking_links,
    paubox_tracking_links_by_unique_link,
    sendgrid_automation_ids,
    sendgrid_automation_links,
    sendgrid_automation_list,
    sendgrid_automation_steps,
    sendgrid_single_send_ids,
    sendgrid_single_send_links,
    sendgrid_single_send_list,
    sendgrid_single_send_variations,
)

# The examples in the providers' own references.
SEND_ID = "1308ab8d-a128-498c-8367-f71ac16934e8"
AUTOMATION_ID = "f15982c1-a82c-4e87-a6b2-a4a63b4b7644"
OTHER_ID = "00000000-0000-4000-8000-000000000001"
SINGLE_SEND_ID = "6f6c2e3d-1b8a-4d5e-9f2a-3c4b5d6e7f80"

PAUBOX_AUTH = {"authorization": "Token token=paubox-demo-key"}
SENDGRID_AUTH = {"Authorization": "Bearer SG.demo-key"}
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")

# A window this long never ends during a test: its boundaries are 2001-09-09 and 2033-05-18.
ENDLESS_WINDOW = 1e9

Query = Mapping[str, str] | Sequence[tuple[str, str]]
ListingFunction = Callable[[SimulatorConfig], list[dict[str, Any]]]
IdsFunction = Callable[[SimulatorConfig], tuple[str, ...]]

# ISO-8601 with optional fractional seconds (group 1) and a zone (group 2).
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+|)(Z|[+-]\d\d:\d\d)")
# As Rails renders a UTC timestamp.
UTC_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

# The twelve required integers of SendGrid's `Metrics`.
METRICS = {
    "bounce_drops",
    "bounces",
    "clicks",
    "delivered",
    "invalid_emails",
    "opens",
    "requests",
    "spam_report_drops",
    "spam_reports",
    "unique_clicks",
    "unique_opens",
    "unsubscribes",
}


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
    return automations_url(sim) / automation_id / "links"


def automations_url(sim: Simulator) -> URL:
    return sim.sendgrid_base_url / "v3/marketing/stats/automations"


def single_sends_url(sim: Simulator) -> URL:
    return sim.sendgrid_base_url / "v3/marketing/stats/singlesends"


def single_send_links_url(sim: Simulator, single_send_id: str = SINGLE_SEND_ID) -> URL:
    return single_sends_url(sim) / single_send_id / "links"


def sends_table_url(sim: Simulator) -> URL:
    return sim.paubox_base_url / "demo/analytics/campaign_mailing_sends_table"


def unique_links_url(sim: Simulator) -> URL:
    return sim.paubox_base_url / "demo/analytics/tracking_links_by_unique_link"


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


async def follow_pages(
    session: aiohttp.ClientSession, url: URL, params: Query | None = None
) -> list[dict[str, Any]]:
    """Follow `_metadata.next` from the first page at `url` to the last, returning every body."""
    first = await get(session, url, params=params, headers=SENDGRID_AUTH)
    assert first.status == 200
    pages = [first.json()]
    while "next" in pages[-1]["_metadata"]:
        answer = await get(session, pages[-1]["_metadata"]["next"], headers=SENDGRID_AUTH)
        assert answer.status == 200
        pages.append(answer.json())
    return pages


async def all_pages(
    session: aiohttp.ClientSession, sim: Simulator, params: Query
) -> list[dict[str, Any]]:
    """Every page of the example automation's links for `params`."""
    return await follow_pages(session, automation_links_url(sim), params)


def results_of(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `results` rows of every page, in page order."""
    return [row for page in pages for row in page["results"]]


def assert_chained(pages: list[dict[str, Any]], first_url: URL) -> None:
    """Page 1 is `first_url`; each next is the following page's self and each prev the last's."""
    assert pages[0]["_metadata"]["self"] == str(first_url)
    assert "prev" not in pages[0]["_metadata"]
    for earlier, later in itertools.pairwise(pages):
        assert earlier["_metadata"]["next"] == later["_metadata"]["self"]
        assert later["_metadata"]["prev"] == earlier["_metadata"]["self"]
        assert URL(earlier["_metadata"]["next"]).origin() == first_url.origin()


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
    # The undocumented `created_at` is served only when asked for; it shows the order here.
    config = SimulatorConfig(
        deliveries_per_send=(20, 20), links_per_email=(5, 5), quirks=Quirks(unknown_fields=True)
    )
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
    """With every quirk on: missing and null attributes, unopened links, unknown fields."""
    config = SimulatorConfig(
        deliveries_per_send=(60, 60), links_per_email=(8, 8), quirks=Quirks.all()
    )
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


def test_paubox_rows_by_default_take_only_documented_forms() -> None:
    """No nulls, no undocumented row fields: an attribute is there, typed, or left out."""
    config = SimulatorConfig(deliveries_per_send=(60, 60), links_per_email=(8, 8))
    rows = paubox_tracking_links(config, SEND_ID)
    documented = {"target_url", "opened_at", "clicked", "campaign_mailing_delivery_id"}
    attributes = [row["attributes"] for row in rows]

    assert all(set(row) == {"id", "type", "attributes"} for row in rows)
    assert all(set(item) <= documented for item in attributes)
    assert not [name for item in attributes for name, value in item.items() if value is None]
    # Unopened links leave `opened_at` out and have clicked 0.
    assert any("opened_at" not in item and item.get("clicked") == 0 for item in attributes)
    assert all(item["target_url"].isascii() for item in attributes if "target_url" in item)
    # Every documented attribute is still missing from some row: the schema requires none.
    for name in documented:
        assert any(name not in item for item in attributes), name


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
    """Asked for raw URLs, a large send uses every URL of the pool, as UTF-8 without escapes."""
    config = SimulatorConfig(
        deliveries_per_send=(1, 1), links_per_email=(80, 80), quirks=Quirks(unicode_urls=True)
    )
    async with Simulator(config) as sim:
        answer = await get_paubox(session, sim)
    served = {row["attributes"].get("target_url") for row in answer.json()["data"]}
    assert served - {None} == set(URL_POOL)
    assert "https://例え.jp/ページ".encode() in answer.body


async def test_target_urls_are_uris_by_default(session: aiohttp.ClientSession) -> None:
    """By default non-ASCII URLs come percent- and IDNA-encoded (`format: uri`); the others,
    templates included, as they are."""
    config = SimulatorConfig(deliveries_per_send=(1, 1), links_per_email=(80, 80))
    async with Simulator(config) as sim:
        answer = await get_paubox(session, sim)
    served = {row["attributes"].get("target_url") for row in answer.json()["data"]} - {None}
    assert served == {url if url.isascii() else str(URL(url)) for url in URL_POOL}
    assert "https://xn--r8jz45g.jp/%E3%83%9A%E3%83%BC%E3%82%B8" in served
    assert "https://example.com/welcome?name={{first_name}}" in served


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


# Paubox: GET /analytics/campaign_mailing_sends_table


async def test_sends_table_lists_the_accounts_sends_in_one_body(
    session: aiohttp.ClientSession,
) -> None:
    """`data[]` of `{id, marketing_email_id, campaign_mailing_id, ..._created_at, sent_at, ...}`."""
    config = SimulatorConfig()
    async with Simulator(config) as sim:
        answer = await get(session, sends_table_url(sim), headers=PAUBOX_AUTH)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    rows = answer.json()["data"]
    assert rows == paubox_sends_table(config)
    assert {row["id"] for row in rows} == set(paubox_send_ids(config))
    assert len(rows) == 25
    for row in rows:
        assert list(row) == [
            "id",
            "marketing_email_id",
            "campaign_mailing_id",
            "campaign_mailing_created_at",
            "sent_at",
            "subscription_list_name",
        ]
        assert UTC_TIMESTAMP.fullmatch(row["sent_at"])
        assert UTC_TIMESTAMP.fullmatch(row["campaign_mailing_created_at"])
        assert row["campaign_mailing_created_at"] < row["sent_at"]
        assert row["subscription_list_name"] in SUBSCRIPTION_LIST_NAMES
    assert len({row["marketing_email_id"] for row in rows} | {row["id"] for row in rows}) == 50
    # Non-ASCII list names arrive as UTF-8, without escapes.
    assert any(not row["subscription_list_name"].isascii() for row in rows)
    assert "—".encode() in answer.body


async def test_sends_table_default_order_is_sent_at_descending(
    session: aiohttp.ClientSession,
) -> None:
    """Without `order_by` and `order`: the latest send first."""
    async with Simulator() as sim:
        rows = (await get(session, sends_table_url(sim), headers=PAUBOX_AUTH)).json()["data"]
    sent = [row["sent_at"] for row in rows]
    assert sent == sorted(sent, reverse=True)
    assert rows == paubox_sends_table(SimulatorConfig(), order_by="sent_at", order="desc")


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(
    "order_by", ["sent_at", "campaign_mailing_created_at", "subscription_list_name"]
)
async def test_sends_table_sorts_by_order_by_and_order(
    session: aiohttp.ClientSession, order_by: str, order: str
) -> None:
    """`order_by` names a column of the table, `order` its direction."""
    config = SimulatorConfig(seed=4)
    async with Simulator(config) as sim:
        answer = await get(
            session,
            sends_table_url(sim),
            params={"order_by": order_by, "order": order},
            headers=PAUBOX_AUTH,
        )
    rows = answer.json()["data"]
    assert rows == paubox_sends_table(config, order_by=order_by, order=order)
    served = [row[order_by] for row in rows]
    assert served == sorted(served, reverse=order == "desc")


@pytest.mark.parametrize(
    ("search", "matches"),
    [
        ("PATIENT", {"Patients — Spring 2024", "Praxis Müller: Patienten"}),
        ("clínica", {"Pacientes — Clínica Norte"}),
        ("お知らせ", {"患者さまへのお知らせ"}),
        ("no such list", set()),
    ],
)
async def test_sends_table_search_matches_list_names_case_insensitively(
    session: aiohttp.ClientSession, search: str, matches: set[str]
) -> None:
    """`search` keeps the sends whose list name contains it, ignoring case, in table order."""
    config = SimulatorConfig(seed=4)
    async with Simulator(config) as sim:
        answer = await get(
            session, sends_table_url(sim), params={"search": search}, headers=PAUBOX_AUTH
        )
    rows = answer.json()["data"]
    everything = paubox_sends_table(config)
    assert rows == [row for row in everything if row["subscription_list_name"] in matches]
    assert rows == paubox_sends_table(config, search=search)
    assert bool(rows) == bool(matches)


async def test_sends_table_empty_search_keeps_every_send(session: aiohttp.ClientSession) -> None:
    """An empty `search` filters nothing."""
    async with Simulator() as sim:
        answer = await get(
            session, sends_table_url(sim), params={"search": ""}, headers=PAUBOX_AUTH
        )
    assert answer.json()["data"] == paubox_sends_table(SimulatorConfig())


@pytest.mark.parametrize(
    ("query", "message", "parameter", "expected"),
    [
        (
            {"order_by": "created_at"},
            "order_by must be one of sent_at, campaign_mailing_created_at, subscription_list_name",
            "order_by",
            "sent_at, campaign_mailing_created_at, subscription_list_name",
        ),
        ({"order": "newest"}, "order must be asc or desc", "order", "asc or desc"),
    ],
)
async def test_sends_table_invalid_values_are_422(
    session: aiohttp.ClientSession,
    query: dict[str, str],
    message: str,
    parameter: str,
    expected: str,
) -> None:
    """Unknown sort columns and directions are 422 in Paubox's `Error` shape."""
    async with Simulator() as sim:
        answer = await get(session, sends_table_url(sim), params=query, headers=PAUBOX_AUTH)
    assert answer.status == 422
    assert answer.json() == {
        "error": message,
        "code": "unprocessable_entity",
        "details": {"parameter": parameter, "expected": expected},
    }


async def test_sends_table_lists_the_configured_sends(session: aiohttp.ClientSession) -> None:
    """`paubox_send_ids` names the account's sends; their send times are their links' times."""
    config = SimulatorConfig(
        paubox_send_ids=(SEND_ID.upper(), OTHER_ID), quirks=Quirks(unknown_fields=True)
    )
    async with Simulator(config) as sim:
        rows = (await get(session, sends_table_url(sim), headers=PAUBOX_AUTH)).json()["data"]
    assert {row["id"] for row in rows} == {SEND_ID, OTHER_ID}
    for row in rows:
        links = paubox_tracking_links(config, row["id"], order_by="created_at", order="asc")
        first_created = datetime.fromisoformat(links[0]["attributes"]["created_at"])
        assert datetime.fromisoformat(row["sent_at"]) == first_created


# Paubox: GET /analytics/tracking_links_by_unique_link


async def test_unique_link_totals_sum_the_tracking_links(session: aiohttp.ClientSession) -> None:
    """One row per link of the email; `clicked` sums its tracking rows, missing or null as 0."""
    config = SimulatorConfig(deliveries_per_send=(30, 30), links_per_email=(6, 6))
    query = {"campaign_mailing_send_id": SEND_ID}
    async with Simulator(config) as sim:
        answer = await get(session, unique_links_url(sim), params=query, headers=PAUBOX_AUTH)
        tracking = await get_paubox(session, sim, {**query, "order": "asc"})
    assert answer.status == 200
    rows = answer.json()["data"]
    assert rows == paubox_tracking_links_by_unique_link(config, SEND_ID)
    assert [row["html_id"] for row in rows] == [f"link-{index}" for index in range(6)]
    assert all(set(row) == {"html_id", "target_url", "clicked"} for row in rows)
    # Rows come delivery by delivery in the email's link order, so a row's position names its
    # link even where it lacks `target_url`.
    attributes = [row["attributes"] for row in tracking.json()["data"]]
    assert any("target_url" not in item for item in attributes)
    assert any(item.get("clicked", 0) is None or "clicked" not in item for item in attributes)
    sums = [0] * 6
    for position, item in enumerate(attributes):
        sums[position % 6] += item.get("clicked") or 0
        if item.get("target_url") is not None:
            assert item["target_url"] == rows[position % 6]["target_url"]
        if "html_id" in item:
            assert item["html_id"] == rows[position % 6]["html_id"]
    assert [row["clicked"] for row in rows] == sums
    assert sum(sums) > 0


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({}, 400, "param is missing or the value is empty: campaign_mailing_send_id"),
        (
            {"campaign_mailing_send_id": ""},
            400,
            "param is missing or the value is empty: campaign_mailing_send_id",
        ),
        ({"campaign_mailing_send_id": "1308ab8d"}, 422, "campaign_mailing_send_id must be a UUID"),
    ],
)
async def test_unique_link_totals_validate_the_send_id_as_tracking_links_do(
    session: aiohttp.ClientSession, query: dict[str, str], status: int, message: str
) -> None:
    """A missing send id is 400, a malformed one 422, in Paubox's `Error` shape."""
    async with Simulator() as sim:
        answer = await get(session, unique_links_url(sim), params=query, headers=PAUBOX_AUTH)
    assert answer.status == status
    assert answer.json() == {
        "error": message,
        "code": "bad_request" if status == 400 else "unprocessable_entity",
        "details": {"parameter": "campaign_mailing_send_id", "expected": "a UUID"},
    }


@pytest.mark.parametrize("path", ["campaign_mailing_sends_table", "tracking_links_by_unique_link"])
@pytest.mark.parametrize(
    ("username", "headers"),
    [("demo", {}), ("demo", {"authorization": "Token token=wrong"}), ("other", PAUBOX_AUTH)],
)
async def test_paubox_analytics_refuse_a_wrong_key_or_username_with_401(
    session: aiohttp.ClientSession, path: str, username: str, headers: dict[str, str]
) -> None:
    """The same 401 as tracking_links, before the query is looked at."""
    async with Simulator() as sim:
        url = sim.paubox_base_url / username / "analytics" / path
        answer = await get(
            session, url, params={"campaign_mailing_send_id": SEND_ID}, headers=headers
        )
    assert answer.status == 401
    assert answer.json() == {
        "error": "invalid API key or username",
        "code": "unauthorized",
        "details": {},
    }


async def test_unique_link_totals_meet_the_sends_behaviour(
    session: aiohttp.ClientSession,
) -> None:
    """Behaviours keyed by a send id apply to its per-link totals too."""
    config = SimulatorConfig(behaviors={SEND_ID: Behavior.FLAKY}, flaky_failures=1)
    query = {"campaign_mailing_send_id": SEND_ID}
    async with Simulator(config) as sim:
        statuses = [
            (await get(session, unique_links_url(sim), params=query, headers=PAUBOX_AUTH)).status
            for _ in range(2)
        ]
    assert statuses == [503, 200]


# Paubox: the newer base URL without username, /v1/marketing


async def test_paubox_marketing_base_url_serves_the_same_endpoints(
    session: aiohttp.ClientSession,
) -> None:
    """`https://api.paubox.com/v1/marketing` publishes the same paths, without a username."""
    send = {"campaign_mailing_send_id": SEND_ID}
    async with Simulator() as sim:
        answers = {}
        for base in (sim.paubox_base_url / "demo", sim.paubox_marketing_base_url):
            answers[base.path] = [
                await get(session, base / "tracking_links", params=send, headers=PAUBOX_AUTH),
                await get(
                    session,
                    base / "analytics/campaign_mailing_sends_table",
                    params={"order": "asc"},
                    headers=PAUBOX_AUTH,
                ),
                await get(
                    session,
                    base / "analytics/tracking_links_by_unique_link",
                    params=send,
                    headers=PAUBOX_AUTH,
                ),
            ]
        providers = {record.path: record.provider for record in sim.log.requests}
    orca, marketing = answers["/v1/orca/demo"], answers["/v1/marketing"]
    assert [answer.status for answer in marketing] == [200, 200, 200]
    assert [answer.body for answer in marketing] == [answer.body for answer in orca]
    assert set(providers.values()) == {"paubox"}
    assert "/v1/marketing/analytics/tracking_links_by_unique_link" in providers


async def test_paubox_marketing_base_url_checks_the_key_only(
    session: aiohttp.ClientSession,
) -> None:
    """No username in the path, so a wrong key is "invalid API key"; unknown paths are 404."""
    async with Simulator() as sim:
        refused = await get(
            session,
            sim.paubox_marketing_base_url / "tracking_links",
            params={"campaign_mailing_send_id": SEND_ID},
            headers={"authorization": "Token token=wrong"},
        )
        unknown = await get(
            session, sim.paubox_marketing_base_url / "campaigns", headers=PAUBOX_AUTH
        )
    assert refused.status == 401
    assert refused.json() == {"error": "invalid API key", "code": "unauthorized", "details": {}}
    assert unknown.status == 404
    assert unknown.json() == {"error": "not found", "code": "not_found", "details": {}}


async def test_both_paubox_base_urls_share_one_rate_limit_window(
    session: aiohttp.ClientSession,
) -> None:
    """One key, one budget, whichever base URL a request uses."""
    limit = RateLimit(limit=1, window=ENDLESS_WINDOW)
    async with Simulator(SimulatorConfig(paubox_rate_limit=limit)) as sim:
        first = await get_paubox(session, sim)
        second = await get(
            session,
            sim.paubox_marketing_base_url / "analytics/campaign_mailing_sends_table",
            headers=PAUBOX_AUTH,
        )
    assert (first.status, second.status) == (200, 429)
    assert second.json() == {
        "error": "too many requests",
        "code": "too_many_requests",
        "details": {},
    }


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


async def test_rows_carry_their_step_when_grouped_by_step_and_all_otherwise(
    session: aiohttp.ClientSession,
) -> None:
    """Grouped, each row names its step; ungrouped, "step_id": "all", as SendGrid answers."""
    config = SimulatorConfig(steps_per_automation=(3, 3), links_per_step=(6, 6))
    async with Simulator(config) as sim:
        grouped = await all_pages(session, sim, {"group_by": "step_id", "page_size": "50"})
        ungrouped = await all_pages(session, sim, {"page_size": "50"})
    steps = sendgrid_automation_steps(config, AUTOMATION_ID)
    grouped_rows = [row for page in grouped for row in page["results"]]
    ungrouped_rows = [row for page in ungrouped for row in page["results"]]
    assert {row["step_id"] for row in grouped_rows} == set(steps)
    assert all(set(row) == {"url", "url_location", "step_id", "clicks"} for row in ungrouped_rows)
    assert {row["step_id"] for row in ungrouped_rows} == {"all"}
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


# SendGrid: GET /v3/marketing/stats/automations and /v3/marketing/stats/singlesends


@pytest.mark.parametrize(
    ("listing", "list_rows"),
    [("automations", sendgrid_automation_list), ("singlesends", sendgrid_single_send_list)],
)
async def test_listings_page_to_the_end_with_absolute_links(
    session: aiohttp.ClientSession, listing: str, list_rows: ListingFunction
) -> None:
    """`AutomationsResponse`/`SinglesendsResponse` pages, chained by `_metadata.next` and `prev`."""
    config = SimulatorConfig()
    expected = list_rows(config)
    async with Simulator(config) as sim:
        url = sim.sendgrid_base_url / "v3/marketing/stats" / listing
        pages = await follow_pages(session, url, {"page_size": "7"})
    assert len(pages) == math.ceil(len(expected) / 7) > 2
    assert results_of(pages) == expected
    assert {page["_metadata"]["count"] for page in pages} == {len(expected)}
    assert all(set(page) == {"results", "_metadata"} for page in pages)
    assert_chained(pages, url.with_query(page_size="7"))
    assert all(len(page["results"]) == 7 for page in pages[:-1])


async def test_automation_listing_rows_follow_the_spec(session: aiohttp.ClientSession) -> None:
    """Each row: the id, aggregation "total", step_id "all" and all twelve `Metrics`."""
    config = SimulatorConfig()
    async with Simulator(config) as sim:
        rows = results_of(await follow_pages(session, automations_url(sim), {"page_size": "50"}))
    assert [row["id"] for row in rows] == list(sendgrid_automation_ids(config))
    assert len(rows) == 30
    for row in rows:
        assert set(row) == {"id", "aggregation", "step_id", "stats"}
        assert (row["aggregation"], row["step_id"]) == ("total", "all")
        assert set(row["stats"]) == METRICS
        assert all(type(value) is int for value in row["stats"].values())


async def test_single_send_listing_rows_follow_the_spec(session: aiohttp.ClientSession) -> None:
    """Each row: the id, ab_variation and ab_phase "all", aggregation "total" and `Metrics`."""
    config = SimulatorConfig()
    async with Simulator(config) as sim:
        rows = results_of(await follow_pages(session, single_sends_url(sim), {"page_size": "50"}))
    assert [row["id"] for row in rows] == list(sendgrid_single_send_ids(config))
    assert len(rows) == 20
    for row in rows:
        assert set(row) == {"id", "ab_variation", "ab_phase", "aggregation", "stats"}
        assert (row["ab_variation"], row["ab_phase"], row["aggregation"]) == ("all", "all", "total")
        assert set(row["stats"]) == METRICS


async def test_listings_default_page_size_is_25(session: aiohttp.ClientSession) -> None:
    """`page_size` "default: 25", as for the links endpoints."""
    async with Simulator() as sim:
        body = (await get(session, automations_url(sim), headers=SENDGRID_AUTH)).json()
    assert body["_metadata"]["count"] == 30
    assert len(body["results"]) == 25
    assert URL(body["_metadata"]["next"]).query["page_size"] == "25"


@pytest.mark.parametrize(
    ("listing", "filter_name", "account_ids"),
    [
        ("automations", "automation_ids", sendgrid_automation_ids),
        ("singlesends", "singlesend_ids", sendgrid_single_send_ids),
    ],
)
async def test_listing_filter_keeps_the_accounts_ids_in_listing_order(
    session: aiohttp.ClientSession, listing: str, filter_name: str, account_ids: IdsFunction
) -> None:
    """One comma-separated value; ids the account lacks match nothing; case does not matter."""
    listed = account_ids(SimulatorConfig())
    chosen = f"{listed[5]},{OTHER_ID},{listed[2].upper()}"
    async with Simulator() as sim:
        url = sim.sendgrid_base_url / "v3/marketing/stats" / listing
        pages = await follow_pages(session, url, {filter_name: chosen, "page_size": "1"})
    assert [row["id"] for row in results_of(pages)] == [listed[2], listed[5]]
    assert pages[0]["_metadata"]["count"] == 2
    assert URL(pages[0]["_metadata"]["next"]).query[filter_name] == chosen


async def test_account_listings_come_from_the_config(session: aiohttp.ClientSession) -> None:
    """Configured ids are listed in their order, in lower case; an empty account lists nothing."""
    first, second = OTHER_ID, AUTOMATION_ID.upper()
    config = SimulatorConfig(automation_ids=(first, second), single_send_ids=())
    async with Simulator(config) as sim:
        automations = (await get(session, automations_url(sim), headers=SENDGRID_AUTH)).json()
        single_sends = (await get(session, single_sends_url(sim), headers=SENDGRID_AUTH)).json()
        empty_self = str(single_sends_url(sim).with_query(page_size="25"))
    assert [row["id"] for row in automations["results"]] == [first, AUTOMATION_ID]
    assert sendgrid_automation_ids(config) == (first, AUTOMATION_ID)
    assert single_sends == {"results": [], "_metadata": {"self": empty_self, "count": 0}}


def test_listings_drawn_from_the_seed_are_distinct_uuids_per_seed() -> None:
    """Without configured ids: 30 automations, 20 single sends, 25 Paubox sends, per seed."""
    drawn = SimulatorConfig(seed=1)
    assert len(set(sendgrid_automation_ids(drawn))) == 30
    assert len(set(sendgrid_single_send_ids(drawn))) == 20
    assert len(set(paubox_send_ids(drawn))) == 25
    assert sendgrid_automation_ids(drawn) == sendgrid_automation_ids(SimulatorConfig(seed=1))
    assert sendgrid_automation_ids(drawn) != sendgrid_automation_ids(SimulatorConfig(seed=2))
    assert all(re.fullmatch(r"[0-9a-f-]{36}", send_id) for send_id in paubox_send_ids(drawn))


async def test_automation_listing_clicks_are_the_sum_of_its_links(
    session: aiohttp.ClientSession,
) -> None:
    """`stats.clicks` of an automation equals the clicks its links endpoint reports."""
    config = SimulatorConfig()
    async with Simulator(config) as sim:
        rows = results_of(await follow_pages(session, automations_url(sim), {"page_size": "50"}))
        first_links = await follow_pages(session, automation_links_url(sim, rows[0]["id"]))
    assert rows[0]["stats"]["clicks"] == first_links[0]["total_clicks"] > 0
    for row in rows:
        links = sendgrid_automation_links(config, row["id"])
        assert row["stats"]["clicks"] == sum(link["clicks"] for link in links)


async def test_single_send_listing_clicks_are_the_sum_of_its_links(
    session: aiohttp.ClientSession,
) -> None:
    """`stats.clicks` of a single send equals the clicks its links endpoint reports."""
    config = SimulatorConfig()
    async with Simulator(config) as sim:
        rows = results_of(await follow_pages(session, single_sends_url(sim), {"page_size": "50"}))
        first_links = await follow_pages(session, single_send_links_url(sim, rows[0]["id"]))
    assert rows[0]["stats"]["clicks"] == first_links[0]["total_clicks"] > 0
    for row in rows:
        links = sendgrid_single_send_links(config, row["id"])
        assert row["stats"]["clicks"] == sum(link["clicks"] for link in links)


def test_listing_metrics_are_plausible() -> None:
    """requests >= delivered >= opens >= unique_opens >= unique_clicks, and clicks >= unique."""
    config = SimulatorConfig(seed=5)
    for row in sendgrid_automation_list(config) + sendgrid_single_send_list(config):
        stats = row["stats"]
        assert stats["requests"] >= stats["delivered"] >= stats["opens"]
        assert stats["opens"] >= stats["unique_opens"] >= stats["unique_clicks"] >= 0
        assert stats["clicks"] >= stats["unique_clicks"]
        assert (stats["clicks"] > 0) == (stats["unique_clicks"] > 0)
        assert stats["bounces"] >= stats["bounce_drops"]


def listing_400_cases() -> list[tuple[str, Query, str, str, str]]:
    """Each refused listing query with its field, message and help, for both listings."""
    cases: list[tuple[str, Query, str, str, str]] = []
    for listing, name in (("automations", "automation_ids"), ("singlesends", "singlesend_ids")):
        too_few_or_many = f"{name} must list 1 to 25 ids"
        ids_expected = "one comma-separated list of 1 to 25 ids"
        repeated = f"{name} must be one comma-separated value, not a repeated key"
        cases += [
            (
                listing,
                [(name, OTHER_ID), (name, AUTOMATION_ID)],
                name,
                repeated,
                f"one {name} parameter",
            ),
            (listing, {name: ""}, name, too_few_or_many, ids_expected),
            (listing, {name: f"{OTHER_ID},,{AUTOMATION_ID}"}, name, too_few_or_many, ids_expected),
            (listing, {name: ",".join([OTHER_ID] * 26)}, name, too_few_or_many, ids_expected),
            (
                listing,
                {"page_size": "51"},
                "page_size",
                "page_size must be an integer from 1 to 50",
                "an integer from 1 to 50",
            ),
            (
                listing,
                {"page_token": "b2Zmc2V0Ojk5OTk"},
                "page_token",
                "invalid page_token",
                "a _metadata.next link",
            ),
        ]
    return cases


@pytest.mark.parametrize(("listing", "query", "field", "message", "expected"), listing_400_cases())
async def test_listing_invalid_requests_are_400(
    session: aiohttp.ClientSession,
    listing: str,
    query: Query,
    field: str,
    message: str,
    expected: str,
) -> None:
    """`minItems: 1`, `maxItems: 25`, `explode: false`, page bounds and tokens, as `Stats400`."""
    async with Simulator() as sim:
        url = sim.sendgrid_base_url / "v3/marketing/stats" / listing
        answer = await get(session, url, params=query, headers=SENDGRID_AUTH)
    assert answer.status == 400
    body = answer.json()
    assert body == sendgrid_400(field, message, expected, body["id"])


async def test_listing_accepts_25_ids(session: aiohttp.ClientSession) -> None:
    """`maxItems: 25` is a bound, not a limit past it."""
    listed = sendgrid_automation_ids(SimulatorConfig())[:25]
    async with Simulator() as sim:
        answer = await get(
            session,
            automations_url(sim),
            params={"automation_ids": ",".join(listed), "page_size": "50"},
            headers=SENDGRID_AUTH,
        )
    assert answer.status == 200
    assert [row["id"] for row in answer.json()["results"]] == list(listed)


@pytest.mark.parametrize("listing", ["automations", "singlesends"])
async def test_listings_refuse_a_wrong_key_with_401(
    session: aiohttp.ClientSession, listing: str
) -> None:
    """401 `authorization required`, with the rate-limit headers every SendGrid answer carries."""
    async with Simulator() as sim:
        url = sim.sendgrid_base_url / "v3/marketing/stats" / listing
        answer = await get(session, url, headers={"Authorization": "Bearer SG.wrong"})
    assert answer.status == 401
    assert answer.json() == {"errors": [{"field": None, "message": "authorization required"}]}
    assert all(name in answer.headers for name in RATE_LIMIT_HEADERS)


# SendGrid: GET /v3/marketing/stats/singlesends/{id}/links

# Every single send of this config is A/B tested with three variations of eight links.
AB_TESTED = SimulatorConfig(variations_per_single_send=(3, 3), links_per_variation=(8, 8))


async def test_single_send_links_page_to_the_end_with_absolute_links(
    session: aiohttp.ClientSession,
) -> None:
    """`SinglesendsLinkStatsResponse`: results, total_clicks and `_metadata` as for automations."""
    query = {"group_by": "ab_variation,ab_phase", "page_size": "4"}
    expected = sendgrid_single_send_links(
        AB_TESTED, SINGLE_SEND_ID, group_by=("ab_variation", "ab_phase")
    )
    async with Simulator(AB_TESTED) as sim:
        pages = await follow_pages(session, single_send_links_url(sim), query)
        first_url = single_send_links_url(sim).with_query(query)
    assert len(pages) == math.ceil(len(expected) / 4) > 2
    assert results_of(pages) == expected
    assert {page["total_clicks"] for page in pages} == {sum(row["clicks"] for row in expected)}
    assert {page["_metadata"]["count"] for page in pages} == {len(expected)}
    assert_chained(pages, first_url)
    for page in pages[1:]:
        assert URL(page["_metadata"]["self"]).query["group_by"] == "ab_variation,ab_phase"
    for row in expected:
        assert set(row) == {"url", "url_location", "ab_variation", "ab_phase", "clicks"}
        assert row["clicks"] >= 1  # "clicks": {"minimum": 1}
        assert row["url"] in {url if url.isascii() else str(URL(url)) for url in URL_POOL}


def regroup(
    cells: list[dict[str, Any]],
    group_by: Sequence[str],
    ab_variation_id: str | None,
    ab_phase_id: str | None,
) -> dict[tuple[str, int, str, str], int]:
    """What the spec says a query serves, worked out from the fully grouped rows."""
    totals: dict[tuple[str, int, str, str], int] = {}
    for cell in cells:
        if ab_variation_id not in (None, cell["ab_variation"]):
            continue
        if ab_phase_id not in (None, cell["ab_phase"]):
            continue
        variation = cell["ab_variation"] if "ab_variation" in group_by else ab_variation_id
        phase = cell["ab_phase"] if "ab_phase" in group_by else ab_phase_id
        key = (cell["url"], cell["url_location"], variation or "all", phase or "all")
        totals[key] = totals.get(key, 0) + cell["clicks"]
    return totals


@pytest.mark.parametrize(
    "group_by", [(), ("ab_variation",), ("ab_phase",), ("ab_phase", "ab_variation")]
)
@pytest.mark.parametrize("filter_variation", [False, True])
@pytest.mark.parametrize("ab_phase_id", [None, "test", "send"])
async def test_single_send_links_group_and_filter(
    session: aiohttp.ClientSession,
    group_by: tuple[str, ...],
    filter_variation: bool,
    ab_phase_id: str | None,
) -> None:
    """Fields not grouped by are summed as "all", or reported as the value their filter kept."""
    cells = sendgrid_single_send_links(
        AB_TESTED, SINGLE_SEND_ID, group_by=("ab_variation", "ab_phase")
    )
    # The winning variation, the one sent in both phases.
    winner = next(cell["ab_variation"] for cell in cells if cell["ab_phase"] == "send")
    ab_variation_id = winner if filter_variation else None
    query = {"page_size": "50"}
    if group_by:
        query["group_by"] = ",".join(group_by)
    if ab_variation_id is not None:
        query["ab_variation_id"] = ab_variation_id
    if ab_phase_id is not None:
        query["ab_phase_id"] = ab_phase_id
    async with Simulator(AB_TESTED) as sim:
        pages = await follow_pages(session, single_send_links_url(sim), query)
    rows = results_of(pages)
    assert rows == sendgrid_single_send_links(
        AB_TESTED,
        SINGLE_SEND_ID,
        group_by=group_by,
        ab_variation_id=ab_variation_id,
        ab_phase_id=ab_phase_id,
    )
    expected = regroup(cells, group_by, ab_variation_id, ab_phase_id)
    served = {
        (row["url"], row["url_location"], row["ab_variation"], row["ab_phase"]): row["clicks"]
        for row in rows
    }
    assert served == expected
    assert len(rows) == len(expected) > 0
    assert pages[0]["total_clicks"] == sum(expected.values())


async def test_ab_test_sends_every_variation_in_test_and_the_winner_alone(
    session: aiohttp.ClientSession,
) -> None:
    """Phases `test` and `send`: all variations go to the test sample, one to the rest."""
    variations = sendgrid_single_send_variations(AB_TESTED, SINGLE_SEND_ID)
    query = {"group_by": "ab_variation,ab_phase", "page_size": "50"}
    async with Simulator(AB_TESTED) as sim:
        rows = results_of(await follow_pages(session, single_send_links_url(sim), query))
    assert len(set(variations)) == 3
    assert {row["ab_variation"] for row in rows if row["ab_phase"] == "test"} == set(variations)
    assert len({row["ab_variation"] for row in rows if row["ab_phase"] == "send"}) == 1


async def test_single_send_without_ab_test_has_one_variation_sent_once(
    session: aiohttp.ClientSession,
) -> None:
    """No A/B test: one variation, phase `send` only, so `ab_phase_id=test` finds nothing."""
    config = SimulatorConfig(variations_per_single_send=(1, 1))
    (variation,) = sendgrid_single_send_variations(config, SINGLE_SEND_ID)
    async with Simulator(config) as sim:
        grouped = await follow_pages(
            session, single_send_links_url(sim), {"group_by": "ab_variation,ab_phase"}
        )
        tested = await follow_pages(session, single_send_links_url(sim), {"ab_phase_id": "test"})
    assert {(row["ab_variation"], row["ab_phase"]) for row in results_of(grouped)} == {
        (variation, "send")
    }
    assert tested[0]["results"] == []
    assert tested[0]["total_clicks"] == 0
    assert tested[0]["_metadata"]["count"] == 0


async def test_unknown_variation_matches_nothing(session: aiohttp.ClientSession) -> None:
    """A well-formed `ab_variation_id` the send lacks filters everything out."""
    async with Simulator() as sim:
        answer = await get(
            session,
            single_send_links_url(sim),
            params={"ab_variation_id": OTHER_ID},
            headers=SENDGRID_AUTH,
        )
    assert answer.status == 200
    assert answer.json()["results"] == []
    assert answer.json()["total_clicks"] == 0


@pytest.mark.parametrize(
    ("single_send_id", "query", "field", "message", "expected"),
    [
        ("single-send-1", {}, "id", "id must be a UUID", "a UUID"),
        (
            SINGLE_SEND_ID,
            {"group_by": "step_id"},
            "group_by",
            "group_by must be ab_variation, ab_phase or both",
            "one comma-separated list of ab_variation and ab_phase",
        ),
        (
            SINGLE_SEND_ID,
            {"group_by": "ab_variation,"},
            "group_by",
            "group_by must be ab_variation, ab_phase or both",
            "one comma-separated list of ab_variation and ab_phase",
        ),
        (
            SINGLE_SEND_ID,
            [("group_by", "ab_variation"), ("group_by", "ab_phase")],
            "group_by",
            "group_by must be one comma-separated value, not a repeated key",
            "one group_by parameter",
        ),
        (
            SINGLE_SEND_ID,
            {"ab_variation_id": "variation-a"},
            "ab_variation_id",
            "ab_variation_id must be a UUID",
            "a UUID",
        ),
        (
            SINGLE_SEND_ID,
            {"ab_phase_id": "all"},
            "ab_phase_id",
            "ab_phase_id must be test or send",
            "test or send",
        ),
        (
            SINGLE_SEND_ID,
            [("ab_phase_id", "test"), ("ab_phase_id", "send")],
            "ab_phase_id",
            "ab_phase_id must be given once",
            "one ab_phase_id parameter",
        ),
        (
            SINGLE_SEND_ID,
            {"page_size": "0"},
            "page_size",
            "page_size must be an integer from 1 to 50",
            "an integer from 1 to 50",
        ),
        (
            SINGLE_SEND_ID,
            {"page_token": "b2Zmc2V0Ojk5OTk"},
            "page_token",
            "invalid page_token",
            "a _metadata.next link",
        ),
    ],
)
async def test_single_send_links_invalid_requests_are_400(
    session: aiohttp.ClientSession,
    single_send_id: str,
    query: Query,
    field: str,
    message: str,
    expected: str,
) -> None:
    """`Items2` (`ab_variation`, `ab_phase`), `format: uuid`, `AbPhaseId` (`test`, `send`)."""
    async with Simulator() as sim:
        url = single_send_links_url(sim, single_send_id)
        answer = await get(session, url, params=query, headers=SENDGRID_AUTH)
    assert answer.status == 400
    body = answer.json()
    assert body == sendgrid_400(field, message, expected, body["id"])


async def test_single_send_links_refuse_a_wrong_key_with_401(
    session: aiohttp.ClientSession,
) -> None:
    """401 `authorization required`, before the query is even looked at."""
    async with Simulator() as sim:
        answer = await get(session, single_send_links_url(sim, "nope"), headers=PAUBOX_AUTH)
    assert answer.status == 401
    assert answer.json() == {"errors": [{"field": None, "message": "authorization required"}]}


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
    config = SimulatorConfig(clock_offset=offset, rate_limit=RateLimit(limit=5, window=1.0))
    async with Simulator(config) as sim, aiohttp.ClientSession() as session:
        before = time.time()
        async with session.get(
            automation_links_url(sim),
            headers={"Authorization": f"Bearer {config.sendgrid_api_key}"},
        ) as response:
            after = time.time()
            stamped = email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()
            reset = int(response.headers["X-RateLimit-Reset"])

    assert math.floor(before + offset) <= stamped <= after + offset
    assert before + offset < reset <= after + offset + 1


async def test_a_far_reset_is_an_hour_ahead_once() -> None:
    """FAR_RESET_FIRST: one 429 whose reset lies an hour away, then the data."""
    config = SimulatorConfig(behaviors={AUTOMATION_ID: Behavior.FAR_RESET_FIRST})
    headers = {"Authorization": f"Bearer {config.sendgrid_api_key}"}
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
    headers = {"Authorization": f"Bearer {config.sendgrid_api_key}"}
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
    headers = {"Authorization": f"Bearer {config.sendgrid_api_key}"}
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
    headers = {"Authorization": f"Bearer {config.sendgrid_api_key}", "Host": host}
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
    headers = {"Authorization": f"Bearer {config.sendgrid_api_key}"}
    async with Simulator(config) as sim, aiohttp.ClientSession() as session:
        for size in range(1, 6):
            url = automation_links_url(sim).with_query(page_size=str(size))
            async with session.get(url, headers=headers) as response:
                await response.read()

    assert sim.log.count() == 3
    assert [dict(record.query)["page_size"] for record in sim.log.requests] == ["3", "4", "5"]
