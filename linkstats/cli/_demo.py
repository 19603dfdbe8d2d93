"""``linkstats demo``: the simulator on loopback, every campaign it lists, the top links."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Hashable

from .. import LinkStats
from .._registry import configured_sources
from ..reports import Totals, normalize_url
from ..testing import Faults, RateLimit, SendGridConfig, Simulator, SimulatorConfig
from . import EXIT_OK, EXIT_SOME_FAILED
from ._output import print_table
from ._run import fetch, plural, report_failures
from ._terminal import messages, require_rich

TOP_LINKS = 15

# Enough trouble to show the retries and the shared rate-limit pause at work.
CONFIG = SimulatorConfig(
    seed=2024,
    faults=Faults(latency=0.005, server_error_rate=0.03, drop_rate=0.01),
    sendgrid=SendGridConfig(rate_limit=RateLimit(limit=50, window=1.0)),
)


async def demo(arguments: argparse.Namespace) -> int:
    """List every campaign the simulator has, fetch them all, print the most-clicked links."""
    require_rich("the demo's table")
    errors = messages()
    totals = Totals(("url",), normalize=normalize_url)
    async with Simulator(CONFIG) as simulator:
        sources = configured_sources(arguments.providers, simulator.environment())
        errors.print(f"Simulator running on {simulator.url}")
        async with LinkStats(*sources, concurrency=16) as stats:
            targets: list[Hashable] = [campaign.target async for campaign in stats.discover()]
        tally = await fetch(
            sources,
            targets,
            concurrency=16,
            keep=lambda result: totals.add(result.clicks),
            console=errors,
            progress=not arguments.quiet,
        )
    print_table(sys.stdout, totals.rows()[:TOP_LINKS], totals.columns, title="Top links")
    report_failures(arguments.providers, tally, errors, verbose=arguments.verbose)
    print(
        f"{plural(tally.targets, 'campaign')}, {plural(tally.records, 'record')}, "
        f"{plural(tally.retries, 'retry')}, "
        f"{tally.rate_limit_wait:.1f} s waiting on rate limits, {tally.seconds:.1f} s"
    )
    return EXIT_SOME_FAILED if tally.failures else EXIT_OK
