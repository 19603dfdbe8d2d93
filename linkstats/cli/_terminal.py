"""Standard error for the command line: rich's console and live progress where the ``cli``
extra is installed, plain lines where it is not, so CSV and JSON output need no extra."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from . import UsageError

__all__ = ["Messages", "messages", "progress", "require_rich", "status"]


class Messages(Protocol):
    """Where the command line tells its user how things go."""

    @property
    def is_terminal(self) -> bool: ...

    def print(self, text: str) -> None: ...


class _Plain:
    @property
    def is_terminal(self) -> bool:
        return sys.stderr.isatty()

    def print(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)


class _Rich:
    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)

    @property
    def is_terminal(self) -> bool:
        return self.console.is_terminal

    def print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)


def messages() -> Messages:
    """Standard error, through rich if it is installed."""
    try:
        return _Rich()
    except ImportError:
        return _Plain()


def require_rich(what: str, instead: str = "") -> None:
    """Refuse, before anything is sent, what only the ``cli`` extra can show."""
    try:
        import rich  # noqa: F401
    except ImportError:
        raise UsageError(
            f"{what} needs the command line's extra: pip install 'linkstats[cli]'{instead}"
        ) from None


Update = Callable[..., None]


@contextlib.contextmanager
def progress(to: Messages, *, shown: bool, total: int) -> Iterator[Update]:
    """A live line of how far a fetch has got, on a terminal and with rich; ``update(advance=1,
    records=..., failed=..., waiting=...)`` moves it."""
    if not (shown and to.is_terminal and isinstance(to, _Rich)):
        yield _ignore
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("targets, {task.fields[records]:,} records, {task.fields[failed]} failed,"),
        TextColumn("{task.fields[waiting]:.1f} s rate-limited"),
        TimeElapsedColumn(),
        console=to.console,
        transient=True,
    ) as display:
        task = display.add_task("Fetching", total=total, records=0, failed=0, waiting=0.0)

        def update(**fields: Any) -> None:
            display.update(task, **fields)

        yield update


@contextlib.contextmanager
def status(to: Messages, text: str, *, shown: bool) -> Iterator[None]:
    """A spinner with ``text`` on a terminal while something without a count goes on."""
    if not (shown and to.is_terminal and isinstance(to, _Rich)):
        yield
        return
    with to.console.status(text):
        yield


def _ignore(**fields: Any) -> None:
    """No progress to move."""
