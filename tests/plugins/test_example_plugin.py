"""The example third-party package: pip-installed for real, then found by `arena plugins --json`."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from arena.testing import run_arena

pytestmark = pytest.mark.xdist_group("example-plugin")  # pip-installed once per run (pytest -n)

EXAMPLE = Path(__file__).resolve().parents[2] / "plugins" / "examples" / "arena-example-plugin"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """pip-install the example into its own target directory (the test environment stays untouched).

    From a copy: building in place writes build/ and *.egg-info into the repository, where two workers
    installing at once would write the same files.
    """
    source = tmp_path_factory.mktemp("example-source") / EXAMPLE.name
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path_factory.mktemp("example-site")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    pythonpath = os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": pythonpath}


def test_arena_plugins_lists_the_installed_example(installed_example: dict[str, str]) -> None:
    result = run_arena(["plugins", "--json"], env=installed_example)
    assert result.returncode == 0, result.stderr
    plugins = {item["name"]: item for item in json.loads(result.stdout)}
    assert plugins["example"] == {
        "name": "example",
        "version": "0.1.0",
        "algorithms": [],
        "judges": ["shorter"],
        "backends": [],
        "tasks": ["short-answers"],
        "executors": [],
        "error": None,
    }
    assert plugins["games"]["error"] is None  # built-ins still there


def test_example_judge_and_task_work_through_a_recipe(
    installed_example: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "m").mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):  # what validation looks for
        (tmp_path / "m" / name).write_text("{}")
    (tmp_path / "cup.yaml").write_text(
        "kind: tournament\nname: cup\n"
        "entrants: [{name: a, model: m}, {name: b, model: m}]\n"
        "task: {name: short-answers, args: {prompts: ['Why not?']}}\n"
        "judge: {name: shorter, args: {scale: two}}\n"
    )
    result = run_arena(["recipes", "validate", "cup.yaml"], cwd=tmp_path, env=installed_example)
    assert (result.returncode, result.stderr) == (
        2,
        "cup.yaml: judge.args.scale: expected a number, got 'two'\n",
    )

    code = (
        "from arena.plugins import make_plugin_host\n"
        "host = make_plugin_host()\n"
        "judge = host.judges.get('shorter').build(host.judges.get('shorter').config(scale=2.0))\n"
        "print(judge.compare(['q', 'q'], ['one two', 'a b c d'], ['one two three four', 'a b c d']))\n"
        "task = host.tasks.get('short-answers').build()\n"
        "print(task.prompts()[0], '|', type(task.oracle_judge()).__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **installed_example}
    )
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    p_shorter, p_equal = json.loads(first)
    assert p_shorter == pytest.approx(1 / (1 + math.exp(-1.0)), abs=1e-12)  # 2 words shorter / scale 2
    assert p_equal == 0.5
    assert second == "What is the capital of France? | ShorterJudge"
