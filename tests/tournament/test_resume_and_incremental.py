"""Kill a tournament with SIGKILL while it generates and while it judges; rerun; nothing lost or redone.
Add an entrant: only its samples are generated and only its pairs judged. Pointwise judges score once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from arena.testing import OFFLINE_ENV, run_arena
from tests.tournament.conftest import write_cup_recipe

pytestmark = pytest.mark.slow


def write_recipe(
    directory: Path,
    models: list[Path],
    judge: str = "biased-shorter",
    delay: float = 0.0,
    commit_every: int = 64,
) -> None:
    write_cup_recipe(
        directory,
        models,
        sampling="seed: 5",
        judge=judge,
        judge_args=f"delay: {delay}",
        commit_every=commit_every,
    )


def count(directory: Path, table: str) -> int:
    path = directory / "runs" / "cup" / "tournament.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=1) as db:
            return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def kill_when(directory: Path, env: dict[str, str], table: str, low: int, high: int) -> int:
    """Start the tournament, SIGKILL it once `table` holds more than `low` and fewer than `high` rows."""
    process = subprocess.Popen(
        [sys.executable, "-m", "arena", "tournament", "cup.yaml"],
        cwd=directory,
        env={**os.environ, **OFFLINE_ENV, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        rows = count(directory, table)
        if low < rows < high:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the tournament ended before it could be killed"
    return count(directory, table)


def board(directory: Path) -> dict:
    return json.loads((directory / "leaderboards" / "cup" / "leaderboard.json").read_text())


def test_killed_during_generation_and_judging_resumes_to_the_same_leaderboard(
    tmp_path: Path,
    entrants: list[Path],
    arena_env: dict[str, str],
    judge_calls: Callable,
    write_prompts: Callable,
) -> None:
    whole = tmp_path / "whole"
    whole.mkdir()
    write_prompts(whole / "prompts.jsonl", 8)
    write_recipe(whole, entrants[:3], delay=0.02, commit_every=2)
    assert run_arena(["tournament", "cup.yaml"], cwd=whole, env=arena_env).returncode == 0

    killed = tmp_path / "killed"
    killed.mkdir()
    write_prompts(killed / "prompts.jsonl", 8)
    write_recipe(killed, entrants[:3], delay=0.02, commit_every=2)
    total_samples = 3 * 8 * 2
    kept = kill_when(killed, arena_env, "samples", 0, total_samples)
    assert 0 < kept < total_samples
    assert not (killed / "leaderboards").exists()  # nothing published by a killed run

    total_items = json.loads((whole / "runs" / "cup" / "summary.json").read_text())["judge_items"]
    before = len(judge_calls())
    stored = kill_when(killed, arena_env, "judgments", 0, total_items)
    assert 0 < stored < total_items
    stored_items = _stored_judgments(killed)
    asked_before_second_kill = judge_calls()[before:]

    resumed = run_arena(["tournament", "cup.yaml"], cwd=killed, env=arena_env)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((killed / "runs" / "cup" / "summary.json").read_text())
    assert summary["samples_generated"] == 0
    assert summary["judge_items"] == total_items - stored
    asked_on_resume = {tuple(call[1:]) for call in judge_calls()[before + len(asked_before_second_kill) :]}
    assert not asked_on_resume & stored_items  # nothing stored is judged again
    assert board(killed)["models"] == board(whole)["models"]
    assert board(killed)["winrates"] == board(whole)["winrates"]


def _stored_judgments(directory: Path) -> set[tuple[str, str, str]]:
    with sqlite3.connect(directory / "runs" / "cup" / "tournament.sqlite") as db:
        return set(db.execute("SELECT prompt, response_a, response_b FROM judgments"))


def test_adding_an_entrant_generates_and_judges_only_what_is_new(
    tmp_path: Path,
    entrants: list[Path],
    arena_env: dict[str, str],
    judge_calls: Callable,
    write_prompts: Callable,
) -> None:
    write_prompts(tmp_path / "prompts.jsonl", 3)
    write_recipe(tmp_path, entrants[:3])
    assert run_arena(["tournament", "cup.yaml"], cwd=tmp_path, env=arena_env).returncode == 0
    first_calls = len(judge_calls())

    write_recipe(tmp_path, entrants[:4])
    result = run_arena(["tournament", "cup.yaml"], cwd=tmp_path, env=arena_env)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "runs" / "cup" / "summary.json").read_text())
    assert summary["samples_generated"] == 3 * 2  # the new entrant's only
    new_calls = judge_calls()[first_calls:]
    with sqlite3.connect(tmp_path / "runs" / "cup" / "tournament.sqlite") as db:
        newcomer = {
            (prompt, text)
            for prompt, text, model in db.execute("SELECT prompt, text, model FROM samples")
            if model == board(tmp_path)["entrants"]["e3"]["fingerprint"]
        }
    assert new_calls, "the new pairs were not judged"
    for _, prompt, a, b in new_calls:
        assert (prompt, a) in newcomer or (prompt, b) in newcomer  # every new call involves the newcomer
    assert len(new_calls) == summary["judge_items"]

    write_recipe(tmp_path, entrants[:2])  # removing entrants keeps the cache
    result = run_arena(["tournament", "cup.yaml"], cwd=tmp_path, env=arena_env)
    summary = json.loads((tmp_path / "runs" / "cup" / "summary.json").read_text())
    assert (result.returncode, summary["samples_generated"], summary["judge_items"]) == (0, 0, 0)
    assert sorted(m["model"] for m in board(tmp_path)["models"]) == ["e0", "e1"]


def test_pointwise_judge_scores_each_response_once(
    tmp_path: Path,
    entrants: list[Path],
    arena_env: dict[str, str],
    judge_calls: Callable,
    write_prompts: Callable,
) -> None:
    write_prompts(tmp_path / "prompts.jsonl", 3)
    write_recipe(tmp_path, entrants[:4], judge="shorter-score")
    assert run_arena(["tournament", "cup.yaml"], cwd=tmp_path, env=arena_env).returncode == 0
    calls = judge_calls()
    assert {call[0] for call in calls} == {"score"}
    with sqlite3.connect(tmp_path / "runs" / "cup" / "tournament.sqlite") as db:
        distinct = set(db.execute("SELECT prompt, text FROM samples"))
    # M x P x n = 4 x 3 x 2 responses, each scored once (identical texts once between them).
    assert len(calls) == len(distinct) <= 4 * 3 * 2
    assert len({(c[1], c[2]) for c in calls}) == len(calls)
