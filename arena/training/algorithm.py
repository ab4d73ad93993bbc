"""What an algorithm plugin implements, and what the Trainer hands it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import torch

from arena.policy import Policy

DataKind = Literal["pairs", "completions", "prompts"]  # prompts: online algorithms roll out themselves


@dataclass
class StepOutput:
    """Per-example losses (the Trainer reduces them) and per-example metrics to log (means are logged)."""

    losses: torch.Tensor
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class TrainContext:
    """Everything an algorithm may use. The policy trains; the reference (when asked for) is frozen."""

    policy: Policy
    reference: Policy | None
    task: Any | None
    device: torch.device
    out_dir: Path
    recipe: Any
    recipe_file: str
    plugins: Any  # the PluginHost, for judges and backends


class Algorithm(Protocol):
    data: DataKind  # which examples the Trainer loads and batches for it
    needs_reference: bool  # the Trainer loads (or copies) a frozen reference policy

    def setup(self, context: TrainContext) -> None:
        """Called once before training (after the reference exists)."""
        ...

    def loss(self, batch: Any) -> StepOutput: ...


@dataclass
class PairBatch:
    """Chosen rows first, then rejected rows: one forward pass scores both."""

    input_ids: torch.Tensor  # (2B, L)
    attention_mask: torch.Tensor
    completion_mask: torch.Tensor
    reference_logprobs: torch.Tensor | None  # (2B,) summed over completion tokens, precomputed
    labels: torch.Tensor  # (B,) probability that `chosen` is preferred (1.0 for hard labels)

    @property
    def pairs(self) -> int:
        return self.input_ids.shape[0] // 2


@dataclass
class CompletionBatch:
    input_ids: torch.Tensor  # (B, L)
    attention_mask: torch.Tensor
    completion_mask: torch.Tensor


def split_pairs(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    half = values.shape[0] // 2
    return values[:half], values[half:]


def completion_lengths(batch: PairBatch | CompletionBatch) -> torch.Tensor:
    return batch.completion_mask.sum(-1).clamp(min=1).to(torch.float32)
