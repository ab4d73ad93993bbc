"""Arena: align and evaluate language models, with Nash-equilibrium leaderboards.

Importing this package is cheap on purpose (no torch): the CLI's `--help` stays under a second.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("arena")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

from arena.hookspecs import hookimpl  # noqa: E402 - plugins write `@arena.hookimpl`

__all__ = ["__version__", "hookimpl"]
