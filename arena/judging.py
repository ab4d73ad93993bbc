"""The judge protocol: who wins, as a probability. Judges work on text, never on another model's tokens."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable


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


def check_batch(prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]) -> None:
    if not len(prompts) == len(responses_a) == len(responses_b):
        raise ValueError(
            f"compare() needs equal lengths, got {len(prompts)} prompts, "
            f"{len(responses_a)} responses a and {len(responses_b)} responses b"
        )


def sigmoid_preference(reward_a: float, reward_b: float) -> float:
    """P(a beats b) under Bradley-Terry, computed without overflow."""
    margin = reward_a - reward_b
    if margin >= 0:
        return 1.0 / (1.0 + math.exp(-margin))
    z = math.exp(margin)
    return z / (1.0 + z)
