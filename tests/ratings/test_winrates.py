"""Win-rate matrix and per-pair statistics against hand computations and numpy on the raw outcomes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from arena.ratings import pair_statistics, win_rate_matrix
from arena.ratings.winrates import mean_win_rate


def test_ties_count_half_and_unplayed_pairs_are_nan() -> None:
    frame = pd.DataFrame(
        {
            "model_a": ["a", "a", "b", "a", "c", "c"],
            "model_b": ["b", "b", "a", "b", "b", "c"],
            "winner": ["model_a", "tie", "model_a", "tie (bothbad)", "model_a", "model_a"],
        }
    )
    models, W, counts = win_rate_matrix(frame)
    assert models == ["a", "b", "c"]
    # a vs b: a wins 1, tie 0.5, loses 1 (b won as model_a), tie 0.5 -> 2 of 4.
    assert W[0, 1] == 0.5 and W[1, 0] == 0.5
    assert W[2, 1] == 1.0 and W[1, 2] == 0.0
    assert np.isnan(W[0, 2]) and np.isnan(W[2, 0])
    np.testing.assert_array_equal(np.diag(W), 0.5)  # c beating itself changes nothing
    assert counts[0, 1] == counts[1, 0] == 4 and counts[0, 2] == 0 and counts[2, 2] == 1


def test_soft_outcomes_are_averaged() -> None:
    models, W, counts = win_rate_matrix([("a", "b", 0.9), ("b", "a", 0.4), ("a", "b", 0.2)])
    assert W[0, 1] == pytest.approx((0.9 + 0.6 + 0.2) / 3, abs=1e-15)
    assert W[0, 1] + W[1, 0] == 1.0


def test_pair_statistics_match_numpy_on_the_raw_outcomes() -> None:
    rng = np.random.default_rng(4)
    p = np.round(rng.random(300), 2)
    p[:20] = 0.5
    frame = pd.DataFrame({"model_a": "m", "model_b": "base", "p_a": p})
    stats = pair_statistics(frame).set_index(["model", "opponent"])
    row = stats.loc[("m", "base")]
    assert row["win_rate"] == pytest.approx(p.mean(), abs=1e-15)
    assert row["standard_error"] == pytest.approx(p.std(ddof=1) / np.sqrt(len(p)), abs=1e-15)
    assert (row["n"], row["wins"], row["losses"], row["draws"]) == (
        300,
        int((p > 0.5).sum()),
        int((p < 0.5).sum()),
        int((p == 0.5).sum()),
    )
    back = stats.loc[("base", "m")]  # the same pair from the other side
    assert back["win_rate"] == pytest.approx(1 - p.mean(), abs=1e-14)
    assert (back["wins"], back["losses"]) == (row["losses"], row["wins"])


def test_one_match_has_no_standard_error() -> None:
    stats = pair_statistics([("a", "b", 1.0)])
    assert stats["standard_error"].isna().all() and list(stats["n"]) == [1, 1]


def test_counts_rows_expand_into_matches() -> None:
    frame = pd.DataFrame({"model_a": ["a"], "model_b": ["b"], "wins_a": [3], "wins_b": [1], "ties": [2]})
    models, W, counts = win_rate_matrix(frame)
    assert W[0, 1] == pytest.approx(4 / 6) and counts[0, 1] == 6
    stats = pair_statistics(frame).set_index(["model", "opponent"]).loc[("a", "b")]
    outcomes = np.array([1, 1, 1, 0, 0.5, 0.5])
    assert stats["standard_error"] == pytest.approx(outcomes.std(ddof=1) / np.sqrt(6), abs=1e-15)
    assert (stats["wins"], stats["losses"], stats["draws"]) == (3, 1, 2)


def test_mean_win_rate_leaves_out_self_and_unplayed() -> None:
    W = np.array([[0.5, 0.8, np.nan], [0.2, 0.5, 0.6], [np.nan, 0.4, 0.5]])
    np.testing.assert_allclose(mean_win_rate(W), [0.8, 0.4, 0.4])


@pytest.mark.parametrize(
    "frame, weights, elo",
    [
        # Ties only: every mix is an equilibrium, so the uniform one; everyone at 1000.
        (
            pd.DataFrame(
                {"model_a": ["a", "b", "c"] * 4, "model_b": ["b", "c", "a"] * 4, "winner": ["tie"] * 12}
            ),
            {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3},
            {"a": 1000.0, "b": 1000.0, "c": 1000.0},
        ),
        # Two models, 3 wins to 1: a pure equilibrium on the winner; Elo gap 400 log10(3).
        (
            pd.DataFrame({"model_a": ["x"] * 4, "model_b": ["y"] * 4, "p_a": [1.0, 1.0, 1.0, 0.0]}),
            {"x": 1.0, "y": 0.0},
            {"x": 1000 + 200 * np.log10(3), "y": 1000 - 200 * np.log10(3)},
        ),
    ],
    ids=["ties-only", "two-models"],
)
def test_whole_leaderboard_on_tiny_inputs(frame: pd.DataFrame, weights: dict, elo: dict) -> None:
    """The full pipeline (imputation, Nash, Elo, every rendered file) without a warning or a NaN."""
    import warnings

    from arena.leaderboard import render_all
    from arena.ratings.matches import matches_from_frame
    from arena.ratings.table import build_leaderboard

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        board = build_leaderboard(matches_from_frame(frame), "tiny", bootstrap=100, seed=0)
        files = render_all(board)
    rows = {row["model"]: row for row in board.rows}
    for model in weights:
        assert rows[model]["nash_weight"] == pytest.approx(weights[model], abs=1e-9)
        # The ridge (1e-4) moves a 4-match fit by 0.006 Elo; with 50 matches it is below 1e-3.
        assert rows[model]["elo"] == pytest.approx(elo[model], abs=0.02)
        assert all(np.isfinite(v) for v in rows[model].values() if isinstance(v, float))
    assert not board.imputed.any() and len(files) == 6 and b"NaN" not in files["leaderboard.json"]
