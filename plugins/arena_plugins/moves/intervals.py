"""Bootstrap intervals for the moves report: what a claim about malformed shares or exploitability rests on.

A tournament's samples are grouped by prompt. Resampling prompts (the unit that generalises, as the
leaderboard's bootstrap does) with the same draws for every entrant gives, per round, each entrant's
malformed share, its move distribution among well-formed answers, and that distribution's exploitability
(how much more than 1/2 the best single move wins against it). The 95% percentile intervals of those
numbers are what the published README compares: "X is the least exploitable" is stated only when X's
interval lies entirely below every other entrant's, otherwise the entrants whose intervals overlap the
best one are named as tied. Seeded: the same samples give the same intervals, byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

ROUNDS = 1000
CONFIDENCE = 0.95
SEED = 0


def prompt_counts(task: Any, by_prompt: dict[str, list[Any]], prompts: Sequence[str]) -> np.ndarray:
    """(prompts, moves + 1): per prompt, well-formed answers per move, then the malformed count."""
    counts = np.zeros((len(prompts), len(task.moves) + 1))
    for row, prompt in enumerate(prompts):
        counts[row] = response_counts(task, [sample.text for sample in by_prompt.get(prompt, [])])
    return counts


def response_counts(task: Any, texts: Sequence[str]) -> list[float]:
    """Well-formed answers per move, then the malformed count."""
    report = task.report(list(texts))
    return [*report.counts, report.malformed_count]


def best_response_edges(move_probs: np.ndarray, preferences: Any) -> np.ndarray:
    """max over moves m of P(m beats the mix) - 1/2, for each row of `move_probs` (rounds, moves)."""
    return np.max(move_probs @ np.asarray(preferences, dtype=float).T, axis=1) - 0.5


def moves_intervals(
    task: Any, samples: dict[str, dict[str, list[Any]]], rounds: int = ROUNDS, seed: int = SEED
) -> dict[str, dict[str, list[float] | None]]:
    """Per entrant: 95% intervals of `malformed` and `exploitability` (None where a round had no move)."""
    entrants = list(samples)
    prompts = sorted({prompt for by_prompt in samples.values() for prompt in by_prompt})
    counts = np.stack([prompt_counts(task, samples[name], prompts) for name in entrants])
    rng = np.random.default_rng(seed)
    # Multinomial weights over prompts: resampling n prompts with replacement, the same draw for everyone.
    weights = rng.multinomial(len(prompts), np.full(len(prompts), 1.0 / len(prompts)), size=rounds)
    tail = (1.0 - CONFIDENCE) / 2 * 100
    result: dict[str, dict[str, list[float] | None]] = {}
    for index, name in enumerate(entrants):
        totals = weights @ counts[index]  # (rounds, moves + 1)
        answered = totals.sum(axis=1)
        played = totals[:, :-1].sum(axis=1)
        malformed = totals[:, -1] / np.maximum(answered, 1)
        entry: dict[str, list[float] | None] = {
            "malformed": [float(v) for v in np.percentile(malformed, [tail, 100 - tail])]
        }
        if np.all(played > 0):
            edges = best_response_edges(totals[:, :-1] / played[:, None], task.preferences)
            entry["exploitability"] = [float(v) for v in np.percentile(edges, [tail, 100 - tail])]
        else:
            entry["exploitability"] = None  # some round drew only malformed answers: no move distribution
        result[name] = entry
    return result
