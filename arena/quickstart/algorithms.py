"""The algorithm table: each algorithm's training runs (one per replicate of the pipeline) pooled into one
row, with intervals from a two-stage bootstrap that resamples replicates and prompts.

The tournament ranks models; the quickstart's question is about algorithms. On another CPU kind the same
recipes train to other weights (rounding differences grow through training, and a judge that differs a
little steers every policy trained against it), and a model-level interval, which resamples prompts only,
cannot see that: two runs of the same pipeline can differ more than two algorithms do. So each round
draws the replicates with replacement (all of replicate k's models together: they share its reference
and judges), then the prompts (the same prompts for everyone: pairs stay paired); it pools the drawn runs'
matches into an algorithm-by-algorithm win-rate matrix W and computes from it the maximum-entropy Nash
equilibrium (weights and ratings (A p)_i), Bradley-Terry Elo, each head-to-head win rate, and from the
drawn runs' answers the task's columns (its `arena.api.PromptCounts`: a count vector per prompt, pooled
like the matches). 95% percentile intervals over the rounds. With one seed per algorithm this reduces to
the prompt bootstrap. Seeded: the same tournament gives the same table, byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from arena.api.reports import Interval, PromptCounts
from arena.errors import ArenaError
from arena.ratings.bradley_terry import ELO_MEAN, ELO_PER_NAT, fit_strengths
from arena.ratings.nash import max_entropy_nash, nash_ratings

ROUNDS = 1000
SEED = 0
CONFIDENCE = 0.95
# Weights below this are rounding noise of a degenerate game (the LP sees its support through it).
SUPPORT_FLOOR = 1e-9
TIE_RULE = "tied when the closed 95% intervals overlap the leader's"
_SEED_SUFFIX = re.compile(r"-s\d+$")


class ReplicateMismatch(ArenaError, ValueError):
    """Entrants whose names do not give every algorithm the same replicates: one line for the user."""


def algorithm_of(entrant: str) -> str:
    """`nash-md-s2` -> `nash-md`: the quickstart names seed k > 0's entrant `<algorithm>-s<k>`."""
    return _SEED_SUFFIX.sub("", entrant)


def _percentiles(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tail = (1.0 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail], axis=0)
    return low, high


def _match_arrays(
    matches: pd.DataFrame, entrants: list[str], n_prompts: int
) -> tuple[np.ndarray, np.ndarray]:
    """(points, counts), each (entrants, entrants, prompts): points[e, f, p] = e's points against f on
    prompt p (a tournament's `prompt_id` is the prompt's index in its prompt list)."""
    index = {name: i for i, name in enumerate(entrants)}
    a = matches["model_a"].map(index).to_numpy(dtype=np.int64)
    b = matches["model_b"].map(index).to_numpy(dtype=np.int64)
    p = matches["prompt_id"].to_numpy(dtype=np.int64)
    x = matches["p_a"].to_numpy(dtype=float)
    points = np.zeros((len(entrants), len(entrants), n_prompts))
    counts = np.zeros_like(points)
    np.add.at(points, (a, b, p), x)
    np.add.at(points, (b, a, p), 1.0 - x)
    np.add.at(counts, (a, b, p), 1.0)
    np.add.at(counts, (b, a, p), 1.0)
    return points, counts


def prompt_counts(
    statistic: PromptCounts, by_prompt: dict[str, list[Any]], prompts: Sequence[str]
) -> np.ndarray:
    """(prompts, counts): the task's count vector of each prompt's responses."""
    rows = [statistic.counts([sample.text for sample in by_prompt.get(prompt, [])]) for prompt in prompts]
    return np.array(rows, dtype=float)


def replicate_of(entrant: str) -> int:
    """`nash-md-s2` -> 2, `nash-md` -> 0."""
    match = _SEED_SUFFIX.search(entrant)
    return int(match.group()[2:]) if match else 0


def _replicate_draws(entrants: list[str], rounds: int, rng: np.random.Generator) -> np.ndarray:
    """(rounds + 1, entrants): how often each entrant's replicate is drawn; row 0 is the point estimate
    (every replicate once). Replicates are drawn jointly: replicate k's policies share its reference and
    judges, so they stay together."""
    replicates = sorted({replicate_of(name) for name in entrants})
    draws = rng.multinomial(len(replicates), np.full(len(replicates), 1.0 / len(replicates)), size=rounds)
    column = [replicates.index(replicate_of(name)) for name in entrants]
    return np.vstack([np.ones(len(entrants)), draws[:, column]])


def algorithm_table(
    statistic: PromptCounts,
    matches: pd.DataFrame,
    samples: dict[str, dict[str, list[Any]]],
    rounds: int = ROUNDS,
    seed: int = SEED,
) -> dict[str, Any]:
    """The algorithm-level board, shaped like leaderboard.json's models/pairs (plus the task's columns)."""
    entrants = list(samples)
    algorithms = list(dict.fromkeys(algorithm_of(name) for name in entrants))
    groups = [[i for i, name in enumerate(entrants) if algorithm_of(name) == algo] for algo in algorithms]
    membership = np.zeros((len(entrants), len(algorithms)))
    for g, members in enumerate(groups):
        membership[members, g] = 1.0
    prompts = list(samples[entrants[0]])  # the tournament's prompt list, in order (its prompt_id indexes it)
    points, counts = _match_arrays(matches, entrants, len(prompts))
    answers = np.stack([prompt_counts(statistic, samples[name], prompts) for name in entrants])  # (E, P, K)

    replicates = {
        algo: sorted(replicate_of(entrants[e]) for e in members)
        for algo, members in zip(algorithms, groups, strict=True)
    }
    if len({tuple(found) for found in replicates.values()}) != 1:
        raise ReplicateMismatch(
            "tournament entrants: every algorithm needs the same replicates (entrants named <algorithm> and "
            f"<algorithm>-s<k>), got {replicates}"
        )
    rng = np.random.default_rng(seed)
    run_weights = _replicate_draws(entrants, rounds, rng)
    prompt_weights = np.vstack(
        [
            np.ones(len(prompts)),
            rng.multinomial(len(prompts), np.full(len(prompts), 1 / len(prompts)), rounds),
        ]
    )
    # Pool: sum over the drawn runs e of algorithm g, f of h, and the drawn prompts.
    pair_weights = np.einsum("re,rf->ref", run_weights, run_weights)
    wins = _pooled_pairs(points, prompt_weights, pair_weights, membership)
    played = _pooled_pairs(counts, prompt_weights, pair_weights, membership)
    n = len(algorithms)
    W = np.full_like(wins, 0.5)
    off = ~np.eye(n, dtype=bool)
    W[:, off] = wins[:, off] / played[:, off]
    weight = np.stack([max_entropy_nash(w) for w in W])
    rating = np.stack([nash_ratings(w, p) for w, p in zip(W, weight, strict=True)])
    first, second = np.triu_indices(n, 1)
    elo = ELO_MEAN + ELO_PER_NAT * fit_strengths(
        first, second, played[:, first, second], wins[:, first, second], n
    )
    pooled = np.einsum("epk,rp,re,eg->rgk", answers, prompt_weights, run_weights, membership, optimize=True)
    mean_win = (W.sum(axis=2) - 0.5) / max(n - 1, 1)

    columns = {
        "nash_rating": rating,
        "nash_weight": weight,
        "elo": elo,
        "win_rate": mean_win,
        **statistic.columns(pooled),
    }
    shown = statistic.point_columns(pooled[0])  # the task's columns without an interval
    rows = []
    for g, algo in enumerate(algorithms):
        row: dict[str, Any] = {
            "model": algo,
            "seeds": len(groups[g]),
            "entrants": [entrants[e] for e in groups[g]],
        }
        for name, values in columns.items():
            row[name] = _plain(values[0, g])
            if name != "win_rate":
                low, high = (
                    _percentiles(values[1:, g]) if np.all(np.isfinite(values[1:, g])) else (None, None)
                )
                row[f"{name}_ci_low"], row[f"{name}_ci_high"] = _plain(low), _plain(high)
        row["nash_support_share"] = float(np.mean(weight[1:, g] > SUPPORT_FLOOR))
        for name, values in shown.items():
            row[name] = _plain(values[g])
        rows.append(row)
    order = sorted(range(n), key=lambda g: (-rating[0, g], -elo[0, g], algorithms[g]))
    rows = [rows[g] for g in order]
    pairs = []
    for g in range(n):
        for h in range(n):
            if g != h:
                low, high = _percentiles(W[1:, g, h])
                pairs.append(
                    {
                        "model": algorithms[g],
                        "opponent": algorithms[h],
                        "win_rate": float(W[0, g, h]),
                        "win_rate_ci_low": float(low),
                        "win_rate_ci_high": float(high),
                    }
                )
    per_replicate = []
    for replicate in sorted({replicate_of(name) for name in entrants}):
        alone = np.array([[1.0 if replicate_of(name) == replicate else 0.0 for name in entrants]])
        only = np.einsum("re,rf->ref", alone, alone)
        ones = np.ones((1, len(prompts)))
        W_k = np.full((n, n), 0.5)
        wins_k = _pooled_pairs(points, ones, only, membership)[0]
        played_k = _pooled_pairs(counts, ones, only, membership)[0]
        W_k[off] = wins_k[off] / played_k[off]
        weight_k = max_entropy_nash(W_k)
        answers_k = np.einsum("epk,e,eg->gk", answers, alone[0], membership)
        per_replicate.append(
            {
                "seed": replicate,
                "nash_support": [algorithms[g] for g in order if weight_k[g] > SUPPORT_FLOOR],
                "nash_weight": {algorithms[g]: float(weight_k[g]) for g in order},
                **{
                    name: {algorithms[g]: float(values[g]) for g in order}
                    for name, values in statistic.replicate_columns(answers_k).items()
                },
            }
        )
    return {
        "method": "two-stage bootstrap: per round the replicates of the pipeline (seeds) drawn with replacement, "
        "then the prompts (the same for every algorithm); pooled win rates, maximum-entropy Nash, Bradley-Terry "
        f"Elo, {statistic.description} per round; arena/quickstart/algorithms.py",
        "rounds": rounds,
        "seed": seed,
        "confidence": CONFIDENCE,
        "models": rows,
        "pairs": pairs,
        "replicates": per_replicate,  # each replicate's algorithm-level equilibrium on its own
        "nash_bootstrap": {"tied_for_top": _tied(rows, "nash_rating"), "tied_for_top_rule": TIE_RULE},
        "bradley_terry": {"tied_for_top": _tied(rows, "elo"), "tied_for_top_rule": TIE_RULE},
    }


def _pooled_pairs(
    per_prompt: np.ndarray, prompt_weights: np.ndarray, pair_weights: np.ndarray, membership: np.ndarray
) -> np.ndarray:
    """(rounds, algorithms, algorithms): per round, the drawn prompts' and runs' sums, by algorithm pair."""
    per_round = np.einsum("efp,rp->ref", per_prompt, prompt_weights, optimize=True) * pair_weights
    return np.einsum("ref,eg,fh->rgh", per_round, membership, membership, optimize=True)


def _plain(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if np.isfinite(number) else None


def _tied(rows: list[dict[str, Any]], key: str) -> list[str]:
    """The leader by `key` first, then every row whose interval overlaps the leader's."""
    leader = max(rows, key=lambda row: row[key])

    def span(row: dict[str, Any]) -> Interval:
        return Interval(row[f"{key}_ci_low"], row[f"{key}_ci_high"])

    others = [row for row in rows if row is not leader and span(row).overlaps(span(leader))]
    return [leader["model"], *(row["model"] for row in sorted(others, key=lambda row: -row[key]))]
