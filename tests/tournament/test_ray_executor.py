"""`executor: ray`: the same leaderboard as the local executor (hf and vLLM), only the new entrant's work
when one is added, and one line when Ray is missing. A local `arena tournament` never imports Ray."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from arena.errors import RecipeError
from arena.plugins import make_plugin_host
from arena.recipes import load_recipe
from arena.testing import OFFLINE_ENV, run_arena
from arena.tournament.run import run_tournament

REPO = Path(__file__).resolve().parents[2]

# One worker under `pytest -n 2` (--dist loadgroup): the tests share the module's Ray session.
pytestmark = pytest.mark.xdist_group("ray-executor")

RECIPE = """\
kind: tournament
name: cup
entrants:
{entrants}
prompts: prompts.jsonl
samples_per_prompt: 2
generation: {{max_new_tokens: 6, seed: 7}}
backend: {backend}
judge: {judge}
ratings: {{bootstrap: 30}}
commit_every: 2
executor: {executor}
"""
RAY = "{name: ray, args: {generation_workers: 2, judge_workers: 2}}"
RAY_ONE_ACTOR_EACH = "{name: ray, args: {generation_workers: 1, judge_workers: 1}}"


def write_recipe(
    directory: Path,
    models: list[Path],
    backend: str = "hf",
    executor: str = "local",
    judge: str = "biased-shorter",
) -> Path:
    lines = "\n".join(f"  - {{name: e{i}, model: {model}}}" for i, model in enumerate(models))
    path = directory / "cup.yaml"
    path.write_text(RECIPE.format(entrants=lines, backend=backend, executor=executor, judge=judge))
    return path


@pytest.fixture(scope="module")
def ray_session(judge_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One local Ray for the module (it takes seconds to start); its workers find the test judges and
    log every item they judge to the file this yields."""
    import ray

    log = tmp_path_factory.mktemp("ray-judges") / "judge-calls.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        # The raylet and so every worker inherit this environment; the driver (this process) gets the
        # judges' site on sys.path.
        pythonpath = os.pathsep.join(filter(None, [str(judge_site), os.environ.get("PYTHONPATH")]))
        patch.setenv("PYTHONPATH", pythonpath)
        patch.setenv("ARENA_TEST_JUDGE_LOG", str(log))
        patch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        patch.setenv("OMP_NUM_THREADS", "1")
        patch.syspath_prepend(str(judge_site))
        # 6 CPUs on this 2-core machine: vLLM actors with fewer deadlocked here.
        ray.init(
            num_cpus=6,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
        try:
            yield log
        finally:
            ray.shutdown()


def play(directory: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The tournament in this process (so it shares the module's Ray), as `arena tournament` runs it."""
    monkeypatch.chdir(directory)
    host = make_plugin_host()
    recipe = load_recipe("cup.yaml", registries=host.registries, expect="tournament")
    run_tournament(recipe, "cup.yaml", host, export="matches.csv")
    return json.loads((directory / "runs" / "cup" / "summary.json").read_text())


def play_local_cli(directory: Path) -> dict[str, Any]:
    """`arena tournament cup.yaml --export matches.csv` in a fresh process, which must not import Ray."""
    script = (  # the command, then the Ray modules it imported, printed at exit
        "import atexit, sys\n"
        "atexit.register(lambda: print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray')))\n"
        "sys.argv = ['arena', 'tournament', 'cup.yaml', '--export', 'matches.csv']\n"
        "from arena.cli import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=directory,
        env={**os.environ, **OFFLINE_ENV},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"  # the local executor imports no Ray
    return json.loads((directory / "runs" / "cup" / "summary.json").read_text())


def published(directory: Path) -> tuple[Any, Any, str]:
    board = json.loads((directory / "leaderboards" / "cup" / "leaderboard.json").read_text())
    return board["models"], board["winrates"], (directory / "matches.csv").read_text()


def judge_calls(log: Path) -> list[list[str]]:
    """Every item the test judges were asked about, here or in an actor, as [kind, prompt, a, b]."""
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def stored_samples(directory: Path) -> set[tuple[Any, ...]]:
    with sqlite3.connect(directory / "runs" / "cup" / "tournament.sqlite") as db:
        return set(db.execute("SELECT * FROM samples"))


@pytest.mark.slow
def test_hf_on_ray_equals_local_which_imports_no_ray_and_grows_by_the_new_entrant_only(
    ray_session: Path,
    tmp_path: Path,
    entrants: list[Path],
    write_prompts: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    for directory, executor in ((local, "local"), (on_ray, RAY)):
        directory.mkdir()
        write_prompts(directory / "prompts.jsonl", 4)
        write_recipe(directory, entrants[:3], executor=executor)
    first = play_local_cli(local)
    calls_before = len(judge_calls(ray_session))
    summary = play(on_ray, monkeypatch)
    assert (summary["executor"], summary["samples_generated"]) == ("ray", 3 * 4 * 2)
    assert summary["judge_items"] == first["judge_items"] == len(judge_calls(ray_session)) - calls_before
    assert summary["judge_counters"] == {"verdicts": first["judge_items"], "unreadable": 0}
    assert stored_samples(on_ray) == stored_samples(local)
    assert published(on_ray) == published(local)  # ratings, weights, win rates and every match

    # Grown by e3 and by e4, a copy of e0's directory: the copy is generated by neither executor (its
    # model is e0's), and the only judgments not involving e3 are e0's samples against each other.
    copy = Path(shutil.copytree(entrants[0], tmp_path / "e0-copy"))
    for directory, executor in ((local, "local"), (on_ray, RAY)):
        write_recipe(directory, [*entrants[:4], copy], executor=executor)
    grown_local = play(local, monkeypatch)
    calls_before = len(judge_calls(ray_session))
    grown = play(on_ray, monkeypatch)
    assert grown["samples_generated"] == grown_local["samples_generated"] == 4 * 2  # e3's only
    assert grown["samples_stored"] == grown_local["samples_stored"] == 4 * 2
    assert len(stored_samples(on_ray)) == len(stored_samples(local)) == 4 * 4 * 2
    assert (
        grown["judge_items"] == grown_local["judge_items"] == len(judge_calls(ray_session)) - calls_before > 0
    )
    fingerprints = entrant_fingerprints(on_ray)
    assert fingerprints["e4"] == fingerprints["e0"]
    texts = {(s[0], s[2], s[4]) for s in stored_samples(on_ray)}
    newcomer = {(prompt, text) for model, prompt, text in texts if model == fingerprints["e3"]}
    original = {(prompt, text) for model, prompt, text in texts if model == fingerprints["e0"]}
    for _, prompt, a, b in judge_calls(ray_session)[calls_before:]:
        involves_e3 = (prompt, a) in newcomer or (prompt, b) in newcomer
        assert involves_e3 or ((prompt, a) in original and (prompt, b) in original)
    assert published(on_ray) == published(local)


def entrant_fingerprints(directory: Path) -> dict[str, str]:
    board = json.loads((directory / "leaderboards" / "cup" / "leaderboard.json").read_text())
    return {name: entrant["fingerprint"] for name, entrant in board["entrants"].items()}


@pytest.mark.slow
def test_an_unreadable_judge_on_ray_stops_the_run_as_the_local_one_does(
    ray_session: Path,
    tmp_path: Path,
    entrants: list[Path],
    write_prompts: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The LLM judge on the committed tiny model, untrained, reads none of its verdicts: the counts its
    actor reports per call stop the run before anything is published, and stay in the store."""
    llm = f"{{name: llm, args: {{model: {REPO / 'recipes' / 'games' / 'model'}}}}}"
    write_prompts(tmp_path / "prompts.jsonl", 2)
    write_recipe(tmp_path, entrants[:2], executor=RAY_ONE_ACTOR_EACH, judge=llm)
    with pytest.raises(RecipeError) as stopped:
        play(tmp_path, monkeypatch)
    with sqlite3.connect(tmp_path / "runs" / "cup" / "tournament.sqlite") as db:
        judgments = db.execute("SELECT COUNT(*) FROM judgments").fetchone()[0]
        calls = [json.loads(c) for (c,) in db.execute("SELECT counters FROM judge_calls")]
    # commit_every is 2: each judge call holds both orders of one pair, two verdicts, one per judgment.
    assert judgments > 0
    assert sum(c["verdicts"] for c in calls) == sum(c["unreadable"] for c in calls) == judgments
    assert str(stopped.value) == (
        f"cup.yaml: judge.max_unreadable: judge 'llm' could not read {judgments} of {judgments} verdicts "
        "(100.0%), above the 0.05 allowed; nothing was published (its judgments are kept in "
        "runs/cup/tournament.sqlite): fix the judge, or raise judge.max_unreadable to publish them"
    )
    assert not (tmp_path / "leaderboards").exists()
    assert not (tmp_path / "runs" / "cup" / "summary.json").exists()


@pytest.mark.slow
def test_vllm_on_ray_equals_local(
    ray_session: Path,
    tmp_path: Path,
    entrants: list[Path],
    write_prompts: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One generation actor: on two cores a second vLLM import and engine cost more than they save.
    vllm = "{name: vllm, args: {threads: 1}}"
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    for directory, executor in ((local, "local"), (on_ray, RAY_ONE_ACTOR_EACH)):
        directory.mkdir()
        write_prompts(directory / "prompts.jsonl", 4)
        write_recipe(directory, entrants[:2], backend=vllm, executor=executor)
    first = play(local, monkeypatch)
    summary = play(on_ray, monkeypatch)
    assert (summary["backend"], summary["samples_generated"]) == ("vllm", 2 * 4 * 2)
    assert summary["judge_items"] == first["judge_items"]
    assert stored_samples(on_ray) == stored_samples(local)
    assert published(on_ray) == published(local)


def test_ray_missing_gives_one_line(
    tmp_path: Path, entrants: list[Path], arena_env: dict[str, str], write_prompts: Callable
) -> None:
    # A `ray` that fails to import, first on the path: what a machine without the extra gives.
    shadow = tmp_path / "no-ray" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'ray'\", name='ray')\n")
    write_prompts(tmp_path / "prompts.jsonl", 2)
    write_recipe(tmp_path, entrants[:2], executor="ray")
    pythonpath = os.pathsep.join([str(shadow.parent), arena_env["PYTHONPATH"]])
    result = run_arena(["tournament", "cup.yaml"], cwd=tmp_path, env={**arena_env, "PYTHONPATH": pythonpath})
    expected = "executor 'ray' needs Ray: pip install -e '.[ray]' (No module named 'ray')\n"
    assert (result.returncode, result.stderr) == (2, expected)
    assert not (tmp_path / "runs").exists()


def test_unknown_executor_is_a_recipe_error(
    tmp_path: Path, entrants: list[Path], write_prompts: Callable, arena_env: dict[str, str]
) -> None:
    write_prompts(tmp_path / "prompts.jsonl", 2)
    write_recipe(tmp_path, entrants[:2], executor="rya")
    host = make_plugin_host()
    assert [(e.name, e.plugin) for e in host.executors] == [("local", "backends"), ("ray", "backends")]
    result = run_arena(["tournament", "cup.yaml"], cwd=tmp_path, env=arena_env)
    assert result.returncode == 2
    assert result.stderr == (
        "cup.yaml: executor.name: unknown executor 'rya' (did you mean 'ray'?); expected one of: local, ray\n"
    )
    assert not (tmp_path / "runs").exists()
