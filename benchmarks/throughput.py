"""linkstats against the floor: a bare aiohttp + orjson worker loop, on the same pages.

The simulator runs in its own process on loopback. Each round fetches the same targets twice,
once with ``LinkStats.collect`` and once with a hand-written worker loop (same concurrency,
same URLs, same ``next`` links, rows kept as plain tuples); the order alternates between
rounds. Reported: the median of the timed rounds and the throughput ratio linkstats / floor.
Then a 60,000-row Paubox body is parsed and normalized, as the library does it.

    python benchmarks/throughput.py [--rounds 3] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import orjson
from yarl import URL

from linkstats import LinkStats, PauboxSend, PauboxSource, SendGridAutomation, SendGridSource
from linkstats.testing import Simulator, SimulatorConfig, paubox_tracking_links

CONFIG = SimulatorConfig(seed=1)
GOAL = 0.85
PARSE_ROWS = 60_000
PARSE_GOAL = 0.3


def target_id(number: int, kind: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://linkstats.bench/{kind}/{number}"))


def serve(ready: Any) -> None:
    """Child process: run the simulator until terminated, reporting its port."""

    async def run() -> None:
        async with Simulator(CONFIG) as simulator:
            ready.put(simulator.url.port)
            await asyncio.Event().wait()

    asyncio.run(run())


Targets = list[PauboxSend | SendGridAutomation]


async def with_linkstats(origin: URL, targets: Targets, concurrency: int) -> int:
    paubox = PauboxSource(
        username=CONFIG.paubox_username,
        api_key=CONFIG.paubox_api_key,
        base_url=origin / "v1/orca",
    )
    sendgrid = SendGridSource(api_key=CONFIG.sendgrid_api_key, base_url=origin)
    async with LinkStats(paubox, sendgrid, concurrency=concurrency) as stats:
        result = await stats.collect(targets)
    assert result.ok, result.errors
    return len(result.clicks)


async def with_bare_aiohttp(origin: URL, targets: Targets, concurrency: int) -> int:
    """The floor: what a careful hand-written client does, and nothing more."""
    paubox_headers = {"authorization": f"Token token={CONFIG.paubox_api_key}"}
    sendgrid_headers = {"Authorization": f"Bearer {CONFIG.sendgrid_api_key}"}
    paubox_links = origin / "v1/orca" / CONFIG.paubox_username / "tracking_links"
    automations = origin / "v3/marketing/stats/automations"
    pending = iter(targets)
    rows: list[tuple[Any, ...]] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        for target in pending:
            if isinstance(target, PauboxSend):
                url = paubox_links.with_query(
                    campaign_mailing_send_id=target.send_id, order_by="created_at", order="desc"
                )
                async with session.get(url, headers=paubox_headers) as response:
                    payload = orjson.loads(await response.read())
                for row in payload["data"]:
                    attributes = row.get("attributes") or {}
                    rows.append(
                        (
                            attributes.get("target_url"),
                            attributes.get("clicked"),
                            row.get("id"),
                            attributes.get("campaign_mailing_delivery_id"),
                            attributes.get("opened_at"),
                        )
                    )
                continue
            query = {"page_size": str(target.page_size)}
            if target.group_by_step:
                query["group_by"] = "step_id"
            next_url: URL | None = (automations / target.automation_id / "links").with_query(query)
            while next_url is not None:
                async with session.get(next_url, headers=sendgrid_headers) as response:
                    payload = orjson.loads(await response.read())
                rows.extend(
                    (row["url"], row["clicks"], row.get("step_id"), row.get("url_location"))
                    for row in payload["results"]
                )
                link = payload["_metadata"].get("next")
                next_url = URL(link, encoded=True) if link else None

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return len(rows)


Contender = Callable[[URL, Targets, int], Coroutine[Any, Any, int]]


def timed(
    contender: Contender, origin: URL, targets: Targets, concurrency: int
) -> tuple[float, int]:
    started = time.perf_counter()
    records = asyncio.run(contender(origin, targets, concurrency))
    return time.perf_counter() - started, records


def throughput(args: argparse.Namespace) -> bool:
    targets: Targets = [PauboxSend(target_id(n, "paubox")) for n in range(args.sends)]
    targets += [
        SendGridAutomation(target_id(n, "sendgrid"), group_by_step=True, page_size=10)
        for n in range(args.automations)
    ]
    ready: Any = multiprocessing.get_context("spawn").Queue()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(ready,))
    server.start()
    try:
        origin = URL.build(scheme="http", host="127.0.0.1", port=ready.get(timeout=30))
        contenders: dict[str, Contender] = {
            "linkstats": with_linkstats,
            "bare aiohttp": with_bare_aiohttp,
        }
        for contender in contenders.values():  # warm the server's caches
            timed(contender, origin, targets, args.concurrency)
        times: dict[str, list[float]] = {name: [] for name in contenders}
        counts: dict[str, int] = {}
        for round_number in range(args.rounds):
            order = list(contenders) if round_number % 2 == 0 else list(reversed(contenders))
            for name in order:
                elapsed, counts[name] = timed(contenders[name], origin, targets, args.concurrency)
                times[name].append(elapsed)
    finally:
        server.terminate()
        server.join()

    assert counts["linkstats"] == counts["bare aiohttp"], counts
    print(
        f"{len(targets)} targets ({args.sends} Paubox sends, {args.automations} SendGrid "
        f"automations), {counts['linkstats']:,} records, concurrency {args.concurrency}, "
        f"{args.rounds} alternating rounds"
    )
    for name, samples in times.items():
        median = statistics.median(samples)
        spread = ", ".join(f"{sample:.3f}" for sample in samples)
        print(
            f"  {name:<13} median {median:.3f} s  ({counts[name] / median:,.0f} records/s)"
            f"  rounds: {spread}"
        )
    ratio = statistics.median(times["bare aiohttp"]) / statistics.median(times["linkstats"])
    verdict = "PASS" if ratio >= GOAL else "FAIL"
    print(f"  throughput linkstats / floor = {ratio:.3f}  (goal >= {GOAL}: {verdict})")
    return ratio >= GOAL


def parse_speed(rounds: int) -> bool:
    config = SimulatorConfig(seed=1, deliveries_per_send=(10_000, 10_000), links_per_email=(6, 6))
    target = PauboxSend(target_id(0, "parse"))
    body = orjson.dumps({"data": paubox_tracking_links(config, target.send_id)})
    source = PauboxSource(username="bench", api_key="bench")
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        page = source._parse_now(target, URL("https://bench/"), 200, body)
        samples.append(time.perf_counter() - started)
    assert len(page.clicks) == PARSE_ROWS
    median = statistics.median(samples)
    verdict = "PASS" if median < PARSE_GOAL else "FAIL"
    spread = ", ".join(f"{sample:.3f}" for sample in samples)
    print(
        f"Paubox body of {PARSE_ROWS:,} rows ({len(body) / 1e6:.1f} MB): parse + normalize "
        f"median {median:.3f} s  rounds: {spread}  (goal < {PARSE_GOAL} s: {verdict})"
    )
    return median < PARSE_GOAL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sends", type=int, default=100)
    parser.add_argument("--automations", type=int, default=600)
    args = parser.parse_args()
    passed = throughput(args)
    passed = parse_speed(max(args.rounds, 5)) and passed
    raise SystemExit(0 if passed else 1)


if __name__ == "__main__":
    main()
