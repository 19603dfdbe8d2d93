"""``linkstats fetch``: targets from flags or a file, credentials from the environment."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping
from typing import IO, Any

from rich.console import Console

from .. import (
    LinkClick,
    PauboxSend,
    PauboxSource,
    SendGridAutomation,
    SendGridSource,
)
from ..providers import paubox, sendgrid
from ..reports import RECORD_FIELDS, Totals, normalize_url, to_dict
from . import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, UsageError
from ._output import destination, print_table, stream_writer
from ._run import fetch as run_fetch
from ._run import report_failures

Target = PauboxSend | SendGridAutomation


async def fetch(arguments: argparse.Namespace) -> int:
    """Fetch the targets, write totals or records, list failures; return the exit code."""
    targets = _targets(arguments)
    sources = _sources(targets, arguments, os.environ)
    errors = Console(stderr=True)
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


def _write(
    file: IO[str], output_format: str, rows: list[dict[str, Any]], columns: tuple[str, ...]
) -> None:
    if output_format == "table":
        print_table(file, rows, columns, title="Clicks")
        return
    with stream_writer(file, output_format, columns) as writer:
        writer.write_all(rows)


def _targets(arguments: argparse.Namespace) -> list[Target]:
    targets = [_target("paubox", send_id, "--paubox-send") for send_id in arguments.paubox_send]
    targets += [
        _target("sendgrid", automation_id, "--sendgrid-automation")
        for automation_id in arguments.sendgrid_automation
    ]
    if arguments.targets == "-":
        targets.extend(_read_targets(sys.stdin, "standard input"))
    elif arguments.targets is not None:
        try:
            with open(arguments.targets, encoding="utf-8") as file:
                targets.extend(_read_targets(file, arguments.targets))
        except OSError as error:
            raise UsageError(f"cannot read {arguments.targets}: {error.strerror}") from None
    if not targets:
        raise UsageError("no targets: give --paubox-send, --sendgrid-automation or --targets")
    return targets


def _read_targets(lines: Iterable[str], name: str) -> list[Target]:
    """Lines of ``provider,id``; blank lines and ``#`` comments are skipped."""
    targets = []
    for number, line in enumerate(lines, start=1):
        text = line.partition("#")[0].strip()
        if not text:
            continue
        provider, comma, target_id = (part.strip() for part in text.partition(","))
        if not comma:
            raise UsageError(f"{name}, line {number}: expected 'provider,id', got {text!r}")
        targets.append(_target(provider.lower(), target_id, f"{name}, line {number}"))
    return targets


def _target(provider: str, target_id: str, where: str) -> Target:
    try:
        if provider == "paubox":
            return PauboxSend(target_id)
        if provider == "sendgrid":
            return SendGridAutomation(target_id)
    except (TypeError, ValueError) as error:
        raise UsageError(f"{where}: {error}") from None
    raise UsageError(f"{where}: unknown provider {provider!r}; use paubox or sendgrid")


def _sources(
    targets: list[Target], arguments: argparse.Namespace, environment: Mapping[str, str]
) -> list[PauboxSource | SendGridSource]:
    """A source for each provider the targets need, credentials from the environment."""
    sources: list[PauboxSource | SendGridSource] = []
    try:
        if any(isinstance(target, PauboxSend) for target in targets):
            username = environment.get("PAUBOX_USERNAME")
            api_key = environment.get("PAUBOX_API_KEY")
            if not username or not api_key:
                raise UsageError("set PAUBOX_USERNAME and PAUBOX_API_KEY to fetch Paubox sends")
            sources.append(
                PauboxSource(
                    username=username,
                    api_key=api_key,
                    base_url=arguments.paubox_base_url or paubox.DEFAULT_BASE_URL,
                )
            )
        if any(isinstance(target, SendGridAutomation) for target in targets):
            api_key = environment.get("SENDGRID_API_KEY")
            if not api_key:
                raise UsageError("set SENDGRID_API_KEY to fetch SendGrid automations")
            sources.append(
                SendGridSource(
                    api_key=api_key,
                    base_url=arguments.sendgrid_base_url or sendgrid.DEFAULT_BASE_URL,
                )
            )
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None
    return sources
