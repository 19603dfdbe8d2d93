"""The simulator's provider-free knobs: rate limits, quirks, faults and scripted behaviours.

Every class is frozen and validated on construction, so a mistyped knob fails where it is written
rather than as a puzzling response in the middle of a test. The validators here also check the
providers' own configs.
"""

from __future__ import annotations

import enum
import re
from typing import Any, Literal

import attrs
from attrs import validators as v
from yarl import URL

__all__ = ["Behavior", "BrokenResponse", "Faults", "Quirks", "RateLimit"]

BrokenResponse = Literal[
    "status_line",
    "content_length",
    "duplicate_content_length",
    "oversized_header",
    "chunk_size",
    "short_body",
]
"""How `Behavior.BROKEN_FIRST` breaks HTTP: a bad status line, a Content-Length that is no
number, two Content-Lengths, a 64 KiB header, a chunk size that is no number, or a body cut
short of its Content-Length."""

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(text: str) -> bool:
    """Whether `text` is a UUID in its canonical 8-4-4-4-12 form (hex digits in either case)."""
    return _UUID.fullmatch(text) is not None


def require_uuid(name: str, value: str) -> str:
    """Return `value` in lower case, or refuse it as the endpoints do."""
    if not is_uuid(value):
        raise ValueError(f"{name} must be a UUID, got {value!r}")
    return value.lower()


def inclusive_range(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Accept `(low, high)` with integers `0 <= low <= high`."""
    if not (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(bound, int) and not isinstance(bound, bool) for bound in value)
        and 0 <= value[0] <= value[1]
    ):
        raise ValueError(
            f"{attribute.name} must be a tuple (low, high) of ints with 0 <= low <= high"
        )


def at_least_one(_instance: Any, attribute: attrs.Attribute[Any], value: tuple[int, int]) -> None:
    """Accept a range whose low bound is 1 or more (checked after `inclusive_range`)."""
    if value[0] < 1:
        raise ValueError(f"{attribute.name} must start at 1 or more, got {value!r}")


def account_ids(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Accept None (ids drawn from the seed) or a tuple of distinct UUIDs."""
    if value is None:
        return
    if not (isinstance(value, tuple) and all(isinstance(item, str) for item in value)):
        raise ValueError(f"{attribute.name} must be None or a tuple of UUID strings")
    if not all(is_uuid(item) for item in value):
        raise ValueError(f"{attribute.name} must hold UUIDs, got {value!r}")
    # UUIDs compare case-insensitively, as the listing filters do.
    if len({item.lower() for item in value}) < len(value):
        raise ValueError(f"{attribute.name} must not repeat an id")


def http_origin(_instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    """Accept an absolute http(s) URL, whose origin the scripted behaviours point at."""
    url = URL(value)
    if not (url.absolute and url.scheme in {"http", "https"}):
        raise ValueError(f"{attribute.name} must be an absolute http(s) URL, got {value!r}")


def _fraction(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Accept a share of requests, from 0 (none) to 1 (all)."""
    if not (isinstance(value, int | float) and 0 <= value <= 1):
        raise ValueError(f"{attribute.name} must be a number from 0 to 1, got {value!r}")


@attrs.frozen(kw_only=True)
class RateLimit:
    """A fixed-window request budget, counted per provider per API key."""

    limit: int = attrs.field(validator=[v.instance_of(int), v.ge(1)])
    # Windows are aligned to multiples of `window` seconds of wall-clock time, as SendGrid's
    # X-RateLimit-Reset is a wall-clock epoch.
    window: float = attrs.field(default=1.0, validator=[v.instance_of((int, float)), v.gt(0)])
    # Retry-After is not documented by SendGrid; turn it on to test clients that prefer it.
    retry_after: bool = attrs.field(default=False, validator=v.instance_of(bool))


@attrs.frozen(kw_only=True)
class Quirks:
    """Forms answers take that the providers do not document, all off by default.

    The default answers follow the official schemas; a test of a client's tolerance turns
    these on: Paubox attributes sent as ``null`` rather than left out (``nulls``), target URLs
    with raw non-ASCII characters rather than percent- and IDNA-encoded (``unicode_urls``),
    and undocumented fields at row and attribute level (``unknown_fields``).
    """

    nulls: bool = attrs.field(default=False, validator=v.instance_of(bool))
    unicode_urls: bool = attrs.field(default=False, validator=v.instance_of(bool))
    unknown_fields: bool = attrs.field(default=False, validator=v.instance_of(bool))

    @classmethod
    def all(cls) -> Quirks:
        """Every quirk on: the most a tolerant client must survive."""
        return cls(nulls=True, unicode_urls=True, unknown_fields=True)


@attrs.frozen(kw_only=True)
class Faults:
    """Infrastructure trouble injected into a share of requests, decided deterministically."""

    latency: float = attrs.field(default=0.0, validator=[v.instance_of((int, float)), v.ge(0)])
    server_error_rate: float = attrs.field(default=0.0, validator=_fraction)
    drop_rate: float = attrs.field(default=0.0, validator=_fraction)
    malformed_rate: float = attrs.field(default=0.0, validator=_fraction)


class Behavior(enum.Enum):
    """Scripted behaviour of one send, automation or single send id, or of the listings."""

    NOT_FOUND = "not_found"
    """404 in the provider's error shape."""
    FORBIDDEN = "forbidden"
    """403 in the provider's error shape."""
    SERVER_ERROR = "server_error"
    """500 on every request."""
    UNAVAILABLE = "unavailable"
    """503 on every request."""
    MALFORMED_JSON = "malformed_json"
    """200 whose body is not JSON."""
    WRONG_SHAPE = "wrong_shape"
    """200 whose body is JSON but not the documented shape."""
    FLAKY = "flaky"
    """503 for the first `flaky_failures` requests, then normal."""
    DROP_FIRST = "drop_first"
    """Connection closed without an answer for the first `flaky_failures` requests, then normal."""
    RATE_LIMITED_FIRST = "rate_limited_first"
    """429 with X-RateLimit-Remaining 0 and a reset one second ahead, once, then normal."""
    FOREIGN_NEXT = "foreign_next"
    """Paginated endpoints: page 1's next link is on `foreign_url`'s origin."""
    LOOPING_NEXT = "looping_next"
    """Paginated endpoints: page 2's next link is page 1; a lone page 1's next is itself."""
    REDIRECT = "redirect"
    """302 to the same path and query on `foreign_url`'s origin."""
    HANG = "hang"
    """Never answers; the handler ends when the client goes away or the server shuts down."""
    FAR_RESET_FIRST = "far_reset_first"
    """429 with X-RateLimit-Remaining 0 and a reset an hour ahead, once, then normal."""
    BROKEN_FIRST = "broken_first"
    """A response that breaks HTTP (`broken_response`) for the first `flaky_failures`
    requests, then normal."""
