"""The ``linkstats`` command: fetch, demo, simulator.

Terminal output goes through rich, from the optional ``cli`` extra; the library itself never
imports this package. Exit codes: 0 all targets fetched, 1 some failed, 2 usage or credential
errors, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

FORMATS = ("table", "csv", "json", "jsonl")
GROUPINGS = ("url", "source", "provider", "step", "none")


class UsageError(Exception):
    """A problem with the command line or the environment, told in one line."""


class ListingError(Exception):
    """A provider failed to list its campaigns, told in one line."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    try:
        import rich  # noqa: F401
    except ImportError:
        print(
            "linkstats: the command line needs its extra: pip install 'linkstats[cli]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    arguments = _parser().parse_args(argv)
    command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = arguments.command
    try:
        return asyncio.run(command(arguments))
    except UsageError as error:
        print(f"linkstats: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ListingError as error:
        print(f"linkstats: error: {error}", file=sys.stderr)
        return EXIT_SOME_FAILED
    except KeyboardInterrupt:
        print("linkstats: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_SOME_FAILED


def _groupings(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(","))
    unknown = [name for name in names if name not in GROUPINGS]
    if unknown or ("none" in names and len(names) > 1):
        raise argparse.ArgumentTypeError(
            f"{text!r}: use none, or one or more of url, source, provider, step (comma-separated)"
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


def _base_urls(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--paubox-base-url",
        metavar="URL",
        help="Paubox API base URL (for the newer https://api.paubox.com/v1/marketing, "
        "PAUBOX_USERNAME is not needed)",
    )
    parser.add_argument(
        "--sendgrid-base-url",
        metavar="URL",
        help="SendGrid API base URL (https://api.eu.sendgrid.com for the EU region)",
    )
    parser.add_argument(
        "--concurrency", type=_positive, default=16, help="requests in flight at once (16)"
    )


def _parser() -> argparse.ArgumentParser:
    from ._demo import demo
    from ._fetch import fetch
    from ._list import list_campaigns
    from ._simulator import simulator

    parser = argparse.ArgumentParser(
        prog="linkstats",
        description="Link-click statistics from Paubox Marketing and SendGrid.",
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    fetch_parser = commands.add_parser(
        "fetch",
        help="fetch clicks for campaigns and print totals",
        description=(
            "Fetch link clicks for campaign sends and automations. Credentials come from "
            "PAUBOX_USERNAME, PAUBOX_API_KEY and SENDGRID_API_KEY."
        ),
    )
    fetch_parser.set_defaults(command=fetch)
    targets = fetch_parser.add_argument_group("targets")
    targets.add_argument(
        "--paubox-send", action="append", default=[], metavar="ID", help="a Paubox campaign send id"
    )
    targets.add_argument(
        "--sendgrid-automation",
        action="append",
        default=[],
        metavar="ID",
        help="a SendGrid automation id",
    )
    targets.add_argument(
        "--sendgrid-single-send",
        action="append",
        default=[],
        metavar="ID",
        help="a SendGrid single send id",
    )
    targets.add_argument(
        "--targets",
        metavar="FILE",
        help=(
            "a file of 'provider,id' lines (paubox, sendgrid or sendgrid-automation, "
            "sendgrid-single-send); - for standard input"
        ),
    )
    targets.add_argument(
        "--all",
        action="store_true",
        help="every campaign the providers with credentials set can list",
    )
    fetch_parser.add_argument(
        "--paubox-per-link-totals",
        action="store_true",
        help="one row per link of a Paubox send, not per link per delivered email",
    )
    _base_urls(fetch_parser)
    fetch_parser.add_argument(
        "--by",
        type=_groupings,
        default=("url",),
        metavar="GROUPING",
        help="total by url, source, provider, step or a comma-separated mix; none lists records",
    )
    fetch_parser.add_argument(
        "--normalize-urls",
        action="store_true",
        help="group URLs ignoring host case, default ports, fragments and tracking parameters",
    )
    fetch_parser.add_argument("--format", choices=FORMATS, default="table")
    fetch_parser.add_argument(
        "--output", metavar="FILE", help="write here instead of standard output"
    )

    list_parser = commands.add_parser(
        "list",
        help="list the campaigns the providers with credentials set can list",
        description="List campaigns: Paubox sends, SendGrid automations and single sends.",
    )
    list_parser.set_defaults(command=list_campaigns)
    _base_urls(list_parser)
    list_parser.add_argument("--format", choices=FORMATS, default="table")
    list_parser.add_argument("--output", metavar="FILE", help="write here instead of stdout")

    demo_parser = commands.add_parser(
        "demo", help="fetch a few hundred campaigns from the built-in simulator"
    )
    demo_parser.set_defaults(command=demo)
    demo_parser.add_argument("--targets", type=_positive, default=200, help="how many (200)")

    simulator_parser = commands.add_parser(
        "simulator", help="serve the Paubox and SendGrid simulator until interrupted"
    )
    simulator_parser.set_defaults(command=simulator)
    simulator_parser.add_argument("--host", default="127.0.0.1")
    simulator_parser.add_argument("--port", type=int, default=8080)
    simulator_parser.add_argument("--seed", type=int, default=0)
    simulator_parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS")
    simulator_parser.add_argument("--error-rate", type=float, default=0.0, metavar="SHARE")
    simulator_parser.add_argument("--drop-rate", type=float, default=0.0, metavar="SHARE")
    simulator_parser.add_argument("--malformed-rate", type=float, default=0.0, metavar="SHARE")
    simulator_parser.add_argument(
        "--rate-limit", type=_positive, metavar="N", help="SendGrid requests allowed per second"
    )
    return parser
