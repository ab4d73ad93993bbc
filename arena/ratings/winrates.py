"""Win rates: the matrix W that Nash averaging plays on, and per-pair statistics with standard errors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from arena.ratings.matches import Matches, as_matches
from arena.ratings.paired import paired_win_rate_tests


def _oriented(matches: Matches) -> pd.DataFrame:
    """Every match seen from both sides: (model, opponent, outcome for model, count).

    A match of a against b appears as (a, b, p) and (b, a, 1 - p); a match against itself appears once.
    Keeping the given side as given makes statistics from model_a's side exact (no 1 - (1 - p)).
    """
    forward = pd.DataFrame(
        {"model": matches.a, "opponent": matches.b, "x": matches.outcome, "c": matches.count}
    )
    others = matches.a != matches.b
    backward = pd.DataFrame(
        {
            "model": matches.b[others],
            "opponent": matches.a[others],
            "x": 1.0 - matches.outcome[others],
            "c": matches.count[others],
        }
    )
    return pd.concat([forward, backward], ignore_index=True)


def pair_statistics(matches: Matches | pd.DataFrame | Iterable[Any]) -> pd.DataFrame:
    """Per played (model, opponent), both ways round: n, win_rate (mean outcome), standard_error (of that
    mean, ddof 1; NaN for a single match), wins (outcome > 1/2), losses (< 1/2), draws (= 1/2), and the
    paired test of the win rate against 1/2 (arena.ratings.paired): units (prompts, or matches without
    prompts; 0 for a model against itself, which is not tested), win_rate_ci_low, win_rate_ci_high,
    p_value (NaN where not tested or, for the interval, where the units show no spread).

    The first eight columns are AlpacaEval's `describe_head2head` per pair: with soft outcomes the mean
    is a win rate.
    """
    matches = as_matches(matches)
    sides = _oriented(matches)
    sides["cx"] = sides["c"] * sides["x"]
    sides["wins"] = np.where(sides["x"] > 0.5, sides["c"], 0.0)
    sides["losses"] = np.where(sides["x"] < 0.5, sides["c"], 0.0)
    sides["draws"] = np.where(sides["x"] == 0.5, sides["c"], 0.0)
    keys = ["model", "opponent"]
    grouped = sides.groupby(keys, sort=True)
    stats = grouped[["c", "cx", "wins", "losses", "draws"]].sum().rename(columns={"c": "n"})
    stats["win_rate"] = stats["cx"] / stats["n"]
    # Two passes (mean first, then squared deviations): stable where the one-pass formula cancels.
    mean = sides.join(stats["win_rate"], on=keys)["win_rate"].to_numpy()
    sides["squares"] = sides["c"] * (sides["x"] - mean) ** 2
    variance = sides.groupby(keys, sort=True)["squares"].sum() / (stats["n"] - 1).where(stats["n"] > 1)
    stats["standard_error"] = np.sqrt(variance / stats["n"])
    stats = stats.reset_index()
    names = np.asarray(matches.models, dtype=object)
    result = pd.DataFrame(
        {
            "model": names[stats["model"].to_numpy()],
            "opponent": names[stats["opponent"].to_numpy()],
            "win_rate": stats["win_rate"],
            "standard_error": stats["standard_error"],
            "n": stats["n"].astype(np.int64),
            "wins": stats["wins"].astype(np.int64),
            "losses": stats["losses"].astype(np.int64),
            "draws": stats["draws"].astype(np.int64),
        }
    )
    return _with_paired_tests(result, stats["model"].to_numpy(), stats["opponent"].to_numpy(), matches)


def _with_paired_tests(
    result: pd.DataFrame, model: np.ndarray, opponent: np.ndarray, matches: Matches
) -> pd.DataFrame:
    """The pair's test, seen from `model`'s side: the interval of 1 - r is [1 - high, 1 - low]."""
    tests = paired_win_rate_tests(matches)
    n_models = len(matches.models)
    low, high = np.minimum(model, opponent), np.maximum(model, opponent)
    table = tests.set_index(tests["first"] * n_models + tests["second"])
    found = table.reindex(low * n_models + high)  # NaN rows for a model against itself
    forward = model < opponent
    ci_low, ci_high = found["ci_low"].to_numpy(), found["ci_high"].to_numpy()
    return result.assign(
        units=found["units"].fillna(0).to_numpy(np.int64),
        win_rate_ci_low=np.where(forward, ci_low, 1.0 - ci_high),
        win_rate_ci_high=np.where(forward, ci_high, 1.0 - ci_low),
        p_value=found["p_value"].to_numpy(),
    )


def win_rate_matrix(
    matches: Matches | pd.DataFrame | Iterable[Any],
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(models, W, counts): W[i][j] = rate at which i beats j (a tie counts 1/2, soft outcomes averaged),
    NaN for pairs never played, W[i][i] = 1/2; counts[i][j] = matches between i and j (on the diagonal,
    matches of a model against itself, which leave W untouched)."""
    matches = as_matches(matches)
    n = len(matches.models)
    scores = np.zeros((n, n))
    counts = np.zeros((n, n))
    others = matches.a != matches.b
    a, b, x, c = matches.a[others], matches.b[others], matches.outcome[others], matches.count[others]
    np.add.at(scores, (a, b), c * x)
    np.add.at(scores, (b, a), c * (1.0 - x))
    np.add.at(counts, (a, b), c)
    np.add.at(counts, (b, a), c)
    selves = ~others
    np.add.at(counts, (matches.a[selves], matches.a[selves]), matches.count[selves])
    W = np.full((n, n), np.nan)
    played = counts > 0
    np.fill_diagonal(played, False)
    W[played] = scores[played] / counts[played]
    # Exactly W[j][i] = 1 - W[i][j]: computed once per pair, from the lower index's side.
    upper = np.triu(played, 1)
    W.T[upper] = 1.0 - W[upper]
    np.fill_diagonal(W, 0.5)
    return list(matches.models), W, counts


def mean_win_rate(W: np.ndarray) -> np.ndarray:
    """Per model, the mean of W over the opponents it played (itself and unplayed pairs left out)."""
    off_diagonal = np.where(np.eye(len(W), dtype=bool), np.nan, W)
    played = np.isfinite(off_diagonal)
    totals = np.where(played, off_diagonal, 0.0).sum(axis=1)
    return totals / np.maximum(played.sum(axis=1), 1)
