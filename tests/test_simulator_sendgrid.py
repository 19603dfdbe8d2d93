"""The simulated SendGrid stats API at the wire level: `linkstats.testing.sendgrid`.

The quotes come from SendGrid's own OpenAPI file, `tsg_mc_stats_v3.json`.
"""

import itertools
import math
import re
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import pytest
from simulator_http import (
    AUTOMATION_ID,
    METRICS,
    OTHER_ID,
    PAUBOX_AUTH,
    RATE_LIMIT_HEADERS,
    SENDGRID_AUTH,
    SINGLE_SEND_ID,
    IdsFunction,
    ListingFunction,
    Query,
    all_pages,
    assert_chained,
    automation_links_url,
    automations_url,
    follow_pages,
    get,
    get_sendgrid,
    results_of,
    sendgrid_400,
    single_send_links_url,
    single_sends_url,
)
from yarl import URL

from linkstats.testing import (
    URL_POOL,
    SendGridConfig,
    Simulator,
    SimulatorConfig,
    paubox_send_ids,
    sendgrid_automation_ids,
    sendgrid_automation_links,
    sendgrid_automation_list,
    sendgrid_automation_steps,
    sendgrid_single_send_ids,
    sendgrid_single_send_links,
    sendgrid_single_send_list,
    sendgrid_single_send_variations,
)

# SendGrid: GET /v3/marketing/stats/automations/{id}/links


async def test_sendgrid_pages_to_the_end_with_absolute_links(
    session: aiohttp.ClientSession,
) -> None:
    """`_metadata.next` is a full URL to call as-is, absent on the last page; count spans pages."""
    config = SimulatorConfig(
        sendgrid=SendGridConfig(steps_per_automation=(3, 3), links_per_step=(6, 6))
    )
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
    config = SimulatorConfig(
        sendgrid=SendGridConfig(steps_per_automation=(4, 4), links_per_step=(12, 12))
    )
    async with Simulator(config) as sim:
        body = (await get_sendgrid(session, sim, {"group_by": "step_id"})).json()
    assert body["_metadata"]["count"] > 25
    assert len(body["results"]) == 25
    assert URL(body["_metadata"]["next"]).query["page_size"] == "25"


async def test_rows_carry_their_step_when_grouped_by_step_and_all_otherwise(
    session: aiohttp.ClientSession,
) -> None:
    """Grouped, each row names its step; ungrouped, "step_id": "all", as SendGrid answers."""
    config = SimulatorConfig(
        sendgrid=SendGridConfig(steps_per_automation=(3, 3), links_per_step=(6, 6))
    )
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
    config = SimulatorConfig(
        sendgrid=SendGridConfig(steps_per_automation=(3, 3), links_per_step=(6, 6))
    )
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
    config = SimulatorConfig(
        sendgrid=SendGridConfig(steps_per_automation=(4, 4), links_per_step=(20, 20))
    )
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
    """Paths under /v3 answer in SendGrid's shape; paths of no provider in plain text."""
    async with Simulator() as sim:
        sendgrid = await get(session, sim.url / "v3/marketing/singlesends", headers=SENDGRID_AUTH)
        neither = await get(session, sim.url / "favicon.ico")
    assert sendgrid.status == 404
    body = sendgrid.json()
    assert body == {"errors": [{"field": None, "message": "not found"}], "id": body["id"]}
    assert (neither.status, neither.body, neither.headers["Content-Type"]) == (
        404,
        b"404: not found",
        "text/plain; charset=utf-8",
    )
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
    config = SimulatorConfig(
        sendgrid=SendGridConfig(automation_ids=(first, second), single_send_ids=())
    )
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
AB_TESTED = SimulatorConfig(
    sendgrid=SendGridConfig(variations_per_single_send=(3, 3), links_per_variation=(8, 8))
)


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
    config = SimulatorConfig(sendgrid=SendGridConfig(variations_per_single_send=(1, 1)))
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
