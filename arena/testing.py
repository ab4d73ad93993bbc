"""Helpers for testing Arena and its plugins: run the CLI in a subprocess exactly as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Nothing in a test may wait on an unreachable hub.
OFFLINE_ENV: dict[str, str] = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_arena(
    args: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> CliResult:
    """`python -m arena ARGS` in a subprocess, offline, colours off, wide enough not to wrap tables."""
    full_env = {**os.environ, **OFFLINE_ENV, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "arena", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def install_fixture_plugin(site: Path, entry_point: str, module: str, source: str) -> None:
    """Make `module` (its `source`) an installed distribution with an `arena` entry point under `site`.

    importlib.metadata finds it exactly as it finds a pip-installed package once `site` is on sys.path
    (or PYTHONPATH for a subprocess): tests of plugin discovery need no pip install.
    """
    import textwrap

    (site / f"{module}.py").write_text(textwrap.dedent(source))
    dist_info = site / f"{module}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[arena]\n{entry_point} = {module}\n")
