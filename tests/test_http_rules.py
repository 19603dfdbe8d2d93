"""HTTP rules shared by every provider, checked from values alone."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from multidict import CIMultiDict
from yarl import URL

from linkstats import (
    AuthenticationError,
    ErrorDetails,
    InvalidRequestError,
    LinkStatsError,
    NotFoundError,
    Provider,
    ProviderMessage,
    RateLimitError,
    ServerError,
    UnexpectedStatusError,
)
from linkstats._http import (
    RateLimitWindow,
    environment_proxy,
    error_for_response,
    excerpt,
    page_key,
    rate_limit_delay,
    rate_limit_window,
    read_error_body,
    same_origin,
    validate_base_url,
)

SAMPLES = Path(__file__).parent / "samples"
NOW = 1_700_000_000.0


def headers(**values: str) -> CIMultiDict[str]:
    return CIMultiDict({key.replace("_", "-"): value for key, value in values.items()})


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.sendgrid.com", "https://api.sendgrid.com"),
        ("https://api.sendgrid.com/", "https://api.sendgrid.com"),
        ("https://api.paubox.net/v1/orca/", "https://api.paubox.net/v1/orca"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:8080/v1/orca", "http://localhost:8080/v1/orca"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_base_url_is_normalized(base_url: str, expected: str) -> None:
    """A trailing slash is dropped; loopback hosts may use plain http."""
    assert str(validate_base_url(base_url)) == expected


@pytest.mark.parametrize(
    "base_url",
    [
        "http://api.sendgrid.com",
        "http://10.0.0.5:8080",
        "ftp://api.sendgrid.com",
        "api.sendgrid.com",
        "/v3",
        "https://user:pass@api.sendgrid.com",
        "https://api.sendgrid.com/?x=1",
        "https://api.sendgrid.com/#top",
    ],
)
def test_unsafe_or_malformed_base_url_is_refused(base_url: str) -> None:
    """Plain http off loopback, credentials, queries or relative URLs: ValueError."""
    with pytest.raises(ValueError, match="base_url"):
        validate_base_url(base_url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.sendgrid.com/v3/x?page_token=a", True),
        ("https://API.SendGrid.com:443/v3/x", True),
        ("http://api.sendgrid.com/v3/x", False),
        ("https://api.sendgrid.com:8443/v3/x", False),
        ("https://api.sendgrid.com.evil.test/v3/x", False),
        ("https://api.sendgrid.com@evil.test/v3/x", False),
        ("https://someone@api.sendgrid.com/v3/x", False),
        ("/v3/x", False),
    ],
)
def test_same_origin_compares_scheme_host_and_port(url: str, expected: bool) -> None:
    """Only the configured scheme, host and port may receive the key; no userinfo."""
    assert same_origin(URL(url, encoded=True), URL("https://api.sendgrid.com")) is expected


def test_page_key_ignores_query_order() -> None:
    """The same page asked with its parameters reordered is still the same page."""
    first = URL("https://h.test/links?page_size=2&page_token=abc")
    second = URL("https://h.test/links?page_token=abc&page_size=2")

    assert page_key(first) == page_key(second)
    assert page_key(first) != page_key(URL("https://h.test/links?page_size=2&page_token=abd"))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"X_RateLimit_Reset": str(int(NOW) + 7)}, 7.0),
        ({"Retry_After": "3"}, 3.0),
        ({"Retry_After": "1.5"}, 1.5),
        ({"Retry_After": "Tue, 14 Nov 2023 22:13:30 GMT"}, 10.0),
        ({"Retry_After": "2", "X_RateLimit_Reset": str(int(NOW) + 5)}, 5.0),
        ({"X_RateLimit_Reset": "12"}, 12.0),
        ({"X_RateLimit_Reset": "soon"}, None),
        ({}, None),
    ],
)
def test_rate_limit_delay_reads_reset_and_retry_after(
    values: dict[str, str], expected: float | None
) -> None:
    """Epoch X-RateLimit-Reset, Retry-After seconds or date; the later one wins."""
    assert rate_limit_delay(headers(**values), NOW) == expected


def test_rate_limit_window_is_read_from_the_three_headers() -> None:
    """Limit, remaining and the reset as Unix time; nothing unless all three are there."""
    full = headers(
        X_RateLimit_Limit="60", X_RateLimit_Remaining="7", X_RateLimit_Reset=str(int(NOW) + 2)
    )

    assert rate_limit_window(full, NOW) == RateLimitWindow(60, 7, NOW + 2)
    assert rate_limit_window(headers(X_RateLimit_Remaining="0"), NOW) is None


@pytest.mark.parametrize(
    ("body", "details"),
    [
        (
            b'{"errors": [{"field": "page_size", "message": "too big"}], "id": "a1"}',
            ErrorDetails((ProviderMessage("too big", "page_size"),), "a1"),
        ),
        (
            b'{"error": "Unauthorized", "code": "unauthorized", "details": {}}',
            ErrorDetails((ProviderMessage("Unauthorized"),), code="unauthorized"),
        ),
        (
            b'{"title": "Resource Not Found", "detail": "No such campaign.", "status": 404}',
            ErrorDetails(
                (ProviderMessage("Resource Not Found"), ProviderMessage("No such campaign."))
            ),
        ),
        (
            b'{"message": "Forbidden", "code": 403}',
            ErrorDetails((ProviderMessage("Forbidden"),), code="403"),
        ),
        (
            b'{"errors": {"order": ["must be asc or desc"]}}',
            ErrorDetails((ProviderMessage("must be asc or desc", "order"),)),
        ),
    ],
)
def test_the_default_error_reader_reads_the_common_shapes(
    body: bytes, details: ErrorDetails
) -> None:
    """errors[] with fields, error/code, title/detail, message, and fields mapped to messages."""
    assert read_error_body(body) == details


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", ()),
        (b"upstream connect error", (ProviderMessage("upstream connect error"),)),
        (b"", ()),
        (b"[1, 2]", ()),
        (b'"plain message"', (ProviderMessage("plain message"),)),
    ],
)
def test_error_bodies_that_are_not_provider_json_still_parse(
    body: bytes, messages: tuple[ProviderMessage, ...]
) -> None:
    """A gateway's HTML says nothing useful; a short text line is kept as the message."""
    assert read_error_body(body).messages == messages


@pytest.mark.parametrize(
    ("body", "secrets", "expected"),
    [
        (b"", ("k",), None),
        (b"  upstream says no \n", (), "upstream says no"),
        (b"echo: Bearer SG.key-1", ("SG.key-1",), "echo: Bearer [redacted]"),
        (b"x" * 400, (), "x" * 300 + "..."),
        (b"x" * 298 + b"SECRET", ("SECRET",), "x" * 298 + "[r..."),
        (b"caf\xc3\xa9 \xff", (), "caf\u00e9 \ufffd"),
    ],
)
def test_an_error_keeps_a_short_excerpt_without_secrets(
    body: bytes, secrets: tuple[str, ...], expected: str | None
) -> None:
    """At most 300 characters, secrets cut out before the cut, undecodable bytes replaced."""
    assert excerpt(body, secrets) == expected


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (422, InvalidRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (302, UnexpectedStatusError),
        (409, UnexpectedStatusError),
    ],
)
def test_each_status_has_its_error_type(status: int, error_type: type[LinkStatsError]) -> None:
    """The documented statuses map onto the error tree; anything else is unexpected."""
    error = error_for_response(
        Provider.SENDGRID,
        status=status,
        reason="Reason",
        headers=headers(),
        url=URL("https://api.sendgrid.com/v3/x"),
        details=read_error_body((SAMPLES / "sendgrid/error_400.json").read_bytes()),
    )

    assert type(error) is error_type
    assert error.status == status
    assert error.messages == ("page_size must be between 1 and 50",)
    assert str(error) == (
        f"sendgrid: HTTP {status} Reason for GET https://api.sendgrid.com/v3/x"
        " - page_size: page_size must be between 1 and 50 - error id a1b2c3d4"
    )


def test_errors_survive_pickling() -> None:
    """Errors cross process boundaries with every attribute intact."""
    error = error_for_response(
        Provider.PAUBOX,
        status=429,
        reason="Too Many Requests",
        headers=headers(),
        url=URL("https://api.paubox.net/v1/orca/demo/tracking_links"),
        details=read_error_body(b'{"error": "slow down", "code": "rate_limited"}'),
        body_excerpt='{"error": "slow down"}',
        retry_after=2.0,
    )

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is RateLimitError
    assert str(copy) == str(error)
    assert copy.retry_after == 2.0
    assert copy.url == error.url
    assert copy.messages == ("slow down",)
    assert copy.body_excerpt == '{"error": "slow down"}'


SENDGRID = "https://api.sendgrid.com"
VIA = {"HTTPS_PROXY": "http://p:1"}


@pytest.mark.parametrize(
    ("url", "environ", "proxy"),
    [
        (SENDGRID, {}, None),
        (SENDGRID, VIA, "http://p:1"),
        (
            SENDGRID,
            {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2"},
            "http://lower:1",
        ),
        (SENDGRID, {"HTTP_PROXY": "http://p:1"}, None),
        (SENDGRID, {"ALL_PROXY": "http://all:1"}, "http://all:1"),
        (SENDGRID, {**VIA, "NO_PROXY": "sendgrid.com"}, None),
        (SENDGRID, {**VIA, "NO_PROXY": ".sendgrid.com"}, None),
        (SENDGRID, {**VIA, "no_proxy": "*"}, None),
        (SENDGRID, {**VIA, "NO_PROXY": "grid.com,example.org:443"}, "http://p:1"),
        ("https://api.paubox.net/v1/orca", {**VIA, "NO_PROXY": "paubox.net:443"}, None),
        ("http://127.0.0.1:8080", {"HTTP_PROXY": "http://p:1"}, None),
        ("http://localhost:8080", {"HTTP_PROXY": "http://p:1"}, None),
    ],
)
def test_the_environment_names_the_proxy(
    url: str, environ: dict[str, str], proxy: str | None
) -> None:
    found = environment_proxy(URL(url), environ)

    assert (None if found is None else str(found)) == proxy
