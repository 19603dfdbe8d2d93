"""The clients compared, each fetching SendGrid automations' link stats to the last page.

Every contender gets the same targets, the same simulator and the same concurrency, and
returns how many rows it fetched. All but the official client keep rows the cheapest way
they can: linkstats as typed ``LinkClick`` records, the others as plain tuples.

run.py times each contender in a fresh process of its own, so that what one leaves behind
(a larger heap, warm caches) never weighs on another:

    python benchmarks/contenders.py CONTENDER ORIGIN KIND COUNT CONCURRENCY PASSES

prints the wall and CPU seconds per fetch and the rows fetched; with more than one pass, an
untimed fetch goes first.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import httpx
import orjson
from sendgrid import SendGridAPIClient
from yarl import URL

from linkstats import LinkStats, SendGridAutomation, SendGridSource
from linkstats.testing import SendGridConfig

KEY = SendGridConfig().api_key
HEADERS = {"Authorization": f"Bearer {KEY}"}

Targets = list[SendGridAutomation]
Contender = Callable[[URL, Targets, int], Coroutine[Any, Any, int]]


def first_page(origin: URL, target: SendGridAutomation) -> URL:
    query = {"page_size": str(target.page_size)}
    if target.group_by_step:
        query["group_by"] = "step_id"
    return (origin / "v3/marketing/stats/automations" / target.automation_id / "links").with_query(
        query
    )


def rows_of(payload: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (row["url"], row["clicks"], row.get("step_id"), row.get("url_location"))
        for row in payload["results"]
    ]


async def linkstats_collect(origin: URL, targets: Targets, concurrency: int) -> int:
    async with LinkStats(
        SendGridSource(api_key=KEY, base_url=origin), concurrency=concurrency
    ) as stats:
        result = await stats.collect(targets)
    assert result.ok, result.errors
    return len(result.clicks)


async def linkstats_clicks(origin: URL, targets: Targets, concurrency: int) -> int:
    records = 0
    async with LinkStats(
        SendGridSource(api_key=KEY, base_url=origin), concurrency=concurrency
    ) as stats:
        async for _ in stats.clicks(targets):
            records += 1
    return records


async def bare_aiohttp(origin: URL, targets: Targets, concurrency: int) -> int:
    """The floor: a careful hand-written aiohttp + orjson worker loop, and nothing more."""
    pending = iter(targets)
    rows: list[tuple[Any, ...]] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        for target in pending:
            url: URL | None = first_page(origin, target)
            while url is not None:
                async with session.get(url, headers=HEADERS) as response:
                    payload = orjson.loads(await response.read())
                rows.extend(rows_of(payload))
                link = payload["_metadata"].get("next")
                url = URL(link, encoded=True) if link else None

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return len(rows)


async def httpx_loop(origin: URL, targets: Targets, concurrency: int) -> int:
    """The same worker loop on httpx.AsyncClient."""
    pending = iter(targets)
    rows: list[tuple[Any, ...]] = []

    async def worker(client: httpx.AsyncClient) -> None:
        for target in pending:
            url: str | None = str(first_page(origin, target))
            while url is not None:
                response = await client.get(url, headers=HEADERS)
                payload = orjson.loads(response.content)
                rows.extend(rows_of(payload))
                url = payload["_metadata"].get("next")

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return len(rows)


async def official_sendgrid(origin: URL, targets: Targets, concurrency: int) -> int:
    """What users do today: SendGrid's own client, synchronous, one page after another.

    It does not follow ``_metadata.next`` itself, so the loop reads the page token out of
    it; ``concurrency`` does not apply.
    """
    client = SendGridAPIClient(api_key=KEY, host=str(origin))
    rows: list[tuple[Any, ...]] = []
    for target in targets:
        query: dict[str, Any] = {"page_size": target.page_size}
        if target.group_by_step:
            query["group_by"] = "step_id"
        while True:
            links = client.client.marketing.stats.automations._(target.automation_id).links
            payload = orjson.loads(links.get(query_params=query).body)
            rows.extend(rows_of(payload))
            link = payload["_metadata"].get("next")
            if not link:
                break
            query["page_token"] = URL(link, encoded=True).query["page_token"]
    return len(rows)


CONTENDERS: dict[str, Contender] = {
    "linkstats collect": linkstats_collect,
    "linkstats clicks": linkstats_clicks,
    "bare aiohttp (floor)": bare_aiohttp,
    "httpx loop": httpx_loop,
    "official sendgrid": official_sendgrid,
}


def target_id(kind: str, number: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://linkstats.bench/{kind}/{number}"))


def automations(kind: str, count: int) -> Targets:
    """``paged``: grouped by step, ten rows a page; ``single``: ungrouped, one page each."""
    if kind == "paged":
        return [
            SendGridAutomation(target_id(kind, n), group_by_step=True, page_size=10)
            for n in range(count)
        ]
    return [SendGridAutomation(target_id(kind, n)) for n in range(count)]


def main() -> None:
    name, origin, kind = sys.argv[1], URL(sys.argv[2]), sys.argv[3]
    count, concurrency, passes = (int(argument) for argument in sys.argv[4:7])
    contender, targets = CONTENDERS[name], automations(kind, count)

    async def run() -> tuple[float, float, int]:
        if passes > 1:
            await contender(origin, targets, concurrency)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(passes):
            records = await contender(origin, targets, concurrency)
        return (time.perf_counter() - wall) / passes, (time.process_time() - cpu) / passes, records

    wall, cpu, records = asyncio.run(run())
    print(orjson.dumps({"wall": wall, "cpu": cpu, "records": records}).decode())


if __name__ == "__main__":
    main()
