"""PPO (RLHF): rewards from a pointwise judge at the last token, a per-token KL penalty to the reference,
a value head, generalised advantage estimation, clipped policy and value losses.

A rollout is reused for `epochs` consecutive optimizer steps (the ratio pi / pi_old and its clipping matter
from the second on); the Trainer's gradient-accumulation micro-batches are PPO's minibatches, each with its
own rollout. The value head lives on the policy model during training (so the optimizer and checkpoints see
it) and is detached before the final model is saved, which stays a plain causal LM.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from arena.api import (
    ONLY_MICRO_BATCH,
    JudgeUse,
    MicroBatch,
    OnlineAlgorithm,
    Responses,
    StepOutput,
    TrainContext,
    buffers_from_state,
    buffers_state,
)
from arena_plugins.ppo import PPOArgs

HEAD, VALUE_MODEL = "arena_value_head", "arena_value_model"


@dataclass
class Rollout:
    responses: Responses
    old_logprobs: torch.Tensor  # (B, T)
    old_values: torch.Tensor  # (B, T)
    advantages: torch.Tensor  # (B, T), whitened
    returns: torch.Tensor  # (B, T)
    rewards: torch.Tensor  # (B,) the judge's
    kl: torch.Tensor  # (B,) summed log(pi_old / mu)
    steps_left: int


class PPO(OnlineAlgorithm):
    judge_use: JudgeUse | None = "score"  # rewards from a pointwise judge (a reward model)

    def __init__(self, args: PPOArgs) -> None:
        self.args = args
        self.kl_coefficient = args.tau
        self.buffers: dict[int, Rollout] = {}

    def setup(self, context: TrainContext) -> None:
        super().setup(context)
        model = self.policy.model
        hidden = model.config.hidden_size
        if self.args.value_head == "separate":
            model.add_module(
                VALUE_MODEL, copy.deepcopy(context.reference.model.get_decoder()).requires_grad_(True)
            )
        model.add_module(HEAD, torch.nn.Linear(hidden, 1).to(self.policy.device))
        torch.nn.init.zeros_(getattr(model, HEAD).weight)
        torch.nn.init.zeros_(getattr(model, HEAD).bias)

    def state_dict(self) -> dict[str, Any]:
        """Rollouts with epochs left: a run resumed between a rollout's epochs continues on its samples."""
        return buffers_state(self.buffers)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.buffers = buffers_from_state(state, Rollout)

    def before_save(self) -> None:
        for name in (HEAD, VALUE_MODEL):
            if hasattr(self.policy.model, name):
                delattr(self.policy.model, name)

    def loss(self, prompts: list[str], micro_batch: MicroBatch = ONLY_MICRO_BATCH) -> StepOutput:
        slot = micro_batch.index  # one rollout per micro-batch (PPO's minibatches)
        buffer = self.buffers.get(slot)
        if buffer is None or buffer.steps_left == 0:
            buffer = self.buffers[slot] = self._rollout(prompts)
        buffer.steps_left -= 1
        logprobs, values = self._forward(buffer.responses)
        mask = buffer.responses.mask
        ratio = torch.exp(logprobs - buffer.old_logprobs)
        clipped = torch.clamp(ratio, 1 - self.args.clip, 1 + self.args.clip)
        policy_loss = -torch.min(ratio * buffer.advantages, clipped * buffer.advantages)
        value_clipped = buffer.old_values + (values - buffer.old_values).clamp(
            -self.args.value_clip, self.args.value_clip
        )
        value_loss = 0.5 * torch.max((values - buffer.returns) ** 2, (value_clipped - buffer.returns) ** 2)
        per_token = policy_loss + self.args.value_coefficient * value_loss
        per_response = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)
        groups = len(per_response) // self.args.samples
        metrics = {
            "reward": buffer.rewards.reshape(groups, -1).mean(1),
            "kl": buffer.kl.reshape(groups, -1).mean(1),
            "response_length": buffer.responses.lengths.reshape(groups, -1).mean(1),
            "clip_fraction": (((ratio - 1).abs() > self.args.clip).float() * mask)
            .sum(-1)
            .reshape(groups, -1)
            .mean(1)
            / mask.sum(-1).reshape(groups, -1).mean(1),
        }
        return StepOutput(per_response.reshape(groups, -1).mean(1), metrics)

    @torch.no_grad()
    def _rollout(self, prompts: list[str]) -> Rollout:
        responses = self.rollouts.sample(prompts, self.args.samples, beta=0.0)
        logprobs, values = self._forward(responses)
        mask = responses.mask
        token_kl = (logprobs - responses.reference_logprobs) * mask
        rewards = torch.tensor(
            self.judge.score(responses.prompts, responses.texts), device=mask.device
        ).float()
        last = (mask.sum(-1) - 1).long()
        token_rewards = -self.args.tau * token_kl
        token_rewards[torch.arange(len(last)), last] += rewards
        advantages, returns = _gae(token_rewards, values, mask, self.args.gamma, self.args.lam)
        if self.args.whiten_advantages and mask.sum() > 1:
            mean = (advantages * mask).sum() / mask.sum()
            std = (((advantages - mean) ** 2 * mask).sum() / (mask.sum() - 1)).sqrt()
            advantages = (advantages - mean) / (std + 1e-8) * mask
        return Rollout(
            responses, logprobs, values, advantages, returns, rewards, token_kl.sum(-1), self.args.epochs
        )

    def _forward(self, responses: Responses) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token log pi and value V(s_t) (the state before token t), one pass of the backbone."""
        model = self.policy.model
        head = getattr(model, HEAD)
        hidden = self._hidden(model.get_decoder(), responses)
        logits = model.get_output_embeddings()(hidden).float()
        logprobs = self.rollouts.logprobs_from_logits(logits, responses)
        if self.args.value_head == "separate":
            hidden = self._hidden(getattr(model, VALUE_MODEL), responses)
        values = head(hidden.float()).squeeze(-1) * responses.mask
        return logprobs, values

    def _hidden(self, decoder: Any, responses: Responses) -> torch.Tensor:
        """Hidden states (B, T, H) at the positions that predict each response token."""
        from arena.api import positions_from_mask, right_padded_pairs

        prompt_ids = self.policy.encode_prompts(responses.prompts)
        tokens = list(responses.token_ids)  # an action's one token and a text's tokens alike
        input_ids, attention, _ = right_padded_pairs(prompt_ids, tokens, self.policy.tokenizer.pad_token_id)
        input_ids, attention = input_ids.to(self.policy.device), attention.to(self.policy.device)
        states = decoder(
            input_ids=input_ids, attention_mask=attention, position_ids=positions_from_mask(attention)
        )
        width = responses.mask.shape[1]
        index = torch.zeros(len(prompt_ids), width, dtype=torch.long, device=input_ids.device)
        for row, prompt in enumerate(prompt_ids):
            index[row] = torch.arange(
                len(prompt) - 1, len(prompt) - 1 + width, device=input_ids.device
            ).clamp(max=input_ids.shape[1] - 1)
        hidden = states.last_hidden_state.gather(
            1, index[..., None].expand(-1, -1, states.last_hidden_state.shape[-1])
        )
        return hidden


def _gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over each response's tokens (V = 0 after the last token)."""
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[0], device=rewards.device)
    for t in reversed(range(rewards.shape[1])):
        next_value = (
            values[:, t + 1] * mask[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(running)
        )
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    return advantages, (advantages + values) * mask
