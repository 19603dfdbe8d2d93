"""``linkstats list``: the campaigns each provider with credentials set can list."""

from __future__ import annotations

import argparse
from collections.abc import Hashable, Mapping
from typing import Any

from .. import Campaign, ProviderInfo
from . import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE
from ._fetch import list_everything
from ._output import check_output, destination, write_rows
from ._run import kind_and_id
from ._terminal import messages

COLUMNS = ("provider", "kind", "id", "name", "sent_at", "step_ids")


async def list_campaigns(arguments: argparse.Namespace) -> int:
    """Write one row per campaign listed; a failing listing is reported and the others are
    still listed (exit 1), every listing refusing its credentials is exit 2."""
    check_output(arguments.output, arguments.format)
    errors = messages()
    _, listed = await list_everything(arguments, errors)
    if errors.is_terminal and not arguments.quiet:
        errors.print(listed.summary())
    if listed.all_refused:
        return EXIT_USAGE
    rows = [_row(arguments.providers, campaign) for campaign in listed.campaigns]
    with destination(arguments.output) as file:
        write_rows(file, arguments.format, rows, COLUMNS, title="Campaigns")
    return EXIT_SOME_FAILED if listed.failures else EXIT_OK


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
