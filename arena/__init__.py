"""Arena: align and evaluate language models, with Nash-equilibrium leaderboards.

Importing this package is cheap on purpose (no torch): the CLI's `--help` stays under a second.
"""

from __future__ import annotations

import sys
import types
from typing import Any

# The one place the version is written: pyproject.toml reads it (`dynamic = ["version"]`), so the wheel's
# metadata, `arena --version` and this attribute agree, installed or run from a source tree.
__version__ = "0.1.0"

from arena.hookspecs import hookimpl  # noqa: E402 - plugins write `@arena.hookimpl`

# The Python API (docs/python.md), imported on first use (PEP 562) so that `import arena` stays cheap.
_PYTHON_API = ("train", "tournament", "leaderboard", "TrainRun", "TournamentRun", "LeaderboardRun")


def __getattr__(name: str) -> Any:
    if name not in _PYTHON_API:
        raise AttributeError(f"module 'arena' has no attribute {name!r}")
    import arena.python_api

    return getattr(arena.python_api, name)


class _ArenaPackage(types.ModuleType):
    """`arena.tournament` and `arena.leaderboard` are also the names of submodules: importing one binds it
    on this package, which would hide the function. The binding is skipped, so the attribute stays the
    function; the submodules are still imported by their full names (`from arena.leaderboard import ...`,
    importlib), which read sys.modules, not this attribute."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _PYTHON_API and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _ArenaPackage

__all__ = [
    "LeaderboardRun",
    "TournamentRun",
    "TrainRun",
    "__version__",
    "hookimpl",
    "leaderboard",
    "tournament",
    "train",
]
