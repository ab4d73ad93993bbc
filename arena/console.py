"""The only module that knows about rich. Honours NO_COLOR (rich reads it) and keeps warnings one line."""

from __future__ import annotations

import os
import sys
from functools import cache
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


@cache
def stdout() -> Console:
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Piped to a file or a log: 80 columns would fold every table; a log line may be long.
        console = Console(highlight=False, soft_wrap=True, width=160)
    return console


@cache
def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    """One line on stderr. Printed without markup so a plugin's text cannot inject rich tags."""
    stderr().print(f"arena: warning: {message}", markup=False, style="yellow")


def error_line(message: str) -> None:
    """The single line a user error prints (no prefix: the message names file and key itself)."""
    print(" ".join(message.split()), file=sys.stderr)


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Table:
    result = Table(title=title, show_lines=False)
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        # Cells are data (a plugin's description, a model's name), never markup: "pip install '.[ray]'" stays.
        result.add_row(*(Text(str(cell)) for cell in row))
    return result


def progress(
    description: str, total: int, *, fields: dict[str, str] | None = None, enabled: bool = True
) -> Any:
    """A progress bar with ETA and extra text fields (e.g. loss, throughput): `with progress(...) as bar:`.

    `bar.update(task, advance=1, **fields)`; `enabled=False` (non-main processes) draws nothing.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    extra = [TextColumn(f"{name} {{task.fields[{name}]}}") for name in (fields or {})]
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeRemainingColumn(),
        console=stderr(),
        disable=not enabled,
        transient=False,
    )
    bar.add_task(description, total=total, **(fields or {}))
    return bar


def log_line(message: str) -> None:
    """A plain progress line on stderr, for logs that are not a terminal."""
    print(f"arena: {message}", file=sys.stderr, flush=True)
