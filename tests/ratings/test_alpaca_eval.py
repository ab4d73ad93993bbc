"""AlpacaEval's published leaderboard rows, reproduced by `arena leaderboard` from the judges' verdicts.

../shared/data/README.md: win_rate = mean(p) x 100, standard_error = SEM of p (ddof 1) x 100,
n_wins = #(p > 1/2), n_wins_base = #(p < 1/2), n_draws = #(p = 1/2), n_total = verdicts kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from arena.testing import run_arena

CASES = [
    # (verdicts, published rows, unreadable verdicts dropped)
    ("compact_alpaca_eval_gpt4.csv", "expected_alpaca_eval_gpt4_leaderboard_rows.csv", 61),
    (
        "compact_weighted_alpaca_eval_gpt4_turbo.csv",
        "expected_weighted_alpaca_eval_gpt4_turbo_leaderboard_rows.csv",
        0,
    ),
]


@pytest.mark.slow  # about 10 s each: 50k verdicts, and a 58 x 58 heatmap
@pytest.mark.parametrize("verdicts, rows, dropped", CASES, ids=["alpaca_eval_1", "alpaca_eval_2_weighted"])
def test_reproduces_every_published_row(
    tmp_path: Path,
    shared_data: Path,
    alpaca_eval_matches: Callable[[str], tuple[pd.DataFrame, str, int]],
    verdicts: str,
    rows: str,
    dropped: int,
) -> None:
    matches, baseline, unreadable = alpaca_eval_matches(verdicts)
    assert unreadable == dropped
    matches.to_csv(tmp_path / "matches.csv", index=False)
    result = run_arena(
        ["leaderboard", str(tmp_path / "matches.csv"), "--out", str(tmp_path / "board"), "--bootstrap", "100"]
    )
    assert result.returncode == 0, result.stderr
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    pairs = {(p["model"], p["opponent"]): p for p in board["pairs"]}
    published = pd.read_csv(shared_data / "alpaca_eval" / rows, index_col=0)
    assert len(published) in (52, 57)
    for model, row in published.iterrows():
        pair = pairs[(str(model), baseline)]
        assert 100 * pair["win_rate"] == pytest.approx(row["win_rate"], abs=1e-9), model
        assert 100 * pair["standard_error"] == pytest.approx(row["standard_error"], abs=1e-9), model
        counts = (pair["wins"], pair["losses"], pair["draws"], pair["n"])
        assert counts == (row["n_wins"], row["n_wins_base"], row["n_draws"], row["n_total"]), model
    assert sum(pairs[(m, baseline)]["n"] for m in {m for m, _ in pairs if m != baseline}) + pairs.get(
        (baseline, baseline), {"n": 0}
    )["n"] == len(matches)
    # A star: every model met only the baseline, so every other pair is imputed (and flagged).
    models = [m["model"] for m in board["models"]]
    assert board["nash"]["imputed_cells"] == (len(models) - 1) * (len(models) - 2)
    assert board["bradley_terry"]["resampled_by"] == "prompt"
