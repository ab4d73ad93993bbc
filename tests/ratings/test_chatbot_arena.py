"""`arena leaderboard` on Chatbot Arena's 129-model counts: the published NLL, and imputed pairs flagged."""

from __future__ import annotations

import json
import math
from pathlib import Path

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
