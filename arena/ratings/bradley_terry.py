"""Bradley-Terry ratings on the Elo scale, with bootstrap confidence intervals.

Model: P(i beats j) = 1 / (1 + 10^((elo_j - elo_i) / 400)); a tie counts as half a win each way and a
soft outcome p as p of a win and 1 - p of a loss. Anchoring: the mean Elo over the rated models is 1000
(in every bootstrap round too), so only differences carry meaning: 400 points is a factor of 10 in odds.

The maximum-likelihood fit is Newton's method on the pairs' sufficient statistics (matches and points per
pair), vectorised over bootstrap rounds. A tiny ridge (RIDGE * strength^2 / 2, in natural-log units)
keeps strengths finite when a model won or lost every match; on real data it moves nothing visibly
(Chatbot Arena's NLL per match changes below 1e-9).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from arena.ratings.bootstrap import resampled_pair_totals
from arena.ratings.matches import Matches, as_matches

ELO_MEAN = 1000.0
ELO_PER_NAT = 400.0 / np.log(10.0)  # 400 Elo points per factor of 10 in odds
RIDGE = 1e-4
CONFIDENCE = 0.95
ANCHORING = "mean Elo 1000 over the rated models; 400 points = a factor of 10 in odds"


@dataclass(frozen=True)
class BradleyTerryFit:
    models: tuple[str, ...]
    strength: np.ndarray  # natural-log strengths, mean 0
    elo: np.ndarray
    elo_ci_low: np.ndarray  # NaN without bootstrap
    elo_ci_high: np.ndarray
    rank_by_ci: np.ndarray  # 1 + number of models whose lower bound exceeds this one's upper bound
    nll_per_match: float  # negative log-likelihood per match between two different models (natural log)
    n_matches: int
    bootstrap: int
    resampled_by: str  # "prompt" or "match"
    bootstrap_elo: np.ndarray  # (bootstrap, models)

    def win_probability(self) -> np.ndarray:
        """P[i][j] = P(i beats j) under the fit."""
        return 1.0 / (1.0 + np.exp(self.strength[None, :] - self.strength[:, None]))


@dataclass(frozen=True)
class BootstrapChunk:
    """Consecutive bootstrap rounds as the Bradley-Terry bootstrap saw them, for statistics that must use
    the same resampled data (the Nash bootstrap): per round, the pair totals and the fitted strengths."""

    first: np.ndarray  # (pairs,) lower model index of each pair that played in the full data
    second: np.ndarray  # (pairs,) higher model index
    n: np.ndarray  # (rounds, pairs) matches per pair in each round (0: not drawn in that round)
    points: np.ndarray  # (rounds, pairs) points of the pair's first model
    strength: np.ndarray  # (rounds, models) natural-log strengths fitted to each round, mean 0


def pair_totals(matches: Matches) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(first, second, n, points of first) per unordered pair of different models that played."""
    others = matches.a != matches.b
    first = np.minimum(matches.a, matches.b)[others]
    second = np.maximum(matches.a, matches.b)[others]
    a_is_first = matches.a[others] == first
    points = (
        np.where(a_is_first, matches.outcome[others], 1.0 - matches.outcome[others]) * matches.count[others]
    )
    table = pd.DataFrame({"i": first, "j": second, "n": matches.count[others], "s": points})
    summed = table.groupby(["i", "j"], sort=True, as_index=False)[["n", "s"]].sum()
    return (
        summed["i"].to_numpy(np.int64),
        summed["j"].to_numpy(np.int64),
        summed["n"].to_numpy(float),
        summed["s"].to_numpy(float),
    )


def bradley_terry(
    matches: Matches | pd.DataFrame | Iterable[Any],
    bootstrap: int = 1000,
    seed: int = 0,
    each_chunk: Callable[[BootstrapChunk], None] | None = None,
) -> BradleyTerryFit:
    """Maximum-likelihood Bradley-Terry on the Elo scale, with `bootstrap` rounds of resampling (by prompt
    when prompts are known, else by match) for 95% percentile intervals. `each_chunk`, when given, sees
    every chunk of rounds (their pair totals and fitted strengths), in order."""
    matches = as_matches(matches)
    n_models = len(matches.models)
    first, second, n, points = pair_totals(matches)
    strength = fit_strengths(first, second, n[None], points[None], n_models)[0]
    nll = float(_nll(first, second, n[None], points[None], strength[None])[0]) / float(n.sum())
    elo = ELO_MEAN + ELO_PER_NAT * strength
    samples = np.empty((0, n_models))
    low = high = np.full(n_models, np.nan)
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        chunks = []
        for rounds_n, rounds_points in resampled_pair_totals(matches, first, second, bootstrap, rng):
            start = np.broadcast_to(strength, (len(rounds_n), n_models))
            fitted = fit_strengths(first, second, rounds_n, rounds_points, n_models, start)
            chunks.append(fitted)
            if each_chunk is not None:
                each_chunk(BootstrapChunk(first, second, rounds_n, rounds_points, fitted))
        samples = ELO_MEAN + ELO_PER_NAT * np.vstack(chunks)
        tail = (1.0 - CONFIDENCE) / 2 * 100
        low, high = np.percentile(samples, [tail, 100 - tail], axis=0)
    rank = 1 + np.sum(low[None, :] > high[:, None], axis=1) if bootstrap > 0 else _rank_by_value(elo)
    return BradleyTerryFit(
        models=matches.models,
        strength=strength,
        elo=elo,
        elo_ci_low=low,
        elo_ci_high=high,
        rank_by_ci=rank.astype(np.int64),
        nll_per_match=nll,
        n_matches=int(n.sum()),
        bootstrap=int(bootstrap),
        resampled_by="prompt" if matches.has_prompts else "match",
        bootstrap_elo=samples,
    )


def _rank_by_value(elo: np.ndarray) -> np.ndarray:
    """Without intervals, the rank by confidence interval degenerates to 1 + number of higher ratings."""
    return 1 + np.sum(elo[None, :] > elo[:, None], axis=1)


def _nll(
    first: np.ndarray, second: np.ndarray, n: np.ndarray, points: np.ndarray, strength: np.ndarray
) -> np.ndarray:
    """Negative log-likelihood per round (natural log) of `points` wins in `n` matches at log-odds d:
    points * softplus(-d) + (n - points) * softplus(d) = n * softplus(d) - points * d."""
    gap = strength[:, first] - strength[:, second]
    return np.sum(n * np.logaddexp(0.0, gap) - points * gap, axis=1)


def fit_strengths(
    first: np.ndarray,
    second: np.ndarray,
    n: np.ndarray,
    points: np.ndarray,
    n_models: int,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Newton's method with backtracking, for R rounds at once: n and points are (R, pairs); returns
    (R, models) natural-log strengths with mean 0 (the ridge makes the Hessian positive definite)."""
    rounds = n.shape[0]
    strength = np.zeros((rounds, n_models)) if start is None else np.array(start, dtype=float)
    # Where each pair's weight lands in the flattened (models x models) Hessian: +w on both diagonal
    # cells, -w on both off-diagonal ones.
    cells = np.concatenate(
        [
            first * n_models + first,
            second * n_models + second,
            first * n_models + second,
            second * n_models + first,
        ]
    )
    signs = np.repeat([1.0, 1.0, -1.0, -1.0], len(first))
    pair_index = np.tile(np.arange(len(first)), 4)
    assemble = csr_matrix((signs, (cells, pair_index)), shape=(n_models * n_models, len(first)))
    # d gap / d strength: +1 for the pair's first model, -1 for its second.
    incidence = csr_matrix(
        (
            np.repeat([1.0, -1.0], len(first)),
            (np.tile(np.arange(len(first)), 2), np.concatenate([first, second])),
        ),
        shape=(len(first), n_models),
    )
    objective = _nll(first, second, n, points, strength) + RIDGE / 2 * np.sum(strength**2, axis=1)
    active = np.ones(rounds, dtype=bool)
    for _ in range(100):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        theta = strength[idx]
        gap = theta[:, first] - theta[:, second]
        win = 1.0 / (1.0 + np.exp(-gap))
        residual = n[idx] * win - points[idx]  # d NLL / d gap
        gradient = np.asarray(incidence.T @ residual.T).T + RIDGE * theta
        weight = n[idx] * win * (1.0 - win)
        hessian = (assemble @ weight.T).T.reshape(idx.size, n_models, n_models)
        hessian[:, np.arange(n_models), np.arange(n_models)] += RIDGE
        step = -np.linalg.solve(hessian, gradient[..., None])[..., 0]
        scale = np.ones(idx.size)
        for _ in range(40):  # backtrack the rounds whose objective did not decrease
            candidate = theta + scale[:, None] * step
            value = _nll(first, second, n[idx], points[idx], candidate) + RIDGE / 2 * np.sum(
                candidate**2, axis=1
            )
            worse = value > objective[idx] + 1e-12 * np.abs(objective[idx])
            if not worse.any():
                break
            scale[worse] /= 2
        strength[idx] = candidate
        objective[idx] = np.minimum(value, objective[idx])
        active[idx] = np.max(np.abs(scale[:, None] * step), axis=1) > 1e-10
    return strength - strength.mean(axis=1, keepdims=True)
