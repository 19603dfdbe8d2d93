"""Deterministic provider data: Paubox campaign sends, SendGrid automations and single sends.

Everything derives from `(seed, id)` through `random.Random` seeded with a string (stable across
processes, unlike `hash()`), so every well-formed UUID names a send, automation or single send with
data, and a test can compute what the simulator serves without going through HTTP. Which ids the
account lists comes from the config, or is drawn from the seed. Generated data and the large
Paubox bodies are cached, as the simulator also serves throughput benchmarks.

The data is built to exercise a tolerant client:

- Paubox rows: one per link per delivered email. Unopened links leave `opened_at` out and have
  `clicked` 0; `opened_at` comes in several ISO-8601 spellings (`Z`, `+02:00`, 0/3/6 fractional
  digits); in every send of three rows or more, a few rows lack one of the four documented
  attributes. With `Quirks(nulls=True)`, unopened links and a few others send `null` instead;
  with `Quirks(unknown_fields=True)`, every row carries an undocumented `created_at` attribute
  (the sort key of the default order) and a few carry more unknown fields at row and attribute
  level.
- Paubox per-link totals (`tracking_links_by_unique_link`) sum the `clicked` the tracking-links
  rows serve, a missing or null one counting 0, per link of the email (`html_id` "link-0", ...),
  so the two endpoints agree even where a row lacks its `target_url`.
- Paubox's sends table: list names include non-ASCII ones ("Patients — Spring 2024").
- SendGrid rows: zero-click links are not listed (`clicks` has `minimum: 1`); the same URL can sit
  at several `url_location`s.
- SendGrid single sends: one variation means no A/B test and a `send` phase only; with two or
  three, every variation has a `test` phase and the winning one alone a `send` phase, as an A/B
  test sends the winner to the rest of the list.
- SendGrid listings: `stats.clicks` is the sum of the link stats' clicks; the other metrics are
  plausible (requests >= delivered >= opens >= unique_opens >= unique_clicks, clicks >=
  unique_clicks).
- Target URLs come from a pool of awkward but real-world links: templates, non-ASCII paths, an
  internationalized host, `mailto:`/`tel:`, an explicit default port and a fragment. Non-ASCII
  ones are sent percent- and IDNA-encoded, as `format: uri` has them, unless
  `Quirks(unicode_urls=True)` asks for them raw.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
import random
import re
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

import attrs
import orjson
import yarl

if TYPE_CHECKING:
    from ._config import SimulatorConfig

__all__ = [
    "SUBSCRIPTION_LIST_NAMES",
    "URL_POOL",
    "paubox_send_ids",
    "paubox_sends_table",
    "paubox_tracking_links",
    "paubox_tracking_links_by_unique_link",
    "sendgrid_automation_ids",
    "sendgrid_automation_links",
    "sendgrid_automation_list",
    "sendgrid_automation_steps",
    "sendgrid_single_send_ids",
    "sendgrid_single_send_links",
    "sendgrid_single_send_list",
    "sendgrid_single_send_variations",
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

SUBSCRIPTION_LIST_NAMES: tuple[str, ...] = (
    "Newsletter subscribers",
    "Patients — Spring 2024",
    "Pacientes — Clínica Norte",
    "Flu shot reminders",
    "Praxis Müller: Patienten",
    "患者さまへのお知らせ",
    "Dental recall 2024",
    "VIP members",
)
"""Names of the subscription lists campaigns are sent to, some with non-ASCII letters."""

# The first `order_by` of each Paubox endpoint is its default.
PAUBOX_ORDER_BY = ("created_at", "opened_at", "clicked", "target_url")
PAUBOX_ORDERS = ("asc", "desc")
PAUBOX_SENDS_ORDER_BY = ("sent_at", "campaign_mailing_created_at", "subscription_list_name")
SINGLE_SEND_GROUP_BY = ("ab_variation", "ab_phase")
AB_PHASE_IDS = ("test", "send")

# How many of each the account lists when the config names none.
_DRAWN_AUTOMATIONS = 30
_DRAWN_SINGLE_SENDS = 20
_DRAWN_PAUBOX_SENDS = 25

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


# The hash is kept: the id listings make it a key worth not rehashing on every cached lookup.
@attrs.frozen(cache_hash=True)
class DataShape:
    """The part of a config that determines the data, used as a cache key."""

    seed: int
    deliveries_per_send: tuple[int, int]
    links_per_email: tuple[int, int]
    steps_per_automation: tuple[int, int]
    links_per_step: tuple[int, int]
    variations_per_single_send: tuple[int, int]
    links_per_variation: tuple[int, int]
    unicode_urls: bool
    nulls: bool
    unknown_fields: bool
    # What the account lists, in listing order and lower case.
    automation_ids: tuple[str, ...]
    single_send_ids: tuple[str, ...]
    paubox_send_ids: tuple[str, ...]

    @classmethod
    def of(cls, config: SimulatorConfig) -> DataShape:
        """Take the data-determining fields of `config`, drawing the listings it leaves open."""
        return cls(
            seed=config.seed,
            deliveries_per_send=config.deliveries_per_send,
            links_per_email=config.links_per_email,
            steps_per_automation=config.steps_per_automation,
            links_per_step=config.links_per_step,
            variations_per_single_send=config.variations_per_single_send,
            links_per_variation=config.links_per_variation,
            unicode_urls=config.quirks.unicode_urls,
            nulls=config.quirks.nulls,
            unknown_fields=config.quirks.unknown_fields,
            automation_ids=_listed(
                config.automation_ids, config.seed, "sendgrid/automations", _DRAWN_AUTOMATIONS
            ),
            single_send_ids=_listed(
                config.single_send_ids, config.seed, "sendgrid/singlesends", _DRAWN_SINGLE_SENDS
            ),
            paubox_send_ids=_listed(
                config.paubox_send_ids, config.seed, "paubox/sends", _DRAWN_PAUBOX_SENDS
            ),
        )


def _on_the_wire(shape: DataShape, url: str) -> str:
    """A pool URL as the providers' schemas (`format: uri`) have it: non-ASCII encoded,
    unless raw ones are asked for; ASCII ones, templates included, verbatim."""
    if shape.unicode_urls or url.isascii():
        return url
    return str(yarl.URL(url))


def _rng(shape: DataShape, provider: str, resource_id: str) -> random.Random:
    """A generator private to one send or automation, stable across processes."""
    return random.Random(f"linkstats.testing/{shape.seed}/{provider}/{resource_id}")


def _new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@functools.lru_cache(maxsize=64)
def _drawn_ids(seed: int, listing: str, count: int) -> tuple[str, ...]:
    """The ids of a listing the config leaves open, drawn from the seed."""
    rng = random.Random(f"linkstats.testing/{seed}/{listing}")
    return tuple(_new_uuid(rng) for _ in range(count))


def _listed(
    configured: tuple[str, ...] | None, seed: int, listing: str, count: int
) -> tuple[str, ...]:
    """The configured ids in lower case, or `count` ids drawn from the seed."""
    if configured is None:
        return _drawn_ids(seed, listing, count)
    return tuple(resource_id.lower() for resource_id in configured)


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
    # The link's position in the email, which a row lacking `target_url` still belongs to.
    html_index: int


def _opened(rng: random.Random, created_at: datetime) -> tuple[datetime, str]:
    """When a link was first clicked, and that instant in one of the accepted spellings."""
    zone, precision, utc_as_z = rng.choice(_OPENED_AT_SPELLINGS)
    offset = timedelta(microseconds=rng.randrange(60_000_000, _WEEK // timedelta(microseconds=1)))
    instant = _truncated(created_at + offset, precision)
    return instant, _iso(instant, zone, precision, utc_as_z=utc_as_z)


@attrs.frozen
class _SendPlan:
    """The outline of a campaign send: how many emails, the links of their template, when."""

    deliveries: int
    template: tuple[str, ...]
    sent_at: datetime


def _draw_plan(shape: DataShape, rng: random.Random) -> _SendPlan:
    """The first draws of a send's generator: its outline, before any tracking link."""
    deliveries = rng.randint(*shape.deliveries_per_send)
    # Every email of a campaign comes from one template, so every delivery has the same links;
    # a URL may appear twice in it, as a logo and a button often share a target.
    drawn = rng.choices(URL_POOL, k=rng.randint(*shape.links_per_email))
    template = tuple(_on_the_wire(shape, url) for url in drawn)
    sent_at = _EPOCH + timedelta(seconds=rng.randrange(int(_YEAR.total_seconds())))
    return _SendPlan(deliveries, template, sent_at)


@functools.lru_cache(maxsize=1024)
def _send_plan(shape: DataShape, send_id: str) -> _SendPlan:
    """A send's outline alone, without drawing its (possibly many) tracking links."""
    return _draw_plan(shape, _rng(shape, "paubox", send_id))


@functools.lru_cache(maxsize=64)
def _tracking_links(shape: DataShape, send_id: str) -> tuple[_TrackingLink, ...]:
    """Every tracking link of one send, in creation order."""
    rng = _rng(shape, "paubox", send_id)
    plan = _draw_plan(shape, rng)
    deliveries, template, sent_at = plan.deliveries, plan.template, plan.sent_at
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
            }
            if shape.unknown_fields:
                # Undocumented, though it is the default order's sort key.
                attributes["created_at"] = _iso(created_at, UTC, "milliseconds", utc_as_z=True)
            if opened_text is None and not shape.nulls:
                # Never opened: the schema has no null, so the attribute is left out.
                del attributes["opened_at"]
            if index in lacking:
                attributes.pop(lacking[index], None)
            if index in nulled and shape.nulls:
                attributes[nulled[index]] = None
            wire: dict[str, Any] = {
                "id": _new_uuid(rng),
                "type": "tracking_link",
                "attributes": attributes,
            }
            if index in extended and shape.unknown_fields:
                attributes["html_id"] = f"link-{html_index}"
                wire["relationships"] = {
                    "campaign_mailing_delivery": {
                        "data": {"id": delivery_id, "type": "campaign_mailing_delivery"}
                    }
                }
            links.append(
                _TrackingLink(wire, created_at, opened_at, clicked, target_url, html_index)
            )
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


@functools.lru_cache(maxsize=1024)
def paubox_unique_links_body(shape: DataShape, send_id: str) -> bytes:
    """The serialized 200 body of a send's per-link totals (`send_id` in lower case)."""
    template = _send_plan(shape, send_id).template
    clicked = [0] * len(template)
    for link in _tracking_links(shape, send_id):
        # The total of what the tracking-links rows serve: a missing or null `clicked` counts 0.
        clicked[link.html_index] += link.wire["attributes"].get("clicked") or 0
    rows = [
        {"html_id": f"link-{html_index}", "target_url": target_url, "clicked": clicked[html_index]}
        for html_index, target_url in enumerate(template)
    ]
    return orjson.dumps({"data": rows})


@attrs.frozen
class _CampaignSend:
    """One row of Paubox's sends table: its wire form plus the true values it sorts on."""

    wire: dict[str, Any]
    send_id: str
    sent_at: datetime
    created_at: datetime
    list_name: str


@functools.lru_cache(maxsize=1024)
def _campaign_send(shape: DataShape, send_id: str) -> _CampaignSend:
    """A sent campaign as the sends table lists it, sent when its tracking links were created."""
    sent_at = _send_plan(shape, send_id).sent_at
    rng = _rng(shape, "paubox/campaign", send_id)
    # A campaign mailing is written an hour to two weeks before it is sent.
    created_at = sent_at - timedelta(seconds=rng.randrange(3600, 14 * 86400))
    list_name = rng.choice(SUBSCRIPTION_LIST_NAMES)
    wire = {
        "id": send_id,
        "marketing_email_id": _new_uuid(rng),
        "campaign_mailing_id": _new_uuid(rng),
        "campaign_mailing_created_at": _iso(created_at, UTC, "milliseconds", utc_as_z=True),
        "sent_at": _iso(sent_at, UTC, "milliseconds", utc_as_z=True),
        "subscription_list_name": list_name,
    }
    return _CampaignSend(wire, send_id, sent_at, created_at, list_name)


# Sort keys end with the send id, unique in a listing, so every order is total. Names sort by
# code point, as PostgreSQL's "C" collation does.
_SENDS_SORT_KEYS: dict[str, Callable[[_CampaignSend], tuple[Any, ...]]] = {
    "sent_at": lambda send: (send.sent_at, send.send_id),
    "campaign_mailing_created_at": lambda send: (send.created_at, send.send_id),
    "subscription_list_name": lambda send: (send.list_name, send.sent_at, send.send_id),
}


@functools.lru_cache(maxsize=256)
def paubox_sends_body(shape: DataShape, search: str | None, order_by: str, order: str) -> bytes:
    """The serialized 200 body of the sends table, filtered by list name and sorted."""
    sends = [_campaign_send(shape, send_id) for send_id in shape.paubox_send_ids]
    if search:
        needle = search.casefold()
        sends = [send for send in sends if needle in send.list_name.casefold()]
    sends.sort(key=_SENDS_SORT_KEYS[order_by], reverse=order == "desc")
    return orjson.dumps({"data": [send.wire for send in sends]})


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
                url=_on_the_wire(shape, rng.choice(URL_POOL)),
                url_location=url_location,
                clicks=0 if rng.random() < 0.25 else rng.randint(1, 40),
            )
            for url_location in range(rng.randint(*shape.links_per_step))
        )
        steps.append(_Step(step_id, links))
    return tuple(steps)


@attrs.frozen
class LinkRows:
    """Every row of one SendGrid query across all pages, with the sum of their clicks."""

    rows: tuple[dict[str, Any], ...]
    total_clicks: int


@functools.lru_cache(maxsize=1024)
def link_stats(
    shape: DataShape, automation_id: str, step_ids: frozenset[str], group_by_step: bool
) -> LinkRows:
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
        # first appearance, and rows say so as SendGrid's do: "step_id": "all".
        totals: dict[tuple[str, int], int] = {}
        for _, link in clicked:
            key = (link.url, link.url_location)
            totals[key] = totals.get(key, 0) + link.clicks
        rows = tuple(
            {"url": url, "url_location": url_location, "step_id": "all", "clicks": clicks}
            for (url, url_location), clicks in totals.items()
        )
    return LinkRows(rows=rows, total_clicks=sum(link.clicks for _, link in clicked))


def _metrics(rng: random.Random, clicks: int) -> dict[str, int]:
    """All twelve `Metrics` around a known click count, in plausible proportions."""
    unique_clicks = rng.randint(math.ceil(clicks / 3), clicks)
    unique_opens = unique_clicks + rng.randint(0, 4 * unique_clicks + 50)
    opens = unique_opens + rng.randint(0, unique_opens)
    delivered = opens + rng.randint(20, 2 * opens + 100)
    bounces = rng.randint(0, delivered // 40)
    bounce_drops = rng.randint(0, bounces)
    spam_report_drops = rng.randint(0, 3)
    invalid_emails = rng.randint(0, 5)
    return {
        "bounce_drops": bounce_drops,
        "bounces": bounces,
        "clicks": clicks,
        "delivered": delivered,
        "invalid_emails": invalid_emails,
        "opens": opens,
        # Every request ends delivered, bounced or dropped.
        "requests": delivered + bounces + bounce_drops + spam_report_drops + invalid_emails,
        "spam_report_drops": spam_report_drops,
        "spam_reports": rng.randint(0, delivered // 500),
        "unique_clicks": unique_clicks,
        "unique_opens": unique_opens,
        "unsubscribes": rng.randint(0, delivered // 100),
    }


@functools.lru_cache(maxsize=16)
def _automation_list(shape: DataShape) -> tuple[dict[str, Any], ...]:
    """Every row of the automations listing, in listing order."""
    return tuple(
        {
            "id": automation_id,
            "aggregation": "total",
            "step_id": "all",
            "stats": _metrics(
                _rng(shape, "sendgrid/automation-stats", automation_id),
                link_stats(shape, automation_id, frozenset(), False).total_clicks,
            ),
        }
        for automation_id in shape.automation_ids
    )


@attrs.frozen
class _LinkCell:
    """The clicks one link of one A/B variation had in one phase, zero included."""

    ab_variation: str
    ab_phase: str
    url: str
    url_location: int
    clicks: int


@attrs.frozen
class _SingleSend:
    """A single send's A/B variations and every link of each in each phase it was sent in."""

    variations: tuple[str, ...]
    cells: tuple[_LinkCell, ...]


@functools.lru_cache(maxsize=1024)
def _single_send(shape: DataShape, single_send_id: str) -> _SingleSend:
    """One single send, in variation, phase, then link order."""
    rng = _rng(shape, "sendgrid/singlesend", single_send_id)
    variations = tuple(
        _new_uuid(rng) for _ in range(rng.randint(*shape.variations_per_single_send))
    )
    # An A/B test sends every variation to a sample, then the winner alone to the rest.
    winner = rng.choice(variations)
    cells: list[_LinkCell] = []
    for variation in variations:
        links = [
            (_on_the_wire(shape, rng.choice(URL_POOL)), url_location)
            for url_location in range(rng.randint(*shape.links_per_variation))
        ]
        phases: tuple[str, ...] = ("send",)
        if len(variations) > 1:
            phases = ("test", "send") if variation == winner else ("test",)
        for phase in phases:
            # The test phase goes to a sample of the list, so it draws fewer clicks.
            most_clicks = 12 if phase == "test" else 40
            for url, url_location in links:
                clicks = 0 if rng.random() < 0.25 else rng.randint(1, most_clicks)
                cells.append(_LinkCell(variation, phase, url, url_location, clicks))
    return _SingleSend(variations, tuple(cells))


@functools.lru_cache(maxsize=1024)
def single_send_link_stats(
    shape: DataShape,
    single_send_id: str,
    group_by: frozenset[str],
    ab_variation_id: str | None,
    ab_phase_id: str | None,
) -> LinkRows:
    """Rows of one single-send query; ids in lower case, None filters for all."""
    totals: dict[tuple[str, int, str, str], int] = {}
    for cell in _single_send(shape, single_send_id).cells:
        if not cell.clicks or (
            (ab_variation_id is not None and cell.ab_variation != ab_variation_id)
            or (ab_phase_id is not None and cell.ab_phase != ab_phase_id)
        ):
            continue
        # A field not grouped by is summed over: "all", or the one value its filter kept.
        variation = cell.ab_variation if "ab_variation" in group_by else ab_variation_id or "all"
        phase = cell.ab_phase if "ab_phase" in group_by else ab_phase_id or "all"
        key = (cell.url, cell.url_location, variation, phase)
        totals[key] = totals.get(key, 0) + cell.clicks
    rows = tuple(
        {
            "url": url,
            "url_location": url_location,
            "ab_variation": variation,
            "ab_phase": phase,
            "clicks": clicks,
        }
        for (url, url_location, variation, phase), clicks in totals.items()
    )
    return LinkRows(rows=rows, total_clicks=sum(totals.values()))


@functools.lru_cache(maxsize=16)
def _single_send_list(shape: DataShape) -> tuple[dict[str, Any], ...]:
    """Every row of the single sends listing, in listing order."""
    no_filter = frozenset[str]()
    return tuple(
        {
            "id": single_send_id,
            "ab_variation": "all",
            "ab_phase": "all",
            "aggregation": "total",
            "stats": _metrics(
                _rng(shape, "sendgrid/singlesend-stats", single_send_id),
                single_send_link_stats(shape, single_send_id, no_filter, None, None).total_clicks,
            ),
        }
        for single_send_id in shape.single_send_ids
    )


@functools.lru_cache(maxsize=256)
def listing_rows(
    shape: DataShape, listing: Literal["automations", "singlesends"], ids: frozenset[str]
) -> tuple[dict[str, Any], ...]:
    """A SendGrid listing's rows, kept to `ids` (lower case) in listing order, or all of them."""
    rows = _automation_list(shape) if listing == "automations" else _single_send_list(shape)
    return tuple(row for row in rows if not ids or row["id"] in ids)


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


def sendgrid_automation_ids(config: SimulatorConfig) -> tuple[str, ...]:
    """The automations the account lists, in listing order and lower case."""
    return DataShape.of(config).automation_ids


def sendgrid_automation_list(config: SimulatorConfig) -> list[dict[str, Any]]:
    """Every `results` row the automations listing serves, across all pages in page order."""
    return copy.deepcopy(list(listing_rows(DataShape.of(config), "automations", frozenset())))


def sendgrid_single_send_ids(config: SimulatorConfig) -> tuple[str, ...]:
    """The single sends the account lists, in listing order and lower case."""
    return DataShape.of(config).single_send_ids


def sendgrid_single_send_list(config: SimulatorConfig) -> list[dict[str, Any]]:
    """Every `results` row the single sends listing serves, across all pages in page order."""
    return copy.deepcopy(list(listing_rows(DataShape.of(config), "singlesends", frozenset())))


def sendgrid_single_send_variations(
    config: SimulatorConfig, single_send_id: str
) -> tuple[str, ...]:
    """The A/B variation ids of a single send; one means the send was not A/B tested."""
    single_send = _single_send(
        DataShape.of(config), _require_uuid("single_send_id", single_send_id)
    )
    return single_send.variations


def sendgrid_single_send_links(
    config: SimulatorConfig,
    single_send_id: str,
    *,
    group_by: Collection[str] = (),
    ab_variation_id: str | None = None,
    ab_phase_id: str | None = None,
) -> list[dict[str, Any]]:
    """Every `results` row the single-send links endpoint serves, across all pages in page order."""
    if not set(group_by) <= set(SINGLE_SEND_GROUP_BY):
        raise ValueError(f"group_by must hold only {SINGLE_SEND_GROUP_BY}, got {group_by!r}")
    if ab_phase_id is not None and ab_phase_id not in AB_PHASE_IDS:
        raise ValueError(f"ab_phase_id must be one of {AB_PHASE_IDS}, got {ab_phase_id!r}")
    stats = single_send_link_stats(
        DataShape.of(config),
        _require_uuid("single_send_id", single_send_id),
        frozenset(group_by),
        None if ab_variation_id is None else _require_uuid("ab_variation_id", ab_variation_id),
        ab_phase_id,
    )
    return [dict(row) for row in stats.rows]


def paubox_send_ids(config: SimulatorConfig) -> tuple[str, ...]:
    """The campaign sends the account lists, in the config's order and lower case."""
    return DataShape.of(config).paubox_send_ids


def paubox_sends_table(
    config: SimulatorConfig,
    *,
    search: str | None = None,
    order_by: str = "sent_at",
    order: str = "desc",
) -> list[dict[str, Any]]:
    """The `data` rows the sends table serves for these options, before any fault."""
    if order_by not in PAUBOX_SENDS_ORDER_BY:
        raise ValueError(f"order_by must be one of {PAUBOX_SENDS_ORDER_BY}, got {order_by!r}")
    if order not in PAUBOX_ORDERS:
        raise ValueError(f"order must be one of {PAUBOX_ORDERS}, got {order!r}")
    body = paubox_sends_body(DataShape.of(config), search, order_by, order)
    rows: list[dict[str, Any]] = orjson.loads(body)["data"]
    return rows


def paubox_tracking_links_by_unique_link(
    config: SimulatorConfig, send_id: str
) -> list[dict[str, Any]]:
    """The `data` rows of a send's per-link totals, one per link of its email, in email order."""
    body = paubox_unique_links_body(DataShape.of(config), _require_uuid("send_id", send_id))
    rows: list[dict[str, Any]] = orjson.loads(body)["data"]
    return rows
