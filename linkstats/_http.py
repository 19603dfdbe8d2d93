"""HTTP rules shared by every provider, kept free of I/O so they are tested from values alone.

Base-URL and origin checks, the page identity used to catch looping ``next`` links, reading
rate-limit headers, and turning an error response into a typed exception. Error bodies get one
tolerant reader for every shape either provider documents (``{"errors": [...]}``,
``{"error", "code", "details"}``, a string ``errors``), because gateways in front of either
provider answer in any of them.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import attrs
import orjson
from yarl import URL

from ._errors import (
    AuthenticationError,
    InvalidRequestError,
    LinkStatsError,
    NotFoundError,
    ProviderMessage,
    RateLimitError,
    ServerError,
    UnexpectedStatusError,
)
from ._models import Provider

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

# X-RateLimit-Reset is documented as Unix epoch seconds; some gateways send seconds-to-wait
# instead. No epoch of this century is below this, and no sane wait is above it.
_EPOCH_THRESHOLD = 1_000_000_000

# Plain-text error bodies longer than this are pages, not messages.
_MAX_TEXT_MESSAGE = 300


def validate_base_url(value: str | URL) -> URL:
    """Check a configured base URL and return it without a trailing slash."""
    if isinstance(value, str):
        url = URL(value)
    elif isinstance(value, URL):
        url = value
    else:
        raise TypeError(f"base_url must be a str or yarl.URL, not {type(value).__name__}")
    if not url.absolute or url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base_url must be an absolute http(s) URL, got {str(url)!r}")
    if url.user is not None or url.password is not None:
        raise ValueError("base_url must not carry credentials; pass the API key separately")
    if url.query_string or url.fragment:
        raise ValueError(f"base_url must not have a query or fragment, got {str(url)!r}")
    if url.scheme == "http" and not _is_loopback(url.host):
        raise ValueError(f"base_url must use https unless the host is loopback, got {str(url)!r}")
    return url.with_path(url.path.rstrip("/"))


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_origin(url: URL, base_url: URL) -> bool:
    """True when ``url`` may receive the credentials meant for ``base_url``."""
    if url.scheme != base_url.scheme or url.raw_user is not None or url.raw_password is not None:
        return False
    # Next links normally repeat the base URL's authority verbatim; only a differently
    # spelled one (host case, an explicit default port) needs decoding to compare.
    if url.raw_authority == base_url.raw_authority:
        return True
    return url.host == base_url.host and url.port == base_url.port


def page_key(url: URL) -> tuple[str, tuple[str, ...]]:
    """Identity of a page request, indifferent to the order of query parameters."""
    return url.raw_path, tuple(sorted(url.raw_query_string.split("&")))


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    value = headers.get("Retry-After")
    seconds = _seconds(value)
    if seconds is not None or value is None:
        return seconds
    try:
        return parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError):
        return None


def _until_reset(headers: Mapping[str, str], now: float) -> float | None:
    reset = _seconds(headers.get("X-RateLimit-Reset"))
    if reset is None:
        return None
    return reset - now if reset >= _EPOCH_THRESHOLD else reset


def rate_limit_delay(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds a 429 asks us to wait, from ``Retry-After`` and ``X-RateLimit-Reset``.

    Where both are given the later one wins, so the retry does not meet another 429.
    ``now`` is the current Unix time.
    """
    delays = [d for d in (_retry_after(headers, now), _until_reset(headers, now)) if d is not None]
    return max(delays) if delays else None


@attrs.frozen
class RateLimitWindow:
    """What a response says of the provider's current rate-limit window."""

    limit: int
    remaining: int
    reset_at: float  # Unix time at which the window ends


def rate_limit_window(headers: Mapping[str, str], now: float) -> RateLimitWindow | None:
    """The X-RateLimit-* headers, if the response has all three; ``now`` is Unix time."""
    limit = _seconds(headers.get("X-RateLimit-Limit"))
    remaining = _seconds(headers.get("X-RateLimit-Remaining"))
    until_reset = _until_reset(headers, now)
    if limit is None or remaining is None or until_reset is None:
        return None
    return RateLimitWindow(int(limit), int(remaining), now + until_reset)


def error_for_response(
    provider: Provider,
    *,
    status: int,
    reason: str | None,
    headers: Mapping[str, str],
    body: bytes,
    url: URL,
    retry_after: float | None = None,
) -> LinkStatsError:
    """The typed error for a response that is not a success."""
    messages, error_id, code = parse_error_body(body)
    summary = f"HTTP {status}{f' {reason}' if reason else ''} for GET {url}"
    if 300 <= status < 400 and "Location" in headers:
        summary += f" (redirect to {headers['Location']} not followed)"
    common: dict[str, Any] = {
        "provider": provider,
        "status": status,
        "url": url,
        "provider_messages": messages,
        "error_id": error_id,
        "code": code,
    }
    if status == 429:
        return RateLimitError(summary, retry_after=retry_after, **common)
    return _error_class(status)(summary, **common)


def _error_class(status: int) -> type[LinkStatsError]:
    if status in (401, 403):
        return AuthenticationError
    if status == 404:
        return NotFoundError
    if status in (400, 422):
        return InvalidRequestError
    if 500 <= status < 600:
        return ServerError
    return UnexpectedStatusError


def parse_error_body(body: bytes) -> tuple[tuple[ProviderMessage, ...], str | None, str | None]:
    """The messages, error id and error code in an error body of any provider's shape."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _text_message(body), None, None
    if isinstance(payload, str):
        return (ProviderMessage(payload),), None, None
    if not isinstance(payload, dict):
        return (), None, None
    messages: list[ProviderMessage] = []
    _collect(messages, payload.get("errors"), None)
    _collect(messages, payload.get("error"), None)
    _collect(messages, payload.get("message"), None)
    _collect(messages, payload.get("details"), None)
    return tuple(messages), _scalar(payload.get("id")), _scalar(payload.get("code"))


def _collect(messages: list[ProviderMessage], value: Any, field: str | None) -> None:
    if isinstance(value, str):
        if value:
            messages.append(ProviderMessage(value, field))
    elif isinstance(value, list):
        for item in value:
            _collect(messages, item, field)
    elif isinstance(value, dict):
        if "message" in value:
            item_field = value.get("field")
            _collect(
                messages, value["message"], item_field if isinstance(item_field, str) else field
            )
        else:
            for key, item in value.items():
                _collect(messages, item, str(key))


def _scalar(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    return None


def _text_message(body: bytes) -> tuple[ProviderMessage, ...]:
    text = body.decode("utf-8", "replace").strip()
    if not text or text.startswith("<") or len(text) > _MAX_TEXT_MESSAGE or "\n" in text:
        return ()
    return (ProviderMessage(text),)
