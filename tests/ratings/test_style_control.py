"""Length and style control of a whole board: the GLM against an independent fit, the anti-gaming check
(an entrant with one constant long answer must not rise under control), and no effect where there is none."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.sparse import csr_matrix

from arena.ratings.bradley_terry import bradley_terry
from arena.ratings.glm import fit_logistic
from arena.ratings.matches import matches_from_frame
from arena.ratings.style_control import control_from_frame, style_control
from arena.ratings.style_features import match_features, normalised_differences, text_features
from arena.ratings.table import build_leaderboard
from arena.ratings.winrates import win_rate_matrix
from arena.testing import run_arena

HONEST = {"honest_best": 0.8, "steady": 0.4, "plain": 0.0}
GAMER = "verbose_gamer"
GAMER_SKILL = 0.0
LENGTH_BIAS = 2.5  # the judge's log-odds for a much longer answer


def _judge_taste(words_a: int, words_b: int, style: bool) -> float:
    """The judge's bias in log-odds, in the form each control assumes: AlpacaEval's bounded length term,
    or lmarena's normalised difference. (A bias of another shape is only partly removed: docs/ratings.md.)"""
    if style:
        return 1.5 * LENGTH_BIAS * (words_a - words_b) / (words_a + words_b)
    return LENGTH_BIAS * np.tanh((words_a - words_b) / 300)


def independent_fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, ridge: float) -> np.ndarray:
    """The same penalised likelihood, minimised by scipy's trust-region method on the dense design."""

    def objective(x: np.ndarray) -> float:
        eta = X @ x
        return float(np.sum(w * (np.logaddexp(0, eta) - y * eta)) + ridge / 2 * x @ x)

    def gradient(x: np.ndarray) -> np.ndarray:
        return X.T @ (w * (1 / (1 + np.exp(-(X @ x))) - y)) + ridge * x

    def hessian(x: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-(X @ x)))
        return (X * (w * p * (1 - p))[:, None]).T @ X + ridge * np.eye(X.shape[1])

    result = minimize(objective, np.zeros(X.shape[1]), jac=gradient, hess=hessian, method="trust-exact",
                      options={"gtol": 1e-12})  # fmt: skip
    return result.x


def test_glm_matches_an_independent_fit_for_every_round() -> None:
    rng = np.random.default_rng(3)
    n, models = 400, 5
    a = rng.integers(models, size=n)
    b = (a + rng.integers(1, models, size=n)) % models
    S = np.zeros((n, models))
    S[np.arange(n), a], S[np.arange(n), b] = 1.0, -1.0
    F = rng.normal(size=(n, 2))
    y = np.clip(rng.random(n) + 0.2 * F[:, 0], 0, 1)  # soft outcomes, a judge's probabilities
    weights = np.vstack([np.ones(n), rng.poisson(1.0, size=n), rng.poisson(1.0, size=n)]).astype(float)
    fitted = fit_logistic(csr_matrix(S), F, y, weights, ridge=1e-3)
    for round_weights, coefficients in zip(weights, fitted, strict=True):
        expected = independent_fit(np.hstack([S, F]), y, round_weights, 1e-3)
        np.testing.assert_allclose(coefficients, expected, atol=1e-6)


def test_text_features_count_what_a_reader_sees() -> None:
    text = (
        "# Title\n\nSome **bold** words and __more__.\n\n## Steps\n1. first\n2) second\n- item\n* star\n"
        "```python\n# a comment, not a header\n- not a list\n```\nEnd."
    )
    assert text_features(text) == (len(text.split()), 2.0, 4.0, 2.0)


def gamed_field(seed: int = 0, prompts: int = 150, style: bool = False) -> pd.DataFrame:
    """A round robin where one entrant always gives the same long answer and the judge likes length."""
    rng = np.random.default_rng(seed)
    skill = {**HONEST, GAMER: GAMER_SKILL}
    names = sorted(skill)
    rows = []
    for q in range(prompts):
        length = {m: (900 if m == GAMER else int(rng.integers(80, 260))) for m in names}
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                a, b = (first, second) if rng.random() < 0.5 else (second, first)
                eta = skill[a] - skill[b] + _judge_taste(length[a], length[b], style)
                row = {"model_a": a, "model_b": b, "prompt_id": f"q{q}",
                       "winner": "model_a" if rng.random() < 1 / (1 + np.exp(-eta)) else "model_b"}  # fmt: skip
                if style:
                    row["response_a"], row["response_b"] = (
                        _answer(a, length[a], rng),
                        _answer(b, length[b], rng),
                    )
                else:
                    row["len_a"], row["len_b"] = length[a], length[b]
                rows.append(row)
    return pd.DataFrame(rows)


def _answer(model: str, words: int, rng: np.random.Generator) -> str:
    if model == GAMER:  # the one constant answer: long, with headers, lists and bold
        return "# Answer\n" + "\n".join(f"- **point** {'word ' * 10}" for _ in range(words // 12))
    # Honest answers use some markdown too, at random, so the style slopes are identified apart from
    # the gamer's own strength.
    items = int(rng.integers(0, 4))
    header = "## Notes\n" if rng.random() < 0.3 else ""
    bold = " **key**" if rng.random() < 0.3 else ""
    lines = [f"- item {k}" for k in range(items)]
    return header + " ".join(["word"] * (words - 2 * items)) + bold + "\n" + "\n".join(lines)


def boards(frame: pd.DataFrame, control: str) -> tuple[dict[str, dict], dict[str, dict]]:
    matches = matches_from_frame(frame)
    controlled = control_from_frame(frame, control)
    plain = build_leaderboard(matches, "plain", bootstrap=0)
    held = build_leaderboard(matches, "controlled", bootstrap=0, control=controlled)
    return {r["model"]: r for r in plain.rows}, {r["model"]: r for r in held.rows}


@pytest.mark.parametrize("control", ["length", "style"])
def test_a_constant_long_answer_does_not_rise_under_control(control: str) -> None:
    plain, held = boards(gamed_field(style=control == "style"), control)
    # The test bites: without control the judge's taste for length puts the gamer on top of Elo.
    assert max(plain, key=lambda m: plain[m]["elo"]) == GAMER
    for column in ("elo", "nash_rating", "nash_weight", "win_rate"):
        assert held[GAMER][column] <= plain[GAMER][column] + 1e-12, column
    assert held[GAMER]["elo"] < plain[GAMER]["elo"] - 100
    # The honest best entrant ranks first in both controlled columns.
    assert max(held, key=lambda m: held[m]["elo"]) == "honest_best"
    assert held["honest_best"]["rank"] == 1 and held["honest_best"]["nash_weight"] == 1.0


def test_equal_lengths_change_nothing() -> None:
    frame = gamed_field(seed=1, prompts=60)
    frame["len_a"] = frame["len_b"] = 100
    controlled = style_control(match_features(frame, needed=("length",)), "length")
    _, observed, _ = win_rate_matrix(matches_from_frame(frame))
    np.testing.assert_allclose(controlled.win_rates(), observed, atol=1e-5)
    np.testing.assert_allclose(
        controlled.bradley_terry(bootstrap=0).elo, bradley_terry(frame, bootstrap=0).elo, atol=1e-6
    )


def test_lengths_unrelated_to_outcomes_change_little() -> None:
    frame = gamed_field(seed=2, prompts=300)
    rng = np.random.default_rng(5)
    frame["len_a"], frame["len_b"] = rng.integers(50, 500, size=(2, len(frame)))  # the judge never saw these
    controlled = style_control(match_features(frame, needed=("length",)), "length")
    _, observed, _ = win_rate_matrix(matches_from_frame(frame))
    assert abs(controlled.slopes()["bradley_terry"]["length"]) < 0.15
    assert np.nanmax(np.abs(controlled.win_rates() - observed)) < 0.02
    gap = controlled.bradley_terry(bootstrap=0).elo - bradley_terry(frame, bootstrap=0).elo
    assert np.max(np.abs(gap)) < 8.0


def test_normalised_differences_flip_with_the_sides() -> None:
    frame = gamed_field(seed=3, prompts=5, style=True)
    swapped = frame.rename(columns={"model_a": "model_b", "model_b": "model_a",
                                    "response_a": "response_b", "response_b": "response_a"})  # fmt: skip
    swapped["winner"] = frame["winner"].map({"model_a": "model_b", "model_b": "model_a"})
    features = normalised_differences(match_features(frame), ("length", "headers", "lists", "bold"))
    flipped = normalised_differences(match_features(swapped), ("length", "headers", "lists", "bold"))
    np.testing.assert_array_equal(features, -flipped)


def test_controlled_bootstrap_rounds_feed_both_intervals() -> None:
    frame = gamed_field(seed=4, prompts=80)
    controlled = style_control(match_features(frame, needed=("length",)), "length")
    board = build_leaderboard(matches_from_frame(frame), "b", bootstrap=60, seed=2, control=controlled)
    assert board.fit.bootstrap_elo.shape == (60, 4) and board.nash_samples.rounds == 60
    for row in board.rows:
        assert row["elo_ci_low"] <= row["elo"] <= row["elo_ci_high"]
        assert row["nash_rating_ci_low"] <= row["nash_rating_ci_high"]
    assert board.control is not None and board.control["kind"] == "length"


def test_the_command_publishes_the_control_and_refuses_without_features(tmp_path: Path) -> None:
    frame = gamed_field(seed=5, prompts=40)
    frame.to_csv(tmp_path / "m.csv", index=False)
    result = run_arena(["leaderboard", str(tmp_path / "m.csv"), "--out", str(tmp_path / "board"),
                        "--bootstrap", "0", "--control", "length"])  # fmt: skip
    assert result.returncode == 0, result.stderr
    content = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    expected = style_control(match_features(frame, needed=("length",)), "length").bradley_terry(bootstrap=0)
    elo = {row["model"]: row["elo"] for row in content["models"]}
    np.testing.assert_allclose([elo[m] for m in expected.models], expected.elo, atol=1e-9)
    assert content["control"]["kind"] == "length" and content["control"]["covariates"] == ["length"]
    assert "Controlled for length (length)" in (tmp_path / "board" / "leaderboard.md").read_text()
    plain = run_arena(
        ["leaderboard", str(tmp_path / "m.csv"), "--out", str(tmp_path / "plain"), "--bootstrap", "0"]
    )
    assert plain.returncode == 0 and "control" not in json.loads(
        (tmp_path / "plain" / "leaderboard.json").read_text()
    )
    frame.drop(columns=["len_a", "len_b"]).to_csv(tmp_path / "bare.csv", index=False)
    bare = run_arena(
        ["leaderboard", str(tmp_path / "bare.csv"), "--out", str(tmp_path / "none"), "--control", "style"]
    )
    assert (bare.returncode, bare.stdout) == (2, "")
    assert bare.stderr == (
        f"{tmp_path / 'bare.csv'}: header: missing columns response_a and response_b (texts), or len_a and "
        "len_b (the length feature of length and style control)\n"
    )
    assert not (tmp_path / "none").exists()


def test_aggregated_counts_cannot_be_controlled(tmp_path: Path) -> None:
    source = tmp_path / "counts.csv"
    source.write_text("model_a,model_b,wins_a,wins_b,ties\na,b,3,2,1\n")
    result = run_arena(["leaderboard", str(source), "--out", str(tmp_path / "out"), "--control", "length"])
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"{source}: header: length and style control need one row per match (winner or p_a), not aggregated counts\n"
    )
    assert not (tmp_path / "out").exists()
