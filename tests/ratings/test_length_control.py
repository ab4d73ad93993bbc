"""AlpacaEval-style length-controlled win rates against a baseline: the GLM against an independent fit,
the anti-gaming check, no change without a length effect, and what the shared AlpacaEval data cannot do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from arena.errors import ArenaError
from arena.ratings.glm import GLM_RIDGE
from arena.ratings.length_control import (
    DIFFICULTY_RIDGE,
    _against_baseline,
    instruction_difficulty,
    length_controlled_win_rates,
)
from arena.ratings.style_features import match_features

SKILL = {"honest_best": 0.9, "middling": 0.3, "verbose_gamer": -0.4}
BASELINE = "baseline"


def independent_fit(
    X: np.ndarray, y: np.ndarray, ridge: float, offset: np.ndarray | float = 0.0
) -> np.ndarray:
    """The penalised soft-label likelihood, minimised by scipy's trust-region method (dense design)."""

    def objective(x: np.ndarray) -> float:
        eta = X @ x + offset
        return float(np.sum(np.logaddexp(0, eta) - y * eta) + ridge / 2 * x @ x)

    def gradient(x: np.ndarray) -> np.ndarray:
        return X.T @ (1 / (1 + np.exp(-(X @ x + offset))) - y) + ridge * x

    def hessian(x: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-(X @ x + offset)))
        return (X * (p * (1 - p))[:, None]).T @ X + ridge * np.eye(X.shape[1])

    result = minimize(objective, np.zeros(X.shape[1]), jac=gradient, hess=hessian, method="trust-exact",
                      options={"gtol": 1e-12})  # fmt: skip
    return result.x


def star(seed: int = 0, prompts: int = 300, length_bias: float = 2.0) -> pd.DataFrame:
    """AlpacaEval's layout: each model against one baseline per instruction, the baseline as model_a,
    p_a the judge's probability that the baseline wins; the gamer always answers with 1500 words."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(size=prompts)
    rows = []
    for q in range(prompts):
        base_words = int(rng.integers(150, 400))
        for model, skill in SKILL.items():
            words = 1500 if model == "verbose_gamer" else int(rng.integers(100, 450))
            eta = skill - difficulty[q] + length_bias * np.tanh((words - base_words) / 250)
            p_model = 1 / (1 + np.exp(-(eta + rng.normal(scale=0.5))))  # a judge's noisy probability
            rows.append({"model_a": BASELINE, "model_b": model, "p_a": 1 - p_model, "prompt_id": f"q{q}",
                         "len_a": base_words, "len_b": words})  # fmt: skip
    return pd.DataFrame(rows)


def test_difficulty_and_each_models_glm_match_an_independent_fit() -> None:
    features = match_features(star(prompts=120), needed=("length",))
    table = _against_baseline(features, BASELINE)
    gamma = instruction_difficulty(table)
    # The joint fit: theta per model, one length slope, -gamma per prompt, each model's own length scale.
    models, prompts = sorted(set(table["model"])), list(gamma.index)
    X = np.zeros((len(table), len(models) + 1 + len(prompts)))
    for row, (model, delta, prompt) in enumerate(table[["model", "delta", "prompt"]].itertuples(index=False)):
        mine = table["delta"][table["model"] == model]
        X[row, models.index(model)] = 1.0
        X[row, len(models)] = np.tanh(delta / mine.std(ddof=1))
        X[row, len(models) + 1 + prompts.index(prompt)] = -1.0
    joint = independent_fit(X, table["y"].to_numpy(), DIFFICULTY_RIDGE)
    expected, shared_phi = joint[len(models) + 1 :], joint[len(models)]
    np.testing.assert_allclose(gamma.to_numpy(), expected - expected.mean(), atol=1e-6)

    result = length_controlled_win_rates(features, BASELINE).set_index("model")
    shared = length_controlled_win_rates(features, BASELINE, shared_slope=True).set_index("model")
    for code, model in enumerate(features.models):
        if model == BASELINE:
            continue
        mine = (table["model"] == code).to_numpy()
        delta, g = table["delta"].to_numpy()[mine], gamma.reindex(table["prompt"][mine]).to_numpy()
        design = np.column_stack([np.ones(mine.sum()), np.tanh(delta / delta.std(ddof=1)), g])
        theta, phi, psi = independent_fit(design, table["y"].to_numpy()[mine], GLM_RIDGE)
        row = result.loc[model]
        np.testing.assert_allclose([row["theta"], row["phi"], row["psi"]], [theta, phi, psi], atol=1e-6)
        controlled = 100 * np.mean(1 / (1 + np.exp(-(theta + psi * g))))
        assert row["lc_win_rate"] == pytest.approx(controlled, abs=1e-6)
        # The shared slope: the joint fit's phi held fixed, theta and psi fitted around it.
        offset = shared_phi * design[:, 1]
        theta, psi = independent_fit(design[:, [0, 2]], table["y"].to_numpy()[mine], GLM_RIDGE, offset)
        row = shared.loc[model]
        np.testing.assert_allclose(
            [row["theta"], row["phi"], row["psi"]], [theta, shared_phi, psi], atol=1e-6
        )
        assert row["lc_win_rate"] == pytest.approx(
            100 * np.mean(1 / (1 + np.exp(-(theta + psi * g)))), abs=1e-6
        )
        assert row["win_rate"] == pytest.approx(100 * table["y"].to_numpy()[mine].mean(), abs=1e-12)


@pytest.mark.parametrize("shared_slope", [False, True], ids=["per-model slope", "shared slope"])
def test_a_constant_long_answer_does_not_rise_under_length_control(shared_slope: bool) -> None:
    features = match_features(star(), needed=("length",))
    result = length_controlled_win_rates(features, BASELINE, shared_slope=shared_slope).set_index("model")
    # The test bites: the judge's taste for length puts the gamer first on the raw win rate.
    assert result["win_rate"].idxmax() == "verbose_gamer"
    assert result.loc["verbose_gamer", "lc_win_rate"] < result.loc["verbose_gamer", "win_rate"]
    assert result["lc_win_rate"].idxmax() == "honest_best"


def test_without_a_length_difference_the_controlled_rate_is_the_raw_one() -> None:
    frame = star(seed=1, prompts=200, length_bias=0.0)
    frame["len_a"] = frame["len_b"] = 300
    result = length_controlled_win_rates(match_features(frame, needed=("length",)), BASELINE)
    np.testing.assert_allclose(result["lc_win_rate"], result["win_rate"], atol=1e-4)


def test_real_alpaca_eval_rows_have_no_lengths_and_equal_lengths_give_the_published_win_rate(
    shared_data: Path, alpaca_eval_matches: Callable[[str], tuple[pd.DataFrame, str, int]]
) -> None:
    """The shared AlpacaEval 2.0 file keeps verdicts, not responses: length control is refused in one
    line (its published length_controlled_winrate cannot be reproduced from it). With every length set
    equal the control has nothing to remove, and the GLM gives back the published win_rate."""
    matches, baseline, _ = alpaca_eval_matches("compact_weighted_alpaca_eval_gpt4_turbo.csv")
    expected = pd.read_csv(
        shared_data / "alpaca_eval" / "expected_weighted_alpaca_eval_gpt4_turbo_leaderboard_rows.csv",
        index_col=0,
    )
    chosen = sorted(expected.index)[:3]
    subset = matches[matches["model_a"].isin(chosen)].reset_index(drop=True)
    with pytest.raises(ArenaError, match=r"missing columns response_a and response_b \(texts\), or len_a"):
        match_features(subset, "alpaca_eval.csv", needed=("length",))
    subset["len_a"] = subset["len_b"] = 1
    result = length_controlled_win_rates(match_features(subset, needed=("length",)), baseline).set_index(
        "model"
    )
    for model in chosen:
        assert result.loc[model, "win_rate"] == pytest.approx(expected.loc[model, "win_rate"], abs=1e-9)
        assert result.loc[model, "lc_win_rate"] == pytest.approx(expected.loc[model, "win_rate"], abs=1e-3)
