"""A paired test of each head-to-head win rate against 1/2, with its confidence interval.

The unit is the one the bootstrap resamples: a prompt with all of the pair's matches on it (both orders,
every sample), or a single match where prompts are unknown. Matches on one prompt are correlated (same
question, same judge), so treating them as independent would overstate the evidence.

Per pair, with units q = 1..m holding n_q matches and s_q points of the pair's first model:
- win rate r = sum(s_q) / sum(n_q) (the pair's `win_rate`, every match weighted alike);
- standard error from the spread between units (the cluster-robust variance of a ratio estimator):
  se^2 = m / (m - 1) * sum((s_q - r n_q)^2) / sum(n_q)^2;
- t = (r - 1/2) / se on m - 1 degrees of freedom: two-sided p-value and the 95% interval r +- t* se,
  clipped to [0, 1].
With the same number of matches on every unit this is exactly the one-sample t-test of the per-prompt
mean outcomes against 1/2 (scipy.stats.ttest_1samp) and its interval. Where every unit gives the same
mean (no spread: the t statistic is undefined), the p-value is the exact sign-flip one, 2^(1 - m) (1 when
the mean is 1/2 or m = 1): under the null hypothesis each unit's deviation from 1/2 is equally likely to
have either sign, and all m agree with probability 2^(1 - m). The interval is then left out (NaN).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from arena.ratings.matches import NO_PROMPT, Matches

CONFIDENCE = 0.95
# A spread this small (relative to the matches) is rounding noise: the units all agree.
NO_SPREAD = 1e-12


def paired_win_rate_tests(matches: Matches) -> pd.DataFrame:
    """Per unordered pair of different models that played: first, second (indices, first < second),
    units (prompts, or matches without a prompt), win_rate (of first), ci_low, ci_high, p_value."""
    others = matches.a != matches.b
    a, b = matches.a[others], matches.b[others]
    first, second = np.minimum(a, b), np.maximum(a, b)
    x = np.where(a == first, matches.outcome[others], 1.0 - matches.outcome[others])
    count, prompt = matches.count[others].astype(float), matches.prompt[others]
    cells = pd.DataFrame({"first": first, "second": second, "prompt": prompt, "x": x, "count": count})
    # A unit is (pair, prompt); without a prompt each of a cell's `count` matches is a unit of its own.
    cells["points"] = cells["x"] * cells["count"]
    prompted = cells[cells["prompt"] != NO_PROMPT]
    units = prompted.groupby(["first", "second", "prompt"], sort=True)[["points", "count"]].sum()
    units = units.reset_index().assign(times=1.0)
    single = cells[cells["prompt"] == NO_PROMPT]
    single = pd.DataFrame(
        {
            "first": single["first"],
            "second": single["second"],
            "points": single["x"],
            "count": 1.0,
            "times": single["count"],  # this many identical units
        }
    )
    every = pd.concat([units[["first", "second", "points", "count", "times"]], single], ignore_index=True)
    every["total_points"] = every["points"] * every["times"]
    every["total_count"] = every["count"] * every["times"]
    keys = ["first", "second"]
    per_pair = every.groupby(keys, sort=True)[["total_points", "total_count", "times"]].sum()
    rate = per_pair["total_points"] / per_pair["total_count"]
    # Second pass: deviations from the pair's own rate (stable where the one-pass formula cancels).
    r = every.join(rate.rename("r"), on=keys)["r"].to_numpy()
    every["squares"] = every["times"] * (every["points"] - r * every["count"]) ** 2
    squares = every.groupby(keys, sort=True)["squares"].sum()
    m = per_pair["times"].to_numpy()
    total = per_pair["total_count"].to_numpy()
    low, high, p_value = _t_test(rate.to_numpy(), squares.to_numpy(), total, m)
    index = per_pair.index
    return pd.DataFrame(
        {
            "first": index.get_level_values(0).to_numpy(np.int64),
            "second": index.get_level_values(1).to_numpy(np.int64),
            "units": m.astype(np.int64),
            "win_rate": rate.to_numpy(),
            "ci_low": low,
            "ci_high": high,
            "p_value": p_value,
        }
    )


def _t_test(
    rate: np.ndarray, squares: np.ndarray, total: np.ndarray, m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(interval low, interval high, two-sided p-value) per pair; see the module docstring."""
    spread = (m > 1) & (squares > (NO_SPREAD * total) ** 2)
    df = np.where(spread, m - 1, 1.0)
    se = np.sqrt(np.where(spread, m / df * squares, 1.0)) / total
    t = (rate - 0.5) / se
    critical = stats.t.ppf(0.5 + CONFIDENCE / 2, df)
    low = np.where(spread, np.clip(rate - critical * se, 0.0, 1.0), np.nan)
    high = np.where(spread, np.clip(rate + critical * se, 0.0, 1.0), np.nan)
    sign_flip = np.where(np.abs(rate - 0.5) <= NO_SPREAD, 1.0, np.exp2(1.0 - m))
    p_value = np.where(spread, 2.0 * stats.t.sf(np.abs(t), df), sign_flip)
    return low, high, p_value
