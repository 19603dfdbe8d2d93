"""Deterministic provider data: Paubox tracking links and SendGrid automation link stats.

Everything derives from `(seed, id)` through `random.Random` seeded with a string (stable across
processes, unlike `hash()`), so every well-formed UUID names a send or automation with data, and a
test can compute what the simulator serves without going through HTTP. Generated data and the
large Paubox bodies are cached, as the simulator also serves throughput benchmarks.

The data is built to exercise a tolerant client:

- Paubox rows: one per link per delivered email. Unopened links have `opened_at` null and
  `clicked` 0; `opened_at` comes in several ISO-8601 spellings (`Z`, `+02:00`, 0/3/6 fractional
  digits); in every send of three rows or more, a few rows lack one of the four documented
  attributes, a few have one null, and a few carry unknown fields at row and attribute level; every
  row carries an undocumented `created_at` attribute (the sort key of the default order).
- SendGrid rows: zero-click links are not listed (`clicks` has `minimum: 1`); the same URL can sit
  at several `url_location`s.
- Target URLs come from a pool of awkward but real-world links: templates, non-ASCII paths, an
  internationalized host, `mailto:`/`tel:`, an explicit default port and a fragment.
"""

from __future__ import annotations

import functools
import itertools
import random
import re
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import attrs
import orjson

if TYPE_CHECKING:
    from ._config import SimulatorConfig

__all__ = [
    "URL_POOL",
    "paubox_tracking_links",
    "sendgrid_automation_links",
    "sendgrid_automation_steps",
]

URL_POOL: tuple[str, ...] = (
    "https://example.com/spring-sale?utm_source=newsletter&utm_medium=email&utm_campaign=spring",
    "https://example.com/welcome?name={{first_name}}",
    "https://example.com/members/{{custom_field}}/profile",
    "https://example.com/café/パス",
    "https://例え.jp/ページ",
    "mailto:support@example.com",
    "tel:+15551234567",
    "https://Example.COM:443/Offers",
    "https://example.com/guide#pricing",
    "https://example.org/",
    "http://blog.example.net/2024/05/hello-world",
    "https://shop.example.com/cart?item=42&qty=1",
)
"""Target URLs of generated links; the first nine are awkward ones clients must keep verbatim."""

PAUBOX_ORDER_BY = ("created_at", "opened_at", "clicked", "target_url")
PAUBOX_ORDERS = ("asc", "desc")

# The documented attributes, any of which a row may lack or have null.
_ATTRIBUTES = ("target_url", "opened_at", "clicked", "campaign_mailing_delivery_id")
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_YEAR = timedelta(days=365)
_WEEK = timedelta(days=7)

# (zone, precision, spell UTC as "Z"): the spellings of `opened_at` a client must all accept.
_OPENED_AT_SPELLINGS: tuple[tuple[timezone, str, bool], ...] = (
    (UTC, "milliseconds", True),
    (UTC, "seconds", True),
    (timezone(timedelta(hours=2)), "microseconds", False),
    (timezone(timedelta(hours=-5)), "seconds", False),
    (UTC, "milliseconds", False),
    (timezone(timedelta(hours=5, minutes=30)), "microseconds", False),
)

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(text: str) -> bool:
    """Whether `text` is a UUID in its canonical 8-4-4-4-12 form (hex digits in either case)."""
    return _UUID.fullmatch(text) is not None


@attrs.frozen
class DataShape:
    """The part of a config that determines the data, used as a cache key."""

    seed: int
    deliveries_per_send: tuple[int, int]
    links_per_email: tuple[int, int]
    steps_per_automation: tuple[int, int]
    links_per_step: tuple[int, int]

    @classmethod
    def of(cls, config: SimulatorConfig) -> DataShape:
        """Take the data-determining fields of `config`."""
        return cls(
            seed=config.seed,
            deliveries_per_send=config.deliveries_per_send,
            links_per_email=config.links_per_email,
            steps_per_automation=config.steps_per_automation,
            links_per_step=config.links_per_step,
        )


def _rng(shape: DataShape, provider: str, resource_id: str) -> random.Random:
    """A generator private to one send or automation, stable across processes."""
    return random.Random(f"linkstats.testing/{shape.seed}/{provider}/{resource_id}")


def _new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(instant: datetime, zone: timezone, precision: str, *, utc_as_z: bool) -> str:
    """ISO-8601 in `zone`; with `utc_as_z`, UTC is spelled `Z` as Rails renders timestamps."""
    text = instant.astimezone(zone).isoformat(timespec=precision)
    return text.removesuffix("+00:00") + "Z" if utc_as_z else text


def _truncated(instant: datetime, precision: str) -> datetime:
    """Drop the digits `precision` does not show, so sorting agrees with the rendered text."""
    if precision == "seconds":
        return instant.replace(microsecond=0)
    if precision == "milliseconds":
        return instant.replace(microsecond=instant.microsecond // 1000 * 1000)
    return instant


@attrs.frozen
class _TrackingLink:
    """One Paubox row: its wire form plus the true values the endpoint sorts on."""

    wire: dict[str, Any]
    created_at: datetime
    opened_at: datetime | None
    clicked: int
    target_url: str


def _opened(rng: random.Random, created_at: datetime) -> tuple[datetime, str]:
    """When a link was first clicked, and that instant in one of the accepted spellings."""
    zone, precision, utc_as_z = rng.choice(_OPENED_AT_SPELLINGS)
    offset = timedelta(microseconds=rng.randrange(60_000_000, _WEEK // timedelta(microseconds=1)))
    instant = _truncated(created_at + offset, precision)
    return instant, _iso(instant, zone, precision, utc_as_z=utc_as_z)


@functools.lru_cache(maxsize=64)
def _tracking_links(shape: DataShape, send_id: str) -> tuple[_TrackingLink, ...]:
    """Every tracking link of one send, in creation order."""
    rng = _rng(shape, "paubox", send_id)
    deliveries = rng.randint(*shape.deliveries_per_send)
    # Every email of a campaign comes from one template, so every delivery has the same links;
    # a URL may appear twice in it, as a logo and a button often share a target.
    template = rng.choices(URL_POOL, k=rng.randint(*shape.links_per_email))
    sent_at = _EPOCH + timedelta(seconds=rng.randrange(int(_YEAR.total_seconds())))
    total = deliveries * len(template)
    # Quirky rows sit at drawn positions, so even a small send has each kind at least once.
    quirky = min(total // 3, max(1, total // 30))
    positions = rng.sample(range(total), 3 * quirky)
    lacking = dict(zip(positions[:quirky], itertools.cycle(_ATTRIBUTES), strict=False))
    nulled = dict(zip(positions[quirky : 2 * quirky], itertools.cycle(_ATTRIBUTES), strict=False))
    extended = set(positions[2 * quirky :])
    links: list[_TrackingLink] = []
    for _ in range(deliveries):
        delivery_id = _new_uuid(rng)
        for html_index, target_url in enumerate(template):
            index = len(links)
            created_at = sent_at + timedelta(milliseconds=37 * index)
            opened_at, opened_text = (
                _opened(rng, created_at) if rng.random() < 0.45 else (None, None)
            )
            clicked = 0 if opened_at is None else rng.choice((1, 1, 1, 2, 2, 3, 5, 8))
            attributes: dict[str, Any] = {
                "target_url": target_url,
                "opened_at": opened_text,
                "clicked": clicked,
                "campaign_mailing_delivery_id": delivery_id,
                "created_at": _iso(created_at, UTC, "milliseconds", utc_as_z=True),
            }
            if index in lacking:
                del attributes[lacking[index]]
            if index in nulled:
                attributes[nulled[index]] = None
            wire: dict[str, Any] = {
                "id": _new_uuid(rng),
                "type": "tracking_link",
                "attributes": attributes,
            }
            if index in extended:
                attributes["html_id"] = f"link-{html_index}"
                wire["relationships"] = {
                    "campaign_mailing_delivery": {
                        "data": {"id": delivery_id, "type": "campaign_mailing_delivery"}
                    }
                }
            links.append(_TrackingLink(wire, created_at, opened_at, clicked, target_url))
    return tuple(links)


# Sort keys end with created_at, which is unique, so every order is total. A missing `opened_at`
# sorts as SQL NULL does in PostgreSQL: last ascending, first descending.
_PAUBOX_SORT_KEYS: dict[str, Callable[[_TrackingLink], tuple[Any, ...]]] = {
    "created_at": lambda link: (link.created_at,),
    "opened_at": lambda link: (link.opened_at is None, link.opened_at or _EPOCH, link.created_at),
    "clicked": lambda link: (link.clicked, link.created_at),
    "target_url": lambda link: (link.target_url, link.created_at),
}


@functools.lru_cache(maxsize=1024)
def paubox_body(shape: DataShape, send_id: str, order_by: str, order: str) -> bytes:
    """The serialized 200 body for one send in one order (`send_id` in lower case)."""
    links = sorted(
        _tracking_links(shape, send_id), key=_PAUBOX_SORT_KEYS[order_by], reverse=order == "desc"
    )
    return orjson.dumps({"data": [link.wire for link in links]})


@attrs.frozen
class _StepLink:
    url: str
    url_location: int
    clicks: int


@attrs.frozen
class _Step:
    step_id: str
    links: tuple[_StepLink, ...]


@functools.lru_cache(maxsize=1024)
def _automation_steps(shape: DataShape, automation_id: str) -> tuple[_Step, ...]:
    """The steps of one automation with every link in each, clicked or not."""
    rng = _rng(shape, "sendgrid", automation_id)
    steps = []
    for _ in range(rng.randint(*shape.steps_per_automation)):
        step_id = _new_uuid(rng)
        links = tuple(
            _StepLink(
                url=rng.choice(URL_POOL),
                url_location=url_location,
                clicks=0 if rng.random() < 0.25 else rng.randint(1, 40),
            )
            for url_location in range(rng.randint(*shape.links_per_step))
        )
        steps.append(_Step(step_id, links))
    return tuple(steps)


@attrs.frozen
class LinkStats:
    """Every row of one SendGrid query across all pages, with the sum of their clicks."""

    rows: tuple[dict[str, Any], ...]
    total_clicks: int


@functools.lru_cache(maxsize=1024)
def link_stats(
    shape: DataShape, automation_id: str, step_ids: frozenset[str], group_by_step: bool
) -> LinkStats:
    """Rows of one query: `automation_id` and `step_ids` in lower case, empty `step_ids` for all."""
    clicked = [
        (step.step_id, link)
        for step in _automation_steps(shape, automation_id)
        if not step_ids or step.step_id in step_ids
        for link in step.links
        if link.clicks
    ]
    rows: tuple[dict[str, Any], ...]
    if group_by_step:
        rows = tuple(
            {
                "url": link.url,
                "url_location": link.url_location,
                "step_id": step_id,
                "clicks": link.clicks,
            }
            for step_id, link in clicked
        )
    else:
        # Without grouping, a link's clicks are summed over the steps it appears in, in order of
        # first appearance; rows carry no step_id ("the ID of the step if the stats were requested
        # to be grouped by step_id").
        totals: dict[tuple[str, int], int] = {}
        for _, link in clicked:
            key = (link.url, link.url_location)
            totals[key] = totals.get(key, 0) + link.clicks
        rows = tuple(
            {"url": url, "url_location": url_location, "clicks": clicks}
            for (url, url_location), clicks in totals.items()
        )
    return LinkStats(rows=rows, total_clicks=sum(link.clicks for _, link in clicked))


def _require_uuid(name: str, value: str) -> str:
    """Return `value` in lower case, or refuse it as the endpoints do."""
    if not is_uuid(value):
        raise ValueError(f"{name} must be a UUID, got {value!r}")
    return value.lower()


def paubox_tracking_links(
    config: SimulatorConfig, send_id: str, *, order_by: str = "created_at", order: str = "desc"
) -> list[dict[str, Any]]:
    """The `data` rows the tracking-links endpoint serves for `send_id`, before any fault."""
    if order_by not in PAUBOX_ORDER_BY:
        raise ValueError(f"order_by must be one of {PAUBOX_ORDER_BY}, got {order_by!r}")
    if order not in PAUBOX_ORDERS:
        raise ValueError(f"order must be one of {PAUBOX_ORDERS}, got {order!r}")
    body = paubox_body(DataShape.of(config), _require_uuid("send_id", send_id), order_by, order)
    rows: list[dict[str, Any]] = orjson.loads(body)["data"]
    return rows


def sendgrid_automation_links(
    config: SimulatorConfig,
    automation_id: str,
    *,
    step_ids: Collection[str] = (),
    group_by_step: bool = False,
) -> list[dict[str, Any]]:
    """Every `results` row the automation links endpoint serves, across all pages in page order."""
    stats = link_stats(
        DataShape.of(config),
        _require_uuid("automation_id", automation_id),
        frozenset(_require_uuid("step_ids", step_id) for step_id in step_ids),
        group_by_step,
    )
    return [dict(row) for row in stats.rows]


def sendgrid_automation_steps(config: SimulatorConfig, automation_id: str) -> tuple[str, ...]:
    """The step ids of an automation, in step order."""
    steps = _automation_steps(DataShape.of(config), _require_uuid("automation_id", automation_id))
    return tuple(step.step_id for step in steps)
