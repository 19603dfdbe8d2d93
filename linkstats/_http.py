"""HTTP rules shared by every provider, kept free of I/O so they are tested from values alone.

Base-URL and origin checks, the page identity used to catch looping ``next`` links, reading
rate-limit headers, and turning an error response into a typed exception. Each provider reads
its own error bodies; ``read_error_body`` is the tolerant default beneath them, for the
shapes APIs and the gateways in front of them commonly answer in (``{"errors": [...]}``,
``{"error": ...}``, ``{"message": ...}``, ``{"title", "detail"}``, a bare string).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import attrs
import orjson
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._errors import (
    AuthenticationError,
    ErrorDetails,
    InvalidRequestError,
    LinkStatsError,
    NotFoundError,
    ProviderMessage,
    RateLimitError,
    ServerError,
    UnexpectedStatusError,
)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

# X-RateLimit-Reset is documented as Unix epoch seconds; some gateways send seconds-to-wait
# instead. No epoch of this century is below this, and no sane wait is above it.
_EPOCH_THRESHOLD = 1_000_000_000

# Plain-text error bodies longer than this are pages, not messages.
_MAX_TEXT_MESSAGE = 300
# How much of an error body an exception keeps for the curious.
_EXCERPT_CHARACTERS = 300
# The keys under which error bodies commonly carry their messages, in the order read.
_MESSAGE_KEYS = ("errors", "error", "message", "title", "detail", "details")


_NO_HEADERS: Mapping[str, str] = CIMultiDictProxy(CIMultiDict())


@attrs.frozen
class PageRequest:
    """A GET a provider wants sent: its URL, query included, and any headers of its own.

    The source's credentials are added when it is sent, and only if the URL is on the base
    URL's origin.
    """

    url: URL
    headers: Mapping[str, str] = _NO_HEADERS

    def with_query(self, **params: str | int) -> PageRequest:
        """The same request with these query parameters set (others kept): offset paging."""
        return attrs.evolve(self, url=self.url.update_query(params))


@attrs.frozen
class Response:
    """A finished response: the body is fully read and the connection already released."""

    request: PageRequest
    status: int
    reason: str | None
    headers: Mapping[str, str]
    body: bytes

    @property
    def url(self) -> URL:
        """The URL requested."""
        return self.request.url


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


def environment_proxy(url: URL, environ: Mapping[str, str]) -> URL | None:
    """The proxy the standard variables (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, and
    ``NO_PROXY`` for the hosts that bypass it; lower case first) name for ``url``, as curl
    and requests read them. Loopback hosts never go through one."""
    host = url.host
    if host is None or _is_loopback(host):
        return None
    variables = {name.lower(): value for name, value in environ.items() if value}
    variables |= {name: value for name, value in environ.items() if name.islower() and value}
    proxy = variables.get(f"{url.scheme}_proxy") or variables.get("all_proxy")
    if not proxy:
        return None
    if _bypasses(host.lower(), variables.get("no_proxy", "")):
        return None
    return URL(proxy)


def _bypasses(host: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` (``*``, or hosts and domains, a leading dot optional) names the
    host or a domain it is in."""
    for entry in (item.strip().lower() for item in no_proxy.split(",")):
        name = entry.rpartition(":")[0] if entry.count(":") == 1 else entry
        name = name.lstrip(".")
        if entry == "*" or (name and (host == name or host.endswith("." + name))):
            return True
    return False


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
    provider: str,
    *,
    status: int,
    reason: str | None,
    headers: Mapping[str, str],
    url: URL,
    details: ErrorDetails,
    body_excerpt: str | None = None,
    retry_after: float | None = None,
) -> LinkStatsError:
    """The typed error for a response that is not a success."""
    summary = f"HTTP {status}{f' {reason}' if reason else ''} for GET {url}"
    if 300 <= status < 400 and "Location" in headers:
        summary += f" (redirect to {headers['Location']} not followed)"
    common: dict[str, Any] = {
        "provider": provider,
        "status": status,
        "url": url,
        "provider_messages": details.messages,
        "error_id": details.error_id,
        "code": details.code,
        "body_excerpt": body_excerpt,
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


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret cut out, the longest first (a header before its key)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def excerpt(body: bytes, secrets: Iterable[str]) -> str | None:
    """The start of a body as text, with every secret cut out, should a server echo one."""
    # Read a little more than kept, so that a secret straddling the cut is still found.
    longest = max((len(secret) for secret in secrets), default=0)
    text = redact(body[: 4 * (_EXCERPT_CHARACTERS + longest)].decode("utf-8", "replace"), secrets)
    text = text.strip()
    if not text:
        return None
    return text if len(text) <= _EXCERPT_CHARACTERS else text[:_EXCERPT_CHARACTERS] + "..."


def read_error_body(body: bytes) -> ErrorDetails:
    """The messages, error id and error code of an error body in any common shape.

    The default beneath every provider's own error parser: whatever the shape, nothing it
    can say is lost, and nothing it cannot read raises.
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ErrorDetails(_text_message(body))
    if isinstance(payload, str):
        return ErrorDetails((ProviderMessage(payload),) if payload else ())
    if not isinstance(payload, dict):
        return ErrorDetails()
    messages: list[ProviderMessage] = []
    for key in _MESSAGE_KEYS:
        collect_messages(messages, payload.get(key))
    return ErrorDetails(tuple(messages), _scalar(payload.get("id")), _scalar(payload.get("code")))


def collect_messages(messages: list[ProviderMessage], value: Any, field: str | None = None) -> None:
    """Every message in ``value``: a string, a list of them, ``{"message", "field"}`` objects,
    or an object mapping each field to its messages."""
    if isinstance(value, str):
        if value:
            messages.append(ProviderMessage(value, field))
    elif isinstance(value, list):
        for item in value:
            collect_messages(messages, item, field)
    elif isinstance(value, dict):
        if "message" in value:
            item_field = value.get("field")
            collect_messages(
                messages, value["message"], item_field if isinstance(item_field, str) else field
            )
        else:
            for key, item in value.items():
                collect_messages(messages, item, str(key))


def _scalar(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    return None


def _text_message(body: bytes) -> tuple[ProviderMessage, ...]:
    text = body.decode("utf-8", "replace").strip()
    if not text or text.startswith("<") or len(text) > _MAX_TEXT_MESSAGE or "\n" in text:
        return ()
    return (ProviderMessage(text),)
