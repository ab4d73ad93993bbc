"""The base of online algorithms: rollouts, the judge, log-ratios and the evaluation against the reference.

Every step an online algorithm rolls out fresh samples (`arena.training.rollouts`) for the batch's prompts,
asks the judge, and returns one loss per prompt. Logged per step by the built-in ones: the mean judge
preference the loss used, the KL to the reference of the policy's samples (summed log-ratio), and the
response length.
"""

from __future__ import annotations

from typing import Any

import torch

from arena.training.algorithm import Algorithm, JudgeUse, TrainContext
from arena.training.rollouts import Responses, Rollouts


class OnlineAlgorithm(Algorithm):
    """Trains on prompts: the host hands it the judge (`judge_use` says what it must do), the rollouts and
    the held-out prompts it evaluates on."""

    data = "prompts"
    needs_reference = True
    judge_use: JudgeUse | None = "compare"
    evaluates_prompts = True

    def setup(self, context: TrainContext) -> None:
        assert context.reference is not None and context.rollouts is not None and context.judge is not None
        self.policy, self.reference = context.policy, context.reference
        self.rollouts: Rollouts = context.rollouts
        self.judge: Any = context.judge
        self.eval_prompts: list[str] = list(context.eval_prompts)
        self.last_prompts: list[str] = []

    def prefer(self, responses_a: Responses, responses_b: Responses) -> torch.Tensor:
        """P(a beats b) for aligned rows, as a tensor on the policy's device."""
        if not self.last_prompts:
            self.last_prompts = list(dict.fromkeys(responses_a.prompts))
        values = self.judge.compare(responses_a.prompts, responses_a.texts, responses_b.texts)
        return torch.tensor(values, dtype=torch.float32, device=self.policy.device)

    def log_ratios(self, responses: Responses) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token log pi (with gradients) and log(pi / mu) per response (summed)."""
        token_logprobs = self.rollouts.policy_logprobs(responses) * responses.mask
        ratio = token_logprobs.sum(-1) - (responses.reference_logprobs * responses.mask).sum(-1)
        return token_logprobs, ratio

    def evaluate(self) -> dict[str, Any]:
        """P(policy sample beats reference sample) under the judge, on held-out prompts: did training help?"""
        prompts = (self.eval_prompts or self.last_prompts or [""]) * 256
        prompts = prompts[:256]
        with torch.no_grad():
            ours = self.rollouts.sample(prompts, 1, beta=0.0)
            theirs = self.rollouts.sample(prompts, 1, beta=1.0)
            return {
                "preference_vs_reference": float(self.prefer(ours, theirs).mean()),
                "evaluated_pairs": len(prompts),
            }


def online_metrics(preference: torch.Tensor, ratio: torch.Tensor, responses: Responses, groups: int) -> dict:
    return {
        "judge_preference": preference.detach().reshape(groups, -1).mean(1),
        "kl": ratio.detach().reshape(groups, -1).mean(1),
        "response_length": responses.lengths.reshape(groups, -1).mean(1),
    }


def split_responses(both: Responses) -> tuple[Responses, Responses]:
    def rows(start: int) -> Responses:
        return Responses(
            both.prompts[start::2],
            both.texts[start::2],
            both.token_ids[start::2],
            both.reference_logprobs[start::2],
            both.mask[start::2],
        )

    return rows(0), rows(1)
