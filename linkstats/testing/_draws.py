"""Deterministic draws shared by the simulated providers.

Everything derives from the seed and a name through `random.Random` seeded with a string or
BLAKE2 (stable across processes, unlike `hash()`), so a test can compute what the simulator serves
without going through HTTP, and the same config gives the same answers in every process.
"""

from __future__ import annotations

import functools
import hashlib
import random
import uuid
from datetime import datetime, timezone

import yarl

__all__ = ["URL_POOL"]

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
"""Target URLs of generated links: templates, non-ASCII paths, an internationalized host,
`mailto:`/`tel:`, an explicit default port and a fragment. The first nine are awkward ones
clients must keep verbatim."""


def digest(*parts: object) -> bytes:
    """Sixteen bytes fixed by `parts`, the same in every process."""
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=16).digest()


def draw(*parts: object) -> float:
    """A number in [0, 1) fixed by `parts`."""
    return int.from_bytes(digest(*parts)[:8], "big") / 2**64


def grown(clicks: int, periods: int, *parts: object) -> int:
    """`clicks` after `periods` periods of growth, each adding clicks fixed by `parts` and the
    period: none half the time, else 1 to 5. Later periods only add, as running totals do."""
    return clicks + sum(_growth(draw(*parts, period)) for period in range(1, periods + 1))


def _growth(unit: float) -> int:
    """One period's added clicks from a number in [0, 1]: 0 below 1/2, else 1 to 5 evenly."""
    # `min`: a draw within 2**-54 of 1 rounds to 1.0 itself.
    return 0 if unit < 0.5 else min(5, 1 + int((unit - 0.5) * 10))


def rng(seed: int, stream: str, resource_id: str) -> random.Random:
    """A generator private to one resource of one stream (such as `sendgrid/singlesend`)."""
    return random.Random(f"linkstats.testing/{seed}/{stream}/{resource_id}")


def new_uuid(generator: random.Random) -> str:
    """A version 4 UUID drawn from `generator`."""
    return str(uuid.UUID(int=generator.getrandbits(128), version=4))


@functools.lru_cache(maxsize=64)
def _drawn_ids(seed: int, listing: str, count: int) -> tuple[str, ...]:
    generator = random.Random(f"linkstats.testing/{seed}/{listing}")
    return tuple(new_uuid(generator) for _ in range(count))


def listed_ids(
    configured: tuple[str, ...] | None, seed: int, listing: str, count: int
) -> tuple[str, ...]:
    """What an account lists: the configured ids in lower case, or `count` drawn from the seed."""
    if configured is None:
        return _drawn_ids(seed, listing, count)
    return tuple(resource_id.lower() for resource_id in configured)


def on_the_wire(url: str, *, unicode_urls: bool, tag: str | None = None) -> str:
    """A pool URL as the providers' schemas (`format: uri`) have it: non-ASCII encoded,
    unless raw ones are asked for; ASCII ones, templates included, verbatim.

    With a `tag`, an http(s) URL also carries it as an `lsid` query parameter, so that links
    differ from campaign to campaign and place to place, as real tracked links do.
    """
    if tag is not None and url.startswith(("http://", "https://")):
        address, hash_mark, fragment = url.partition("#")
        separator = "&" if "?" in address else "?"
        url = f"{address}{separator}lsid={tag}{hash_mark}{fragment}"
    if unicode_urls or url.isascii():
        return url
    return str(yarl.URL(url))


def url_tag(distinct_urls: bool, resource_id: str, position: int) -> str | None:
    """The tag of a link at `position` of a resource when URLs are to be distinct."""
    return f"{resource_id[:8]}.{position}" if distinct_urls else None


def iso(instant: datetime, zone: timezone, precision: str, *, utc_as_z: bool) -> str:
    """ISO-8601 in `zone`; with `utc_as_z`, UTC is spelled `Z` as Rails renders timestamps."""
    text = instant.astimezone(zone).isoformat(timespec=precision)
    return text.removesuffix("+00:00") + "Z" if utc_as_z else text
