"""Bootstrap resampling of matches (or of prompts), on deduplicated units so 1000 rounds stay cheap.

Resampling U units with replacement is the same as drawing multinomial(U, multiplicity / U) counts over
the distinct kinds of unit. Without prompts a unit is one match, and a kind is a cell (pair, outcome):
a million battles between 129 models are about ten thousand kinds. With prompts a unit is a prompt with
all its matches; prompts whose matches are identical are one kind. Each round's per-pair totals are
then a sparse product, counts @ contributions, instead of a pass over the matches.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from arena.ratings.matches import NO_PROMPT, Matches

# Rounds fitted together: bounds the (rounds, models, models) Hessian stack to about 64 MB.
HESSIAN_BUDGET = 8_000_000


def _unit_kinds(
    matches: Matches, first: np.ndarray, second: np.ndarray
) -> tuple[np.ndarray, csr_matrix, csr_matrix]:
    """(multiplicity per kind, matches per pair in one unit of each kind, points of each pair's first
    model in one unit of each kind)."""
    n_models = len(matches.models)
    others = matches.a != matches.b  # a match against itself says nothing about strength
    a, b = matches.a[others], matches.b[others]
    low, high = np.minimum(a, b), np.maximum(a, b)
    pair = np.searchsorted(first * n_models + second, low * n_models + high)
    points = np.where(a == low, matches.outcome[others], 1.0 - matches.outcome[others])
    count, prompt = matches.count[others], matches.prompt[others]
    # A prompt holding a single match is the same unit as a match without a prompt.
    per_prompt = pd.Series(count).groupby(prompt).sum()
    single = (prompt == NO_PROMPT) | np.isin(prompt, per_prompt.index[per_prompt.to_numpy() == 1])
    kind_rows = [np.arange(int(single.sum()))]
    kind_pairs, kind_n, kind_points = [pair[single]], [np.ones(int(single.sum()))], [points[single]]
    multiplicity = [count[single]]
    signatures: dict[bytes, int] = {}
    offset = int(single.sum())
    grouped = pd.DataFrame({"prompt": prompt, "pair": pair, "points": points, "count": count})[~single]
    grouped = grouped.sort_values(["prompt", "pair", "points"], kind="stable")
    bounds = np.flatnonzero(np.diff(grouped["prompt"].to_numpy())) + 1
    prompt_times: list[float] = []
    for unit in np.split(grouped[["pair", "points", "count"]].to_numpy(), bounds):
        if unit.size == 0:
            continue
        key = unit.tobytes()
        if key in signatures:
            prompt_times[signatures[key]] += 1.0
            continue
        signatures[key] = len(prompt_times)
        prompt_times.append(1.0)
        kind_rows.append(np.full(len(unit), offset + signatures[key]))
        kind_pairs.append(unit[:, 0].astype(np.int64))
        kind_n.append(unit[:, 2])
        kind_points.append(unit[:, 1] * unit[:, 2])
    multiplicity.append(np.array(prompt_times))
    n_kinds = offset + len(prompt_times)
    rows, cols = np.concatenate(kind_rows), np.concatenate(kind_pairs)
    shape = (n_kinds, len(first))
    per_pair_n = csr_matrix((np.concatenate(kind_n), (rows, cols)), shape=shape)
    per_pair_points = csr_matrix((np.concatenate(kind_points), (rows, cols)), shape=shape)
    return np.concatenate(multiplicity), per_pair_n, per_pair_points


def resampled_pair_totals(
    matches: Matches, first: np.ndarray, second: np.ndarray, rounds: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per chunk of bootstrap rounds: (matches per pair, points of the first model per pair), each
    (rounds in chunk, pairs), from resampling units with replacement."""
    multiplicity, per_pair_n, per_pair_points = _unit_kinds(matches, first, second)
    units = int(round(multiplicity.sum()))
    probabilities = multiplicity / multiplicity.sum()
    n_models = len(matches.models)
    chunk = max(1, min(rounds, HESSIAN_BUDGET // (n_models * n_models)))
    for done in range(0, rounds, chunk):
        draws = rng.multinomial(units, probabilities, size=min(chunk, rounds - done)).astype(float)
        yield np.asarray((per_pair_n.T @ draws.T).T), np.asarray((per_pair_points.T @ draws.T).T)
