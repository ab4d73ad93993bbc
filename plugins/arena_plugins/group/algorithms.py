"""GRPO and RLOO on the shared Trainer loop: G samples per prompt from the policy, rewards from the judge,
advantages relative to the group (docs/group.md has the derivations and the known answers).

The reward of a sample is the judge's `score` (a reward model, `reward-table`, `rule-reward`), or with a
pairwise judge its mean win probability against the other G - 1 samples of its group. Those win rates
average exactly 1/2 over a group (antisymmetry), and 1/2 is their baseline in both algorithms: a
leave-one-out mean of the others' win rates would contain each one's comparison with y_i itself and bias
the gradient, while E[r_i | y_i] = P(y_i beats pi) makes r_i - 1/2 unbiased.

A rollout is reused for `epochs` consecutive optimizer steps, as PPO's: one per Trainer micro-batch slot.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import torch

from arena.api import (
    ONLY_MICRO_BATCH,
    MicroBatch,
    OnlineAlgorithm,
    PointwiseJudge,
    Responses,
    StepOutput,
    TrainContext,
    buffers_from_state,
    buffers_state,
)
from arena_plugins.group import GRPOArgs, RLOOArgs
from arena_plugins.group.losses import (
    aggregate,
    clipped_surrogate,
    group_advantages,
    group_std,
    grouped,
    kl_estimate,
    leave_one_out,
    pair_rows,
    win_rates,
)

PAIRWISE_BASELINE = 0.5  # the group mean of win rates under an antisymmetric judge, exactly


@dataclass
class Rollout:
    responses: Responses
    old_logprobs: torch.Tensor  # (B, T) log pi_old, the policy that sampled
    rewards: torch.Tensor  # (B,) the judge's score, or the win rate within the group
    kl: torch.Tensor  # (B,) summed log(pi_old / mu) over each response's tokens
    advantages: torch.Tensor  # (B,)
    steps_left: int


class GroupAlgorithm(OnlineAlgorithm):
    """What GRPO and RLOO share: sampling a group per prompt, its rewards, the rollout buffers."""

    def __init__(self, args: GRPOArgs | RLOOArgs) -> None:
        self.args = args
        self.kl_coefficient = args.beta if args.beta > 0 else None
        # objective.py checks this before setup: `score` needs a pointwise judge. `auto` decides in setup.
        self.judge_use = "score" if args.reward == "score" else "compare"
        self.pairwise = args.reward == "pairwise"
        self.buffers: dict[int, Rollout] = {}

    def setup(self, context: TrainContext) -> None:
        super().setup(context)
        if self.args.reward == "auto":
            self.pairwise = not isinstance(self.judge, PointwiseJudge)

    @abc.abstractmethod
    def advantages(self, rewards: torch.Tensor, kl: torch.Tensor) -> torch.Tensor:
        """(B,) the advantage of each sample, from its reward and its summed log(pi_old / mu)."""

    def state_dict(self) -> dict[str, Any]:
        """Rollouts with epochs left: a run resumed between a rollout's epochs continues on its samples."""
        return buffers_state(self.buffers)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.buffers = buffers_from_state(state, Rollout)

    def rollout_for(self, prompts: list[str], micro_batch: MicroBatch) -> Rollout:
        buffer = self.buffers.get(micro_batch.index)
        if buffer is None or buffer.steps_left == 0:
            buffer = self.buffers[micro_batch.index] = self._rollout(prompts)
        buffer.steps_left -= 1
        return buffer

    @torch.no_grad()
    def _rollout(self, prompts: list[str]) -> Rollout:
        size = self.args.samples
        responses = self.rollouts.sample(prompts, size, beta=0.0)
        old_logprobs = self.rollouts.policy_logprobs(responses) * responses.mask
        kl = ((old_logprobs - responses.reference_logprobs) * responses.mask).sum(-1)
        rewards = self._rewards(responses, len(prompts)).to(old_logprobs.device)
        return Rollout(responses, old_logprobs, rewards, kl, self.advantages(rewards, kl), self.args.epochs)

    def _rewards(self, responses: Responses, groups: int) -> torch.Tensor:
        if not self.pairwise:
            return torch.tensor(self.judge.score(responses.prompts, responses.texts), dtype=torch.float32)
        rows_a, rows_b = pair_rows(groups, self.args.samples)
        if not self.last_prompts:
            self.last_prompts = list(dict.fromkeys(responses.prompts))
        preferences = self.judge.compare(
            [responses.prompts[a] for a in rows_a],
            [responses.texts[a] for a in rows_a],
            [responses.texts[b] for b in rows_b],
        )
        return win_rates(list(preferences), rows_a, rows_b, groups, self.args.samples)

    def metrics(self, buffer: Rollout) -> dict[str, torch.Tensor]:
        size = self.args.samples
        return {
            "reward": grouped(buffer.rewards, size).mean(1),
            "reward_std": group_std(buffer.rewards, size),
            "kl": grouped(buffer.kl, size).mean(1),
            "response_length": grouped(buffer.responses.lengths, size).mean(1),
        }


class GRPO(GroupAlgorithm):
    """GRPO (Shao et al. 2024, "DeepSeekMath", arXiv:2402.03300): the advantage of each of G samples is its
    reward standardised within its group; the loss is PPO's clipped ratio per token plus beta times a
    per-token KL estimate (k3 by default), averaged per response then over responses. `scale_rewards: none`
    with `loss_type: token` is Dr. GRPO (Liu et al. 2025, "Understanding R1-Zero-Like Training",
    arXiv:2503.20783), whose advantage r - mean_G has no 1/std factor."""

    args: GRPOArgs

    def advantages(self, rewards: torch.Tensor, kl: torch.Tensor) -> torch.Tensor:
        baseline = PAIRWISE_BASELINE if self.pairwise else None
        return group_advantages(rewards, self.args.samples, self.args.scale_rewards, baseline)

    def loss(self, prompts: list[str], micro_batch: MicroBatch = ONLY_MICRO_BATCH) -> StepOutput:
        buffer = self.rollout_for(prompts, micro_batch)
        responses, mask = buffer.responses, buffer.responses.mask
        logprobs = self.rollouts.policy_logprobs(responses) * mask
        surrogate, clipped = clipped_surrogate(
            logprobs, buffer.old_logprobs, buffer.advantages, self.args.clip_low, self.args.clip_high
        )
        per_token = surrogate
        if self.args.beta > 0:
            kl = kl_estimate(logprobs, responses.reference_logprobs, self.args.kl_estimator)
            per_token = per_token + self.args.beta * kl
        losses = aggregate(per_token, mask, self.args.samples, self.args.loss_type)
        metrics = self.metrics(buffer)
        clipped_tokens = grouped((clipped * mask).sum(-1), self.args.samples).sum(1)
        metrics["clip_fraction"] = clipped_tokens / grouped(mask.sum(-1), self.args.samples).sum(1)
        return StepOutput(losses, metrics)


class RLOO(GroupAlgorithm):
    """RLOO (Ahmadian et al. 2024, "Back to Basics: Revisiting REINFORCE Style Optimization for Learning
    from Human Feedback in LLMs", arXiv:2402.14740; the estimator of Kool et al. 2019): the reward of a
    sample is R_i = r_i - beta KL_i (KL_i = sum of log(pi_old / mu) over its tokens, no gradient), its
    advantage R_i - mean_{j != i} R_j, and the loss -A_i log pi(y_i) (summed over tokens), averaged over
    the batch. With a pairwise judge the win rate's baseline is 1/2 and the KL keeps its leave-one-out one."""

    args: RLOOArgs

    def advantages(self, rewards: torch.Tensor, kl: torch.Tensor) -> torch.Tensor:
        size = self.args.samples
        reward_part = rewards - PAIRWISE_BASELINE if self.pairwise else leave_one_out(rewards, size)
        return reward_part - self.args.beta * leave_one_out(kl, size)

    def loss(self, prompts: list[str], micro_batch: MicroBatch = ONLY_MICRO_BATCH) -> StepOutput:
        buffer = self.rollout_for(prompts, micro_batch)
        responses, mask = buffer.responses, buffer.responses.mask
        logprobs = self.rollouts.policy_logprobs(responses) * mask
        # On the first epoch the ratio is 1 and the gradient is A grad log pi(y): REINFORCE. Later epochs
        # clip the per-token ratio to the rollout policy as PPO does.
        surrogate, _ = clipped_surrogate(
            logprobs, buffer.old_logprobs, buffer.advantages, self.args.clip, self.args.clip
        )
        per_response = (surrogate * mask).sum(-1)
        losses = grouped(per_response, self.args.samples).mean(1)
        return StepOutput(losses, self.metrics(buffer))
