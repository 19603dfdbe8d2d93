"""``linkstats demo``: the simulator on loopback, a few hundred campaigns, the top links."""

from __future__ import annotations

import argparse
import sys
import uuid

from rich.console import Console

from .. import PauboxSend, PauboxSource, SendGridAutomation, SendGridSource
from ..reports import Totals, normalize_url
from ..testing import Faults, RateLimit, Simulator, SimulatorConfig
from . import EXIT_OK, EXIT_SOME_FAILED
from ._output import print_table
from ._run import fetch, report_failures

TOP_LINKS = 15

# Enough trouble to show the retries and the shared rate-limit pause at work.
CONFIG = SimulatorConfig(
    seed=2024,
    faults=Faults(latency=0.005, server_error_rate=0.03, drop_rate=0.01),
    rate_limit=RateLimit(limit=50, window=1.0),
)


def campaign_id(number: int, provider: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://linkstats.demo/{provider}/{number}"))


async def demo(arguments: argparse.Namespace) -> int:
    """Fetch from the simulator, print the most-clicked links and a one-line summary."""
    half = arguments.targets // 2
    targets: list[PauboxSend | SendGridAutomation] = [
        PauboxSend(campaign_id(number, "paubox")) for number in range(arguments.targets - half)
    ]
    targets += [
        SendGridAutomation(campaign_id(number, "sendgrid"), group_by_step=True, page_size=10)
        for number in range(half)
    ]
    errors = Console(stderr=True)
    totals = Totals(("url",), normalize=normalize_url)
    async with Simulator(CONFIG) as simulator:
        sources: list[PauboxSource | SendGridSource] = [
            PauboxSource(
                username=CONFIG.paubox_username,
                api_key=CONFIG.paubox_api_key,
                base_url=simulator.paubox_base_url,
            ),
            SendGridSource(api_key=CONFIG.sendgrid_api_key, base_url=simulator.sendgrid_base_url),
        ]
        errors.print(f"Simulator running on {simulator.url}", highlight=False, soft_wrap=True)
        tally = await fetch(sources, targets, concurrency=16, keep=totals.add, console=errors)
    print_table(sys.stdout, totals.rows()[:TOP_LINKS], totals.columns, title="Top links")
    report_failures(tally, errors)
    print(
        f"{tally.targets} targets, {tally.records:,} records, {tally.retries} retries, "
        f"{tally.rate_limit_wait:.1f} s waiting on rate limits, {tally.seconds:.1f} s"
    )
    return EXIT_SOME_FAILED if tally.failures else EXIT_OK
