"""A leaderboard computed from matches: Nash averaging beside Bradley-Terry Elo, win rates and pairs, each
with its uncertainty.

Pairs never played get W[i][j] from the Bradley-Terry fit (sigma(strength_i - strength_j)) so that the
Nash game is complete; those cells are flagged wherever W is shown. Zero or 1/2 would be invented
results (a loss, a coin flip) that move the equilibrium; the fit is the one estimate that uses every
match through the chains of opponents the two models share (docs/ratings.md says more).

The Nash columns get intervals from the Bradley-Terry bootstrap's own rounds (arena.ratings.nash_bootstrap),
and each pair a paired test of its win rate against 1/2 (arena.ratings.paired).
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
from arena.ratings.nash_bootstrap import NashBootstrap, NashBootstrapSamples
from arena.ratings.regularized import quantal_response_nash
from arena.ratings.style_control import StyleControl, control_summary
from arena.ratings.winrates import mean_win_rate, pair_statistics, win_rate_matrix

NASH_COLUMNS = (
    "rank",
    "model",
    "nash_rating",
    "nash_rating_ci_low",
    "nash_rating_ci_high",
    "nash_weight",
    "nash_weight_ci_low",
    "nash_weight_ci_high",
    "nash_support_share",
    "tied_for_top",
)
QRE_COLUMNS = (
    "qre_rating",
    "qre_rating_ci_low",
    "qre_rating_ci_high",
    "qre_weight",
    "qre_weight_ci_low",
    "qre_weight_ci_high",
)
ELO_COLUMNS = (
    "elo",
    "elo_ci_low",
    "elo_ci_high",
    "elo_rank_ci",
    "elo_tied_for_top",
    "win_rate",
    "opponents",
    "matches",
)
# The row columns without a quantal-response temperature (Leaderboard.columns has them with one).
COLUMNS = NASH_COLUMNS + ELO_COLUMNS

TIE_RULE = (
    "tied when the closed 95% intervals overlap the leader's: low_i <= high_leader and low_leader <= high_i "
    "(overlap of two 95% intervals is a conservative criterion: non-overlap implies a significant "
    "difference, overlap does not prove equality); without bootstrap, tied when the point values are equal"
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
    nash_temperature: float | None = None  # the quantal-response columns are shown when set
    nash_samples: NashBootstrapSamples | None = None  # per bootstrap round, models in Matches order
    # Length or style control (arena.ratings.style_control): what was controlled and the fitted slopes;
    # None for a plain board.
    control: dict[str, Any] | None = None
    # (model, rating) when Elo was shifted to read on another board's scale (arena.ratings.anchoring).
    elo_anchor: tuple[str, float] | None = None

    @property
    def support(self) -> list[str]:
        return [row["model"] for row in self.rows if row["nash_weight"] > 0]

    @property
    def columns(self) -> tuple[str, ...]:
        return _columns(self.nash_temperature is not None)

    @property
    def tied_for_top(self) -> list[str]:
        return [row["model"] for row in self.rows if row["tied_for_top"]]

    @property
    def elo_tied_for_top(self) -> list[str]:
        return [row["model"] for row in self.rows if row["elo_tied_for_top"]]


def build_leaderboard(
    matches: Matches,
    name: str,
    bootstrap: int = 1000,
    seed: int = 0,
    nash_temperature: float | None = None,
    judge_counters: dict[str, int] | None = None,
    control: StyleControl | None = None,
) -> Leaderboard:
    """Every number of the board; `nash_temperature` adds the quantal-response equilibrium's columns;
    `control` (arena.ratings.style_control, built from the same matches) controls both rating columns
    for length or style: the Nash game is played on its controlled W, Elo is its Bradley-Terry."""
    if nash_temperature is not None and not nash_temperature > 0:
        raise ValueError(f"nash_temperature must be positive, got {nash_temperature}")
    models, observed, counts = win_rate_matrix(matches)
    rate = bradley_terry if control is None else control.bradley_terry
    if control is not None:
        observed = control.win_rates()
    # The point estimate first: the bootstrap rounds start from its support (and its QRE).
    point_fit = rate(matches, bootstrap=0)
    unplayed = np.isnan(observed)
    W = np.where(unplayed, point_fit.win_probability(), observed)
    weight = max_entropy_nash(W)
    rating = nash_ratings(W, weight)
    qre = quantal_response_nash(W, nash_temperature) if nash_temperature is not None else None
    rounds = NashBootstrap(W, np.flatnonzero(weight > 0), nash_temperature, qre)
    fit = rate(matches, bootstrap=bootstrap, seed=seed, each_chunk=rounds.consume)
    samples = rounds.samples()
    order = sorted(range(len(models)), key=lambda i: (-rating[i], -fit.elo[i], models[i]))
    columns: dict[str, np.ndarray] = {
        "nash_rating": rating,
        "nash_weight": weight,
        **_intervals("nash_rating", samples.rating),
        **_intervals("nash_weight", samples.weight),
        "nash_support_share": (samples.weight > 0).mean(axis=0)
        if bootstrap
        else np.full(len(models), np.nan),
        "elo": fit.elo,
        "elo_ci_low": fit.elo_ci_low,
        "elo_ci_high": fit.elo_ci_high,
    }
    if qre is not None:
        columns["qre_rating"] = (W - 0.5) @ qre
        columns["qre_weight"] = qre
        columns.update(_intervals("qre_rating", samples.qre_rating))
        columns.update(_intervals("qre_weight", samples.qre_weight))
    leader = order[0]
    tied = _overlaps(rating, columns["nash_rating_ci_low"], columns["nash_rating_ci_high"], leader)
    elo_leader = max(range(len(models)), key=lambda i: (fit.elo[i], -order.index(i)))
    elo_tied = _overlaps(fit.elo, fit.elo_ci_low, fit.elo_ci_high, elo_leader)
    columns.update(
        tied_for_top=tied,
        elo_rank_ci=fit.rank_by_ci,
        elo_tied_for_top=elo_tied,
        win_rate=mean_win_rate(observed),
        opponents=(counts > 0).sum(axis=1) - (np.diag(counts) > 0),
        matches=_matches_per_model(matches),
    )
    kinds = {
        "tied_for_top": bool,
        "elo_tied_for_top": bool,
        "elo_rank_ci": int,
        "opponents": int,
        "matches": int,
    }
    names = _columns(qre is not None)[2:]
    rows = [
        {"rank": rank, "model": models[i], **{c: kinds.get(c, float)(columns[c][i]) for c in names}}
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
        nash_temperature=nash_temperature,
        nash_samples=samples,
        control=control_summary(control) if control is not None else None,
    )


def _matches_per_model(matches: Matches) -> np.ndarray:
    """Matches each model played (a match against itself counts once)."""
    per_model = np.zeros(len(matches.models))
    np.add.at(per_model, matches.a, matches.count)
    others = matches.a != matches.b
    np.add.at(per_model, matches.b[others], matches.count[others])
    return per_model


def _columns(with_qre: bool) -> tuple[str, ...]:
    return NASH_COLUMNS + (QRE_COLUMNS if with_qre else ()) + ELO_COLUMNS


def _intervals(name: str, samples: np.ndarray | None) -> dict[str, np.ndarray]:
    """95% percentile intervals over the rounds (NaN without rounds), as the Elo intervals are taken."""
    if samples is None or len(samples) == 0:
        width = 0 if samples is None else samples.shape[1]
        nan = np.full(width, np.nan)
        return {f"{name}_ci_low": nan, f"{name}_ci_high": nan}
    tail = (1.0 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail], axis=0)
    return {f"{name}_ci_low": low, f"{name}_ci_high": high}


def _overlaps(value: np.ndarray, low: np.ndarray, high: np.ndarray, leader: int) -> np.ndarray:
    """Whose closed interval overlaps the leader's (TIE_RULE); without intervals, whose value equals it."""
    if not np.all(np.isfinite(low)):
        return value == value[leader]
    return (low <= high[leader]) & (low[leader] <= high)


def _number(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {k: _number(v) if isinstance(v, float) else v for k, v in record.items()}


def leaderboard_json(board: Leaderboard) -> dict[str, Any]:
    """The content of leaderboard.json (NaN, e.g. a standard error from one match, becomes null)."""
    models = board.models
    fit = board.fit
    samples = board.nash_samples
    rounds = samples.rounds if samples is not None else 0
    content: dict[str, Any] = {
        "name": board.name,
        "source": board.source,
        "n_matches": board.n_matches,
        "judges": list(board.judges),
        **({"judge_counters": dict(board.judge_counters)} if board.judge_counters else {}),
        "models": [_plain(row) for row in board.rows],
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
        "nash_bootstrap": {
            "rounds": rounds,
            "seed": board.seed,
            "resampled_by": fit.resampled_by,
            "confidence": CONFIDENCE,
            "method": "the Bradley-Terry bootstrap's own rounds (the same resampled units); each round's W "
            "from its pair totals, cells it did not draw imputed from its own Bradley-Terry fit; its "
            "maximum-entropy Nash equilibrium; percentile intervals over the rounds",
            "nash_support_share": "share of rounds in which the model has positive Nash weight",
            # Rounds whose equilibrium plays more than one model; full_solves: rounds the support
            # certificate did not settle, solved on the whole game.
            "mixed_rounds": int(np.sum(np.sum(samples.weight > 0, axis=1) > 1)) if samples is not None else 0,
            "full_solves": samples.full_solves if samples is not None else 0,
            "tied_for_top": board.tied_for_top,
            "tied_for_top_rule": f"leader: rank 1; {TIE_RULE} (Nash rating intervals)",
        },
        **(_qre_json(board) if board.nash_temperature is not None else {}),
        **({"control": board.control} if board.control is not None else {}),
        "bradley_terry": {
            "nll_per_match": fit.nll_per_match,
            "nll_convention": "natural log, per match between two different models; a tie counts as half "
            "a win each way",
            "anchoring": ANCHORING if board.elo_anchor is None else _anchored(board),
            "elo_mean": ELO_MEAN if board.elo_anchor is None else float(np.mean(fit.elo)),
            "elo_per_factor_10_in_odds": 400.0,
            "ridge": RIDGE,
            "bootstrap": fit.bootstrap,
            "seed": board.seed,
            "resampled_by": fit.resampled_by,
            "confidence": CONFIDENCE,
            "elo_rank_ci": "1 + number of models whose lower bound exceeds this one's upper bound",
            "tied_for_top": board.elo_tied_for_top,
            "tied_for_top_rule": f"leader: the highest Elo; {TIE_RULE} (Elo intervals)",
            "strength": {m: float(s) for m, s in zip(fit.models, fit.strength, strict=True)},
        },
        "pair_test": {
            "method": "paired by prompt (by match without prompt ids): t-test of the win rate against 1/2 "
            "over the units, cluster-robust standard error of the ratio sum(points) / sum(matches), "
            "units - 1 degrees of freedom; exact sign-flip p-value 2^(1 - units) where the units show no "
            "spread (interval null); docs/ratings.md",
            "unit": fit.resampled_by,
            "confidence": CONFIDENCE,
        },
        "pairs": [_plain(record) for record in board.pairs.to_dict(orient="records")],
    }
    return content


def _anchored(board: Leaderboard) -> str:
    model, rating = board.elo_anchor or ("", 0.0)
    return f"shifted so that {model} reads {rating:g} (--anchor); 400 points = a factor of 10 in odds"


def _qre_json(board: Leaderboard) -> dict[str, Any]:
    return {
        "qre": {
            "temperature": board.nash_temperature,
            "method": "quantal-response (entropy-regularised) equilibrium: the unique p = softmax(A p / "
            "temperature); qre_rating = (A p)_i; intervals from the same bootstrap rounds",
        }
    }
