"""Rollouts for online algorithms: sample responses and score them, with gradients, under the policy.

Two response spaces share one interface (`Rollouts`):

- `TextRollouts`: free text from a language model. Samples come from the KV-cached geometric-mixture
  sampler (beta = 0: the policy, 1: the reference), which returns each token's log-prob under the
  reference as it goes; the policy's log-probs are recomputed with gradients by the chunked scorer.
- a game's actions, one token each, from a task that `provides_game_rollouts` (the built-in games':
  `arena_plugins.games.actions`). The action distribution is the policy's softmax at the response
  position restricted to the action tokens, so sampling and scoring are exact and cheap.

With `generation: {backend: vllm}` the draws from the policy itself (beta = 0) come from a colocated
vLLM engine instead (`arena.training.vllm_rollouts`, docs/rollouts.md); everything else stays here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch

from arena.generation.base import SamplingSettings
from arena.generation.logprobs import right_padded_pairs, token_logprobs
from arena.policy import Policy
from arena.tasks import Task

if TYPE_CHECKING:
    from arena.recipes import RolloutSettings
    from arena.training.vllm_rollouts import RolloutEngine


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


class Rollouts(Protocol):
    def sample(
        self, prompts: Sequence[str], n: int, beta: float = 0.0, opponent: Policy | None = None
    ) -> Responses:
        """n responses per prompt from pi^(1-beta) mu^beta (`opponent` replaces pi, e.g. an EMA policy)."""
        ...

    def policy_logprobs(self, responses: Responses, holder: Policy | None = None) -> torch.Tensor:
        """(B, T) log pi of each response token, differentiable (zero past each end)."""
        ...

    def logprobs_from_logits(self, logits: torch.Tensor, responses: Responses) -> torch.Tensor:
        """(B, T) log pi of each response token from the LM head's logits (B, T, V) at the positions that
        predict them (PPO computes logits and values in one pass of the backbone)."""
        ...


class ActionSampler(Protocol):
    """Draws one-token game actions elsewhere than torch's multinomial: the host sets a game rollouts'
    `action_sampler` to one with `generation: {backend: vllm}` (`arena.training.vllm_rollouts`)."""

    def draw_actions(
        self, holder: Policy | None, prompt: str, token_ids: Sequence[int], count: int
    ) -> list[int]:
        """`count` draws from `holder`'s (None: the policy's) softmax at the response position restricted
        to `token_ids`: indices into `token_ids`."""
        ...


class TextRollouts:
    def __init__(self, policy: Policy, reference: Policy, sampling: SamplingSettings) -> None:
        self.policy, self.reference, self.sampling = policy, reference, sampling

    def sample(
        self, prompts: Sequence[str], n: int, beta: float = 0.0, opponent: Policy | None = None
    ) -> Responses:
        """n responses per prompt from pi^(1-beta) mu^beta (`opponent` replaces pi, e.g. an EMA policy)."""
        from arena.generation.mixture import sample_geometric_mixture

        sampling = SamplingSettings(**{**SamplingSettings.of(self.sampling).__dict__, "seed": draw_seed()})
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

    def logprobs_from_logits(self, logits: torch.Tensor, responses: Responses) -> torch.Tensor:
        width = responses.mask.shape[1]
        rows = [list(ids) + [0] * (width - len(ids)) for ids in responses.token_ids]
        targets = torch.tensor(rows, device=responses.mask.device)
        return torch.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1) * responses.mask


def draw_seed() -> int:
    """A sampler seed from torch's global generator, which the Trainer checkpoints (resume stays exact)."""
    return int(torch.randint(0, 2**62, (1,)).item())


def make_rollouts(
    policy: Policy,
    reference: Policy,
    task: Task | None,
    sampling: SamplingSettings,
    settings: RolloutSettings | None = None,
) -> tuple[Rollouts, RolloutEngine | None]:
    """The task's game rollouts where it provides them (exact one-token actions), text rollouts otherwise;
    with `backend: vllm` (in `settings`, the recipe's `generation:`) their policy draws come from a
    colocated vLLM engine, returned beside them: the Trainer syncs its weights (`RolloutEngine.start_step`)."""
    engine = None
    if settings is not None and settings.backend == "vllm":
        from arena.training.vllm_rollouts import RolloutEngine, VLLMActionSampler, VLLMTextRollouts

        engine = RolloutEngine(policy, settings)
    if task is not None and task.provides_game_rollouts:
        rollouts = task.game_rollouts(policy, reference)
        if engine is not None:
            rollouts.action_sampler = VLLMActionSampler(engine)
        return rollouts, engine
    if engine is not None:
        return VLLMTextRollouts(policy, reference, sampling, engine), engine
    return TextRollouts(policy, reference, sampling), None
