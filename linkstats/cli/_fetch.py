"""``linkstats fetch``: targets from flags or a file, credentials from the environment."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any

import attrs
from rich.console import Console

from .. import (
    AuthenticationError,
    LinkClick,
    LinkStats,
    LinkStatsError,
    PauboxSend,
    PauboxSource,
    SendGridAutomation,
    SendGridSingleSend,
    SendGridSource,
)
from ..providers import paubox as paubox_module
from ..providers import sendgrid as sendgrid_module
from ..reports import RECORD_FIELDS, Totals, normalize_url, to_dict
from . import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, ListingError, UsageError
from ._output import destination, print_table, stream_writer
from ._run import fetch as run_fetch
from ._run import report_failures

Target = PauboxSend | SendGridAutomation | SendGridSingleSend

# What a --targets line may name, and the target each makes.
KINDS: dict[str, Callable[[str], Target]] = {
    "paubox": PauboxSend,
    "sendgrid": SendGridAutomation,
    "sendgrid-automation": SendGridAutomation,
    "sendgrid-single-send": SendGridSingleSend,
}


async def fetch(arguments: argparse.Namespace) -> int:
    """Fetch the targets, write totals or records, list failures; return the exit code."""
    errors = Console(stderr=True)
    if arguments.all:
        sources = sources_for(arguments, os.environ, paubox=None, sendgrid=None)
        targets = await discovered(sources, arguments.concurrency)
        targets += [
            target for target in _targets(arguments, required=False) if target not in targets
        ]
    else:
        targets = _targets(arguments, required=True)
        sources = sources_for(
            arguments,
            os.environ,
            paubox=any(isinstance(target, PauboxSend) for target in targets),
            sendgrid=any(not isinstance(target, PauboxSend) for target in targets),
        )
    if arguments.paubox_per_link_totals:
        targets = [
            attrs.evolve(target, per_link_totals=True) if isinstance(target, PauboxSend) else target
            for target in targets
        ]
    grouped = arguments.by != ("none",)
    totals = Totals(
        arguments.by if grouped else ("url",),
        normalize=normalize_url if arguments.normalize_urls else None,
    )
    columns = totals.columns if grouped else RECORD_FIELDS
    with destination(arguments.output) as file:
        streaming = not grouped and arguments.format != "table"
        writer = stream_writer(file, arguments.format, columns) if streaming else None
        records: list[dict[str, Any]] = []

        def keep(clicks: list[LinkClick]) -> None:
            if grouped:
                totals.add(clicks)
            elif writer is not None:
                writer.write_all(to_dict(click) for click in clicks)
            else:
                records.extend(to_dict(click) for click in clicks)

        tally = await run_fetch(
            sources, targets, concurrency=arguments.concurrency, keep=keep, console=errors
        )
        rows = totals.rows() if grouped else records
        if writer is not None:
            writer.close()
        else:
            _write(file, arguments.format, rows, columns)
    report_failures(tally, errors)
    if errors.is_terminal:
        errors.print(tally.summary(), highlight=False, soft_wrap=True)
    if tally.credentials_refused:
        return EXIT_USAGE
    return EXIT_SOME_FAILED if tally.failures else EXIT_OK


async def discovered(
    sources: list[PauboxSource | SendGridSource], concurrency: int
) -> list[Target]:
    """Every campaign the sources list."""
    async with LinkStats(*sources, concurrency=concurrency) as stats:
        with discovering():
            campaigns = [campaign async for campaign in stats.discover()]
    targets: list[Target] = []
    for campaign in campaigns:
        target = campaign.target
        if isinstance(target, PauboxSend | SendGridAutomation | SendGridSingleSend):
            targets.append(target)
    return targets


@contextlib.contextmanager
def discovering() -> Iterator[None]:
    """A listing refused for its credentials is a usage error; any other failure, a listing one."""
    try:
        yield
    except AuthenticationError as error:
        raise UsageError(str(error)) from None
    except LinkStatsError as error:
        raise ListingError(str(error)) from None


def _write(
    file: IO[str], output_format: str, rows: list[dict[str, Any]], columns: tuple[str, ...]
) -> None:
    if output_format == "table":
        print_table(file, rows, columns, title="Clicks")
        return
    with stream_writer(file, output_format, columns) as writer:
        writer.write_all(rows)


def _targets(arguments: argparse.Namespace, *, required: bool) -> list[Target]:
    targets = [_target("paubox", send_id, "--paubox-send") for send_id in arguments.paubox_send]
    targets += [
        _target("sendgrid", automation_id, "--sendgrid-automation")
        for automation_id in arguments.sendgrid_automation
    ]
    targets += [
        _target("sendgrid-single-send", single_send_id, "--sendgrid-single-send")
        for single_send_id in arguments.sendgrid_single_send
    ]
    if arguments.targets == "-":
        targets.extend(_read_targets(sys.stdin, "standard input"))
    elif arguments.targets is not None:
        try:
            with open(arguments.targets, encoding="utf-8") as file:
                targets.extend(_read_targets(file, arguments.targets))
        except OSError as error:
            raise UsageError(f"cannot read {arguments.targets}: {error.strerror}") from None
    if required and not targets:
        raise UsageError(
            "no targets: give --all, --paubox-send, --sendgrid-automation, "
            "--sendgrid-single-send or --targets"
        )
    return targets


def _read_targets(lines: Iterable[str], name: str) -> list[Target]:
    """Lines of ``provider,id``; blank lines and ``#`` comments are skipped."""
    targets = []
    for number, line in enumerate(lines, start=1):
        text = line.partition("#")[0].strip()
        if not text:
            continue
        kind, comma, target_id = (part.strip() for part in text.partition(","))
        if not comma:
            raise UsageError(f"{name}, line {number}: expected 'provider,id', got {text!r}")
        targets.append(_target(kind.lower(), target_id, f"{name}, line {number}"))
    return targets


def _target(kind: str, target_id: str, where: str) -> Target:
    make = KINDS.get(kind)
    if make is None:
        choices = ", ".join(KINDS)
        raise UsageError(f"{where}: unknown provider {kind!r}; use one of {choices}")
    try:
        return make(target_id)
    except (TypeError, ValueError) as error:
        raise UsageError(f"{where}: {error}") from None


def sources_for(
    arguments: argparse.Namespace,
    environment: Mapping[str, str],
    *,
    paubox: bool | None,
    sendgrid: bool | None,
) -> list[PauboxSource | SendGridSource]:
    """A source for each provider wanted, credentials from the environment.

    ``True``: needed, its credentials must be set; ``None``: wherever credentials are set.
    """
    sources: list[PauboxSource | SendGridSource] = []
    paubox_url = arguments.paubox_base_url or paubox_module.DEFAULT_BASE_URL
    username = environment.get("PAUBOX_USERNAME") or None
    paubox_key = environment.get("PAUBOX_API_KEY")
    sendgrid_key = environment.get("SENDGRID_API_KEY")
    # Paubox's newer base URL names no account in its path; the original one does.
    username_needed = str(paubox_url).rstrip("/") == paubox_module.DEFAULT_BASE_URL
    paubox_ready = bool(paubox_key) and (username is not None or not username_needed)
    try:
        if paubox or (paubox is None and paubox_ready):
            if not paubox_ready:
                raise UsageError("set PAUBOX_USERNAME and PAUBOX_API_KEY to fetch Paubox sends")
            sources.append(
                PauboxSource(username=username, api_key=str(paubox_key), base_url=paubox_url)
            )
        if sendgrid or (sendgrid is None and sendgrid_key):
            if not sendgrid_key:
                raise UsageError("set SENDGRID_API_KEY to fetch SendGrid campaigns")
            sources.append(
                SendGridSource(
                    api_key=sendgrid_key,
                    base_url=arguments.sendgrid_base_url or sendgrid_module.DEFAULT_BASE_URL,
                )
            )
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None
    if not sources:
        raise UsageError(
            "no credentials: set PAUBOX_USERNAME and PAUBOX_API_KEY, or SENDGRID_API_KEY"
        )
    return sources
