"""The judge protocol: who wins, as a probability. Judges work on text, never on another model's tokens.

A judge is anything with `compare(prompts, responses_a, responses_b) -> P(a beats b)`, batched. A
pointwise judge also has `score(prompts, responses) -> rewards`, and its `compare` is sigmoid(r_a - r_b)
(`pointwise_compare` scores each distinct response once). A pairwise judge that reads both responses
builds its verdict with `antisymmetric_compare`, which makes P(a > b) + P(b > a) = 1 and P(a > a) = 1/2
hold exactly, in floating point, whatever the underlying model does.

A judge may keep counters (`counters() -> {"verdicts": 40, "unreadable": 3, ...}`, running totals: a
tournament stores each call's difference beside its judgments and stops when too many verdicts are
`unreadable`, its `judge.max_unreadable`), and a judge that
`arena train` can train names its training config in its config class (`TrainingArgs`, see
`docs/judges.md`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Judge(Protocol):
    def compare(
        self, prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]
    ) -> list[float]:
        """P(response a beats response b) for each triple, in [0, 1]."""
        ...


@runtime_checkable
class PointwiseJudge(Judge, Protocol):
    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """A reward per response; `compare` is then sigmoid(r_a - r_b)."""
        ...


@runtime_checkable
class CountingJudge(Judge, Protocol):
    def counters(self) -> dict[str, int]:
        """Running totals (e.g. {"verdicts": 40, "unreadable": 3}); a tournament stores each call's
        difference beside its judgments and stops when too many verdicts are unreadable."""
        ...


class TrainableJudge(Judge, Protocol):
    """A judge `arena train` can train: its config class names `TrainingArgs` (the `args:` of a `kind:
    judge` recipe) and its factory has `training_objective(args, context) -> Objective`."""

    @classmethod
    def training_objective(cls, args: Any, context: Any) -> Any: ...


def check_batch(prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]) -> None:
    if not len(prompts) == len(responses_a) == len(responses_b):
        raise ValueError(
            f"compare() needs equal lengths, got {len(prompts)} prompts, "
            f"{len(responses_a)} responses a and {len(responses_b)} responses b"
        )
    check_texts(prompts, responses_a, responses_b)


def check_texts(*columns: Sequence[Any]) -> None:
    """Judges read text. Token ids belong to the policy's vocabulary, which a judge must never assume."""
    for column in columns:
        if isinstance(column, str):
            raise TypeError("a judge takes sequences of strings, not one string")
        for value in column:
            if not isinstance(value, str):
                raise TypeError(
                    f"a judge reads text, got {type(value).__name__}; decode token ids with the policy's "
                    "own tokenizer first (a judge re-tokenises with its own)"
                )


def sigmoid_preference(reward_a: float, reward_b: float) -> float:
    """P(a beats b) under Bradley-Terry, computed without overflow."""
    margin = reward_a - reward_b
    if margin >= 0:
        return 1.0 / (1.0 + math.exp(-margin))
    z = math.exp(margin)
    return z / (1.0 + z)


def pointwise_compare(
    score: Callable[[list[str], list[str]], list[float]],
    prompts: Sequence[str],
    responses_a: Sequence[str],
    responses_b: Sequence[str],
) -> list[float]:
    """sigmoid(r_a - r_b), each distinct (prompt, response) scored once by `score`.

    In a round robin of M models on P prompts a pairwise judge reads P M (M - 1) / 2 pairs; a pointwise
    judge scores P M responses. The same response always gets the same reward, so P(a > a) = 1/2.
    """
    check_batch(prompts, responses_a, responses_b)
    keys = list(
        dict.fromkeys([*zip(prompts, responses_a, strict=True), *zip(prompts, responses_b, strict=True)])
    )
    rewards = score([prompt for prompt, _ in keys], [response for _, response in keys])
    reward = dict(zip(keys, rewards, strict=True))
    return [
        sigmoid_preference(reward[(p, a)], reward[(p, b)])
        for p, a, b in zip(prompts, responses_a, responses_b, strict=True)
    ]


def antisymmetric_compare(
    one_order: Callable[[list[str], list[str], list[str]], list[float]],
    prompts: Sequence[str],
    responses_a: Sequence[str],
    responses_b: Sequence[str],
) -> list[float]:
    """P(a beats b) = (f(a, b) + 1 - f(b, a)) / 2 from a judge `f` that sees one order at a time.

    `one_order(prompts, first, second)` is f: P(first beats second) as the model reads them in that order.
    Averaging both orders cancels position bias. Exactness in floating point: each pair is put in a
    canonical order and each distinct pair is evaluated once (both orders in one call), so the model sees
    identical inputs however the caller orders a pair; the side that wins gets q = 1/2 + |d| / 2 (d the
    difference of the two orders) and the other side 1 - q, which is exact for q in [1/2, 1]. Hence
    P(a > b) + P(b > a) == 1 and P(a > a) == 0.5 exactly.
    """
    check_batch(prompts, responses_a, responses_b)
    canonical = [(p, min(a, b), max(a, b)) for p, a, b in zip(prompts, responses_a, responses_b, strict=True)]
    distinct = list(dict.fromkeys(key for key in canonical if key[1] != key[2]))
    if distinct:
        firsts = [x for _, x, _ in distinct] + [y for _, _, y in distinct]
        seconds = [y for _, _, y in distinct] + [x for _, x, _ in distinct]
        values = one_order([p for p, _, _ in distinct] * 2, firsts, seconds)
        if len(values) != 2 * len(distinct):
            raise RuntimeError(f"a judge returned {len(values)} verdicts for {2 * len(distinct)} pairs")
    half = len(distinct)
    verdict: dict[tuple[str, str, str], tuple[float, bool]] = {}  # P for the winner, and whether x won
    for index, key in enumerate(distinct):
        difference = float(values[index]) - float(values[half + index])  # f(x, y) - f(y, x)
        verdict[key] = (0.5 + abs(difference) / 2, difference >= 0)
    result = []
    for (prompt, x, y), a in zip(canonical, responses_a, strict=True):
        if x == y:
            result.append(0.5)
            continue
        winner_probability, x_won = verdict[(prompt, x, y)]
        a_is_winner = (a == x) == x_won
        result.append(winner_probability if a_is_winner else 1.0 - winner_probability)
    return result


def trainable(config: type | None) -> type | None:
    """The training config (`TrainingArgs`) a judge's config class names, or None: `arena train` can
    train a judge exactly when its config class has one."""
    return getattr(config, "TrainingArgs", None) if config is not None else None
