"""One Paubox send of 60,000 rows: how long its body takes to parse, and how long the event loop
stalls while LinkStats fetches it.

Run in a process of its own by run.py against a simulator serving such sends, so that nothing
else weighs on the heap the collector walks:

    python benchmarks/big_send.py ORIGIN ROUNDS

prints the seconds of each parse for linkstats and for orjson + tuples, alternating, the body's
size, and the longest gap between the ticks of a 1 ms timer during each fetch.
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp
import orjson
from contenders import PAUBOX, PAUBOX_HEADERS, target_id
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from linkstats import LinkStats, PageRequest, PauboxSend, PauboxSource, Response

ROWS = 60_000


async def longest_stall(source: PauboxSource, target: PauboxSend) -> float:
    """The longest a 1 ms timer waited beyond its time while the send was fetched."""
    worst = 0.0
    done = asyncio.Event()

    async def tick() -> None:
        nonlocal worst
        loop = asyncio.get_running_loop()
        while not done.is_set():
            started = loop.time()
            await asyncio.sleep(0.001)
            worst = max(worst, loop.time() - started - 0.001)

    ticker = asyncio.create_task(tick())
    async with LinkStats(source) as stats:
        result = await stats.collect([target])
    done.set()
    await ticker
    assert len(result.clicks) == ROWS, result.errors
    return worst


async def main() -> None:
    origin, rounds = URL(sys.argv[1]), int(sys.argv[2])
    target = PauboxSend(target_id("big", 0))
    base = origin / "v1/orca"
    async with aiohttp.ClientSession() as session:
        url = (base / PAUBOX.username / "tracking_links").with_query(
            campaign_mailing_send_id=target.send_id
        )
        async with session.get(url, headers=PAUBOX_HEADERS) as answer:
            body = await answer.read()
    source = PauboxSource(username=PAUBOX.username, api_key=PAUBOX.api_key, base_url=base)
    response = Response(
        PageRequest(URL("https://bench/")), 200, "OK", CIMultiDictProxy(CIMultiDict()), body
    )

    def tuples() -> int:
        payload = orjson.loads(body)
        rows = [
            (link.get("id"), a.get("target_url"), a.get("clicked"),
             a.get("campaign_mailing_delivery_id"), a.get("opened_at"))
            for link in payload["data"]
            for a in (link.get("attributes") or {},)
        ]  # fmt: skip
        return len(rows)

    ours, floor = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        assert len(source.parse_page(target, response).items) == ROWS
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert tuples() == ROWS
        floor.append(time.perf_counter() - started)
    stalls = [await longest_stall(source, target) for _ in range(3)]
    report = {"linkstats": ours, "floor": floor, "bytes": len(body), "stalls": stalls}
    print(orjson.dumps(report).decode())


if __name__ == "__main__":
    asyncio.run(main())
