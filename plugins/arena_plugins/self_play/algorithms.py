"""Online IPO, IPO-MD, SPPO and online DPO on the shared Trainer loop (self-play against the policy itself,
or the geometric mixture with the reference)."""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F

from arena.api import (
    ONLY_MICRO_BATCH,
    MicroBatch,
    OnlineAlgorithm,
    Policy,
    Responses,
    StepOutput,
    online_metrics,
    split_responses,
)
from arena_plugins.self_play import IPOMDArgs, OnlineDPOArgs, OnlineIPOArgs, SPPOArgs


class OnlineIPO(OnlineAlgorithm):
    def __init__(self, args: OnlineIPOArgs | IPOMDArgs) -> None:
        self.args = args
        self.kl_coefficient = args.tau

    def loss(self, prompts: list[str], micro_batch: MicroBatch = ONLY_MICRO_BATCH) -> StepOutput:
        with torch.no_grad():
            both = self.rollouts.sample(prompts, 2, beta=self.args.beta)
        first, second = split_responses(both)
        preference = self.prefer(first, second)
        _, ratio = self.log_ratios(both)
        h = ratio[0::2] - ratio[1::2]
        # IPO with a soft label p: the expected loss over labels is minimal at h = (p - 1/2) / tau.
        losses = (h - (preference - 0.5) / self.args.tau) ** 2
        return StepOutput(losses, online_metrics(preference, ratio[0::2], first, len(prompts)))


class IPOMD(OnlineIPO):
    """Online IPO whose two samples come from the geometric mixture (beta = 0.5 by default)."""


class OnlineDPO(OnlineAlgorithm):
    def __init__(self, args: OnlineDPOArgs) -> None:
        self.args = args
        self.kl_coefficient = args.beta

    def loss(self, prompts: list[str], micro_batch: MicroBatch = ONLY_MICRO_BATCH) -> StepOutput:
        with torch.no_grad():
            both = self.rollouts.sample(prompts, 2, beta=0.0)
        first, second = split_responses(both)
        preference = self.prefer(first, second)
        # The judge picks: the first is chosen with probability P(first beats second).
        sign = 2.0 * torch.bernoulli(preference.cpu()).to(preference.device) - 1.0
        _, ratio = self.log_ratios(both)
        h = sign * (ratio[0::2] - ratio[1::2])
        losses = -F.logsigmoid(self.args.beta * h)
        return StepOutput(losses, online_metrics(preference, ratio[0::2], first, len(prompts)))


class SPPO(OnlineAlgorithm):
    def __init__(self, args: SPPOArgs) -> None:
        self.args = args
        self.previous: Policy | None = None

    def start_step(self, step: int) -> None:
        """pi_t becomes the current policy every `iteration_steps` optimizer steps (not micro-batches)."""
        if self.previous is None or step % self.args.iteration_steps == 0:
            model = copy.deepcopy(self.policy.model).requires_grad_(False).eval()
            self.previous = Policy(model, self.policy.tokenizer, f"{self.policy.source} (previous)")

    def state_dict(self) -> dict[str, Any]:
        """pi_t: a resumed run keeps the snapshot the interrupted one took, mid-iteration too."""
        return {} if self.previous is None else {"previous": self.previous.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "previous" in state:
            model = copy.deepcopy(self.policy.model).requires_grad_(False).eval()
            model.load_state_dict(state["previous"])
            self.previous = Policy(model, self.policy.tokenizer, f"{self.policy.source} (previous)")

    def loss(self, prompts: list[str], micro_batch: MicroBatch = ONLY_MICRO_BATCH) -> StepOutput:
        if self.previous is None:  # called outside the Trainer loop
            self.start_step(0)
        k = self.args.samples
        with torch.no_grad():
            samples = self.rollouts.sample(prompts, k, beta=0.0, opponent=self.previous)
            win = self._win_rates(samples, len(prompts), k)  # P-hat(y > pi_t), from the other samples
            previous = (self.rollouts.policy_logprobs(samples, self.previous) * samples.mask).sum(-1)
        current = (self.rollouts.policy_logprobs(samples) * samples.mask).sum(-1)
        per_response = (current - previous - self.args.eta * (win - 0.5)) ** 2
        losses = per_response.reshape(len(prompts), k).mean(1)
        ratio = current.detach() - (samples.reference_logprobs * samples.mask).sum(-1)
        return StepOutput(losses, online_metrics(win, ratio, samples, len(prompts)))

    def _win_rates(self, samples: Responses, groups: int, k: int) -> torch.Tensor:
        """Mean over the other k - 1 samples of the same prompt of P(y_i beats y_j) (one call per pair)."""
        rows_a, rows_b = [], []
        for g in range(groups):
            for i in range(k):
                for j in range(i + 1, k):
                    rows_a.append(g * k + i)
                    rows_b.append(g * k + j)
        values = self.judge.compare(
            [samples.prompts[a] for a in rows_a],
            [samples.texts[a] for a in rows_a],
            [samples.texts[b] for b in rows_b],
        )
        total = torch.zeros(groups * k)
        for a, b, p in zip(rows_a, rows_b, values, strict=True):
            total[a] += p
            total[b] += 1.0 - p  # the judges are antisymmetric: P(b beats a) = 1 - P(a beats b)
        return (total / (k - 1)).to(self.policy.device)
