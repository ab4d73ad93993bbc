"""The only module that knows about rich. Honours NO_COLOR (rich reads it) and keeps warnings one line."""

from __future__ import annotations

import sys
from functools import cache
from typing import Any

from rich.console import Console
from rich.table import Table


@cache
def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


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
        result.add_row(*(str(cell) for cell in row))
    return result
