"""The `arena` command itself: fast help, version with plugins, colours off on request."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from arena import __version__
from arena.testing import run_arena


def test_help_is_fast_and_imports_no_torch() -> None:
    code = (
        "import sys, time\n"
        "start = time.perf_counter()\n"
        "from arena.cli import cli\n"
        "try:\n"
        "    cli(['--help'], prog_name='arena')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules, time.perf_counter() - start)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert done.returncode == 0, done.stderr
    torch_imported, transformers_imported, seconds = done.stdout.splitlines()[-1].split()
    assert (torch_imported, transformers_imported) == ("False", "False")
    assert float(seconds) < 1.0
    assert "Commands:" in done.stdout and "plugins" in done.stdout and "recipes" in done.stdout


def test_whole_help_process_under_one_second() -> None:
    start = time.perf_counter()
    result = run_arena(["--help"])
    elapsed = time.perf_counter() - start
    assert result.returncode == 0
    assert elapsed < 1.0, f"arena --help took {elapsed:.2f} s"


def test_version_lists_version_and_plugins() -> None:
    result = run_arena(["--version"], env={"ARENA_PLUGINS": "games"})
    assert result.returncode == 0
    assert result.stdout.splitlines() == [f"arena {__version__}", f"plugins: games {__version__}"]


def test_no_color_is_honoured_and_color_is_used_otherwise() -> None:
    plain = run_arena(["plugins"], env={"ARENA_PLUGINS": "games"})
    assert plain.returncode == 0 and "game-oracle" in plain.stdout
    assert "\x1b[" not in plain.stdout
    forced = run_arena(["plugins"], env={"ARENA_PLUGINS": "games", "NO_COLOR": "", "FORCE_COLOR": "1"})
    assert "\x1b[" in forced.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = run_arena(["trian"])
    assert result.returncode == 2
    assert "No such command 'trian'" in result.stderr
