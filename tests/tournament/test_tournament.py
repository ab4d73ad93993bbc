"""`arena tournament` end to end on tiny models with the real hf backend, and with real vLLM."""

from __future__ import annotations

import csv
import json
import math
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from arena.testing import run_arena
from tests.tournament.conftest import write_cup_recipe


def write_recipe(
    directory: Path,
    models: list[Path],
    *,
    judge: str = "biased-shorter",
    backend: str = "hf",
    commit_every: int = 64,
) -> Path:
    return write_cup_recipe(
        directory,
        models,
        sampling="temperature: 1.0, seed: 11",
        judge=judge,
        judge_args="bias: 0.1",
        backend=backend,
        commit_every=commit_every,
    )


def stored_samples(directory: Path) -> dict[tuple[str, str, int], str]:
    with sqlite3.connect(directory / "runs" / "cup" / "tournament.sqlite") as db:
        return {
            (m, p, i): t for m, p, i, t in db.execute("SELECT model, prompt, sample_index, text FROM samples")
        }


def biased(a: str, b: str) -> float:
    return min(1.0, max(0.0, 0.6 + 0.02 * (len(b) - len(a))))


@pytest.mark.slow
def test_three_entrants_with_hf_judged_in_both_orders(
    tmp_path: Path,
    entrants: list[Path],
    arena_env: dict[str, str],
    judge_calls: Callable,
    write_prompts: Callable,
) -> None:
    write_prompts(tmp_path / "prompts.jsonl", 4)
    write_recipe(tmp_path, entrants[:3])
    result = run_arena(["tournament", "cup.yaml", "--export", "matches.csv"], cwd=tmp_path, env=arena_env)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "runs" / "cup" / "summary.json").read_text())
    assert summary["samples_generated"] == 3 * 4 * 2
    assert summary["matches"] == 3 * 4 * 2 * 2  # 3 pairs x 4 prompts x 2 x 2 sample pairings

    # Every match is the two orders averaged, computed here from the stored texts independently.
    matches = list(csv.DictReader((tmp_path / "matches.csv").open()))
    assert len(matches) == summary["matches"]
    calls = judge_calls()
    asked = {(prompt, a, b) for kind, prompt, a, b in calls}
    assert len(asked) == len(calls) == summary["judge_items"]  # nothing asked twice
    assert summary["judge_counters"] == {"verdicts": summary["judge_items"], "unreadable": 0}
    for prompt, a, b in asked:
        assert (prompt, b, a) in asked  # both orders
    board = json.loads((tmp_path / "leaderboards" / "cup" / "leaderboard.json").read_text())
    assert sorted(m["model"] for m in board["models"]) == ["e0", "e1", "e2"]
    assert math.isclose(sum(m["nash_weight"] for m in board["models"]), 1.0, abs_tol=1e-9)
    assert board["tournament"]["judge"] == {"name": "biased-shorter", "args": {"bias": 0.1, "delay": 0.0}}
    assert board["tournament"]["prompt_count"] == 4
    for name in ("e0", "e1", "e2"):
        assert board["entrants"][name]["mean_response_tokens"] > 0

    # Every match is the two orders averaged; recomputed here from the stored texts, independently.
    texts: dict[tuple[str, str], list[str]] = {}
    for (model, prompt, _index), text in sorted(stored_samples(tmp_path).items()):
        texts.setdefault((model, prompt), []).append(text)
    fingerprint = {name: board["entrants"][name]["fingerprint"] for name in ("e0", "e1", "e2")}
    groups: dict[tuple[str, str, int], list[float]] = {}
    for row in matches:
        groups.setdefault((row["model_a"], row["model_b"], int(row["prompt_id"])), []).append(
            float(row["p_a"])
        )
    assert len(groups) == 3 * 4
    for (a, b, prompt_id), values in groups.items():
        prompt = _prompt(tmp_path, prompt_id)
        expected = [
            0.5 if x == y else 0.5 * (biased(x, y) + 1 - biased(y, x))
            for x in texts[(fingerprint[a], prompt)]
            for y in texts[(fingerprint[b], prompt)]
        ]
        assert sorted(values) == pytest.approx(sorted(expected), abs=1e-12)
    for file in (
        "leaderboard.json",
        "leaderboard.md",
        "leaderboard.csv",
        "winrates.csv",
        "heatmap.png",
        "index.html",
    ):
        assert (tmp_path / "leaderboards" / "cup" / file).is_file()

    # The exported table is what `arena leaderboard` reads, and it gives the same Nash weights.
    again = run_arena(
        ["leaderboard", "matches.csv", "--out", "from-export", "--bootstrap", "50"], cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    exported = json.loads((tmp_path / "from-export" / "leaderboard.json").read_text())
    weights = {m["model"]: m["nash_weight"] for m in board["models"]}
    assert {m["model"]: m["nash_weight"] for m in exported["models"]} == pytest.approx(weights, abs=1e-9)


def _prompt(directory: Path, index: int) -> str:
    return json.loads((directory / "prompts.jsonl").read_text().splitlines()[index])["prompt"]
