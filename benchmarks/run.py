"""linkstats side by side with the floor and with what users run today, on one simulator.

The simulator runs in a process of its own on loopback; the clients run in this one, side by
side, in paired rounds: every round runs each contender once, in an order that rotates from
round to round, and each contender's wall and CPU time are compared with the floor's in the
same round. The tables give the median ratio with its spread (lowest to highest round), and
the client's CPU per page and per record. The last table holds every goal with PASS or FAIL.

    python benchmarks/run.py                  # print the tables
    python benchmarks/run.py --write benchmarks/RESULTS.md   # also update RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import attrs
import orjson
from contenders import (
    FLOOR,
    WORKLOADS,
    Contender,
    Workload,
    contenders,
    floor_sendgrid,
    linkstats_collect,
)
from rich.console import Console
from rich.table import Table
from servers import pin, serving

from linkstats.testing import (
    Faults,
    PauboxConfig,
    RateLimit,
    SendGridConfig,
    Simulator,
    SimulatorConfig,
)

HERE = Path(__file__).parent
console = Console(highlight=False)


@attrs.frozen
class Goal:
    """One goal of the suite and how this run did against it."""

    workload: str
    measure: str
    result: str
    goal: str
    passed: bool


@attrs.frozen
class Sample:
    wall: float
    cpu: float
    records: int
    pages: int


def paired(
    server: Mapping[str, Any],
    contestants: Mapping[str, Contender],
    targets: Sequence[Any],
    *,
    concurrency: int,
    rounds: int,
) -> dict[str, list[Sample]]:
    """``rounds`` paired rounds after one untimed warm-up, each starting one contender later."""
    names = list(contestants)
    samples: dict[str, list[Sample]] = {name: [] for name in names}

    async def run(origin: Any) -> None:
        for name in names:
            await contestants[name](origin, targets, concurrency)
        for round_number in range(rounds):
            shift = round_number % len(names)
            for name in [*names[shift:], *names[:shift]]:
                # What the last contender kept is gone before the next one starts.
                gc.collect()
                wall, cpu = time.perf_counter(), time.process_time()
                tally = await contestants[name](origin, targets, concurrency)
                samples[name].append(
                    Sample(
                        time.perf_counter() - wall,
                        time.process_time() - cpu,
                        tally.records,
                        tally.pages,
                    )
                )

    with serving(**server) as origin:
        asyncio.run(run(origin))
    for name in names:
        assert len({(s.records, s.pages) for s in samples[name]}) == 1, name
    return samples


def ratios(ours: Sequence[Sample], floor: Sequence[Sample], field: str) -> list[float]:
    """Per round, the floor's figure over ours (wall) or ours over the floor's (cpu)."""
    if field == "wall":
        return [f.wall / o.wall for o, f in zip(ours, floor, strict=True)]
    return [o.cpu / f.cpu for o, f in zip(ours, floor, strict=True)]


def summarize(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def throughput_table(title: str, samples: Mapping[str, list[Sample]]) -> Table:
    table = Table(title=title)
    columns = (
        "contender", "wall s", "throughput / floor", "CPU / floor's", "CPU µs/page",
        "CPU µs/record",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "contender" else "right")
    floor = samples[FLOOR]
    for name, runs in samples.items():
        first = runs[0]
        cpu = statistics.median(s.cpu for s in runs)
        table.add_row(
            name,
            f"{statistics.median(s.wall for s in runs):.3f}",
            summarize(ratios(runs, floor, "wall")),
            summarize(ratios(runs, floor, "cpu")),
            f"{cpu / first.pages * 1e6:.0f}",
            f"{cpu / first.records * 1e6:.2f}",
        )
    return table


def throughput(workload: Workload, rounds: int, goal: float | None) -> list[Goal]:
    """The floor, collect() and clicks() on one workload at latency 0, concurrency 32."""
    samples = paired(
        workload.server, contenders(workload), workload.targets(), concurrency=32, rounds=rounds
    )
    floor = samples[FLOOR][0]
    title = (
        f"Throughput, {workload.name}: {len(workload.targets())} targets, {floor.pages:,} pages, "
        f"{floor.records / floor.pages:.1f} records a page; latency 0, concurrency 32, "
        f"{rounds} paired rounds"
    )
    console.print(throughput_table(title, samples))
    if goal is None:
        return []
    return [
        Goal(
            f"{workload.name}, C=32",
            f"{name.removeprefix('linkstats ')}() throughput / floor",
            summarize(ratios(samples[name], samples[FLOOR], "wall")),
            f">= {goal:.2f}",
            statistics.median(ratios(samples[name], samples[FLOOR], "wall")) >= goal,
        )
        for name in ("linkstats collect", "linkstats clicks")
    ]


def today(rounds: int) -> list[Goal]:
    """What users run today beside the floor and linkstats, on fewer targets."""
    workload = WORKLOADS["sendgrid-25"]
    samples = paired(
        workload.server,
        contenders(workload, today=True),
        workload.targets(200),
        concurrency=32,
        rounds=rounds,
    )
    console.print(throughput_table(f"Today's tools, {workload.name}: 200 targets", samples))
    return []


def latency(rounds: int) -> list[Goal]:
    """50 ms a response: linkstats against the floor and against N*L/C."""
    goals = []
    table = Table(title="Latency 50 ms: wall seconds, and against NxL/C")
    for column in ("C", "N", "NxL/C", "linkstats", "floor", "linkstats / floor"):
        table.add_column(column, justify="right")
    workload = WORKLOADS["sendgrid-single"]
    for concurrency in (1, 10, 50, 200):
        count = 20 * concurrency
        samples = paired(
            {**workload.server, "faults": Faults(latency=0.05)},
            {FLOOR: floor_sendgrid, "linkstats": linkstats_collect(workload)},
            workload.targets(count),
            concurrency=concurrency,
            rounds=rounds,
        )
        ideal = count * 0.05 / concurrency
        ours = statistics.median(s.wall for s in samples["linkstats"])
        floor = statistics.median(s.wall for s in samples[FLOOR])
        slower = [1 / ratio for ratio in ratios(samples["linkstats"], samples[FLOOR], "wall")]
        table.add_row(
            str(concurrency),
            str(count),
            f"{ideal:.2f}",
            f"{ours:.3f} ({ours / ideal:.2f}x)",
            f"{floor:.3f} ({floor / ideal:.2f}x)",
            summarize(slower),
        )
        goals.append(
            Goal(
                f"latency 50 ms, C={concurrency}",
                "wall / floor's wall",
                summarize(slower),
                "<= 1.05",
                statistics.median(slower) <= 1.05,
            )
        )
    console.print(table)
    return goals


def rate_limited() -> list[Goal]:
    """60 requests a second allowed: how much of it is used, and how many 429s it costs."""
    limit, requests = 60, 360
    workload = WORKLOADS["sendgrid-single"]
    targets = workload.targets(requests)
    config = SimulatorConfig(
        sendgrid=SendGridConfig(rate_limit=RateLimit(limit=limit, window=1.0)), seed=1
    )

    async def run() -> tuple[float, list[tuple[float, int | None]]]:
        async with Simulator(config) as simulator:
            to_wall = time.time() - time.monotonic()
            started = time.perf_counter()
            await linkstats_collect(workload)(simulator.url, targets, 32)
            elapsed = time.perf_counter() - started
            log = [(r.received_at + to_wall, r.status) for r in simulator.log.requests]
        return elapsed, log

    elapsed, log = asyncio.run(run())
    windows = Counter(math.floor(at) for at, status in log if status == 200)
    refused = Counter(math.floor(at) for at, status in log if status == 429)
    # Only windows wholly inside the run show the rate a steady fetch achieves.
    full = sorted(windows)[1:-1]
    achieved = statistics.mean(windows[w] for w in full) / limit if full else 0.0
    worst = max(refused.values(), default=0)
    console.print(
        f"Rate limit {limit}/s: {requests} requests in {elapsed:.2f} s; full windows used "
        f"{[windows[w] for w in full]}; 429s per window at most {worst} "
        f"({sum(refused.values())} in all)"
    )
    return [
        Goal(
            "rate limit 60/s, 360 requests",
            "achieved rate / allowed",
            f"{achieved:.3f}",
            ">= 0.95",
            achieved >= 0.95,
        ),
        Goal(
            "rate limit 60/s, 360 requests",
            "429s in any one window",
            str(worst),
            "<= 1",
            worst <= 1,
        ),
    ]


def big_send(rounds: int) -> list[Goal]:
    """One Paubox send of 60,000 rows, parsed in a fresh process (see big_send.py)."""
    server = {
        "seed": 1,
        "paubox": PauboxConfig(deliveries_per_send=(10_000, 10_000), links_per_email=(6, 6)),
    }
    with serving(**server) as origin:
        finished = subprocess.run(
            [sys.executable, HERE / "big_send.py", str(origin), str(rounds)],
            capture_output=True,
            check=True,
            text=True,
        )
    report = orjson.loads(finished.stdout)
    ours, result = report["linkstats"], statistics.median(report["linkstats"])
    stall = max(report["stalls"])
    console.print(
        f"Paubox body of 60,000 rows ({report['bytes'] / 1e6:.1f} MB): linkstats median "
        f"{result:.3f} s ({min(ours):.3f}-{max(ours):.3f}); orjson + tuples "
        f"{statistics.median(report['floor']):.3f} s; longest event-loop stall while fetching "
        f"it {stall * 1000:.0f} ms ({', '.join(f'{s * 1000:.0f}' for s in report['stalls'])})"
    )
    return [
        Goal(
            "one Paubox send, 60,000 rows",
            "parse + normalize, s",
            f"{result:.3f}",
            "< 0.3",
            result < 0.3,
        )
    ]


def memory() -> list[Goal]:
    """1,000,000 and 2,000,000 records streamed through clicks(), each in a fresh process."""
    peaks = {}
    server = SendGridConfig(steps_per_automation=(4, 4), links_per_step=(50, 50))
    with serving(seed=1, sendgrid=server) as origin:
        # About 150 rows an automation: a million records, then two.
        for automations_count in (6_700, 13_400):
            finished = subprocess.run(
                [sys.executable, HERE / "stream_memory.py", str(origin), str(automations_count)],
                capture_output=True,
                check=True,
                text=True,
            )
            report = orjson.loads(finished.stdout)
            peaks[report["records"]] = report["peak_rss_mb"]
    (small, small_peak), (large, large_peak) = sorted(peaks.items())
    growth = large_peak / small_peak
    console.print(
        f"Streaming: {small:,} records peak RSS {small_peak:.0f} MB; "
        f"{large:,} records {large_peak:.0f} MB ({growth:.2f}x)"
    )
    return [
        Goal(
            f"stream {small:,} records",
            "peak RSS, MB",
            f"{small_peak:.0f}",
            "< 150",
            small_peak < 150,
        ),
        Goal(
            f"stream {large:,} records",
            "peak RSS against half as many",
            f"{growth:.2f}x",
            "flat (<= 1.10x)",
            growth <= 1.10,
        ),
    ]


def cpu_per_request(rounds: int) -> list[Goal]:
    """Client CPU per request with 10 and with 100 requests in flight (10 ms latency)."""
    workload = WORKLOADS["sendgrid-single"]
    collect = linkstats_collect(workload)

    def at(concurrency: int) -> Contender:
        return lambda origin, targets, _: collect(origin, targets, concurrency)

    samples = paired(
        {**workload.server, "faults": Faults(latency=0.01)},
        {"C=10": at(10), "C=100": at(100)},
        workload.targets(1_000),
        concurrency=0,
        rounds=rounds,
    )
    per_request = {
        name: statistics.median(s.cpu / s.pages for s in runs) * 1e6
        for name, runs in samples.items()
    }
    ratio = statistics.median(
        high.cpu / low.cpu for low, high in zip(samples["C=10"], samples["C=100"], strict=True)
    )
    console.print(
        f"CPU per request: {per_request['C=10']:.0f} µs at C=10, "
        f"{per_request['C=100']:.0f} µs at C=100"
    )
    return [
        Goal(
            "1,000 requests, latency 10 ms",
            "CPU/request at C=100 / at C=10",
            f"{ratio:.2f}",
            "<= 1.10",
            ratio <= 1.10,
        )
    ]


def summary(goals: Sequence[Goal]) -> Table:
    table = Table(title="Goals")
    for column in ("workload", "measure", "result", "goal", ""):
        table.add_column(column, justify="right" if column in ("result", "goal") else "left")
    for goal in goals:
        table.add_row(
            goal.workload, goal.measure, goal.result, goal.goal, "PASS" if goal.passed else "FAIL"
        )
    return table


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    packages = ", ".join(
        f"{name} {version(name)}"
        for name in (
            "linkstats",
            "aiohttp",
            "yarl",
            "orjson",
            "msgspec",
            "attrs",
            "httpx",
            "sendgrid",
        )
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {packages}"
    )


def write_results(path: Path, goals: Sequence[Goal], output: str) -> None:
    """Replace the generated part of RESULTS.md, between its markers, with this run."""
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else f"{begin}\n{end}\n"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    rows = "\n".join(
        f"| {g.workload} | {g.measure} | {g.result} | {g.goal} | {'PASS' if g.passed else 'FAIL'} |"
        for g in goals
    )
    generated = (
        f"{begin}\n"
        f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python benchmarks/run.py "
        f"--write benchmarks/RESULTS.md` (what `make bench` runs, plus writing this file).\n\n"
        f"Machine: {machine()}.\n\n"
        "| workload | measure | result | goal | |\n|---|---|---|---|---|\n"
        f"{rows}\n\n"
        f"```text\n{output.rstrip()}\n```\n"
        f"{end}"
    )
    path.write_text(f"{head}{generated}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=15, help="paired rounds of each throughput workload (15)"
    )
    parser.add_argument("--write", type=Path, metavar="RESULTS.md", help="update this file")
    arguments = parser.parse_args()
    console.record = True
    rounds = arguments.rounds
    pin(0, server=False)
    goals = [
        *throughput(WORKLOADS["sendgrid-25"], rounds, 0.90),
        *throughput(WORKLOADS["sendgrid-50"], rounds, None),
        *throughput(WORKLOADS["paubox-100"], rounds, 0.75),
        *today(2),
        # Rounds of a second or more, whose ratios vary by a few percent: three are enough.
        *latency(3),
        *rate_limited(),
        *big_send(9),
        *memory(),
        *cpu_per_request(3),
    ]
    console.print(summary(goals))
    if arguments.write:
        write_results(arguments.write, goals, console.export_text())
    raise SystemExit(0 if all(goal.passed for goal in goals) else 1)


if __name__ == "__main__":
    main()
