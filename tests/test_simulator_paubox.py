"""The simulated Paubox Marketing API at the wire level: `linkstats.testing.paubox`.

The quotes come from Paubox's Marketing OpenAPI and `paubox-tracking-links.md`.
"""

from datetime import datetime
from typing import Any

import aiohttp
import pytest
from simulator_http import (
    ENDLESS_WINDOW,
    OTHER_ID,
    PAUBOX_AUTH,
    RATE_LIMIT_HEADERS,
    SEND_ID,
    SENDGRID_AUTH,
    TIMESTAMP,
    UTC_TIMESTAMP,
    automation_links_url,
    get,
    get_paubox,
    sends_table_url,
    tracking_links_url,
    unique_links_url,
)
from yarl import URL

from linkstats.testing import (
    SUBSCRIPTION_LIST_NAMES,
    URL_POOL,
    Behavior,
    PauboxConfig,
    PauboxErrorShape,
    Quirks,
    RateLimit,
    Simulator,
    SimulatorConfig,
    paubox_send_ids,
    paubox_sends_table,
    paubox_tracking_links,
    paubox_tracking_links_by_unique_link,
)

# Paubox: GET /tracking_links


async def test_paubox_serves_every_row_of_a_send_in_one_body(
    session: aiohttp.ClientSession,
) -> None:
    """One row per link per delivered email, all in one unpaginated body."""
    config = SimulatorConfig(
        paubox=PauboxConfig(deliveries_per_send=(3, 3), links_per_email=(4, 4))
    )
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
    config = SimulatorConfig(
        paubox=PauboxConfig(deliveries_per_send=(250, 250), links_per_email=(6, 6))
    )
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
    async with Simulator(SimulatorConfig(paubox=PauboxConfig(error_shape=shape))) as sim:
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
        paubox=PauboxConfig(deliveries_per_send=(20, 20), links_per_email=(5, 5)),
        quirks=Quirks(unknown_fields=True),
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
        paubox=PauboxConfig(deliveries_per_send=(60, 60), links_per_email=(8, 8)),
        quirks=Quirks.all(),
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
    config = SimulatorConfig(
        paubox=PauboxConfig(deliveries_per_send=(60, 60), links_per_email=(8, 8))
    )
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
        paubox=PauboxConfig(deliveries_per_send=(1, 1), links_per_email=(80, 80)),
        quirks=Quirks(unicode_urls=True),
    )
    async with Simulator(config) as sim:
        answer = await get_paubox(session, sim)
    served = {row["attributes"].get("target_url") for row in answer.json()["data"]}
    assert served - {None} == set(URL_POOL)
    assert "https://例え.jp/ページ".encode() in answer.body


async def test_target_urls_are_uris_by_default(session: aiohttp.ClientSession) -> None:
    """By default non-ASCII URLs come percent- and IDNA-encoded (`format: uri`); the others,
    templates included, as they are."""
    config = SimulatorConfig(
        paubox=PauboxConfig(deliveries_per_send=(1, 1), links_per_email=(80, 80))
    )
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
        paubox=PauboxConfig(send_ids=(SEND_ID.upper(), OTHER_ID)),
        quirks=Quirks(unknown_fields=True),
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
    config = SimulatorConfig(
        paubox=PauboxConfig(deliveries_per_send=(30, 30), links_per_email=(6, 6))
    )
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
    async with Simulator(SimulatorConfig(paubox=PauboxConfig(rate_limit=limit))) as sim:
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
