"""A bulk fetch against the built-in simulator: a few dozen campaigns, per-URL click totals.

Run it with ``make demo``. The simulator answers on loopback like Paubox and SendGrid would,
with some server errors, dropped connections and a rate limit switched on, so the retries and
the shared rate-limit pause are part of the run.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

from rich.console import Console
from rich.table import Table

from linkstats import LinkStats, PauboxSend, PauboxSource, SendGridAutomation, SendGridSource
from linkstats.testing import Faults, RateLimit, Simulator, SimulatorConfig

CAMPAIGNS = 24


def campaign_id(number: int, namespace: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://linkstats.demo/{namespace}/{number}"))


async def main() -> None:
    config = SimulatorConfig(
        seed=2024,
        faults=Faults(server_error_rate=0.05, drop_rate=0.02, latency=0.01),
        rate_limit=RateLimit(limit=60, window=1.0),
    )
    targets = [PauboxSend(campaign_id(n, "paubox")) for n in range(CAMPAIGNS)] + [
        SendGridAutomation(campaign_id(n, "sendgrid"), group_by_step=True, page_size=10)
        for n in range(CAMPAIGNS)
    ]
    async with Simulator(config) as simulator:
        paubox = PauboxSource(
            username=config.paubox_username,
            api_key=config.paubox_api_key,
            base_url=simulator.paubox_base_url,
        )
        sendgrid = SendGridSource(
            api_key=config.sendgrid_api_key, base_url=simulator.sendgrid_base_url
        )
        started = time.perf_counter()
        async with LinkStats(paubox, sendgrid, concurrency=16) as stats:
            result = await stats.collect(targets)
        elapsed = time.perf_counter() - started

    totals: Counter[str] = Counter()
    for click in result.clicks:
        totals[click.url.human_repr()] += click.clicks

    table = Table(title="Clicks per URL")
    table.add_column("URL", overflow="fold")
    table.add_column("clicks", justify="right")
    for url, clicks in totals.most_common():
        table.add_row(url or "(no URL reported)", f"{clicks:,}")
    console = Console()
    console.print(table)
    retries = paubox.stats.retries + sendgrid.stats.retries
    console.print(
        f"{len(targets)} campaigns, {len(result.clicks):,} records, "
        f"{len(result.errors)} failed, {retries} retries, {elapsed:.2f} s"
    )


if __name__ == "__main__":
    asyncio.run(main())
