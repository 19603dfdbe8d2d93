"""`SimulatorConfig`: everything that shapes the simulator's answers, grouped per provider."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import get_args

import attrs
from attrs import validators as v

from ._knobs import Behavior, BrokenResponse, Faults, Quirks, http_origin
from .paubox import PauboxConfig
from .sendgrid import SendGridConfig

__all__ = ["SimulatorConfig"]

_LOG_LIMIT: int | None = 100_000


def _frozen_behaviors(behaviors: Mapping[str, Behavior]) -> Mapping[str, Behavior]:
    """Copy into a read-only mapping keyed by lower-case id: UUIDs compare case-insensitively."""
    return MappingProxyType(
        {resource_id.lower(): behaviors[resource_id] for resource_id in behaviors}
    )


@attrs.frozen(kw_only=True)
class SimulatorConfig:
    """Everything that shapes the simulator's answers; equal configs give identical answers.

    Each provider's account (credentials, data sizes, listed ids, rate limit) is its own config;
    the seed, the period, faults, quirks, scripted behaviours and the clock apply to every
    provider.
    """

    seed: int = attrs.field(default=0, validator=v.instance_of(int))
    # How many periods of growth the click counts have had. Stats endpoints report lifetime
    # running totals, so each period adds clicks, never removes any; 0 is the data as first
    # drawn. `Simulator.advance` moves a running simulator on.
    period: int = attrs.field(default=0, validator=[v.instance_of(int), v.ge(0)])
    paubox: PauboxConfig = attrs.field(factory=PauboxConfig, validator=v.instance_of(PauboxConfig))
    sendgrid: SendGridConfig = attrs.field(
        factory=SendGridConfig, validator=v.instance_of(SendGridConfig)
    )
    faults: Faults = attrs.field(factory=Faults, validator=v.instance_of(Faults))
    quirks: Quirks = attrs.field(factory=Quirks, validator=v.instance_of(Quirks))
    # Scripted behaviours by send, automation or single send id.
    behaviors: Mapping[str, Behavior] = attrs.field(
        factory=dict,
        converter=_frozen_behaviors,
        validator=v.deep_mapping(v.instance_of(str), v.instance_of(Behavior)),
    )
    # The behaviour of the listings (SendGrid's automations and single sends, Paubox's sends
    # table), which have no id of their own to key it by.
    listing_behavior: Behavior | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(Behavior))
    )
    flaky_failures: int = attrs.field(default=2, validator=[v.instance_of(int), v.ge(0)])
    foreign_url: str = attrs.field(
        default="http://127.0.0.2:9", validator=[v.instance_of(str), http_origin]
    )
    broken_response: BrokenResponse = attrs.field(
        default="status_line", validator=v.in_(get_args(BrokenResponse))
    )
    # Seconds the providers' clock is ahead of the client's (negative: behind). Their Date
    # headers and rate-limit windows and resets all run on that clock.
    clock_offset: float = attrs.field(default=0.0, validator=v.instance_of((int, float)))
    # Links that differ from campaign to campaign and place to place (an `lsid` query
    # parameter on http(s) URLs), for benchmarks in which a URL cache must not hide parsing.
    distinct_urls: bool = attrs.field(default=False, validator=v.instance_of(bool))
    # How many of the latest requests the log keeps (None: all); a long run stays bounded.
    log_limit: int | None = attrs.field(
        default=_LOG_LIMIT, validator=v.optional([v.instance_of(int), v.ge(1)])
    )
