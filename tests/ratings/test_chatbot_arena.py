"""`arena leaderboard` on Chatbot Arena's 129-model counts: the published NLL, and imputed pairs flagged."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from arena.testing import run_arena


@pytest.mark.slow  # about 15 s: 1.4 million battles and a 129 x 129 heatmap
def test_leaderboard_of_the_chatbot_arena_counts(tmp_path: Path, chatbot_arena_json: Path) -> None:
    result = run_arena(["leaderboard", str(chatbot_arena_json), "--out", str(tmp_path), "--bootstrap", "20"])
    assert result.returncode == 0, result.stderr
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    assert len(board["models"]) == 129 and board["n_matches"] == 1_374_996
    assert round(board["bradley_terry"]["nll_per_match"], 4) == 0.6554
    # 3,455 pairs played (both ways round in `pairs`); the other 58% of the 129 x 128 cells imputed.
    assert len(board["pairs"]) == 2 * 3455
    assert board["nash"]["imputed_cells"] == 129 * 128 - 2 * 3455
    played = {(p["model"], p["opponent"]) for p in board["pairs"]}
    strength = board["bradley_terry"]["strength"]
    for model, opponents in board["imputed"].items():
        for opponent in opponents:
            assert (model, opponent) not in played
            expected = 1 / (1 + math.exp(strength[opponent] - strength[model]))
            assert board["winrates"][model][opponent] == pytest.approx(expected, abs=1e-12)
    # Nash ratings recomputed from the published (partly imputed) matrix and weights.
    weights = {r["model"]: r["nash_weight"] for r in board["models"]}
    for row in board["models"]:
        rating = sum((board["winrates"][row["model"]][m] - 0.5) * w for m, w in weights.items() if w > 0)
        assert row["nash_rating"] == pytest.approx(rating, abs=1e-12) and row["nash_rating"] <= 0


PUBLISHED = Path(__file__).resolve().parents[2] / "leaderboards" / "chatbot-arena-20240814"


def _close(fresh: Any, committed: Any, where: str = "") -> None:
    """Equal structure and strings; numbers equal to 1e-9 (another CPU may round the last digits)."""
    if isinstance(committed, dict):
        assert isinstance(fresh, dict) and list(fresh) == list(committed), where
        for key in committed:
            _close(fresh[key], committed[key], f"{where}.{key}")
    elif isinstance(committed, list):
        assert isinstance(fresh, list) and len(fresh) == len(committed), where
        for index, (a, b) in enumerate(zip(fresh, committed, strict=True)):
            _close(a, b, f"{where}[{index}]")
    elif isinstance(committed, float) and not isinstance(fresh, bool):
        assert fresh == pytest.approx(committed, rel=1e-9, abs=1e-9), where
    else:
        assert fresh == committed, where


@pytest.mark.slow  # about 15 s: the documented command's 1000 rounds, without rendering the heatmap
def test_committed_board_is_what_its_documented_command_computes(chatbot_arena_json: Path) -> None:
    from arena.leaderboard import render_json
    from arena.ratings import read_matches
    from arena.ratings.table import build_leaderboard

    readme = (PUBLISHED / "README.md").read_text()
    assert '--name "Chatbot Arena 2024-08-14" --bootstrap 1000 --seed 0' in readme
    board = build_leaderboard(
        read_matches(chatbot_arena_json), "Chatbot Arena 2024-08-14", bootstrap=1000, seed=0
    )
    fresh = json.loads(render_json(board))
    committed = json.loads((PUBLISHED / "leaderboard.json").read_text())
    fresh["source"] = committed["source"]  # the path as the command was typed
    _close(fresh, committed)


def test_every_number_in_the_readme_is_on_the_committed_board() -> None:
    board = json.loads((PUBLISHED / "leaderboard.json").read_text())
    readme = " ".join((PUBLISHED / "README.md").read_text().split())
    rows = {row["model"]: row for row in board["models"]}
    pairs = {(p["model"], p["opponent"]): p for p in board["pairs"]}
    leader = "chatgpt-4o-latest"
    tied = board["nash_bootstrap"]["tied_for_top"]
    claims = [
        f"{['no', 'one', 'two', 'three', 'four', 'five', 'six'][len(tied)]} models are statistically tied",
        f"in its support in {rows[leader]['nash_support_share']:.1%} of the rounds",
        f"the equilibrium is mixed in {board['nash_bootstrap']['mixed_rounds']} of them",
        *(f"{model} (in the support in {rows[model]['nash_support_share']:.1%}" for model in tied[1:2]),
        *(f"{model} ({rows[model]['nash_support_share']:.1%})" for model in tied[2:]),
        f"reka-core-20240722's, [{rows['reka-core-20240722']['nash_rating_ci_low']:.4f}, 0]",
        f"only {pairs[(leader, 'reka-core-20240722')]['n']} times",
        f"claude-3-5-sonnet-20240620 ({rows['claude-3-5-sonnet-20240620']['nash_support_share']:.1%} of the rounds, "
        f"interval [{rows['claude-3-5-sonnet-20240620']['nash_rating_ci_low']:.4f}, "
        f"{rows['claude-3-5-sonnet-20240620']['nash_rating_ci_high']:.4f}])",
        f"[{rows[leader]['elo_ci_low']:.1f}, {rows[leader]['elo_ci_high']:.1f}]",
        f"[{rows['gemini-1.5-pro-exp-0801']['elo_ci_low']:.1f}, {rows['gemini-1.5-pro-exp-0801']['elo_ci_high']:.1f}]",
        f"held chatgpt-4o-latest to {pairs[('gpt-4o-2024-08-06', leader)]['win_rate']:.1%}",
    ]
    for opponent, label in (("gpt-4o-2024-08-06", "battles"), ("reka-core-20240722", "battles")):
        pair = pairs[(leader, opponent)]
        claims.append(f"{pair['win_rate']:.1%} over {pair['n']} {label}")
        claims.append(f"p = {pair['p_value']:.2f}")
    gpt = pairs[(leader, "gpt-4o-2024-08-06")]
    claims.append(f"[{gpt['win_rate_ci_low']:.1%}, {gpt['win_rate_ci_high']:.1%}]")
    for opponent, digits in (("gemini-1.5-pro-exp-0801", 3), ("gpt-4o-2024-05-13", 4)):
        pair = pairs[(leader, opponent)]
        claims.append(f"{opponent} ({pair['win_rate']:.1%}, p = {pair['p_value']:.{digits}f})")
    significant = [p for (m, _), p in pairs.items() if m == leader and p["p_value"] < 0.05]
    claims.append(f"Its other {len(significant)} head-to-heads all have p < 0.05")
    assert len(significant) == rows[leader]["opponents"] - 2
    cycle = pairs[("gpt-4o-2024-05-13", "gpt-4o-2024-08-06")]
    claims.append(f"{cycle['win_rate']:.1%} of the time, p = {cycle['p_value']:.3f}")
    claims.append(
        f"beats reka-core-20240722 {pairs[('gemini-1.5-pro-exp-0801', 'reka-core-20240722')]['win_rate']:.1%}"
    )
    assert not board["bradley_terry"]["tied_for_top"][1:], "Elo: the leader alone"
    for claim in claims:
        assert claim in readme, claim
