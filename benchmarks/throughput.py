"""linkstats against the floor: a bare aiohttp + orjson worker loop, on the same pages.

The simulator runs in its own process on loopback. For each workload, every round fetches the
same targets with ``LinkStats.collect`` and with a hand-written worker loop (same concurrency,
same URLs, same ``next`` links, rows kept as plain tuples), the order alternating between
rounds; a round repeats each fetch a few times so it lasts long enough to time. Reported: the
median seconds per fetch, its spread over rounds, and the throughput ratio linkstats / floor.
Then a 60,000-row Paubox body is parsed and normalized, as the library does it.

    python benchmarks/throughput.py [--rounds 5] [--passes 5] [--concurrency 32]
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
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from linkstats import LinkStats, PauboxSend, PauboxSource, SendGridAutomation, SendGridSource
from linkstats._transport import Response
from linkstats.testing import Simulator, SimulatorConfig, paubox_tracking_links

CONFIG = SimulatorConfig(seed=1)
GOAL = 0.85
PARSE_ROWS = 60_000
PARSE_GOAL = 0.3

Targets = list[PauboxSend | SendGridAutomation]
Contender = Callable[[URL, Targets, int], Coroutine[Any, Any, int]]


def target_id(number: int, kind: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://linkstats.bench/{kind}/{number}"))


def serve(ready: Any) -> None:
    """Child process: run the simulator until terminated, reporting its port."""

    async def run() -> None:
        async with Simulator(CONFIG) as simulator:
            ready.put(simulator.url.port)
            await asyncio.Event().wait()

    asyncio.run(run())


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


CONTENDERS: dict[str, Contender] = {"linkstats": with_linkstats, "bare aiohttp": with_bare_aiohttp}


def one_round(
    contender: Contender, origin: URL, targets: Targets, concurrency: int, passes: int
) -> tuple[float, int]:
    """Seconds per fetch of all targets, averaged over ``passes`` fetches in a row."""

    async def run() -> int:
        records = 0
        for _ in range(passes):
            records = await contender(origin, targets, concurrency)
        return records

    started = time.perf_counter()
    records = asyncio.run(run())
    return (time.perf_counter() - started) / passes, records


def compare(name: str, targets: Targets, origin: URL, args: argparse.Namespace) -> float:
    for warm_up in CONTENDERS.values():  # warm the server's caches and the code paths
        one_round(warm_up, origin, targets, args.concurrency, 1)
    times: dict[str, list[float]] = {contender: [] for contender in CONTENDERS}
    counts: dict[str, int] = {}
    for round_number in range(args.rounds):
        order = list(CONTENDERS) if round_number % 2 == 0 else list(reversed(CONTENDERS))
        for contender in order:
            elapsed, counts[contender] = one_round(
                CONTENDERS[contender], origin, targets, args.concurrency, args.passes
            )
            times[contender].append(elapsed)
    assert counts["linkstats"] == counts["bare aiohttp"], counts
    print(
        f"{name}: {len(targets)} targets, {counts['linkstats']:,} records, concurrency "
        f"{args.concurrency}, {args.rounds} alternating rounds of {args.passes} fetches"
    )
    for contender, samples in times.items():
        median = statistics.median(samples)
        spread = ", ".join(f"{sample:.3f}" for sample in samples)
        print(
            f"  {contender:<13} median {median:.3f} s  "
            f"({counts[contender] / median:,.0f} records/s)  rounds: {spread}"
        )
    return statistics.median(times["bare aiohttp"]) / statistics.median(times["linkstats"])


def throughput(args: argparse.Namespace) -> bool:
    automations: Targets = [
        SendGridAutomation(target_id(n, "sendgrid"), group_by_step=True, page_size=10)
        for n in range(args.automations)
    ]
    sends: Targets = [PauboxSend(target_id(n, "paubox")) for n in range(args.sends)]
    context = multiprocessing.get_context("spawn")
    ready: Any = context.Queue()
    server = context.Process(target=serve, args=(ready,))
    server.start()
    try:
        origin = URL.build(scheme="http", host="127.0.0.1", port=ready.get(timeout=30))
        ratio = compare("SendGrid automations", automations, origin, args)
        verdict = "PASS" if ratio >= GOAL else "FAIL"
        print(f"  throughput linkstats / floor = {ratio:.3f}  (goal >= {GOAL}: {verdict})")
        paubox_ratio = compare("Paubox sends", sends, origin, args)
        print(f"  throughput linkstats / floor = {paubox_ratio:.3f}")
    finally:
        server.terminate()
        server.join()
    return ratio >= GOAL


def parse_speed(rounds: int) -> bool:
    """The 60,000-row body, through linkstats and through orjson + tuples, alternating."""
    config = SimulatorConfig(seed=1, deliveries_per_send=(10_000, 10_000), links_per_email=(6, 6))
    target = PauboxSend(target_id(0, "parse"))
    body = orjson.dumps({"data": paubox_tracking_links(config, target.send_id)})
    source = PauboxSource(username="bench", api_key="bench")
    response = Response(URL("https://bench/"), 200, "OK", CIMultiDictProxy(CIMultiDict()), body)

    def tuples() -> int:
        rows = [
            (attributes.get("target_url"), attributes.get("clicked"), row.get("id"))
            for row in orjson.loads(body)["data"]
            for attributes in (row.get("attributes") or {},)
        ]
        return len(rows)

    samples: dict[str, list[float]] = {"linkstats": [], "orjson + tuples": []}
    for _ in range(rounds):
        started = time.perf_counter()
        page = source._parse_now(target, response)
        samples["linkstats"].append(time.perf_counter() - started)
        started = time.perf_counter()
        assert tuples() == PARSE_ROWS
        samples["orjson + tuples"].append(time.perf_counter() - started)
    assert len(page.clicks) == PARSE_ROWS
    print(f"Paubox body of {PARSE_ROWS:,} rows ({len(body) / 1e6:.1f} MB), {rounds} rounds:")
    for name, times in samples.items():
        spread = ", ".join(f"{sample:.3f}" for sample in times)
        print(f"  {name:<16} median {statistics.median(times):.3f} s  rounds: {spread}")
    median = statistics.median(samples["linkstats"])
    verdict = "PASS" if median < PARSE_GOAL else "FAIL"
    print(f"  linkstats parse + normalize < {PARSE_GOAL} s: {verdict}")
    return median < PARSE_GOAL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--automations", type=int, default=600)
    parser.add_argument("--sends", type=int, default=100)
    args = parser.parse_args()
    passed = throughput(args)
    passed = parse_speed(max(args.rounds, 5)) and passed
    raise SystemExit(0 if passed else 1)


if __name__ == "__main__":
    main()
