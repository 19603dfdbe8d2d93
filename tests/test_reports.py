"""Reports: totals by any grouping, URL normalization, plain rows and streaming writers."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from yarl import URL

from linkstats import LinkClick, Provider
from linkstats.reports import (
    CsvWriter,
    JsonLinesWriter,
    JsonWriter,
    Totals,
    normalize_url,
    to_dict,
    totals,
)

SEND = "1308ab8d-a128-498c-8367-f71ac16934e8"
AUTOMATION = "f15982c1-a82c-4e87-a6b2-a4a63b4b7644"
STEP = "0fb9b1a7-7c3a-4d4c-9b2f-1d8d2a7e9c01"
OPENED = datetime(2024, 5, 1, 10, 15, 30, tzinfo=UTC)


def url(text: str) -> URL:
    return URL(text, encoded=True)


CLICKS = [
    LinkClick(
        Provider.PAUBOX, SEND, "https://Example.com/a?utm_source=x#top", 3, "l1", "d1", OPENED
    ),
    LinkClick(Provider.PAUBOX, SEND, "https://example.com/a", 2, "l2", "d2"),
    LinkClick(Provider.SENDGRID, AUTOMATION, "https://example.com:443/a", 5, step_id=STEP),
    LinkClick(Provider.SENDGRID, AUTOMATION, "mailto:help@example.com", 1, step_id=STEP),
]


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("https://Example.COM:443/Offers#top", "https://example.com/Offers"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        (
            "https://example.com/a?utm_source=x&id=7&UTM_Medium=y&gclid=z",
            "https://example.com/a?id=7",
        ),
        ("https://example.com/a?utm_source=x", "https://example.com/a"),
        (
            "https://example.com/welcome?name={{first_name}}&fbclid=1",
            "https://example.com/welcome?name={{first_name}}",
        ),
        (
            "https://example.com/u/{{contact_id}}/prefs",
            "https://example.com/u/{{contact_id}}/prefs",
        ),
        ("https://example.com/café/パス?b=2&a=1", "https://example.com/café/パス?b=2&a=1"),
        ("mailto:Support@Example.com", "mailto:Support@Example.com"),
        ("tel:+15551234567", "tel:+15551234567"),
    ],
)
def test_normalize_url_removes_noise_and_keeps_meaning(text: str, normalized: str) -> None:
    """Host case, default ports, fragments and tracking go; templates and order stay."""
    assert str(normalize_url(url(text))) == normalized


def test_normalize_url_options_can_be_turned_off() -> None:
    """Each normalization is optional."""
    original = url("https://Example.com:443/a?utm_source=x#top")

    kept = normalize_url(original, lowercase_host=False, drop_fragment=False, drop_tracking=False)

    assert str(kept) == "https://Example.com/a?utm_source=x#top"


def test_totals_by_url_sum_clicks_and_count_records() -> None:
    """One row per URL as the provider spelled it, most first."""
    assert totals(CLICKS) == [
        {"url": "https://example.com:443/a", "clicks": 5, "records": 1},
        {"url": "https://Example.com/a?utm_source=x#top", "clicks": 3, "records": 1},
        {"url": "https://example.com/a", "clicks": 2, "records": 1},
        {"url": "mailto:help@example.com", "clicks": 1, "records": 1},
    ]


def test_normalized_totals_merge_spellings_of_one_link() -> None:
    """With normalize_url, three spellings of https://example.com/a are one row."""
    assert totals(CLICKS, normalize=normalize_url) == [
        {"url": "https://example.com/a", "clicks": 10, "records": 3},
        {"url": "mailto:help@example.com", "clicks": 1, "records": 1},
    ]


def test_totals_by_any_combination_of_groupings() -> None:
    """provider, source and step combine into one key, in the order asked."""
    assert totals(CLICKS, by=("provider", "source", "step")) == [
        {
            "provider": "sendgrid",
            "source_id": AUTOMATION,
            "step_id": STEP,
            "clicks": 6,
            "records": 2,
        },
        {"provider": "paubox", "source_id": SEND, "step_id": None, "clicks": 5, "records": 2},
    ]


def test_totals_can_be_fed_as_records_arrive() -> None:
    """Adding in batches gives the same rows as adding all at once."""
    report = Totals(("provider",))
    for click in CLICKS:
        report.add([click])

    assert report.rows() == totals(CLICKS, by=("provider",))
    assert report.columns == ("provider", "clicks", "records")


@pytest.mark.parametrize("by", [(), ("domain",), ("url", "none")])
def test_totals_refuse_unknown_groupings(by: tuple[str, ...]) -> None:
    """Only url, source, provider and step."""
    with pytest.raises(ValueError, match="group by"):
        Totals(by)


def test_to_dict_gives_plain_values() -> None:
    """Strings for provider and url, the datetime kept for dataframes."""
    assert to_dict(CLICKS[0]) == {
        "provider": "paubox",
        "source_id": SEND,
        "url": "https://Example.com/a?utm_source=x#top",
        "clicks": 3,
        "link_id": "l1",
        "delivery_id": "d1",
        "opened_at": OPENED,
        "step_id": None,
        "url_location": None,
        "ab_variation": None,
        "ab_phase": None,
    }
    assert type(to_dict(CLICKS[0])["provider"]) is str


def test_csv_writer_streams_rows_with_a_header() -> None:
    """ISO timestamps, empty cells for None, the header first."""
    file = io.StringIO()
    with CsvWriter(file, tuple(to_dict(CLICKS[0]))) as writer:
        writer.write_all(to_dict(click) for click in CLICKS[:2])

    rows = list(csv.DictReader(io.StringIO(file.getvalue())))
    assert rows[0]["opened_at"] == "2024-05-01T10:15:30+00:00"
    assert rows[1]["opened_at"] == ""
    assert [row["link_id"] for row in rows] == ["l1", "l2"]


def test_json_writers_stream_valid_documents() -> None:
    """JSON is one array, written row by row; JSON lines is one object per line."""
    array, lines = io.StringIO(), io.StringIO()
    with JsonWriter(array) as json_writer, JsonLinesWriter(lines) as lines_writer:
        for click in CLICKS:
            json_writer.write(to_dict(click))
            lines_writer.write(to_dict(click))

    parsed = json.loads(array.getvalue())
    assert parsed == [json.loads(line) for line in lines.getvalue().splitlines()]
    assert parsed[0]["opened_at"] == "2024-05-01T10:15:30+00:00"
    assert parsed[3]["url"] == "mailto:help@example.com"


def test_an_empty_json_document_is_an_empty_array() -> None:
    """No rows still makes valid JSON."""
    file = io.StringIO()
    with JsonWriter(file):
        pass

    assert json.loads(file.getvalue()) == []
