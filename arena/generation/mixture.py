"""The geometric-mixture sampler Nash-MD draws its opponent from, with a KV cache for both models.

Each token is drawn from softmax((1 - beta) * logits_policy + beta * logits_reference): the normalised
geometric mixture pi^(1-beta) * mu^beta (the log-softmax normalisers cancel inside the softmax). beta = 0
is the policy, beta = 1 the reference. The last public implementation re-ran both full models on the
whole sequence for every token; here each model runs on the prompt once and then on one new token per
step, reading its keys and values from the cache. `use_cache=False` keeps that old cost (two full
forward passes per token) as the benchmark's baseline; both draw the same tokens for the same seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from arena.errors import ArenaError
from arena.generation.base import FinishReason, SamplingSettings, check_request, request_seed
from arena.generation.sampling import next_tokens
from arena.generation.tensors import left_pad, positions_from_mask, trim_at_eos
from arena.policy import Policy


@dataclass(frozen=True)
class MixtureSample:
    """A completion drawn from the mixture, with its log-probs under the policy, reference and mixture.

    `*_token_logprobs` hold one value per token of `token_ids` (EOS included when "stop"); the sums are
    under each model's own distribution at temperature 1 (the quantities Nash-MD needs).
    """

    prompt: str
    text: str
    token_ids: tuple[int, ...]
    finish_reason: FinishReason
    policy_token_logprobs: tuple[float, ...]
    reference_token_logprobs: tuple[float, ...]
    mixture_token_logprobs: tuple[float, ...]

    @property
    def policy_logprob(self) -> float:
        return float(sum(self.policy_token_logprobs))

    @property
    def reference_logprob(self) -> float:
        return float(sum(self.reference_token_logprobs))

    @property
    def mixture_logprob(self) -> float:
        return float(sum(self.mixture_token_logprobs))


def sample_geometric_mixture(
    policy: Policy,
    reference: Policy,
    prompts: Sequence[str],
    *,
    beta: float,
    n: int = 1,
    sampling: SamplingSettings | None = None,
    batch_size: int = 16,
    use_cache: bool = True,
) -> list[list[MixtureSample]]:
    """`n` mixture samples per prompt (result[i][j]: the j-th of prompts[i]), in the policy's tokens."""
    check_request(prompts, n)
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    _check_same_vocabulary(policy, reference)
    sampling = SamplingSettings.of(sampling or SamplingSettings())
    results: list[list[MixtureSample]] = []
    for batch_index, start in enumerate(range(0, len(prompts), batch_size)):
        batch = list(prompts[start : start + batch_size])
        seed = request_seed(sampling.seed, batch_index)
        results.extend(_sample_batch(policy, reference, batch, beta, n, sampling, seed, use_cache))
    return results


@torch.inference_mode()
def _sample_batch(
    policy: Policy,
    reference: Policy,
    prompts: list[str],
    beta: float,
    n: int,
    sampling: SamplingSettings,
    seed: int,
    use_cache: bool,
) -> list[list[MixtureSample]]:
    device, tokenizer = policy.device, policy.tokenizer
    eos_ids = policy.eos_token_ids
    rows = [ids for ids in policy.encode_prompts(prompts) for _ in range(n)]
    sequence, attention_mask = left_pad(rows, tokenizer.pad_token_id, device)
    generator = torch.Generator(device=device).manual_seed(seed)
    eos = torch.tensor(eos_ids, device=device)
    finished = torch.zeros(len(rows), dtype=torch.bool, device=device)
    models = [_Stepper(policy.model, use_cache), _Stepper(reference.model, use_cache)]
    logits = [model.start(sequence, attention_mask) for model in models]
    tokens, per_model_logprobs = [], []
    for step in range(sampling.max_new_tokens):
        policy_logits, reference_logits = logits
        mixture_logits = (1.0 - beta) * policy_logits + beta * reference_logits
        token = next_tokens(mixture_logits, sampling, generator)
        # Rows that already ended keep drawing (batch shapes stay fixed); trim_at_eos drops those tokens.
        token = torch.where(finished, torch.full_like(token, tokenizer.pad_token_id), token)
        tokens.append(token)
        per_model_logprobs.append(
            torch.stack(
                [_logprob_of(x, token) for x in (policy_logits, reference_logits, mixture_logits)], dim=1
            )
        )
        finished |= torch.isin(token, eos)
        if bool(finished.all()) or step == sampling.max_new_tokens - 1:
            break
        attention_mask = torch.cat([attention_mask, torch.ones_like(attention_mask[:, :1])], dim=1)
        logits = [model.step(token, attention_mask) for model in models]
    logprobs = torch.stack(per_model_logprobs, 2)  # (rows, 3, steps)
    return _collect(prompts, n, tokenizer, eos_ids, torch.stack(tokens, 1), logprobs)


class _Stepper:
    """One model's forward passes: the prompt once, then one token per step (cached) or all again (not)."""

    def __init__(self, model: Any, use_cache: bool) -> None:
        self.model, self.use_cache = model, use_cache
        self.cache: Any = None
        self.sequence: torch.Tensor | None = None

    def start(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        self.sequence = input_ids
        return self._forward(input_ids, attention_mask, positions_from_mask(attention_mask))

    def step(self, token: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        assert self.sequence is not None
        self.sequence = torch.cat([self.sequence, token[:, None]], dim=1)
        positions = positions_from_mask(attention_mask)
        if self.use_cache:
            return self._forward(token[:, None], attention_mask, positions[:, -1:])
        return self._forward(self.sequence, attention_mask, positions)

    def _forward(self, input_ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        output = self.model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=self.cache if self.use_cache else None,
            use_cache=self.use_cache,
            logits_to_keep=1,  # only the last position's logits are ever needed
        )
        if self.use_cache:
            self.cache = output.past_key_values
        return output.logits[:, -1].float()


def _logprob_of(logits: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits, dim=-1).gather(-1, token[:, None]).squeeze(-1)


def _collect(
    prompts: list[str],
    n: int,
    tokenizer: Any,
    eos_ids: list[int],
    tokens: torch.Tensor,
    logprobs: torch.Tensor,
) -> list[list[MixtureSample]]:
    """logprobs: (rows, 3, steps) for policy, reference and mixture."""
    token_lists, values = tokens.cpu().tolist(), logprobs.double().cpu()
    results: list[list[MixtureSample]] = []
    for prompt_index, prompt in enumerate(prompts):
        samples = []
        for row in range(prompt_index * n, (prompt_index + 1) * n):
            token_ids, finish_reason = trim_at_eos(token_lists[row], eos_ids)
            kept = values[row, :, : len(token_ids)].tolist()
            samples.append(
                MixtureSample(
                    prompt=prompt,
                    text=tokenizer.decode(token_ids, skip_special_tokens=True),
                    token_ids=tuple(token_ids),
                    finish_reason=finish_reason,
                    policy_token_logprobs=tuple(kept[0]),
                    reference_token_logprobs=tuple(kept[1]),
                    mixture_token_logprobs=tuple(kept[2]),
                )
            )
        results.append(samples)
    return results


def _check_same_vocabulary(policy: Policy, reference: Policy) -> None:
    rows = [p.model.get_output_embeddings().weight.shape[0] for p in (policy, reference)]
    if rows[0] != rows[1] or policy.tokenizer.get_vocab() != reference.tokenizer.get_vocab():
        raise ArenaError(
            f"the policy '{policy.source}' and the reference '{reference.source}' have different "
            "vocabularies; a geometric mixture needs both to score the same tokens"
        )
    if policy.device != reference.device:
        raise ArenaError(
            f"the policy is on {policy.device} and the reference on {reference.device}; load both on one"
        )
