"""`arena tournament` end to end on tiny models with the real hf backend, and with real vLLM."""

from __future__ import annotations

import csv
import json
import math
import shutil
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
    assert (
        summary["samples_generated"]
        == summary["samples_stored"]
        == len(stored_samples(tmp_path))
        == 3 * 4 * 2
    )
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
    assert board["tournament"]["judge"] == {
        "name": "biased-shorter",
        "args": {"bias": 0.1, "delay": 0.0},
        "max_unreadable": 0.05,
    }
    assert board["judge_counters"] == summary["judge_counters"]
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


@pytest.mark.slow
def test_entrants_that_play_one_model_share_its_generation_and_judgments(
    tmp_path: Path,
    entrants: list[Path],
    arena_env: dict[str, str],
    judge_calls: Callable,
    write_prompts: Callable,
) -> None:
    """e2 plays a copy of e0's directory (same files, another path), e3 plays e0's own path: two distinct
    models, each generated once per prompt and sample, and no judgment asked twice."""
    copy = Path(shutil.copytree(entrants[0], tmp_path / "m0-copy"))
    write_prompts(tmp_path / "prompts.jsonl", 3)
    write_recipe(tmp_path, [entrants[0], entrants[1], copy, entrants[0]])
    result = run_arena(["tournament", "cup.yaml", "--export", "matches.csv"], cwd=tmp_path, env=arena_env)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "runs" / "cup" / "summary.json").read_text())
    board = json.loads((tmp_path / "leaderboards" / "cup" / "leaderboard.json").read_text())
    fingerprint = {name: board["entrants"][name]["fingerprint"] for name in ("e0", "e1", "e2", "e3")}
    assert fingerprint["e0"] == fingerprint["e2"] == fingerprint["e3"] != fingerprint["e1"]

    stored = stored_samples(tmp_path)
    assert {model for model, _, _ in stored} == {fingerprint["e0"], fingerprint["e1"]}
    assert summary["samples_generated"] == summary["samples_stored"] == len(stored) == 2 * 3 * 2
    assert (
        "arena: generating e0, e1: 6 to do" in result.stderr
    )  # 2 models x 3 prompts, e0 named for its model
    assert summary["matches"] == 6 * 3 * 2 * 2  # every entrant still plays every other

    # Judgments are keyed by text: e2's and e3's pairs with e1 are e0's, asked once. The only items
    # beyond e0 vs e1 are those of e0's model against itself (two different samples of one prompt).
    texts: dict[tuple[str, str], list[str]] = {}
    for (model, prompt, _index), text in sorted(stored.items()):
        texts.setdefault((model, prompt), []).append(text)
    expected: set[tuple[str, str, str]] = set()
    for first, second in (("e0", "e1"), ("e0", "e2")):
        for prompt_id in range(3):
            prompt = _prompt(tmp_path, prompt_id)
            for x in texts[(fingerprint[first], prompt)]:
                for y in texts[(fingerprint[second], prompt)]:
                    if x != y:
                        expected |= {(prompt, x, y), (prompt, y, x)}
    calls = [tuple(call[1:]) for call in judge_calls()]
    assert len(calls) == len(set(calls)) == summary["judge_items"] == len(expected)
    assert set(calls) == expected

    # A clone's matches are its original's: e2 and e3 against e1 give exactly what e0 against e1 gave,
    # and against each other or e0 they are even on every prompt (the same samples on both sides).
    matches = list(csv.DictReader((tmp_path / "matches.csv").open()))

    def outcomes(a: str, b: str) -> list[tuple[int, float]]:
        pair = [row for row in matches if (row["model_a"], row["model_b"]) == (a, b)]
        return sorted((int(row["prompt_id"]), float(row["p_a"])) for row in pair)

    original = outcomes("e0", "e1")
    assert len(original) == 3 * 2 * 2
    for clone in ("e2", "e3"):
        mirrored = sorted((prompt_id, 1 - p) for prompt_id, p in outcomes("e1", clone))
        assert [i for i, _ in mirrored] == [i for i, _ in original]
        assert [p for _, p in mirrored] == pytest.approx([p for _, p in original], abs=1e-12)
    for a, b in (("e0", "e2"), ("e0", "e3"), ("e2", "e3")):
        for prompt_id in range(3):
            values = [p for i, p in outcomes(a, b) if i == prompt_id]
            assert len(values) == 4 and sum(values) / 4 == pytest.approx(0.5, abs=1e-12)
