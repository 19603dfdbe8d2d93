"""Plain aiohttp requests against the simulator, shared by the simulator's wire-level tests.

Each behaviour the tests pin follows the provider references (Paubox's Marketing OpenAPI,
SendGrid's `tsg_mc_stats_v3.json`); the tests' quotes say which.
"""

import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp
import attrs
from multidict import CIMultiDictProxy
from yarl import URL

from linkstats.testing import (
    Simulator,
    SimulatorConfig,
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
