"""Provider wire formats, parsed from recorded bodies alone (no network).

Samples live in tests/samples/<provider>/ and follow the shapes in ../shared/reference:
Paubox ``TrackingLinksDetailResponse`` ("nothing in the schema is required") and SendGrid
``AutmoationsLinkStatsResponse`` (``url``, ``step_id``, ``clicks`` required; ``_metadata.next``
absent on the last page).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from conftest import serving
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from linkstats import (
    ErrorDetails,
    LinkClick,
    LinkStats,
    PageRequest,
    PaginationError,
    PauboxSend,
    PauboxSource,
    Provider,
    ProviderMessage,
    Response,
    ResponseFormatError,
    SendGridAutomation,
    SendGridSource,
)

SAMPLES = Path(__file__).parent / "samples"
SEND_ID = "1308ab8d-a128-498c-8367-f71ac16934e8"
AUTOMATION_ID = "f15982c1-a82c-4e87-a6b2-a4a63b4b7644"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def ok(body: bytes, status: int = 200) -> Response:
    """A response carrying ``body``, as the transport hands it over."""
    return Response(
        PageRequest(URL("https://provider.test/x")),
        status,
        "OK",
        CIMultiDictProxy(CIMultiDict()),
        body,
    )


class BodyServer:
    """A loopback server answering every GET with 200 and ``body``, noting what was asked."""

    def __init__(self) -> None:
        self.body = b""
        self.url = ""
        self.requested: list[str] = []

    async def answer(self, request: web.Request) -> web.Response:
        self.requested.append(request.path_qs)
        return web.Response(body=self.body, content_type="application/json")


@pytest.fixture
async def body_server() -> AsyncIterator[BodyServer]:
    server = BodyServer()
    app = web.Application()
    app.router.add_get("/{tail:.*}", server.answer)
    async with serving(app) as server.url:
        yield server


async def fetch_error(source: PauboxSource | SendGridSource, target: Hashable) -> Exception:
    async with LinkStats(source) as stats:
        result = await stats.collect([target])
    assert result.clicks == []
    return result.errors[target]


@pytest.fixture
def paubox() -> PauboxSource:
    return PauboxSource(username="demo", api_key="paubox-secret")


@pytest.fixture
def sendgrid() -> SendGridSource:
    return SendGridSource(api_key="SG.secret")


def test_paubox_rows_map_to_exact_records(paubox: PauboxSource) -> None:
    """Every row becomes one record; missing or null attributes become None, clicks 0."""
    page = paubox.parse_page(PauboxSend(SEND_ID), ok(sample("paubox/tracking_links_200.json")))

    delivery_1 = "9a3c1f57-6a0e-4a53-b2c8-0d1e4c7f9b21"
    delivery_2 = "ab4d2e68-7b1f-4b64-83d9-1e2f5d8a0c32"
    assert page.next_page is None
    assert page.items == [
        LinkClick(
            Provider.PAUBOX,
            SEND_ID,
            "https://example.com/pricing?utm_source=newsletter&utm_medium=email",
            3,
            link_id="5b0f8f4e-3a51-4c7e-9d0a-0f7f5f0f2a11",
            delivery_id=delivery_1,
            opened_at=datetime(2024, 5, 1, 10, 15, 30, 123000, tzinfo=UTC),
        ),
        LinkClick(
            Provider.PAUBOX,
            SEND_ID,
            "https://example.com/welcome?name={{first_name}}",
            1,
            link_id="6c1e9a2d-4b62-4d8f-8e1b-1a8a6a1a3b22",
            delivery_id=delivery_1,
            opened_at=datetime(2024, 5, 1, 12, 15, 30, tzinfo=timezone(timedelta(hours=2))),
        ),
        LinkClick(
            Provider.PAUBOX,
            SEND_ID,
            "https://例え.jp/ページ",
            2,
            link_id="7d2fab3e-5c73-4e90-9f2c-2b9b7b2b4c33",
            delivery_id=delivery_2,
            opened_at=datetime(2024, 5, 2, 8, 0, 0, 123456, tzinfo=UTC),
        ),
        LinkClick(
            Provider.PAUBOX,
            SEND_ID,
            "mailto:support@example.com",
            0,
            link_id="8e3abc4f-6d84-4fa1-8a3d-3cacac3c5d44",
            delivery_id=delivery_2,
        ),
        LinkClick(
            Provider.PAUBOX,
            SEND_ID,
            "https://example.com/café/パス",
            0,
            link_id="9f4bcd50-7e95-4ab2-9b4e-4dbdbd4d6e55",
        ),
        LinkClick(Provider.PAUBOX, SEND_ID, "", 0, link_id="a05cde61-8fa6-4bc3-8c5f-5ececece7f66"),
        LinkClick(Provider.PAUBOX, SEND_ID, "", 0),
    ]


def test_urls_keep_the_providers_text(paubox: PauboxSource) -> None:
    """Templates, non-ASCII paths and mailto: come back verbatim from str(url)."""
    page = paubox.parse_page(PauboxSend(SEND_ID), ok(sample("paubox/tracking_links_200.json")))

    texts = [str(click.url) for click in page.items]
    assert "https://example.com/welcome?name={{first_name}}" in texts
    assert "https://example.com/café/パス" in texts
    assert "mailto:support@example.com" in texts
    assert page.items[2].url.human_repr() == "https://例え.jp/ページ"


def test_provider_is_a_plain_string(paubox: PauboxSource) -> None:
    """Users may compare the provider with a str."""
    page = paubox.parse_page(PauboxSend(SEND_ID), ok(sample("paubox/tracking_links_200.json")))

    assert page.items[0].provider == "paubox"


@pytest.mark.parametrize(
    ("opened_at", "expected"),
    [
        ("2024-05-01T10:15:30Z", datetime(2024, 5, 1, 10, 15, 30, tzinfo=UTC)),
        ("2024-05-01T10:15:30.5Z", datetime(2024, 5, 1, 10, 15, 30, 500000, tzinfo=UTC)),
        ("2024-05-01T10:15:30.123456789Z", datetime(2024, 5, 1, 10, 15, 30, 123456, tzinfo=UTC)),
        (
            "2024-05-01T10:15:30-05:00",
            datetime(2024, 5, 1, 10, 15, 30, tzinfo=timezone(timedelta(hours=-5))),
        ),
        (
            "2024-05-01T10:15:30+0530",
            datetime(2024, 5, 1, 10, 15, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        ),
        ("2024-05-01 10:15:30 UTC", datetime(2024, 5, 1, 10, 15, 30, tzinfo=UTC)),
        ("2024-05-01T10:15:30", datetime(2024, 5, 1, 10, 15, 30, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_opened_at_accepts_any_iso_8601_form(
    paubox: PauboxSource, opened_at: str | None, expected: datetime | None
) -> None:
    """Z, offsets with and without a colon, any fraction; a bare time is UTC."""
    body = orjson.dumps({"data": [{"attributes": {"opened_at": opened_at}}]})

    (click,) = paubox.parse_page(PauboxSend(SEND_ID), ok(body)).items

    assert click.opened_at == expected
    assert click.opened_at is None or click.opened_at.utcoffset() == expected.utcoffset()  # type: ignore[union-attr]


@pytest.mark.parametrize("body", [b"{}", b'{"data": null}', b'{"data": []}'])
def test_paubox_body_without_rows_is_empty(paubox: PauboxSource, body: bytes) -> None:
    """The schema requires nothing, so an absent or null data list means no rows."""
    assert paubox.parse_page(PauboxSend(SEND_ID), ok(body)).items == []


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b'{"data": [',
        b"[]",
        b'{"data": {"id": "x"}}',
        b'{"data": ["x"]}',
        b'{"data": [{"attributes": []}]}',
        b'{"data": [{"attributes": {"clicked": "three"}}]}',
        b'{"data": [{"attributes": {"clicked": -1}}]}',
        b'{"data": [{"attributes": {"opened_at": "yesterday"}}]}',
        b'{"data": [{"attributes": {"target_url": 42}}]}',
    ],
)
async def test_paubox_body_of_the_wrong_shape_is_a_format_error(
    body_server: BodyServer, body: bytes
) -> None:
    """Not JSON, or JSON that is not the documented shape: ResponseFormatError."""
    body_server.body = body
    source = PauboxSource(
        username="demo", api_key="paubox-secret", base_url=body_server.url + "/v1/orca"
    )

    error = await fetch_error(source, PauboxSend(SEND_ID))

    assert type(error) is ResponseFormatError
    assert error.provider == "paubox"
    assert error.status == 200
    assert error.target == PauboxSend(SEND_ID)


def test_sendgrid_page_maps_rows_and_returns_next_link(sendgrid: SendGridSource) -> None:
    """Rows become records; the absolute _metadata.next is handed back untouched."""
    target = SendGridAutomation(AUTOMATION_ID, group_by_step=True, page_size=2)

    page = sendgrid.parse_page(target, ok(sample("sendgrid/automation_links_page1.json")))

    step = "0fb9b1a7-7c3a-4d4c-9b2f-1d8d2a7e9c01"
    assert page.items == [
        LinkClick(
            Provider.SENDGRID,
            AUTOMATION_ID,
            "https://example.com/offer?utm_campaign=spring",
            12,
            step_id=step,
            url_location=0,
        ),
        LinkClick(
            Provider.SENDGRID,
            AUTOMATION_ID,
            "https://example.com/u/{{contact_id}}/prefs",
            1,
            step_id=step,
            url_location=1,
        ),
    ]
    assert page.next_page == (
        "https://api.sendgrid.com/v3/marketing/stats/automations/"
        f"{AUTOMATION_ID}/links?group_by=step_id&page_size=2&page_token=Mg%3D%3D"
    )


def test_sendgrid_last_page_has_no_next_link(sendgrid: SendGridSource) -> None:
    """No _metadata.next means the last page; a missing url_location is None."""
    page = sendgrid.parse_page(
        SendGridAutomation(AUTOMATION_ID), ok(sample("sendgrid/automation_links_last.json"))
    )

    assert page.next_page is None
    assert page.items == [
        LinkClick(
            Provider.SENDGRID,
            AUTOMATION_ID,
            "mailto:help@example.com",
            7,
            step_id="1ac0c2b8-8d4b-4e5d-8c30-2e9e3b8f0d12",
        )
    ]


def test_sendgrid_rows_without_step_id_are_accepted(sendgrid: SendGridSource) -> None:
    """Ungrouped stats may leave step_id out; it is None on the record."""
    body = b'{"results": [{"url": "https://example.com/", "clicks": 4}], "total_clicks": 4}'

    (click,) = sendgrid.parse_page(SendGridAutomation(AUTOMATION_ID), ok(body)).items

    assert click == LinkClick(Provider.SENDGRID, AUTOMATION_ID, "https://example.com/", 4)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'{"total_clicks": 0}',
        b'{"results": [{"clicks": 1}]}',
        b'{"results": [{"url": "https://example.com/"}]}',
        b'{"results": [{"url": "https://example.com/", "clicks": "1"}]}',
        b'{"results": [], "_metadata": {"next": 5}}',
        b'{"results": ["https://example.com/"]}',
        b'{"results": [{"url": "https://example.com/", "clicks": 0}]}',
        b'{"results": [{"url": "https://example.com/", "clicks": -3}]}',
        b'{"results": [{"url": "https://example.com/", "clicks": 1.5}]}',
        b'{"results": [{"url": "https://example.com/", "clicks": true}]}',
        b'{"results": [{"url": "https://example.com/", "clicks": 1, "step_id": 7}]}',
        b'{"results": [{"url": "https://example.com/", "clicks": 1, "url_location": false}]}',
        b'{"results": null}',
        b'{"results": [], "total_clicks": "4"}',
        b'{"results": [], "_metadata": []}',
        b'{"results": [], "_metadata": {"count": "1"}}',
    ],
)
async def test_sendgrid_body_of_the_wrong_shape_is_a_format_error(
    body_server: BodyServer, body: bytes
) -> None:
    """Required url and clicks missing, wrong types, or no results: ResponseFormatError."""
    body_server.body = body
    source = SendGridSource(api_key="SG.secret", base_url=body_server.url)

    error = await fetch_error(source, SendGridAutomation(AUTOMATION_ID))

    assert type(error) is ResponseFormatError
    assert error.provider == "sendgrid"


def test_a_url_yarl_cannot_read_keeps_its_row(
    paubox: PauboxSource, sendgrid: SendGridSource
) -> None:
    """A link SendGrid or Paubox reports as a string is a record, whatever its text."""
    text = "https://{{domain}}:{{port}}/offer"
    sendgrid_body = orjson.dumps({"results": [{"url": text, "clicks": 2}]})
    paubox_body = orjson.dumps({"data": [{"attributes": {"target_url": text, "clicked": 2}}]})

    (from_sendgrid,) = sendgrid.parse_page(
        SendGridAutomation(AUTOMATION_ID), ok(sendgrid_body)
    ).items
    (from_paubox,) = paubox.parse_page(PauboxSend(SEND_ID), ok(paubox_body)).items

    assert from_sendgrid == LinkClick(Provider.SENDGRID, AUTOMATION_ID, text, 2)
    assert from_paubox == LinkClick(Provider.PAUBOX, SEND_ID, text, 2)


async def test_sendgrid_format_error_names_the_field(body_server: BodyServer) -> None:
    """The error says which value of the page is wrong, and how."""
    body_server.body = (
        b'{"results": [{"url": "https://example.com/", "clicks": 2}, {"url": "u", "clicks": 0}]}'
    )
    source = SendGridSource(api_key="SG.secret", base_url=body_server.url)

    error = await fetch_error(source, SendGridAutomation(AUTOMATION_ID))

    assert type(error) is ResponseFormatError
    assert str(error).endswith(
        "is not the documented shape: Expected `int` >= 1 - at `$.results[1].clicks`"
    )


@pytest.mark.parametrize(
    ("source", "sample_name", "details"),
    [
        (
            SendGridSource(api_key="SG.secret"),
            "sendgrid/error_400.json",
            ErrorDetails(
                (ProviderMessage("page_size must be between 1 and 50", "page_size"),), "a1b2c3d4"
            ),
        ),
        (
            SendGridSource(api_key="SG.secret"),
            "sendgrid/error_429.json",
            ErrorDetails((ProviderMessage("too many requests"),)),
        ),
        (
            PauboxSource(username="demo", api_key="paubox-secret"),
            "paubox/error_401_error.json",
            ErrorDetails((ProviderMessage("Unauthorized"),), code="unauthorized"),
        ),
        (
            PauboxSource(username="demo", api_key="paubox-secret"),
            "paubox/error_422_errors_list.json",
            ErrorDetails((ProviderMessage("campaign_mailing_send_id is not a valid UUID"),)),
        ),
        (
            PauboxSource(username="demo", api_key="paubox-secret"),
            "paubox/error_400_errors_string.json",
            ErrorDetails((ProviderMessage("campaign_mailing_send_id is required"),)),
        ),
        (
            PauboxSource(username="demo", api_key="paubox-secret"),
            "paubox/error_422_details.json",
            ErrorDetails(
                (
                    ProviderMessage("Validation failed"),
                    ProviderMessage("must be asc or desc", "order"),
                ),
                code="unprocessable_entity",
            ),
        ),
    ],
)
def test_each_provider_reads_its_documented_error_shapes(
    source: PauboxSource | SendGridSource, sample_name: str, details: ErrorDetails
) -> None:
    """SendGrid's errors[] with field and id; Paubox's error/code/details, errors[], errors."""
    assert source.parse_error(ok(sample(sample_name), status=400)) == details


def test_a_gateway_page_in_front_of_a_provider_is_read_by_the_default() -> None:
    """An error body not in the provider's shape still gives what it says."""
    response = ok(b"upstream connect error", status=502)

    assert SendGridSource(api_key="SG.secret").parse_error(response) == ErrorDetails(
        (ProviderMessage("upstream connect error"),)
    )


async def test_a_relative_next_link_is_resolved_against_the_page(body_server: BodyServer) -> None:
    """A next link without scheme and host stays on the page's origin; a repeat is refused."""
    body_server.body = (
        b'{"results": [], "_metadata": {"next": "/v3/marketing/stats/automations/x/links?t=b"}}'
    )
    source = SendGridSource(api_key="SG.secret", base_url=body_server.url)

    error = await fetch_error(source, SendGridAutomation(AUTOMATION_ID))

    assert body_server.requested == [
        f"/v3/marketing/stats/automations/{AUTOMATION_ID}/links?page_size=50",
        "/v3/marketing/stats/automations/x/links?t=b",
    ]
    assert type(error) is PaginationError


@pytest.mark.parametrize(
    "link", ["http://127.0.0.1:99999/x", "http://127.0.0.1:80:1/x", "http://[::1/x"]
)
async def test_a_next_link_that_is_no_usable_url_fails_its_target(
    body_server: BodyServer, link: str
) -> None:
    """A port out of range or a malformed host is a PaginationError for that target."""
    body_server.body = orjson.dumps({"results": [], "_metadata": {"next": link}})
    target = SendGridAutomation(AUTOMATION_ID)

    error = await fetch_error(SendGridSource(api_key="SG.secret", base_url=body_server.url), target)

    assert type(error) is PaginationError
    assert error.target == target
    assert len(body_server.requested) == 1


async def test_a_negative_per_link_total_is_a_format_error(body_server: BodyServer) -> None:
    """No link has fewer than no clicks: Paubox's per-link totals are checked too."""
    body_server.body = (
        b'{"data": [{"html_id": "a", "target_url": "https://e.com/", "clicked": -2}]}'
    )
    source = PauboxSource(username="demo", api_key="k", base_url=body_server.url + "/v1/orca")

    error = await fetch_error(source, PauboxSend(SEND_ID, per_link_totals=True))

    assert type(error) is ResponseFormatError
    assert "at least 0" in str(error)


@pytest.mark.parametrize("nested", [False, True])
def test_a_large_paubox_body_gives_every_row_once(paubox: PauboxSource, nested: bool) -> None:
    """Bodies over a megabyte are decoded in slices cut between rows; rows holding arrays of
    objects of their own (where a cut could land inside a row) come out the same."""
    extra: dict[str, Any] = {"relationships": [{"a": 1}, {"b": 2}] * 20} if nested else {}
    rows = [
        {
            "id": f"link-{number}",
            "type": "tracking_link",
            "attributes": {"target_url": f"https://example.com/{number}", "clicked": number % 4},
            **extra,
        }
        for number in range(12_000)
    ]
    body = orjson.dumps({"data": rows})
    assert len(body) > 1 << 20

    page = paubox.parse_page(PauboxSend(SEND_ID), ok(body))

    assert page.items == [
        LinkClick("paubox", SEND_ID, f"https://example.com/{number}", number % 4, f"link-{number}")
        for number in range(12_000)
    ]


_SENT = {"id": SEND_ID, "sent_at": "2026-03-01 09:30:00 UTC", "subscription_list_name": "Spring"}


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # The fields used are read; the others may be anything, or missing.
        (
            [{**_SENT, "campaign_mailing_created_at": "yesterday", "marketing_email_id": 7}],
            [(SEND_ID, "Spring", datetime(2026, 3, 1, 9, 30, tzinfo=UTC))],
        ),
        ([{"id": SEND_ID, "sent_at": "", "subscription_list_name": None}], [(SEND_ID, None, None)]),
        ([{"sent_at": "2026-03-01T09:30:00Z"}], []),
        (None, []),
        ([{**_SENT, "sent_at": 1772357400}], ResponseFormatError),
        ([{**_SENT, "sent_at": "March the first"}], ResponseFormatError),
        ([{**_SENT, "id": "not-a-uuid"}], ResponseFormatError),
        ([{**_SENT, "subscription_list_name": ["Spring"]}], ResponseFormatError),
        ("rows", ResponseFormatError),
    ],
)
async def test_the_paubox_sends_table_gives_each_sent_campaign(
    body_server: BodyServer, rows: Any, expected: Any
) -> None:
    body_server.body = orjson.dumps({"data": rows})
    source = PauboxSource(username="demo", api_key="k", base_url=body_server.url + "/v1/orca")

    async with source:
        if isinstance(expected, type):
            with pytest.raises(expected):
                [campaign async for campaign in source.discover()]
            return
        campaigns = [campaign async for campaign in source.discover()]

    assert [(c.target.send_id, c.name, c.sent_at) for c in campaigns] == expected
    assert body_server.requested[0].startswith(
        "/v1/orca/demo/analytics/campaign_mailing_sends_table"
    )
