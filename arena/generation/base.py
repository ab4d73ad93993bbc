"""What every generation backend shares: sampling settings, the sample it returns, and its protocol.

This module imports no torch, so plugin registration and recipe validation stay cheap.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingSettings:
    """How to sample. temperature 0 is greedy; top_k 0 and top_p 1 switch those filters off.

    The field names match a recipe's `generation:` section, so `SamplingSettings.of(recipe.generation)`.
    """

    max_new_tokens: int = 128
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @classmethod
    def of(cls, settings: Any) -> SamplingSettings:
        """Copy the matching fields of any settings object (e.g. a recipe's GenerationSettings)."""
        if isinstance(settings, cls):
            return settings
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls) if hasattr(settings, f.name)})


@dataclass(frozen=True)
class Sample:
    """One completion of one prompt.

    `token_ids` are the sampled tokens, ending with the EOS token when `finish_reason` is "stop"; `text`
    is their decoding without special tokens. `logprob` is the sum over `token_ids` of log pi(token |
    prefix) under the sampling model itself (temperature 1, no top-k/top-p), the quantity training and
    scoring use, so that it equals `arena.generation.logprobs.score_completions` on the same tokens.
    """

    prompt: str
    text: str
    token_ids: tuple[int, ...]
    logprob: float
    finish_reason: FinishReason


@runtime_checkable
class Backend(Protocol):
    """Turns prompts into `n` samples each. The same seed gives the same samples.

    `model` is a model directory or a hub id; the `hf` backend also takes a loaded `arena.policy.Policy`
    (an online algorithm rolls out the policy it is training).
    """

    def generate(
        self, model: Any, prompts: Sequence[str], n: int, sampling: SamplingSettings
    ) -> list[list[Sample]]:
        """`n` samples per prompt, in prompt order: result[i][j] is the j-th sample of prompts[i]."""
        ...

    def close(self) -> None:
        """Free the loaded model (and its memory); the next `generate` loads again."""
        ...


def request_seed(seed: int, index: int) -> int:
    """A seed for the `index`-th request of a call seeded with `seed`.

    Requests must not share a seed: two identical prompts would get identical samples. Hashing keeps
    the seeds of different calls apart too (seed + index would make call 1's prompt 0 call 0's prompt 1).
    """
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=7).digest()
    return int.from_bytes(digest, "big")


def check_request(prompts: Sequence[str], n: int) -> None:
    if isinstance(prompts, str):
        raise TypeError("prompts must be a sequence of strings, not one string")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")


def model_name(model: Any) -> str:
    """A model directory, hub id or Policy as a string (for messages and engine caches)."""
    source = getattr(model, "source", None)
    return str(source) if source is not None else os.fspath(model)
