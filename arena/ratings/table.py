"""A leaderboard computed from matches: Nash averaging beside Bradley-Terry Elo, win rates and pairs.

Pairs never played get W[i][j] from the Bradley-Terry fit (sigma(strength_i - strength_j)) so that the
Nash game is complete; those cells are flagged wherever W is shown. Zero or 1/2 would be invented
results (a loss, a coin flip) that move the equilibrium; the fit is the one estimate that uses every
match through the chains of opponents the two models share (docs/ratings.md says more).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from arena.ratings.bradley_terry import ANCHORING, CONFIDENCE, ELO_MEAN, RIDGE, BradleyTerryFit, bradley_terry
from arena.ratings.matches import Matches
from arena.ratings.nash import max_entropy_nash, nash_ratings
from arena.ratings.winrates import mean_win_rate, pair_statistics, win_rate_matrix

COLUMNS = (
    "rank",
    "model",
    "nash_rating",
    "nash_weight",
    "elo",
    "elo_ci_low",
    "elo_ci_high",
    "elo_rank_ci",
    "win_rate",
    "opponents",
    "matches",
)


@dataclass(frozen=True)
class Leaderboard:
    name: str
    source: str
    models: list[str]  # in table order: Nash rating, then Elo, then name
    W: np.ndarray  # complete win-rate matrix in table order (imputed where never played)
    imputed: np.ndarray  # True where W comes from the Bradley-Terry fit
    rows: list[dict[str, Any]]
    pairs: pd.DataFrame
    fit: BradleyTerryFit
    seed: int
    n_matches: int
    judges: tuple[str, ...]
    # What the judge counted over the judgments behind the board (a tournament's LLM judge: verdicts,
    # unreadable ones); empty when no judge counted anything.
    judge_counters: dict[str, int] = field(default_factory=dict)

    @property
    def support(self) -> list[str]:
        return [row["model"] for row in self.rows if row["nash_weight"] > 0]


def build_leaderboard(
    matches: Matches,
    name: str,
    bootstrap: int = 1000,
    seed: int = 0,
    judge_counters: dict[str, int] | None = None,
) -> Leaderboard:
    models, observed, counts = win_rate_matrix(matches)
    fit = bradley_terry(matches, bootstrap=bootstrap, seed=seed)
    unplayed = np.isnan(observed)
    W = np.where(unplayed, fit.win_probability(), observed)
    weight = max_entropy_nash(W)
    rating = nash_ratings(W, weight)
    win_rate = mean_win_rate(observed)
    opponents = (counts > 0).sum(axis=1) - (np.diag(counts) > 0)
    per_model = np.zeros(len(models))
    np.add.at(per_model, matches.a, matches.count)
    np.add.at(per_model, matches.b[matches.a != matches.b], matches.count[matches.a != matches.b])
    order = sorted(range(len(models)), key=lambda i: (-rating[i], -fit.elo[i], models[i]))
    rows = [
        {
            "rank": rank,
            "model": models[i],
            "nash_rating": float(rating[i]),
            "nash_weight": float(weight[i]),
            "elo": float(fit.elo[i]),
            "elo_ci_low": float(fit.elo_ci_low[i]),
            "elo_ci_high": float(fit.elo_ci_high[i]),
            "elo_rank_ci": int(fit.rank_by_ci[i]),
            "win_rate": float(win_rate[i]),
            "opponents": int(opponents[i]),
            "matches": int(per_model[i]),
        }
        for rank, i in enumerate(order, start=1)
    ]
    index = np.array(order)
    return Leaderboard(
        name=name,
        source=matches.source,
        models=[models[i] for i in order],
        W=W[np.ix_(index, index)],
        imputed=unplayed[np.ix_(index, index)],
        rows=rows,
        pairs=pair_statistics(matches),
        fit=fit,
        seed=seed,
        n_matches=matches.n_matches,
        judges=matches.judges,
        judge_counters=dict(judge_counters or {}),
    )


def _number(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def leaderboard_json(board: Leaderboard) -> dict[str, Any]:
    """The content of leaderboard.json (NaN, e.g. a standard error from one match, becomes null)."""
    models = board.models
    return {
        "name": board.name,
        "source": board.source,
        "n_matches": board.n_matches,
        "judges": list(board.judges),
        **({"judge_counters": dict(board.judge_counters)} if board.judge_counters else {}),
        "models": [
            {k: _number(v) if isinstance(v, float) else v for k, v in row.items()} for row in board.rows
        ],
        "winrates": {
            row: {col: float(board.W[i, j]) for j, col in enumerate(models)} for i, row in enumerate(models)
        },
        "imputed": {
            row: [models[j] for j in np.flatnonzero(board.imputed[i])]
            for i, row in enumerate(models)
            if board.imputed[i].any()
        },
        "nash": {
            "support": board.support,
            "method": "maximum-entropy Nash equilibrium of the symmetric zero-sum game A = W - 1/2 "
            "(Balduzzi et al. 2018); nash_rating = (A p)_i",
            "imputed_cells": int(board.imputed.sum()),
            "imputed_from": "Bradley-Terry fit: W[i][j] = 1 / (1 + exp(strength_j - strength_i))",
        },
        "bradley_terry": {
            "nll_per_match": board.fit.nll_per_match,
            "nll_convention": "natural log, per match between two different models; a tie counts as half "
            "a win each way",
            "anchoring": ANCHORING,
            "elo_mean": ELO_MEAN,
            "elo_per_factor_10_in_odds": 400.0,
            "ridge": RIDGE,
            "bootstrap": board.fit.bootstrap,
            "seed": board.seed,
            "resampled_by": board.fit.resampled_by,
            "confidence": CONFIDENCE,
            "elo_rank_ci": "1 + number of models whose lower bound exceeds this one's upper bound",
            "strength": {m: float(s) for m, s in zip(board.fit.models, board.fit.strength, strict=True)},
        },
        "pairs": [
            {k: _number(v) if isinstance(v, float) else v for k, v in record.items()}
            for record in board.pairs.to_dict(orient="records")
        ],
    }
