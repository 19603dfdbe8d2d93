"""``linkstats fetch``: targets from flags or a file, credentials from the environment."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from .. import (
    Campaign,
    LinkStatsSource,
    ProviderInfo,
    TargetResult,
)
from ..reports import GROUPINGS, RECORD_FIELDS, Totals, normalize_url, to_dict
from . import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    UsageError,
    base_url_dest,
    option_dest,
    target_dest,
    target_names,
)
from ._output import check_output, destination, stream_writer, write_rows
from ._run import Listed, Tally, list_all, provider_of, report_failures
from ._run import fetch as run_fetch
from ._terminal import Messages, messages


async def fetch(arguments: argparse.Namespace) -> int:
    """Fetch the targets, write totals or records, list failures; return the exit code."""
    errors = messages()
    providers: Mapping[str, ProviderInfo] = arguments.providers
    check_output(arguments.output, arguments.format)
    plan = await plan_fetch(arguments, errors)
    if plan.nothing_listed:
        return plan.exit_code
    sources, listed = plan.sources, plan.listed
    grouped = arguments.by != ("none",)
    fields = frozenset(GROUPINGS[name] for name in arguments.by) if grouped else frozenset()
    targets = [with_options(arguments, providers, target, fields) for target in plan.targets]
    totals = Totals(
        arguments.by if grouped else ("url",),
        normalize=normalize_url if arguments.normalize_urls else None,
    )
    columns = totals.columns if grouped else RECORD_FIELDS
    with destination(arguments.output) as file:
        streaming = not grouped and arguments.format != "table"
        writer = stream_writer(file, arguments.format, columns) if streaming else None
        records: list[dict[str, Any]] = []

        def keep(result: TargetResult[Hashable]) -> None:
            clicks = result.clicks
            if grouped:
                totals.add(clicks)
            elif writer is not None:
                writer.write_all(to_dict(click) for click in clicks)
            else:
                records.extend(to_dict(click) for click in clicks)

        tally = await run_fetch(
            sources,
            targets,
            concurrency=arguments.concurrency,
            keep=keep,
            console=errors,
            progress=not arguments.quiet,
        )
        rows = totals.rows() if grouped else records
        if writer is not None:
            writer.close()
        else:
            write_rows(file, arguments.format, rows, columns, title="Clicks")
    return conclude(arguments, tally, listed, errors)


@attrs.frozen
class Plan:
    """What a fetch is to fetch, from which sources, and what ``--all`` listed."""

    sources: list[LinkStatsSource[Any]]
    targets: list[Hashable]
    listed: Listed | None

    @property
    def nothing_listed(self) -> bool:
        """``--all`` listed nothing to fetch because listings failed."""
        return self.listed is not None and bool(self.listed.failures) and not self.targets

    @property
    def exit_code(self) -> int:
        """The exit code when nothing was listed."""
        return (
            EXIT_USAGE if self.listed is not None and self.listed.all_refused else EXIT_SOME_FAILED
        )


async def plan_fetch(arguments: argparse.Namespace, errors: Messages) -> Plan:
    """The targets the command line names, and sources for them: with ``--all``, every
    campaign the providers with credentials list, the listing shown as it goes."""
    providers: Mapping[str, ProviderInfo] = arguments.providers
    if not arguments.all:
        targets = _target_list(arguments, None)
        needed = {provider_of(providers, target).name for target in targets}
        return Plan(sources_for(arguments, os.environ, needed=needed), targets, None)
    sources, listed = await list_everything(arguments, errors)
    return Plan(sources, _target_list(arguments, listed.campaigns), listed)


async def list_everything(
    arguments: argparse.Namespace, errors: Messages
) -> tuple[list[LinkStatsSource[Any]], Listed]:
    """Sources for every provider with credentials set, and what they list."""
    sources = sources_for(arguments, os.environ, needed=None)
    listed = await list_all(
        sources,
        concurrency=arguments.concurrency,
        console=errors,
        verbose=arguments.verbose,
        progress=not arguments.quiet,
    )
    return sources, listed


def conclude(
    arguments: argparse.Namespace,
    tally: Tally,
    listed: Listed | None,
    errors: Messages,
    *summary: str,
) -> int:
    """Report the failures and, on a terminal, the summary (with ``summary``'s lines);
    return the exit code."""
    report_failures(arguments.providers, tally, errors, verbose=arguments.verbose)
    if errors.is_terminal and not arguments.quiet:
        if listed is not None:
            errors.print(listed.summary())
        errors.print(tally.summary())
        for line in summary:
            errors.print(line)
    if tally.all_refused:
        return EXIT_USAGE
    return EXIT_SOME_FAILED if tally.failures or (listed and listed.failures) else EXIT_OK


def with_options(
    arguments: argparse.Namespace,
    providers: Mapping[str, ProviderInfo],
    target: Hashable,
    fields: frozenset[str],
) -> Hashable:
    """The target as the provider's switches on the command line ask for it, split by the
    record fields the totals group by."""
    info = provider_of(providers, target)
    target = info.split(target, fields)
    for option in info.target_options:
        if getattr(arguments, option_dest(info, option)):
            target = option.apply(target)
    return target


def _target_list(
    arguments: argparse.Namespace, listed: Sequence[Campaign[Hashable]] | None
) -> list[Hashable]:
    """What the command line names: the campaigns listed for ``--all`` (``listed``), then the
    ids and targets file, each target once; without ``--all``, at least one is needed."""
    if listed is None:
        return _targets(arguments, required=True)
    targets = [campaign.target for campaign in listed]
    targets += [target for target in _targets(arguments, required=False) if target not in targets]
    return targets


def _targets(arguments: argparse.Namespace, *, required: bool) -> list[Hashable]:
    providers: Mapping[str, ProviderInfo] = arguments.providers
    targets = [
        _target(kind.from_id, target_id, f"--{info.name}-{kind.name}")
        for info in providers.values()
        for kind in info.target_kinds
        for target_id in getattr(arguments, target_dest(info, kind))
    ]
    if arguments.targets == "-":
        targets.extend(_read_targets(providers, sys.stdin, "standard input"))
    elif arguments.targets is not None:
        try:
            with open(arguments.targets, encoding="utf-8-sig") as file:
                targets.extend(_read_targets(providers, file, arguments.targets))
        except OSError as error:
            raise UsageError(f"cannot read {arguments.targets}: {error.strerror}") from None
    if required and not targets:
        flags = ", ".join(
            f"--{info.name}-{kind.name}"
            for info in providers.values()
            for kind in info.target_kinds
        )
        raise UsageError(f"no targets: give --all, {flags} or --targets")
    return targets


def _read_targets(
    providers: Mapping[str, ProviderInfo], lines: Iterable[str], name: str
) -> list[Hashable]:
    """Targets, one a line: ``provider,id`` (or ``provider-kind,id``), or what ``linkstats
    list`` writes, CSV with its header line or JSON lines, the kind kept. Blank lines and
    ``#`` comments are skipped; a BOM and CRLF line ends are fine. Every bad line is reported,
    with its number, before anything is sent."""
    names = target_names(providers)
    targets: list[Hashable] = []
    problems: list[str] = []
    columns: dict[str, int] | None = None
    for number, line in enumerate(lines, start=1):
        text = (line.removeprefix("\ufeff") if number == 1 else line).strip()
        if not text or text.startswith("#"):
            continue
        where = f"{name}, line {number}"
        try:
            if text.startswith("{"):
                kind_name, target_id = _json_target(text)
            else:
                if columns is None:
                    # A comment may end a 'provider,id' line; a listed name may hold a '#'.
                    text = text.partition("#")[0].strip()
                cells = next(csv.reader([text]))
                if columns is None and cells[0].strip().lower() == "provider":
                    columns = {cell.strip().lower(): index for index, cell in enumerate(cells)}
                    continue
                kind_name, target_id = _csv_target(cells, columns, text)
            found = names.get(kind_name.lower())
            if found is None:
                raise UsageError(f"unknown provider {kind_name!r}; use one of {', '.join(names)}")
            targets.append(_target(found[1].from_id, target_id, where))
        except UsageError as error:
            problems.append(str(error) if str(error).startswith(where) else f"{where}: {error}")
    if problems:
        raise UsageError("\n".join(problems))
    return targets


def _csv_target(cells: list[str], columns: dict[str, int] | None, text: str) -> tuple[str, str]:
    """``provider,id``, or a row of ``linkstats list``'s CSV under its header."""
    if columns is None:
        if len(cells) != 2:
            raise UsageError(f"expected 'provider,id', got {text!r}")
        return cells[0].strip(), cells[1].strip()
    try:
        provider, target_id = cells[columns["provider"]].strip(), cells[columns["id"]].strip()
        kind = cells[columns["kind"]].strip() if "kind" in columns else ""
    except (KeyError, IndexError):
        raise UsageError(
            f"expected the header's provider, kind and id columns, got {text!r}"
        ) from None
    return (f"{provider}-{kind}" if kind else provider), target_id


def _json_target(text: str) -> tuple[str, str]:
    """A line of ``linkstats list --format jsonl``."""
    try:
        row = json.loads(text)
    except ValueError:
        raise UsageError(f"not a JSON object: {text!r}") from None
    provider, kind, target_id = row.get("provider"), row.get("kind"), row.get("id")
    if not isinstance(provider, str) or not isinstance(target_id, str):
        raise UsageError(f"expected provider and id in {text!r}")
    return (f"{provider}-{kind}" if isinstance(kind, str) and kind else provider), target_id


def _target(make: Callable[[str], Hashable], target_id: str, where: str) -> Hashable:
    try:
        return make(target_id)
    except (TypeError, ValueError) as error:
        raise UsageError(f"{where}: {error}") from None


def sources_for(
    arguments: argparse.Namespace,
    environment: Mapping[str, str],
    *,
    needed: Collection[str] | None,
) -> list[LinkStatsSource[Any]]:
    """A source for each provider named in ``needed``, or (``None``) for every provider whose
    credentials are set; credentials and base URLs from the environment."""
    providers: Mapping[str, ProviderInfo] = arguments.providers
    sources: list[LinkStatsSource[Any]] = []
    for info in providers.values():
        if needed is not None and info.name not in needed:
            continue
        try:
            source = info.source(environment, getattr(arguments, base_url_dest(info)))
        except (TypeError, ValueError) as error:
            raise UsageError(str(error)) from None
        if source is not None:
            sources.append(source)
        elif needed is not None:
            raise UsageError(
                f"set {' and '.join(info.environment)} to fetch {info.title} campaigns"
            )
    if not sources:
        raise UsageError(f"no credentials: set {_any_of(providers)}")
    return sources


def _any_of(providers: Mapping[str, ProviderInfo]) -> str:
    return ", or ".join(" and ".join(info.environment) for info in providers.values())
