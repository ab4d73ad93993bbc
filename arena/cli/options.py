"""Options shared by the commands that read recipes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def overrides_option(function: F) -> F:
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY.PATH=VALUE",
        help="Override a recipe key (repeatable); the value is read as YAML, e.g. --set training.steps=10.",
    )(function)
