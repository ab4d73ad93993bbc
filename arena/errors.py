"""Errors a user can fix. The CLI prints their message as one line and exits with code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class ArenaError(Exception):
    """A problem with the user's input (a recipe, a file, a name): one line, exit code 2."""

    exit_code = 2


class RecipeError(ArenaError):
    """A recipe that cannot be used; the message reads `FILE: key.path: what was expected`."""

    def __init__(self, file: str, key: str, expected: str) -> None:
        self.file, self.key, self.expected = file, key, expected
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {expected}")


class RecipeKeyError(ArenaError):
    """A problem with one key of the recipe being run, raised where the problem is found (a plugin, the
    data loader) without knowing the recipe's file: `recipe_errors(file)` at the command's boundary names it."""

    def __init__(self, key: str, expected: str) -> None:
        self.key, self.expected = key, expected
        super().__init__(f"{key}: {expected}" if key else expected)


@contextmanager
def recipe_errors(file: str) -> Iterator[None]:
    """The one boundary that knows the recipe's file: a RecipeKeyError inside becomes `FILE: key: expected`."""
    try:
        yield
    except RecipeKeyError as exc:
        raise RecipeError(file, exc.key, exc.expected) from None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a close match exists, else ''."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
