"""What an algorithm plugin implements, and what the Trainer hands it (re-exported by `arena.api`)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch

from arena.policy import Policy

DataKind = Literal["pairs", "completions", "prompts"]  # prompts: online algorithms roll out themselves
# What an online algorithm asks of its judge: `compare` (P(a beats b)) or `score` (a pointwise reward).
JudgeUse = Literal["compare", "score"]


@dataclass
class StepOutput:
    """Per-example losses (the Trainer reduces them) and per-example metrics to log (means are logged)."""

    losses: torch.Tensor
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class MicroBatch:
    """Where a batch sits in the Trainer's step: step `step`, micro-batch `index` of `count` on this process.
    Outside the loop (held-out evaluation, tests) it is the only micro-batch of step 0."""

    step: int = 0
    index: int = 0
    count: int = 1


ONLY_MICRO_BATCH = MicroBatch()  # what a loss called outside the Trainer loop is given


@dataclass
class TrainContext:
    """What the host built for an algorithm: the policy it trains, the frozen reference (when it asked for
    one), and for online algorithms the judge, the rollouts and the held-out prompts."""

    policy: Policy
    reference: Policy | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    judge: Any | None = None  # online algorithms: the recipe's judge, else the task's oracle
    rollouts: Any | None = None  # online algorithms: a `Rollouts` (text, or the task's game actions)
    eval_prompts: Sequence[str] = ()  # data.eval_fraction's held-out prompts, else the task's eval split


class Algorithm(abc.ABC):
    """A training algorithm: a loss over batches of `data`. The Trainer owns devices, batching, the optimizer,
    checkpoints and logging; the optional hooks below default to doing nothing."""

    data: ClassVar[DataKind]  # which examples the Trainer loads and batches for it
    needs_reference: ClassVar[bool] = False  # the Trainer loads (or copies) a frozen reference policy
    judge_use: ClassVar[JudgeUse | None] = None  # online algorithms: the host builds a judge that can do this
    # The KL coefficient of the objective (DPO's beta, IPO's and Nash-MD's tau); a task's diagnostics
    # evaluate exploitability at it. None: the algorithm has none.
    kl_coefficient: float | None = None
    # An online algorithm that evaluates on held-out prompts (`context.eval_prompts`): only then may a
    # recipe hold prompts out with data.eval_fraction.
    evaluates_prompts: ClassVar[bool] = False

    def setup(self, context: TrainContext) -> None:  # noqa: B027 - an optional hook: a no-op unless overridden
        """Called once before training (after the reference exists)."""

    @abc.abstractmethod
    def loss(self, batch: Any, micro_batch: MicroBatch = ONLY_MICRO_BATCH) -> StepOutput:
        """Per-example losses of one micro-batch (`micro_batch` says which one of the step it is)."""

    def start_step(self, step: int) -> None:  # noqa: B027 - an optional hook: a no-op unless overridden
        """Before each optimizer step's micro-batches (e.g. Nash-MD updates its EMA opponent once a step)."""

    def evaluate(self) -> dict[str, Any]:
        """After the last step: fields for summary.json (e.g. online ones: P(policy beats reference))."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """What the algorithm keeps between steps besides the policy (a frozen snapshot, an EMA, a phase), as
        tensors and plain numbers: every checkpoint saves it (`algorithm.pt`) and `--resume` hands it back to
        `load_state_dict` after `setup`, so a resumed run continues as the uninterrupted one. {}: nothing."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 - an optional hook
        """Restore what `state_dict` returned (called once, after `setup`, on `--resume`)."""

    def before_save(self) -> None:  # noqa: B027 - an optional hook: a no-op unless overridden
        """Before the final model is saved (e.g. PPO removes its value head: the saved model is a plain LM)."""


@dataclass
class PairBatch:
    """Chosen rows first, then rejected rows: one forward pass scores both."""

    input_ids: torch.Tensor  # (2B, L)
    attention_mask: torch.Tensor
    completion_mask: torch.Tensor
    reference_logprobs: torch.Tensor | None  # (2B,) summed over completion tokens, precomputed
    labels: torch.Tensor  # (B,) probability that `chosen` is preferred (1.0 for hard labels)
    # (B,) the pairs' weights, scaled so that the Trainer's sum(losses) / B over the step's global batch of
    # B pairs is the weighted mean sum(w l) / sum(w): a pair algorithm multiplies its per-example losses by
    # them. None when every pair weighs 1 (the plain mean).
    weights: torch.Tensor | None = None

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
