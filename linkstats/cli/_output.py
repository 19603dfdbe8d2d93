"""Where and how the command line writes its results."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..reports import CsvWriter, JsonLinesWriter, JsonWriter

if TYPE_CHECKING:
    from rich.table import Table
from . import UsageError
from ._terminal import require_rich


def check_output(path: str | None, output_format: str) -> None:
    """Refuse, before anything is fetched, an output path that could not be written, or a
    table without the extra that draws it."""
    if output_format == "table":
        require_rich("the table format", " (or use --format csv, json or jsonl)")
    if path is None or path == "-":
        return
    # A symlink is written through, as a shell redirection writes through it.
    real = os.path.realpath(path)
    folder = os.path.dirname(real)
    if os.path.isdir(real):
        raise UsageError(f"--output {path}: is a directory")
    if not os.path.isdir(folder):
        raise UsageError(f"--output {path}: no such directory: {folder}")
    if not os.access(folder, os.W_OK | os.X_OK) or (
        os.path.exists(real) and not os.access(real, os.W_OK)
    ):
        raise UsageError(f"--output {path}: permission denied")


@contextlib.contextmanager
def destination(path: str | None) -> Iterator[IO[str]]:
    """Standard output, or a file that appears whole or not at all.

    A file is written under a temporary name beside it and renamed into place only once
    everything is written; an error or Ctrl-C leaves nothing behind. As with a shell
    redirection, a new file's mode follows the umask, an existing file keeps its mode, and a
    symlink is written through.
    """
    if path is None or path == "-":
        yield sys.stdout
        return
    target = Path(os.path.realpath(path))
    descriptor, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".partial"
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
            yield file
        os.chmod(temporary, _mode_for(target))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _mode_for(target: Path) -> int:
    """The mode a shell redirection would leave: the file's own, or 0666 less the umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_rows(
    file: IO[str],
    output_format: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    title: str,
) -> None:
    """Rows in the chosen format: a table with ``title``, or CSV or JSON (lines)."""
    if output_format == "table":
        print_table(file, rows, columns, title=title)
        return
    with stream_writer(file, output_format, columns) as writer:
        writer.write_all(rows)


def stream_writer(
    file: IO[str], output_format: str, columns: Sequence[str]
) -> CsvWriter | JsonWriter | JsonLinesWriter:
    """A writer for the formats that stream row by row."""
    if output_format == "csv":
        return CsvWriter(file, columns)
    if output_format == "json":
        return JsonWriter(file)
    return JsonLinesWriter(file)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str) -> Table:
    """Rows as a rich table; numbers right-aligned, URLs folded rather than cut."""
    from rich.table import Table

    view = Table(title=title)
    for column in columns:
        numeric = column in ("clicks", "records", "url_location")
        view.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        view.add_row(*(_cell(column, row.get(column)) for column in columns))
    return view


def _cell(column: str, value: Any) -> str:
    if column == "url":
        # The provider's text, as CSV and JSON spell it.
        return str(value) if value else "(no URL reported)"
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(
    file: IO[str], rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str
) -> None:
    """Render a table to a terminal in colour, or to a file or pipe as plain text."""
    from rich.console import Console

    console = Console(file=file)
    if not console.is_terminal:
        # A file or a pipe has no width: give the table all it needs, so no cell folds.
        console = Console(file=file, width=100_000, color_system=None)
    console.print(table(rows, columns, title))
