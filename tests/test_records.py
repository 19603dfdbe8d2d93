"""`LinkClick`: a frozen struct of plain values whose `url` is built from the text on demand."""

from __future__ import annotations

import gc
import re
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from linkstats import LinkClick, PageRequest, PauboxSend, PauboxSource, Response
from linkstats.reports import RECORD_FIELDS, normalize_url, to_dict, totals

SEND_ID = "1308ab8d-a128-498c-8367-f71ac16934e8"


@pytest.mark.parametrize(
    ("given", "text", "url"),
    [
        (
            "https://example.com/a?b=1",
            "https://example.com/a?b=1",
            URL("https://example.com/a?b=1"),
        ),
        (
            "https://example.com/welcome?name={{first_name}}",
            "https://example.com/welcome?name={{first_name}}",
            URL("https://example.com/welcome?name={{first_name}}", encoded=True),
        ),
        (
            "https://例え.jp/ページ",
            "https://例え.jp/ページ",
            URL("https://xn--r8jz45g.jp/ページ", encoded=True),
        ),
        ("mailto:help@example.com", "mailto:help@example.com", URL("mailto:help@example.com")),
        ("", "", URL()),
    ],
)
def test_a_record_keeps_the_text_and_builds_the_url(given: Any, text: str, url: URL) -> None:
    click = LinkClick("paubox", SEND_ID, given, 3)

    assert (click.url_text, click.url) == (text, url)
    assert msgspec.structs.asdict(click)["url"] == text


@pytest.mark.parametrize(
    "text", ["http://[::1", "http://host:99999/", "https://example.com:{{port}}/"]
)
def test_a_record_keeps_a_text_yarl_cannot_read(text: str) -> None:
    """One odd link (a template in the port, say) never costs a fetch its records: the
    record keeps the text, and only its URL, when asked for, says what is wrong."""
    click = LinkClick("paubox", SEND_ID, text, 3)

    assert click.url_text == text
    assert totals([click], by=("url",), normalize=normalize_url) == [
        {"url": text, "clicks": 3, "records": 1}
    ]
    with pytest.raises(ValueError, match=r"[Pp]ort|IPv6"):
        click.url.port  # noqa: B018


@pytest.mark.parametrize(
    "text",
    [
        "https://h:0/",
        "https://h:65535/",
        "https://h:65536/",
        "https://h:/x",
        "https://h:abc/",
        "https://h:08080/",
        "https://u:p@h:1/",
        "https://u@h:99999/",
        "https://h:1:2/",
        "https://h:443?x=1:2",
        "https://h:443#a:b",
        "https://h:443",
        "https://h/a:b?c=d:e",
        "https://Example.COM:443/Offers",
        "mailto:a:b@example.com",
        "tel:+1:2",
        "http://[::1]:8080/",
        "http://[::1:8080/",
        "https://例え.jp:8443/ページ",
    ],
)
def test_a_records_url_is_what_yarl_reads_from_its_text(text: str) -> None:
    """Every form of authority and port: the record's URL says what yarl says."""
    click = LinkClick("sendgrid", SEND_ID, text, 1)
    try:
        expected = URL(text, encoded=True)
        port = expected.port
    except ValueError as refused:
        with pytest.raises(ValueError, match=re.escape(str(refused))):
            click.url.port  # noqa: B018
    else:
        assert click.url.port == port


def test_records_are_immutable_and_hashable() -> None:
    click = LinkClick("sendgrid", SEND_ID, "https://example.com/", 4, step_id="all")

    assert click == LinkClick("sendgrid", SEND_ID, "https://example.com/", 4, step_id="all")
    assert len({click, msgspec.structs.replace(click, clicks=4)}) == 1
    with pytest.raises(AttributeError):
        click.clicks = 5  # type: ignore[misc]
    moved = msgspec.structs.replace(click, url="https://example.org/")
    assert (moved.url_text, moved.url) == ("https://example.org/", URL("https://example.org/"))
    assert LinkClick.__struct_fields__ == RECORD_FIELDS
    assert to_dict(click)["url"] == "https://example.com/"


def test_parsed_records_are_left_alone_by_the_garbage_collector() -> None:
    """Records are not tracked by the collector, so keeping many costs its passes nothing."""
    body = (
        b'{"data": [{"id": "l1", "type": "tracking_link", "attributes": {"target_url":'
        b' "https://example.com/", "opened_at": "2024-05-01T10:15:30Z", "clicked": 2,'
        b' "campaign_mailing_delivery_id": "d1"}}]}'
    )
    source = PauboxSource(username="demo", api_key="key")

    response = Response(
        PageRequest(URL("https://api.paubox.net/")),
        200,
        "OK",
        CIMultiDictProxy(CIMultiDict()),
        body,
    )
    (click,) = source.parse_page(PauboxSend(SEND_ID), response).items

    assert not gc.is_tracked(click)
    assert click.opened_at == datetime(2024, 5, 1, 10, 15, 30, tzinfo=UTC)
