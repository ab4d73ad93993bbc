"""CI: `pip install` of the built wheel in a fresh venv runs `arena quickstart --reduced` from an empty
directory, as a user who installs Arena by name would.

    python .ci/wheel_check.py dist/nash_arena-VERSION-py3-none-any.whl --torch 2.13.0 [--torch-index URL]

The venv is new and resolves the wheel's dependencies itself (from pip's index, or its cache after
`make install`), torch pinned first as `make install` pins it, so that nothing pulls a CUDA build of
several GB. Nothing of the checkout is on the path: the command runs in an empty temporary directory and
must find its recipes, plugins and page assets inside the installed package. Prints the seconds each
step took; exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

import yaml

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "NO_COLOR": "1"}


def step(
    name: str, command: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> str:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(
            f"wheel-check: {name} failed (exit {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    print(f"wheel-check: {name} in {seconds:.0f} s", flush=True)
    return done.stdout


def wheel_version(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode().splitlines()
    return next(line.split(": ", 1)[1] for line in lines if line.startswith("Version: "))


def check_run(work: Path, venv: Path, version: str, reported: str, located: str) -> None:
    """The command was the installed one, and the board it published ranks every entrant of the
    tournament it ran, each with matches played."""
    if reported.splitlines()[0] != f"arena {version}":
        sys.exit(
            f"wheel-check: `arena --version` printed {reported.splitlines()[0]!r}, the wheel is {version}"
        )
    if not located.startswith(str(venv)):
        sys.exit(f"wheel-check: arena was imported from {located}, not from the fresh venv {venv}")
    recipe = yaml.safe_load((work / "runs" / "quickstart" / "tournament" / "recipe.yaml").read_text())
    board = json.loads((work / "leaderboards" / "quickstart" / "leaderboard.json").read_text())
    entrants = sorted(entrant["name"] for entrant in recipe["entrants"])
    ranked = sorted(row["model"] for row in board["models"])
    if ranked != entrants or not all(row["matches"] > 0 for row in board["models"]):
        sys.exit(f"wheel-check: the published board ranks {ranked}, the tournament entered {entrants}")
    print(f"wheel-check: the installed quickstart published {len(ranked)} entrants", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path)
    parser.add_argument("--torch", required=True, help="the torch version to pin (make install's)")
    parser.add_argument(
        "--torch-index", default="", help="where that torch build comes from (make install's)"
    )
    args = parser.parse_args()
    wheel = args.wheel.resolve()
    version = wheel_version(wheel)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="arena-wheel-") as temp:
        venv, work = Path(temp) / "venv", Path(temp) / "work"
        work.mkdir()
        python = str(venv / "bin" / "python")
        step("fresh venv", [sys.executable, "-m", "venv", str(venv)])
        pip, torch = [python, "-m", "pip", "install", "--quiet"], f"torch=={args.torch}"
        step(torch, [*pip, torch, *(["--index-url", args.torch_index] if args.torch_index else [])])
        step(f"pip install {wheel.name}", [*pip, str(wheel), torch])
        # Only the machine's environment: no PYTHONPATH or virtualenv of the checkout leaks in.
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
        env.update(OFFLINE)
        arena = str(venv / "bin" / "arena")
        reported = step("arena --version", [arena, "--version"], cwd=work, env=env)
        located = step(
            "import arena", [python, "-c", "import arena; print(arena.__file__)"], cwd=work, env=env
        )
        step(
            "arena quickstart --reduced",
            [arena, "quickstart", "--reduced", "--backend", "hf"],
            cwd=work,
            env=env,
        )
        check_run(work, venv, version, reported, located.strip())
    print(f"wheel-check: done in {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
