"""``linkstats list``: the campaigns each provider with credentials set can list."""

from __future__ import annotations

import argparse
import os
from collections.abc import Hashable, Mapping
from typing import Any

from .. import Campaign, LinkStats, ProviderInfo
from . import EXIT_OK
from ._fetch import discovering, sources_for
from ._output import check_output, destination, print_table, stream_writer
from ._run import kind_and_id

COLUMNS = ("provider", "kind", "id", "name", "sent_at", "step_ids")


async def list_campaigns(arguments: argparse.Namespace) -> int:
    """Write one row per campaign; exit 0, or 2 when a listing refuses the credentials."""
    check_output(arguments.output)
    sources = sources_for(arguments, os.environ, needed=None)
    async with LinkStats(*sources, concurrency=arguments.concurrency) as stats:
        with discovering():
            rows = [_row(arguments.providers, campaign) async for campaign in stats.discover()]
    with destination(arguments.output) as file:
        if arguments.format == "table":
            print_table(file, rows, COLUMNS, title="Campaigns")
        else:
            with stream_writer(file, arguments.format, COLUMNS) as writer:
                writer.write_all(rows)
    return EXIT_OK


def _row(providers: Mapping[str, ProviderInfo], campaign: Campaign[Hashable]) -> dict[str, Any]:
    kind, target_id = kind_and_id(providers, campaign.target)
    return {
        "provider": campaign.provider,
        "kind": kind,
        "id": target_id,
        "name": campaign.name,
        "sent_at": campaign.sent_at,
        "step_ids": ",".join(campaign.step_ids),
    }
