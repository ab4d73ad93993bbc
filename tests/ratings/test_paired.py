"""The paired test of each head-to-head win rate against 1/2: scipy.stats on per-prompt means, an
independent loop for unequal prompts, the exact sign-flip value without spread, and its calibration."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from arena.ratings import pair_statistics
from arena.ratings.matches import Matches, matches_from_frame
from arena.ratings.paired import paired_win_rate_tests


def pair_row(frame: pd.DataFrame, model: str, opponent: str) -> dict:
    table = pair_statistics(matches_from_frame(frame))
    return table[(table["model"] == model) & (table["opponent"] == opponent)].iloc[0].to_dict()


def test_equal_matches_per_prompt_is_scipys_one_sample_t_test() -> None:
    """Four matches per prompt (both orders, two samples each): exactly ttest_1samp of the per-prompt means."""
    rng = np.random.default_rng(0)
    rows = []
    for prompt in range(25):
        skill = rng.normal(0.58, 0.15)  # prompts differ: the matches on one prompt are correlated
        for order in range(4):
            p = float(np.clip(skill + rng.normal(0, 0.1), 0, 1))
            a, b, p_a = ("x", "y", p) if order % 2 == 0 else ("y", "x", 1.0 - p)
            rows.append({"model_a": a, "model_b": b, "p_a": p_a, "prompt_id": f"q{prompt}"})
    frame = pd.DataFrame(rows)
    from_x = np.where(frame["model_a"] == "x", frame["p_a"], 1.0 - frame["p_a"])
    means = pd.Series(from_x).groupby(frame["prompt_id"]).mean().to_numpy()
    reference = stats.ttest_1samp(means, 0.5)
    interval = reference.confidence_interval(0.95)
    row = pair_row(frame, "x", "y")
    assert row["units"] == 25
    assert row["win_rate"] == pytest.approx(means.mean(), abs=1e-14)
    assert row["p_value"] == pytest.approx(reference.pvalue, rel=1e-9)
    assert (row["win_rate_ci_low"], row["win_rate_ci_high"]) == pytest.approx(
        (interval.low, interval.high), abs=1e-12
    )
    # From the other side: the mirrored interval and the same p-value.
    back = pair_row(frame, "y", "x")
    assert (back["win_rate_ci_low"], back["win_rate_ci_high"]) == pytest.approx(
        (1 - interval.high, 1 - interval.low), abs=1e-12
    )
    assert back["p_value"] == row["p_value"]


def test_unequal_prompts_use_the_ratio_estimator() -> None:
    """An independent loop over prompts: r = sum s / sum n, se^2 = m/(m-1) sum (s - r n)^2 / (sum n)^2."""
    rng = np.random.default_rng(1)
    rows = []
    for prompt in range(12):
        for _ in range(int(rng.integers(1, 7))):
            rows.append(
                {"model_a": "x", "model_b": "y", "p_a": float(rng.random() < 0.6), "prompt_id": prompt}
            )
    frame = pd.DataFrame(rows)
    s = frame.groupby("prompt_id")["p_a"].sum().to_numpy()
    n = frame.groupby("prompt_id")["p_a"].size().to_numpy()
    m = len(s)
    r = s.sum() / n.sum()
    se = math.sqrt(m / (m - 1) * sum((si - r * ni) ** 2 for si, ni in zip(s, n, strict=True))) / n.sum()
    t = (r - 0.5) / se
    critical = stats.t.ppf(0.975, m - 1)
    row = pair_row(frame, "x", "y")
    assert row["win_rate"] == pytest.approx(r, abs=1e-14) and row["units"] == m
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), m - 1), rel=1e-9)
    assert row["win_rate_ci_low"] == pytest.approx(max(0.0, r - critical * se), abs=1e-12)
    assert row["win_rate_ci_high"] == pytest.approx(min(1.0, r + critical * se), abs=1e-12)


def test_without_prompts_every_match_is_a_unit() -> None:
    """Counts (no prompt ids): the t-test over the expanded match outcomes."""
    frame = pd.DataFrame({"model_a": ["x", "y"], "model_b": ["y", "x"], "wins_a": [30, 12], "wins_b": [18, 9],
                          "ties": [6, 5]})  # fmt: skip
    outcomes = np.concatenate(
        [np.ones(30), np.zeros(18), np.full(6, 0.5), np.zeros(12), np.ones(9), np.full(5, 0.5)]
    )
    reference = stats.ttest_1samp(outcomes, 0.5)
    interval = reference.confidence_interval(0.95)
    row = pair_row(frame, "x", "y")
    assert row["units"] == 80 and row["win_rate"] == pytest.approx(outcomes.mean(), abs=1e-14)
    assert row["p_value"] == pytest.approx(reference.pvalue, rel=1e-9)
    assert (row["win_rate_ci_low"], row["win_rate_ci_high"]) == pytest.approx(
        (interval.low, interval.high), abs=1e-12
    )


def test_no_spread_gives_the_exact_sign_flip_p_value() -> None:
    sweep = pd.DataFrame({"model_a": "x", "model_b": "y", "p_a": 1.0, "prompt_id": range(6)})
    row = pair_row(sweep, "x", "y")
    assert row["p_value"] == pytest.approx(2.0**-5, abs=1e-15)  # all six prompts agree: 2 / 2^6
    assert math.isnan(row["win_rate_ci_low"]) and math.isnan(row["win_rate_ci_high"])
    ties = sweep.assign(p_a=0.5)
    assert pair_row(ties, "x", "y")["p_value"] == 1.0
    one = sweep.iloc[:1]
    assert pair_row(one, "x", "y")["p_value"] == 1.0 and pair_row(one, "x", "y")["units"] == 1


def test_p_values_are_calibrated_under_the_null() -> None:
    """2000 pairs of evenly matched models, 30 correlated prompts each: about 5% have p < 0.05, and about
    95% of the intervals contain 1/2."""
    rng = np.random.default_rng(7)
    pairs, prompts, per_prompt = 2000, 30, 4
    skill = rng.normal(0.5, 0.1, (pairs, prompts, 1))  # symmetric around 1/2: the null hypothesis
    outcome = (rng.random((pairs, prompts, per_prompt)) < skill).astype(float).ravel()
    first = np.repeat(np.arange(pairs) * 2, prompts * per_prompt)
    prompt = np.tile(np.repeat(np.arange(prompts), per_prompt), pairs)
    matches = Matches(
        models=tuple(f"m{i}" for i in range(2 * pairs)),
        a=first,
        b=first + 1,
        outcome=outcome,
        count=np.ones_like(outcome),
        prompt=prompt,
    )
    tests = paired_win_rate_tests(matches)
    assert len(tests) == pairs and (tests["units"] == prompts).all()
    rejected = float((tests["p_value"] < 0.05).mean())
    covered = float(((tests["ci_low"] <= 0.5) & (0.5 <= tests["ci_high"])).mean())
    assert 0.035 < rejected < 0.065  # binomial sd at 2000 pairs: 0.005
    assert 0.935 < covered < 0.965


def test_a_model_against_itself_is_not_tested() -> None:
    frame = pd.DataFrame({"model_a": ["x", "x", "x"], "model_b": ["x", "y", "y"], "p_a": [0.5, 1.0, 0.0]})
    row = pair_row(frame, "x", "x")
    assert row["units"] == 0 and math.isnan(row["p_value"]) and math.isnan(row["win_rate_ci_low"])
    assert pair_row(frame, "x", "y")["units"] == 2  # without prompt ids each match is a unit
