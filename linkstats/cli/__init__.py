"""The ``linkstats`` command: fetch, list, demo, simulator, for every registered provider.

Tables and live progress go through rich, from the optional ``cli`` extra; without it, CSV
and JSON output, ``--help`` and ``--version`` still work. The library itself never imports
this package. Exit codes: 0 everything fetched (or the reader of a pipe left early), 1
some targets failed (the output holds the rest), 2 nothing fetched because of usage or
credentials (bad options, an unreadable targets file or output path, missing credentials, or
every target refused with 401/403), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from .. import ProviderInfo, TargetKind, TargetOption, __version__, registered_providers

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

FORMATS = ("table", "csv", "json", "jsonl")
GROUPINGS = ("url", "source", "provider", "step", "ab_variation", "ab_phase", "none")


class UsageError(Exception):
    """A problem with the command line or the environment, told in one line."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    arguments = _parser(registered_providers()).parse_args(argv)
    try:
        command = _command(arguments.command)
    except ImportError:
        print(
            "linkstats: this command needs the command line's extra: pip install 'linkstats[cli]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if getattr(arguments, "verbose", False):
        logging.basicConfig(level=logging.INFO, format="linkstats: %(message)s", stream=sys.stderr)
    try:
        return asyncio.run(command(arguments))
    except UsageError as error:
        for line in str(error).splitlines():
            print(f"linkstats: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("linkstats: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`) having read what it wanted: stop quietly, as other
        # command-line tools do; that is not a failure.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _paragraph(text: str) -> str:
    """A description wrapped as argparse would, for parsers that keep their epilog's lines."""
    return textwrap.fill(text, width=79)


def _groupings(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(","))
    unknown = [name for name in names if name not in GROUPINGS]
    if unknown or ("none" in names and len(names) > 1):
        raise argparse.ArgumentTypeError(
            f"{text!r}: use none, or one or more of url, source, provider, step, ab_variation, "
            "ab_phase (comma-separated)"
        )
    return names


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return number


def _port(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return number


def _behaviors() -> list[Any]:
    from ..testing import Behavior

    return list(Behavior)


def _behavior(text: str) -> tuple[str, Any]:
    target_id, equals, name = text.partition("=")
    known = {behavior.value: behavior for behavior in _behaviors()}
    if not equals or not target_id or name not in known:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use ID=BEHAVIOR, with BEHAVIOR one of {', '.join(known)}"
        )
    return target_id, known[name]


EXIT_CODES = """exit status:
  0    everything fetched
  1    some targets or listings failed; the output holds the rest
  2    nothing fetched because of usage or credentials: bad options, an unreadable
       targets file or output path, missing credentials, or every target refused (401/403)
  130  interrupted"""


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table (the default, for reading), csv, json (one array) or jsonl (a row a line)",
    )
    parser.add_argument(
        "--output",
        metavar="FILE",
        help="write here instead of standard output, whole or not at all",
    )


def _chattiness(parser: argparse.ArgumentParser) -> None:
    chattiness = parser.add_mutually_exclusive_group()
    chattiness.add_argument(
        "-q", "--quiet", action="store_true", help="no progress or summary on a terminal"
    )
    chattiness.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log retries and waits to standard error, and name each failed request",
    )


def _connection_options(
    parser: argparse.ArgumentParser, providers: Mapping[str, ProviderInfo]
) -> None:
    _chattiness(parser)
    for info in providers.values():
        parser.add_argument(
            f"--{info.name}-base-url",
            metavar="URL",
            dest=base_url_dest(info),
            help=f"{info.base_url_help}; default ${info.base_url_variable}, "
            f"else {info.default_base_url}",
        )
    parser.add_argument(
        "--concurrency",
        type=_positive,
        default=16,
        metavar="N",
        help="requests in flight at once (16)",
    )


def _target_options(parser: argparse.ArgumentParser, providers: Mapping[str, ProviderInfo]) -> None:
    targets = parser.add_argument_group("targets")
    for info in providers.values():
        for kind in info.target_kinds:
            targets.add_argument(
                f"--{info.name}-{kind.name}",
                action="append",
                default=[],
                metavar="ID",
                dest=target_dest(info, kind),
                help=kind.help,
            )
    names = ", ".join(target_names(providers))
    targets.add_argument(
        "--targets",
        metavar="FILE",
        help=f"a file of 'provider,id' lines ({names}), or what linkstats list writes (CSV "
        "or JSON lines); - for standard input",
    )
    targets.add_argument(
        "--all",
        action="store_true",
        help="every campaign the providers with credentials set can list",
    )
    for info in providers.values():
        for option in info.target_options:
            parser.add_argument(
                f"--{info.name}-{option.name}",
                action="store_true",
                dest=option_dest(info, option),
                help=option.help,
            )


def _grouping_option(parser: argparse.ArgumentParser, default: str, what: str) -> None:
    parser.add_argument(
        "--by",
        type=_groupings,
        default=(default,),
        metavar="GROUPING",
        help=f"total by url, source, provider, step, ab_variation, ab_phase or a comma-separated "
        f"mix{what}",
    )
    parser.add_argument(
        "--normalize-urls",
        action="store_true",
        help="group URLs ignoring host case, default ports, fragments and tracking parameters",
    )


def _database_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--db", required=True, metavar="PATH", help=what)


def _credentials(providers: Mapping[str, ProviderInfo]) -> str:
    return ", ".join(variable for info in providers.values() for variable in info.environment)


Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def _command(name: str) -> Command:
    """The command's implementation, imported only when it runs."""
    if name == "fetch":
        from ._fetch import fetch

        return fetch
    if name == "list":
        from ._list import list_campaigns

        return list_campaigns
    if name in ("sync", "changes", "history"):
        from . import _history

        command: Command = getattr(_history, name)
        return command
    if name == "demo":
        from ._demo import demo

        return demo
    from ._simulator import simulator

    return simulator


def _parser(providers: Mapping[str, ProviderInfo]) -> argparse.ArgumentParser:
    titles = " and ".join(info.title for info in providers.values())
    parser = argparse.ArgumentParser(
        prog="linkstats", description=f"Link-click statistics from {titles}."
    )
    parser.add_argument("--version", action="version", version=f"linkstats {__version__}")
    parser.set_defaults(providers=providers)
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    fetch_parser = commands.add_parser(
        "fetch",
        help="fetch clicks for campaigns and print totals",
        description=(
            f"Fetch link clicks for campaigns. Credentials come from {_credentials(providers)}."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  linkstats fetch --all --format csv --output clicks.csv\n"
        "  linkstats fetch --sendgrid-automation ID --by step\n"
        "  linkstats list --format csv | linkstats fetch --targets - --by source\n\n" + EXIT_CODES,
    )
    fetch_parser.set_defaults(command="fetch")
    _target_options(fetch_parser, providers)
    _connection_options(fetch_parser, providers)
    _grouping_option(
        fetch_parser,
        "url",
        " (step, ab_variation and ab_phase ask SendGrid to split its rows); none lists records",
    )
    _output_options(fetch_parser)

    sync_parser = commands.add_parser(
        "sync",
        help="fetch clicks and record them in a database, for changes and history",
        description=_paragraph(
            "Fetch link clicks for campaigns, as fetch does, and record one observation "
            "of each in a SQLite database (made on first use). Counts are stored only when they "
            "change; a failed target is recorded as failed, its counts kept as they were; an "
            "interrupted run records nothing. Two runs on one database wait for each other."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  linkstats sync --db clicks.db --all\n"
        "  linkstats sync --db clicks.db --targets campaigns.csv\n"
        "  crontab: 0 * * * *  linkstats sync --db /var/lib/linkstats/clicks.db --all -q\n\n"
        + EXIT_CODES,
    )
    sync_parser.set_defaults(command="sync")
    _database_option(sync_parser, "the SQLite database to record in")
    _target_options(sync_parser, providers)
    _connection_options(sync_parser, providers)

    changes_parser = commands.add_parser(
        "changes",
        help="clicks gained between two times, from a database sync recorded",
        description=_paragraph(
            "Clicks gained from the last observation at or before --since to the last "
            "at or before --until (default: the latest). A row missing from an observation counts "
            "zero; a target first recorded after --since counts from zero. WHEN is an ISO-8601 "
            "time (UTC unless it has an offset) or an age: 90s, 15m, 24h, 7d, 2w."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  linkstats changes --db clicks.db --since 24h\n"
        "  linkstats changes --db clicks.db --since 2026-12-01 --until 2026-12-02 --by source\n"
        "  linkstats changes --db clicks.db --since 7d --by none --format csv\n\n"
        "exit status:\n  0    the changes were written\n  2    bad options or no database",
    )
    changes_parser.set_defaults(command="changes")
    _database_option(changes_parser, "the database linkstats sync records in")
    changes_parser.add_argument(
        "--since", required=True, metavar="WHEN", help="from the state at this time"
    )
    changes_parser.add_argument(
        "--until", metavar="WHEN", help="to the state at this time (default: the latest)"
    )
    _grouping_option(
        changes_parser, "url", "; none lists every row that moved, with its before and after"
    )
    _output_options(changes_parser)

    history_parser = commands.add_parser(
        "history",
        help="clicks gained per hour, day or week, with a trend line",
        description=_paragraph(
            "Clicks gained per period, from a database linkstats sync records in: a "
            "table with a trend line per group, or a row per period and group as CSV or JSON. "
            "Periods are whole UTC hours, days or weeks (from Monday); each covers what was "
            "observed after its start up to and including its end, and by default they start "
            "at the end of the first sync, the baseline."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  linkstats history --db clicks.db --every day\n"
        "  linkstats history --db clicks.db --every hour --since 48h --by source --format csv"
        "\n\nexit status:\n  0    the history was written\n  2    bad options or no database",
    )
    history_parser.set_defaults(command="history")
    _database_option(history_parser, "the database linkstats sync records in")
    history_parser.add_argument(
        "--every", choices=("hour", "day", "week"), default="day", help="the period (day)"
    )
    history_parser.add_argument(
        "--since", metavar="WHEN", help="from this time (default: the end of the first sync)"
    )
    history_parser.add_argument(
        "--until", metavar="WHEN", help="up to this time (default: the latest period)"
    )
    _grouping_option(history_parser, "url", "")
    _output_options(history_parser)

    list_parser = commands.add_parser(
        "list",
        help="list the campaigns the providers with credentials set can list",
        description=f"List the campaigns of {titles}; the CSV and JSON lines it writes are "
        "what fetch --targets reads.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  linkstats list\n"
        "  linkstats list --format jsonl > campaigns.jsonl\n\n" + EXIT_CODES,
    )
    list_parser.set_defaults(command="list")
    _connection_options(list_parser, providers)
    _output_options(list_parser)

    demo_parser = commands.add_parser(
        "demo",
        help="fetch every campaign the built-in simulator lists",
        description="Start the built-in simulator on loopback, list every campaign it has, "
        "fetch them all and print the most-clicked links.",
        epilog="example: linkstats demo",
    )
    demo_parser.set_defaults(command="demo")
    _chattiness(demo_parser)

    simulator_parser = commands.add_parser(
        "simulator",
        help="serve the built-in providers' simulator until interrupted",
        description="Serve the simulator of the built-in providers on loopback, printing the "
        "environment variables that point linkstats at it.",
        epilog="example: linkstats simulator --port 8080 --rate-limit 50 "
        "--behavior f15982c1-a82c-4e87-a6b2-a4a63b4b7644=not_found",
    )
    simulator_parser.set_defaults(command="simulator")
    simulator_parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    simulator_parser.add_argument(
        "--port", type=_port, default=8080, help="port to listen on, 0 for any free one (8080)"
    )
    simulator_parser.add_argument(
        "--seed", type=int, default=0, help="seed of the deterministic data (0)"
    )
    simulator_parser.add_argument(
        "--latency", type=float, default=0.0, metavar="SECONDS", help="delay before each answer"
    )
    for name, what in (
        ("--error-rate", "answered with a 5xx"),
        ("--drop-rate", "whose connection is dropped unanswered"),
        ("--malformed-rate", "answered 200 with a body that is not the documented shape"),
    ):
        simulator_parser.add_argument(
            name, type=float, default=0.0, metavar="SHARE", help=f"share of requests {what}"
        )
    simulator_parser.add_argument(
        "--rate-limit",
        type=_positive,
        metavar="N",
        help="requests each provider allows per second and API key",
    )
    simulator_parser.add_argument(
        "--advance-every",
        type=float,
        metavar="SECONDS",
        help="let the counts grow by one period this often, for trying sync and history",
    )
    simulator_parser.add_argument(
        "--behavior",
        action="append",
        default=[],
        type=_behavior,
        metavar="ID=BEHAVIOR",
        help="script one campaign id, repeatable; BEHAVIOR is one of "
        + ", ".join(behavior.value for behavior in _behaviors()),
    )
    return parser


def target_dest(info: ProviderInfo, kind: TargetKind) -> str:
    """Where argparse keeps the ids given for one kind of target."""
    return f"targets_{info.name}_{kind.name}".replace("-", "_")


def base_url_dest(info: ProviderInfo) -> str:
    """Where argparse keeps one provider's base URL."""
    return f"base_url_{info.name}".replace("-", "_")


def option_dest(info: ProviderInfo, option: TargetOption) -> str:
    """Where argparse keeps one provider's target option."""
    return f"option_{info.name}_{option.name}".replace("-", "_")


def target_names(
    providers: Mapping[str, ProviderInfo],
) -> dict[str, tuple[ProviderInfo, TargetKind]]:
    """What a targets-file line may name: ``provider`` for its first kind, ``provider-kind``."""
    names: dict[str, tuple[ProviderInfo, TargetKind]] = {}
    for info in providers.values():
        names[info.name] = (info, info.target_kinds[0])
        for kind in info.target_kinds:
            names[f"{info.name}-{kind.name}"] = (info, kind)
    return names
