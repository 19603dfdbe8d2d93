"""Stream automations' records through ``LinkStats.clicks()``; report the peak RSS.

Run in a process of its own by run.py, so the peak belongs to this fetch alone:

    python benchmarks/stream_memory.py ORIGIN AUTOMATIONS
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson
from contenders import target_id
from yarl import URL

from linkstats import LinkStats, SendGridAutomation, SendGridSource
from linkstats.testing import SendGridConfig


async def stream(origin: URL, automations: int) -> int:
    source = SendGridSource(api_key=SendGridConfig().api_key, base_url=origin)
    targets = [
        SendGridAutomation(target_id("stream", number), group_by_step=True)
        for number in range(automations)
    ]
    records = 0
    async with LinkStats(source, concurrency=16) as stats:
        async for _ in stats.clicks(targets):
            records += 1
    return records


def peak_rss_mb() -> float:
    """This program's peak resident memory.

    Not ``getrusage``: on Linux its ``ru_maxrss`` carries over the peak of the process
    that forked this one, before it ran Python.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    origin, automations = URL(sys.argv[1]), int(sys.argv[2])
    records = asyncio.run(stream(origin, automations))
    print(orjson.dumps({"records": records, "peak_rss_mb": peak_rss_mb()}).decode())


if __name__ == "__main__":
    main()
