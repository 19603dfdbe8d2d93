"""linkstats side by side with the floor and with what users run today, on one simulator.

Each workload runs its contenders on the same pages, in alternating rounds, and reports the
median with the spread; the simulator runs in its own process on loopback (the rate-limit
workload reads the simulator's request log, so it runs the simulator in this process). The
last table holds every goal with PASS or FAIL.

    python benchmarks/run.py                  # print the tables
    python benchmarks/run.py --write benchmarks/RESULTS.md   # also update RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import attrs
import orjson
from contenders import CONTENDERS, automations, linkstats_collect
from rich.console import Console
from rich.table import Table
from servers import serving
from yarl import URL

from linkstats.testing import (
    Faults,
    RateLimit,
    SendGridConfig,
    Simulator,
    SimulatorConfig,
)

HERE = Path(__file__).parent
FLOOR = "bare aiohttp (floor)"
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


def sample(name: str, origin: URL, kind: str, count: int, concurrency: int, passes: int) -> Sample:
    """One contender's seconds per fetch, timed in a fresh process (see contenders.py)."""
    finished = subprocess.run(
        [sys.executable, HERE / "contenders.py", name, str(origin), kind, str(count),
         str(concurrency), str(passes)],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    return Sample(**orjson.loads(finished.stdout))


def alternate(
    names: Sequence[str],
    origin: URL,
    kind: str,
    count: int,
    *,
    concurrency: int,
    rounds: int,
    passes: Callable[[str], int] = lambda name: 1,
) -> dict[str, list[Sample]]:
    """``rounds`` rounds, each starting with the next contender."""
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in [*names[shift:], *names[:shift]]:
            samples[name].append(sample(name, origin, kind, count, concurrency, passes(name)))
    for name in names:
        assert len({s.records for s in samples[name]}) == 1, name
    return samples


def median(samples: Sequence[Sample], field: str) -> float:
    values: list[float] = [getattr(s, field) for s in samples]
    return statistics.median(values)


def spread(samples: Sequence[Sample]) -> str:
    return f"{min(s.wall for s in samples):.3f}-{max(s.wall for s in samples):.3f}"


def throughput(rounds: int) -> list[Goal]:
    """Latency 0, 600 automations (about 1,000 pages), 32 at a time, every contender."""
    with serving(seed=1) as origin:
        samples = alternate(
            list(CONTENDERS),
            origin,
            "paged",
            600,
            concurrency=32,
            rounds=rounds,
            # The two slow ones take long enough per fetch to time a single one.
            passes=lambda name: 1 if name in ("official sendgrid", "httpx loop") else 3,
        )
    floor = median(samples[FLOOR], "wall")
    table = Table(title="Throughput: 600 SendGrid automations, latency 0, concurrency 32")
    for column in ("contender", "median s", "spread s", "records/s", "CPU µs/record", "vs floor"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for name, runs in samples.items():
        wall, records = median(runs, "wall"), runs[0].records
        table.add_row(
            name,
            f"{wall:.3f}",
            spread(runs),
            f"{records / wall:,.0f}",
            f"{median(runs, 'cpu') / records * 1e6:.2f}",
            f"{floor / wall:.2f}",
        )
    console.print(table)
    ratio = floor / median(samples["linkstats collect"], "wall")
    streaming = floor / median(samples["linkstats clicks"], "wall")
    return [
        Goal(
            "latency 0, 600 automations, C=32",
            "collect throughput / floor",
            f"{ratio:.2f}",
            ">= 0.90",
            ratio >= 0.90,
        ),
        Goal(
            "latency 0, 600 automations, C=32",
            "clicks() throughput / floor",
            f"{streaming:.2f}",
            ">= 0.90",
            streaming >= 0.90,
        ),
    ]


def latency(rounds: int) -> list[Goal]:
    """50 ms a response: linkstats against the floor and against N*L/C."""
    goals = []
    table = Table(title="Latency 50 ms: wall seconds, and against NxL/C")
    for column in ("C", "N", "NxL/C", "linkstats", "floor", "linkstats / floor"):
        table.add_column(column, justify="right")
    with serving(seed=1, faults=Faults(latency=0.05)) as origin:
        for concurrency in (1, 10, 50, 200):
            count = 20 * concurrency
            samples = alternate(
                ["linkstats collect", FLOOR],
                origin,
                "single",
                count,
                concurrency=concurrency,
                rounds=rounds,
            )
            ideal = count * 0.05 / concurrency
            ours = median(samples["linkstats collect"], "wall")
            floor = median(samples[FLOOR], "wall")
            table.add_row(
                str(concurrency),
                str(count),
                f"{ideal:.2f}",
                f"{ours:.3f} ({ours / ideal:.2f}x)",
                f"{floor:.3f} ({floor / ideal:.2f}x)",
                f"{ours / floor:.3f}",
            )
            goals.append(
                Goal(
                    f"latency 50 ms, C={concurrency}",
                    "wall / floor's wall",
                    f"{ours / floor:.3f}",
                    "<= 1.05",
                    ours / floor <= 1.05,
                )
            )
    console.print(table)
    return goals


def rate_limited() -> list[Goal]:
    """60 requests a second allowed: how much of it is used, and how many 429s it costs."""
    limit, requests = 60, 360
    targets = automations("single", requests)
    config = SimulatorConfig(
        sendgrid=SendGridConfig(rate_limit=RateLimit(limit=limit, window=1.0)), seed=1
    )

    async def run() -> tuple[float, list[tuple[float, int | None]]]:
        async with Simulator(config) as simulator:
            to_wall = time.time() - time.monotonic()
            started = time.perf_counter()
            await linkstats_collect(simulator.url, targets, 32)
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


def parse(rounds: int) -> list[Goal]:
    """One Paubox send of 60,000 rows, in a fresh process (see parse_body.py)."""
    finished = subprocess.run(
        [sys.executable, HERE / "parse_body.py", str(max(rounds, 5))],
        capture_output=True,
        check=True,
        text=True,
    )
    report = orjson.loads(finished.stdout)
    ours, result = report["linkstats"], statistics.median(report["linkstats"])
    console.print(
        f"Paubox body of 60,000 rows ({report['bytes'] / 1e6:.1f} MB): linkstats median "
        f"{result:.3f} s ({min(ours):.3f}-{max(ours):.3f}); orjson + tuples "
        f"{statistics.median(report['floor']):.3f} s"
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
    with serving(seed=1, steps_per_automation=(4, 4), links_per_step=(50, 50)) as origin:
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
    requests = 1_000
    per_request = {}
    with serving(seed=1, faults=Faults(latency=0.01)) as origin:
        samples: dict[int, list[Sample]] = {10: [], 100: []}
        for round_number in range(rounds):
            for concurrency in (10, 100) if round_number % 2 == 0 else (100, 10):
                samples[concurrency].append(
                    sample("linkstats collect", origin, "single", requests, concurrency, 1)
                )
        for concurrency, runs in samples.items():
            per_request[concurrency] = median(runs, "cpu") / requests * 1e6
    ratio = per_request[100] / per_request[10]
    console.print(
        f"CPU per request: {per_request[10]:.0f} µs at C=10, {per_request[100]:.0f} µs at C=100"
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
            "attrs",
            "cattrs",
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
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (7)")
    parser.add_argument("--write", type=Path, metavar="RESULTS.md", help="update this file")
    arguments = parser.parse_args()
    console.record = True
    goals = [
        *throughput(arguments.rounds),
        *latency(max(3, arguments.rounds - 2)),
        *rate_limited(),
        *parse(arguments.rounds),
        *memory(),
        *cpu_per_request(arguments.rounds),
    ]
    console.print(summary(goals))
    if arguments.write:
        write_results(arguments.write, goals, console.export_text())
    raise SystemExit(0 if all(goal.passed for goal in goals) else 1)


if __name__ == "__main__":
    main()
