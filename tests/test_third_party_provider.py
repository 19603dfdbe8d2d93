"""A provider from outside the package, registered as another package would register it.

``example_provider`` uses only linkstats's public contract; a small aiohttp app here serves
its API. It is registered through a ``linkstats.providers`` entry point in a distribution's
metadata on ``sys.path``, the path ``pip install`` gives any other package.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from conftest import serving, without_credentials
from example_provider import (
    MAX_CONNECTIONS,
    PROVIDER,
    MailchimpCampaign,
    MailchimpSource,
)

from linkstats import (
    AuthenticationError,
    Campaign,
    InvalidRequestError,
    LinkClick,
    LinkStats,
    Listing,
    NotFoundError,
    ProviderMessage,
    registered_providers,
)
from linkstats.reports import to_dict

API_KEY = "0123456789abcdef0123456789abcdef-us6"
TESTS = Path(__file__).parent
# Campaigns of 0, 1, 10, 25 and 31 clicked links; ids are ten hex digits.
LINKS = {f"{number:010x}": number for number in (0, 1, 10, 25, 31)}
MISSING = "00000000ff"


def rows(campaign_id: str) -> list[dict[str, Any]]:
    """What the API knows of a campaign's links, as Mailchimp shapes them."""
    return [
        {
            "id": f"{campaign_id}-{index}",
            "url": f"https://example.com/{campaign_id}/{index}?name={{{{first_name}}}}",
            "total_clicks": index + 1,
            "unique_clicks": 1,
            "click_percentage": 0.5,
            "campaign_id": campaign_id,
        }
        for index in range(LINKS[campaign_id])
    ]


def expected(campaign_id: str) -> list[LinkClick]:
    """The records the provider should make: written here from the rows, not from its code."""
    return [
        LinkClick(
            provider="mailchimp",
            source_id=campaign_id,
            url=row["url"],
            clicks=row["total_clicks"],
            link_id=row["id"],
        )
        for row in rows(campaign_id)
    ]


def problem_body(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": "995c5cb0-3280-4a6e-808b-3b096d0bb219",
        **extra,
    }


def problem(status: int, title: str, detail: str, **extra: Any) -> web.Response:
    body = problem_body(status, title, detail, **extra)
    return web.json_response(body, status=status, content_type="application/problem+json")


Handler = Callable[[web.Request, int, int], Awaitable[web.Response]]


class Api:
    """The API's two endpoints, counting requests and connections in flight."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        # Handlers hold their answer until this many are in flight at once, so the test sees
        # the most the client sends together; more than the cap would deadlock nothing.
        self.hold_until = 0
        self.enough = asyncio.Event()

    async def click_details(self, request: web.Request) -> web.Response:
        return await self._answer(request, self._click_details)

    async def campaigns(self, request: web.Request) -> web.Response:
        return await self._answer(request, self._campaigns)

    async def _answer(self, request: web.Request, handler: Handler) -> web.Response:
        self.requests.append(request.path_qs)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.in_flight >= self.hold_until:
                self.enough.set()
            await self.enough.wait()
            expected_auth = "Basic " + base64.b64encode(f"linkstats:{API_KEY}".encode()).decode()
            if request.headers.get("Authorization") != expected_auth:
                return problem(401, "API Key Invalid", "Your API key may be invalid.")
            count, offset = request.query.get("count", "10"), request.query.get("offset", "0")
            if not count.isdigit() or not 1 <= int(count) <= 1000 or not offset.isdigit():
                return problem(
                    400,
                    "Invalid Resource",
                    "The resource submitted could not be validated.",
                    errors=[{"field": "count", "message": "Must be from 1 to 1000."}],
                )
            return await handler(request, int(offset), int(count))
        finally:
            self.in_flight -= 1

    async def _click_details(self, request: web.Request, offset: int, count: int) -> web.Response:
        campaign_id = request.match_info["campaign_id"]
        if campaign_id not in LINKS:
            return problem(404, "Resource Not Found", "The requested resource could not be found.")
        page = rows(campaign_id)[offset : offset + count]
        return web.json_response(
            {"urls_clicked": page, "campaign_id": campaign_id, "total_items": LINKS[campaign_id]}
        )

    async def _campaigns(self, request: web.Request, offset: int, count: int) -> web.Response:
        listed = [
            {"id": campaign_id, "settings": {"title": f"Campaign {number}"}}
            for campaign_id, number in LINKS.items()
        ]
        return web.json_response(
            {"campaigns": listed[offset : offset + count], "total_items": len(listed)}
        )


@pytest.fixture
async def api() -> AsyncIterator[tuple[Api, str]]:
    served = Api()
    app = web.Application()
    app.router.add_get("/3.0/reports/{campaign_id}/click-details", served.click_details)
    app.router.add_get("/3.0/campaigns", served.campaigns)
    async with serving(app) as origin:
        yield served, f"{origin}/3.0"


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[Path]:
    """A distribution whose metadata registers ``example_provider`` as a linkstats provider."""
    dist_info = tmp_path / "example_provider-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: example-provider\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[linkstats.providers]\nmailchimp = example_provider:PROVIDER\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))


def source(base_url: str) -> MailchimpSource:
    return MailchimpSource(api_key=API_KEY, base_url=base_url, backoff=0)


async def test_offset_paging_reads_every_row_and_stops_at_total_items(
    api: tuple[Api, str],
) -> None:
    """Pages of ``count`` rows follow one another by offset until ``total_items`` are read."""
    served, base_url = api
    targets = [MailchimpCampaign(campaign_id, count=10) for campaign_id in LINKS]

    async with LinkStats(source(base_url)) as stats:
        result = await stats.collect(targets)

    assert result.errors == {}
    assert result.clicks == [click for campaign_id in LINKS for click in expected(campaign_id)]
    prefix = "/3.0/reports/0000000019/click-details?count=10&offset="
    assert [path for path in served.requests if path.startswith(prefix)] == [
        f"{prefix}0",
        f"{prefix}10",
        f"{prefix}20",
    ]
    # 1 + 1 + 1 + 3 + 4 pages: an empty campaign and a short last page end the paging.
    assert len(served.requests) == 10


async def test_its_own_error_shape_is_read_for_the_failing_target_only(
    api: tuple[Api, str],
) -> None:
    """A problem document's title and detail are the messages; the other targets succeed."""
    _, base_url = api
    good, missing = MailchimpCampaign("0000000001"), MailchimpCampaign(MISSING)

    async with LinkStats(source(base_url)) as stats:
        result = await stats.collect([missing, good])

    assert result.clicks == expected("0000000001")
    error = result.errors[missing]
    assert type(error) is NotFoundError
    assert error.status == 404
    assert error.provider == "mailchimp"
    assert error.target == missing
    assert error.provider_messages == (
        ProviderMessage("Resource Not Found"),
        ProviderMessage("The requested resource could not be found."),
    )
    assert error.error_id == "995c5cb0-3280-4a6e-808b-3b096d0bb219"
    assert error.body_excerpt == json.dumps(
        problem_body(404, "Resource Not Found", "The requested resource could not be found.")
    )


async def test_a_rejected_parameter_names_its_field(api: tuple[Api, str]) -> None:
    """The problem's errors[] keep the field each message blames."""
    _, base_url = api
    target = MailchimpCampaign("0000000001")
    mailchimp = source(base_url)
    # The API refuses what the target's own check would: ask it directly, past the check.
    request = mailchimp.first_request(target).with_query(count=0)

    async with mailchimp:
        pages = mailchimp.paginate(request, partial(mailchimp.parse_page, target), subject=target)
        with pytest.raises(InvalidRequestError) as caught:
            [page async for page in pages]

    assert caught.value.target == target
    assert caught.value.provider_messages == (
        ProviderMessage("Invalid Resource"),
        ProviderMessage("The resource submitted could not be validated."),
        ProviderMessage("Must be from 1 to 1000.", "count"),
    )


async def test_the_providers_connection_cap_holds_under_a_larger_concurrency(
    api: tuple[Api, str],
) -> None:
    """Ten connections at most reach the API, though LinkStats would allow 32."""
    served, base_url = api
    served.hold_until = MAX_CONNECTIONS
    targets = [MailchimpCampaign(f"{number:010x}", count=1) for number in range(100, 140)]

    async with LinkStats(source(base_url), concurrency=32) as stats:
        async with asyncio.timeout(10):
            result = await stats.collect(targets)

    assert len(result.errors) == len(targets)  # none of these campaigns exists
    assert served.max_in_flight == MAX_CONNECTIONS


async def test_discovery_streams_into_fetching(api: tuple[Api, str]) -> None:
    """``collect(stats.discover())`` lists by offset and fetches every campaign listed."""
    _, base_url = api

    async with LinkStats(source(base_url), concurrency=1) as stats:
        listed = [campaign async for campaign in stats.discover()]
        result = await stats.collect(stats.discover())

    assert listed == [
        Campaign("mailchimp", MailchimpCampaign(campaign_id), name=f"Campaign {number}")
        for campaign_id, number in LINKS.items()
    ]
    assert result.errors == {}
    assert result.clicks == [click for campaign_id in LINKS for click in expected(campaign_id)]


async def test_a_failing_listing_names_the_listing(api: tuple[Api, str]) -> None:
    """The error of a listing has the listing as its target."""
    _, base_url = api

    async with LinkStats(MailchimpSource(api_key="wrong-us6", base_url=base_url)) as stats:
        with pytest.raises(AuthenticationError) as caught:
            [campaign async for campaign in stats.discover()]

    assert caught.value.target == Listing("mailchimp", "campaigns")
    assert caught.value.provider_messages == (
        ProviderMessage("API Key Invalid"),
        ProviderMessage("Your API key may be invalid."),
    )


def test_an_installed_provider_is_registered_by_its_entry_point(installed: Path) -> None:
    """The registry finds it beside the built-in providers, with nothing changed here."""
    providers = registered_providers()

    assert list(providers) == ["paubox", "sendgrid", "mailchimp"]
    assert providers["mailchimp"] is PROVIDER


def test_a_broken_provider_is_left_out_with_a_warning(installed: Path) -> None:
    """One package that fails to load does not take the others down."""
    entry_points = installed / "example_provider-1.0.dist-info" / "entry_points.txt"
    entry_points.write_text(
        "[linkstats.providers]\n"
        "mailchimp = example_provider:PROVIDER\n"
        "broken = example_provider:NO_SUCH_NAME\n"
        "misnamed = example_provider:PROVIDER\n"
    )

    with pytest.warns(RuntimeWarning) as warned:
        providers = registered_providers()

    assert list(providers) == ["paubox", "sendgrid", "mailchimp"]
    assert sorted(str(warning.message) for warning in warned) == [
        "linkstats provider example_provider:NO_SUCH_NAME left out: it failed to load: "
        "AttributeError: module 'example_provider' has no attribute 'NO_SUCH_NAME'",
        "linkstats provider example_provider:PROVIDER left out: "
        "it is not a ProviderInfo named 'misnamed'",
    ]


async def run_cli(*arguments: str, environment: dict[str, str], path: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "linkstats",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={
            **without_credentials(os.environ),
            **environment,
            "PYTHONPATH": os.pathsep.join([str(path), str(TESTS)]),
        },
    )
    async with asyncio.timeout(60):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_the_command_line_fetches_from_an_installed_provider(
    api: tuple[Api, str], installed: Path
) -> None:
    """Its target flag, credentials and base URL variable work with no change here."""
    _, base_url = api
    environment = {"MAILCHIMP_API_KEY": API_KEY, "MAILCHIMP_BASE_URL": base_url}

    code, stdout, stderr = await run_cli(
        "fetch",
        "--mailchimp-campaign=0000000019",
        "--mailchimp-campaign=000000001f",
        "--by=none",
        "--format=json",
        environment=environment,
        path=installed,
    )

    assert (code, stderr) == (0, "")
    records = [to_dict(click) for click in expected("0000000019") + expected("000000001f")]
    assert json.loads(stdout) == json.loads(orjson.dumps(records))
    assert API_KEY not in stdout + stderr


async def test_the_command_line_lists_and_names_an_installed_providers_campaigns(
    api: tuple[Api, str], installed: Path
) -> None:
    """``list`` and failure lines describe its targets by its own kinds."""
    _, base_url = api
    environment = {"MAILCHIMP_API_KEY": API_KEY, "MAILCHIMP_BASE_URL": base_url}

    listed = await run_cli("list", "--format=csv", environment=environment, path=installed)
    failed = await run_cli(
        "fetch", f"--mailchimp-campaign={MISSING}", environment=environment, path=installed
    )

    assert listed[0] == 0
    assert listed[1].splitlines() == [
        "provider,kind,id,name,sent_at,step_ids",
        *(f"mailchimp,campaign,{campaign_id},Campaign {n},," for campaign_id, n in LINKS.items()),
    ]
    assert failed[0] == 1
    assert failed[2].startswith(
        f"failed: mailchimp campaign {MISSING}: not found (HTTP 404): Resource Not Found"
    )
