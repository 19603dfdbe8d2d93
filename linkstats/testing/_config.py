"""Configuration of the provider simulator: data sizes, listings, limits, faults, behaviours.

Every class is frozen and validated on construction, so a mistyped knob fails where it is written
rather than as a puzzling response in the middle of a test.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, get_args

import attrs
from attrs import validators as v
from yarl import URL

from ._data import is_uuid

__all__ = [
    "Behavior",
    "BrokenResponse",
    "Faults",
    "PauboxErrorShape",
    "Quirks",
    "RateLimit",
    "SimulatorConfig",
]

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

_LOG_LIMIT: int | None = 100_000

PauboxErrorShape = Literal["error", "errors_list", "errors_string"]
"""`{"error","code","details"}`, `{"errors":[{"message"}]}` or `{"errors":"..."}`."""


def _inclusive_range(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
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


def _at_least_one(_instance: Any, attribute: attrs.Attribute[Any], value: tuple[int, int]) -> None:
    """Accept a range whose low bound is 1 or more (checked after `_inclusive_range`)."""
    if value[0] < 1:
        raise ValueError(f"{attribute.name} must start at 1 or more, got {value!r}")


def _account_ids(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
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


def _http_origin(_instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
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
    """SendGrid: page 1's `_metadata.next` is on `foreign_url`'s origin."""
    LOOPING_NEXT = "looping_next"
    """SendGrid: page 2's `_metadata.next` is page 1; a lone page 1's next is itself."""
    REDIRECT = "redirect"
    """302 to the same path and query on `foreign_url`'s origin."""
    HANG = "hang"
    """Never answers; the handler ends when the client goes away or the server shuts down."""
    FAR_RESET_FIRST = "far_reset_first"
    """429 with X-RateLimit-Remaining 0 and a reset an hour ahead, once, then normal."""
    BROKEN_FIRST = "broken_first"
    """A response that breaks HTTP (`broken_response`) for the first `flaky_failures`
    requests, then normal."""


def _frozen_behaviors(behaviors: Mapping[str, Behavior]) -> Mapping[str, Behavior]:
    """Copy into a read-only mapping keyed by lower-case id: UUIDs compare case-insensitively."""
    return MappingProxyType(
        {resource_id.lower(): behaviors[resource_id] for resource_id in behaviors}
    )


@attrs.frozen(kw_only=True)
class SimulatorConfig:
    """Everything that shapes the simulator's answers; equal configs give identical answers."""

    seed: int = attrs.field(default=0, validator=v.instance_of(int))
    paubox_username: str = attrs.field(
        default="demo", validator=[v.instance_of(str), v.matches_re(r"[^/]+")]
    )
    paubox_api_key: str = attrs.field(
        default="paubox-demo-key", validator=[v.instance_of(str), v.min_len(1)]
    )
    sendgrid_api_key: str = attrs.field(
        default="SG.demo-key", validator=[v.instance_of(str), v.min_len(1)]
    )
    paubox_error_shape: PauboxErrorShape = attrs.field(
        default="error", validator=v.in_(get_args(PauboxErrorShape))
    )
    # Inclusive ranges. Equal bounds give exact sizes: a Paubox send has
    # deliveries x links-per-email rows, so (10_000, 10_000) and (6, 6) make 60,000 rows.
    deliveries_per_send: tuple[int, int] = attrs.field(default=(5, 40), validator=_inclusive_range)
    links_per_email: tuple[int, int] = attrs.field(default=(2, 8), validator=_inclusive_range)
    steps_per_automation: tuple[int, int] = attrs.field(default=(1, 4), validator=_inclusive_range)
    links_per_step: tuple[int, int] = attrs.field(default=(2, 12), validator=_inclusive_range)
    # A single send with one variation is not A/B tested; (2, 3) makes every one an A/B test.
    variations_per_single_send: tuple[int, int] = attrs.field(
        default=(1, 3), validator=[_inclusive_range, _at_least_one]
    )
    links_per_variation: tuple[int, int] = attrs.field(default=(2, 12), validator=_inclusive_range)
    # What the account holds, in listing order; None draws 30 automations, 20 single sends and
    # 25 Paubox campaign sends from the seed. Every well-formed UUID still has link data.
    automation_ids: tuple[str, ...] | None = attrs.field(default=None, validator=_account_ids)
    single_send_ids: tuple[str, ...] | None = attrs.field(default=None, validator=_account_ids)
    paubox_send_ids: tuple[str, ...] | None = attrs.field(default=None, validator=_account_ids)
    # SendGrid always sends rate-limit headers; without a limit set it reports a generous one.
    rate_limit: RateLimit | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(RateLimit))
    )
    # Paubox documents no rate limits, so it sends no rate-limit headers unless given one.
    paubox_rate_limit: RateLimit | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(RateLimit))
    )
    faults: Faults = attrs.field(factory=Faults, validator=v.instance_of(Faults))
    quirks: Quirks = attrs.field(factory=Quirks, validator=v.instance_of(Quirks))
    behaviors: Mapping[str, Behavior] = attrs.field(
        factory=dict,
        converter=_frozen_behaviors,
        validator=v.deep_mapping(v.instance_of(str), v.instance_of(Behavior)),
    )
    # The behaviour of the three listings (SendGrid automations and single sends, Paubox's sends
    # table), which have no id of their own to key it by.
    listing_behavior: Behavior | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(Behavior))
    )
    flaky_failures: int = attrs.field(default=2, validator=[v.instance_of(int), v.ge(0)])
    foreign_url: str = attrs.field(
        default="http://127.0.0.2:9", validator=[v.instance_of(str), _http_origin]
    )
    broken_response: BrokenResponse = attrs.field(
        default="status_line", validator=v.in_(get_args(BrokenResponse))
    )
    # Seconds the provider's clock is ahead of the client's (negative: behind). Its Date
    # headers and rate-limit windows and resets all run on that clock.
    clock_offset: float = attrs.field(default=0.0, validator=v.instance_of((int, float)))
    # How many of the latest requests the log keeps (None: all); a long run stays bounded.
    log_limit: int | None = attrs.field(
        default=_LOG_LIMIT, validator=v.optional([v.instance_of(int), v.ge(1)])
    )
