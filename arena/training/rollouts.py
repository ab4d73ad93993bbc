"""Rollouts for online algorithms: sample responses and score them, with gradients, under the policy.

Two response spaces share one interface:

- `TextRollouts`: free text from a language model. Samples come from the KV-cached geometric-mixture
  sampler (beta = 0: the policy, 1: the reference), which returns each token's log-prob under the
  reference as it goes; the policy's log-probs are recomputed with gradients by the chunked scorer.
- `ActionRollouts`: a game's actions, one token each. The action distribution is the policy's softmax at
  the response position restricted to the action tokens, so sampling and scoring are exact and cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from arena.generation.base import SamplingSettings
from arena.generation.logprobs import right_padded_pairs, token_logprobs
from arena.policy import Policy


@dataclass
class Responses:
    """A batch of sampled responses; `reference_logprobs[i, t]` is log mu of token t of response i."""

    prompts: list[str]
    texts: list[str]
    token_ids: list[tuple[int, ...]]
    reference_logprobs: torch.Tensor  # (B, T), zero past each response's end
    mask: torch.Tensor  # (B, T), 1 on response tokens

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(-1).float()


class TextRollouts:
    def __init__(self, policy: Policy, reference: Policy, sampling: SamplingSettings) -> None:
        self.policy, self.reference, self.sampling = policy, reference, sampling

    def sample(
        self, prompts: Sequence[str], n: int, beta: float = 0.0, opponent: Policy | None = None
    ) -> Responses:
        """n responses per prompt from pi^(1-beta) mu^beta (`opponent` replaces pi, e.g. an EMA policy)."""
        from arena.generation.mixture import sample_geometric_mixture

        sampling = SamplingSettings(**{**SamplingSettings.of(self.sampling).__dict__, "seed": _draw_seed()})
        groups = sample_geometric_mixture(
            opponent or self.policy, self.reference, list(prompts), beta=beta, n=n, sampling=sampling
        )
        flat = [s for group in groups for s in group]
        width = max(1, max(len(s.token_ids) for s in flat))
        reference = torch.zeros(len(flat), width)
        mask = torch.zeros(len(flat), width)
        for row, s in enumerate(flat):
            reference[row, : len(s.token_ids)] = torch.tensor(s.reference_token_logprobs)
            mask[row, : len(s.token_ids)] = 1
        device = self.policy.device
        return Responses(
            [s.prompt for s in flat],
            [s.text for s in flat],
            [s.token_ids for s in flat],
            reference.to(device),
            mask.to(device),
        )

    def policy_logprobs(self, responses: Responses, holder: Policy | None = None) -> torch.Tensor:
        """(B, T) log pi of each response token, differentiable (zero past each end); `holder` scores
        under another copy of the policy (a snapshot, an EMA) instead."""
        model = (holder or self.policy).model
        prompt_ids = self.policy.encode_prompts(responses.prompts)
        tensors = right_padded_pairs(prompt_ids, responses.token_ids, self.policy.tokenizer.pad_token_id)
        input_ids, attention_mask, completion_mask = (t.to(self.policy.device) for t in tensors)
        values = token_logprobs(model, input_ids, attention_mask, completion_mask)
        width = responses.mask.shape[1]
        rows = []
        for row, (prompt, tokens) in enumerate(zip(prompt_ids, responses.token_ids, strict=True)):
            picked = values[row, len(prompt) : len(prompt) + len(tokens)]
            rows.append(torch.nn.functional.pad(picked, (0, width - len(tokens))))
        return torch.stack(rows)


class ActionRollouts:
    """A single-token game: `task` is a GameTask whose actions are tokens of the policy's tokenizer."""

    def __init__(self, policy: Policy, reference: Policy, task: Any) -> None:
        from arena_plugins.games.actions import action_completions

        self.policy, self.reference, self.task = policy, reference, task
        self.texts, self.token_ids = action_completions(policy, task.game.actions)
        self.prompt = task.game.prompt

    def action_logprobs(self, model_holder: Policy) -> torch.Tensor:
        from arena_plugins.games.actions import action_logprobs

        return action_logprobs(model_holder, self.prompt, self.token_ids)

    def sample(
        self, prompts: Sequence[str], n: int, beta: float = 0.0, opponent: Policy | None = None
    ) -> Responses:
        with torch.no_grad():
            reference = self.action_logprobs(self.reference)
            own = self.action_logprobs(opponent or self.policy)
            mixture = torch.log_softmax((1 - beta) * own + beta * reference, dim=-1)
        count = len(prompts) * n
        # torch's global generator: the Trainer checkpoints it, so a resumed run draws the same actions.
        actions = torch.multinomial(mixture.exp().cpu(), count, replacement=True)
        device = self.policy.device
        return Responses(
            [self.prompt] * count,
            [self.texts[a] for a in actions.tolist()],
            [(self.token_ids[a],) for a in actions.tolist()],
            reference[actions.to(reference.device)].unsqueeze(1).to(device),
            torch.ones(count, 1, device=device),
        )

    def policy_logprobs(self, responses: Responses, holder: Policy | None = None) -> torch.Tensor:
        logprobs = self.action_logprobs(holder or self.policy)
        index = {token: i for i, token in enumerate(self.token_ids)}
        picked = torch.tensor([index[ids[0]] for ids in responses.token_ids], device=logprobs.device)
        return logprobs[picked].unsqueeze(1)


def _draw_seed() -> int:
    """A sampler seed from torch's global generator, which the Trainer checkpoints (resume stays exact)."""
    return int(torch.randint(0, 2**62, (1,)).item())


def make_rollouts(policy: Policy, reference: Policy, task: Any, sampling: SamplingSettings) -> Any:
    """Action rollouts for single-token games, text rollouts otherwise."""
    if task is not None and hasattr(task, "game"):
        return ActionRollouts(policy, reference, task)
    return TextRollouts(policy, reference, sampling)
