"""Arena: align and evaluate language models, with Nash-equilibrium leaderboards.

Importing this package is cheap on purpose (no torch): the CLI's `--help` stays under a second.
"""

from __future__ import annotations

# The one place the version is written: pyproject.toml reads it (`dynamic = ["version"]`), so the wheel's
# metadata, `arena --version` and this attribute agree, installed or run from a source tree.
__version__ = "0.1.0"

from arena.hookspecs import hookimpl  # noqa: E402 - plugins write `@arena.hookimpl`

__all__ = ["__version__", "hookimpl"]
