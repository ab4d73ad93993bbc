"""Judging stage: every pair of entrants, every prompt, every sample pairing.

A pairwise judge is asked both orders and the two are averaged, P = (c(a, b) + 1 - c(b, a)) / 2, so
position bias cancels. A pointwise judge scores each response once, and every pair follows from the
scores: M x P x n calls instead of M^2 x P x n^2. Identical texts tie at exactly 1/2 without a call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from itertools import combinations
from typing import Any

from arena.errors import ArenaError, RecipeKeyError
from arena.generation.base import Sample
from arena.judging import sigmoid_preference
from arena.tournament.executor import Executor
from arena.tournament.store import PairKey, TournamentStore

Samples = dict[str, dict[str, list[Sample]]]  # entrant -> prompt -> samples


def pairings(
    entrants: Sequence[str], prompts: Sequence[str], samples: Samples
) -> Iterator[tuple[str, str, int, str, str]]:
    """(entrant a, entrant b, prompt index, text a, text b) for every match of the round robin."""
    for a, b in combinations(entrants, 2):
        for index, prompt in enumerate(prompts):
            for first in samples[a][prompt]:
                for second in samples[b][prompt]:
                    yield a, b, index, first.text, second.text


def pairwise_items(entrants: Sequence[str], prompts: Sequence[str], samples: Samples) -> list[PairKey]:
    items: dict[PairKey, None] = {}
    for _, _, index, text_a, text_b in pairings(entrants, prompts, samples):
        if text_a != text_b:
            prompt = prompts[index]
            items[(prompt, text_a, text_b)] = None
            items[(prompt, text_b, text_a)] = None
    return list(items)


def pointwise_items(
    entrants: Sequence[str], prompts: Sequence[str], samples: Samples
) -> list[tuple[str, str]]:
    items: dict[tuple[str, str], None] = {}
    for entrant in entrants:
        for prompt in prompts:
            for sample in samples[entrant][prompt]:
                items[(prompt, sample.text)] = None
    return list(items)


def run_judge(
    store: TournamentStore,
    executor: Executor,
    judge_name: str,
    fingerprint: str,
    items: list[Any],
    pointwise: bool,
    batch_size: int,
    on_batch: Callable[[int], None],
) -> int:
    """Judge what the cache lacks, a batch per transaction; returns how many items the judge was asked."""
    cached = store.scores(fingerprint) if pointwise else store.judgments(fingerprint)
    todo = [item for item in items if item not in cached]
    on_batch(len(items) - len(todo))  # what an earlier run already judged counts as done
    batches = [todo[start : start + batch_size] for start in range(0, len(todo), batch_size)]
    for batch, values, counters in executor.judge(batches, pointwise):
        _check_values(judge_name, values, batch, pointwise)
        store.add_judged(fingerprint, pointwise, list(zip(batch, values, strict=True)), counters)
        on_batch(len(batch))
    return len(todo)


def unreadable_share(counters: dict[str, int], items: int) -> tuple[int, int]:
    """(unreadable verdicts, verdicts) from a judge's counters: its `verdicts` counter when it keeps one
    (the LLM judge asks two orders per pair), else one verdict per item judged."""
    return counters.get("unreadable", 0), counters.get("verdicts", items)


def check_unreadable(
    judge_name: str, counters: dict[str, int], items: int, limit: float, store_path: str
) -> str | None:
    """Stops the run (RecipeKeyError, before anything is published) when more than `limit` of the judge's
    verdicts were unreadable: a board of ties by default is no ranking. Returns the line to print when
    some were unreadable within the limit, else None."""
    unreadable, verdicts = unreadable_share(counters, items)
    if unreadable == 0 or verdicts <= 0:
        return None
    share = f"{unreadable} of {verdicts} verdicts ({unreadable / verdicts:.1%})"
    if unreadable / verdicts > limit:
        raise RecipeKeyError(
            "judge.max_unreadable",
            f"judge '{judge_name}' could not read {share}, above the {limit:g} allowed; nothing was "
            f"published (its judgments are kept in {store_path}): fix the judge, or raise "
            "judge.max_unreadable to publish them",
        )
    return f"judge '{judge_name}' could not read {share}, within judge.max_unreadable = {limit:g}"


def _check_values(judge_name: str, values: Sequence[Any], batch: Sequence[Any], pointwise: bool) -> None:
    """A judge's bad values are refused before anything of the batch is stored."""
    if len(values) != len(batch):
        raise ArenaError(f"judge '{judge_name}' returned {len(values)} values for {len(batch)} items")
    for value, item in zip(values, batch, strict=True):
        number = float(value)
        bad = not math.isfinite(number) if pointwise else not (0.0 <= number <= 1.0)  # NaN fails too
        if bad:
            expected = "a finite score" if pointwise else "a probability in [0, 1]"
            raise ArenaError(
                f"judge '{judge_name}' returned {number!r} for prompt {item[0][:40]!r}; expected {expected} "
                "(nothing of this batch was stored)"
            )


def match_rows(
    entrants: Sequence[str],
    prompts: Sequence[str],
    samples: Samples,
    judgments: dict[PairKey, float],
    scores: dict[tuple[str, str], float],
    pointwise: bool,
    judge_name: str,
) -> list[dict[str, Any]]:
    """The match table: P(entrant a's response beats entrant b's) for every pairing, by prompt."""
    rows = []
    for a, b, index, text_a, text_b in pairings(entrants, prompts, samples):
        prompt = prompts[index]
        if text_a == text_b:
            p_a = 0.5
        elif pointwise:
            p_a = sigmoid_preference(scores[(prompt, text_a)], scores[(prompt, text_b)])
        else:
            p_a = 0.5 * (judgments[(prompt, text_a, text_b)] + 1.0 - judgments[(prompt, text_b, text_a)])
        rows.append(
            {
                "model_a": a,
                "model_b": b,
                "p_a": p_a,
                "prompt_id": index,
                "judge": judge_name,
                "response_a": text_a,  # for ratings.control: the responses' length and style
                "response_b": text_b,
            }
        )
    return rows
