"""Log-probabilities of completions: log pi(y_t | x, y_<t) per token and summed, chunked over the sequence.

A (batch, length, vocab) float32 logits tensor is what runs a GPU out of memory first (8 x 1024 x
150k x 4 bytes = 4.9 GB). Here the model body runs once, and the LM head plus log-softmax run on
`chunk_size` positions at a time, so only a (batch, chunk_size, vocab) slice of logits ever exists.
With gradients on (training), each chunk is checkpointed: backward recomputes its logits instead of
keeping them. Prompt positions before the earliest completion are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

from arena.generation.tensors import positions_from_mask
from arena.policy import Policy

DEFAULT_CHUNK_SIZE = 64


@dataclass(frozen=True)
class ScoredCompletion:
    token_logprobs: tuple[float, ...]  # one per completion token
    logprob: float  # their sum


def token_logprobs(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    completion_mask: torch.Tensor,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> torch.Tensor:
    """(batch, length) log pi(input_ids[:, t] | input_ids[:, :t]) where `completion_mask` is 1, else 0.

    Differentiable. `completion_mask[:, 0]` must be 0 (the first token has no prefix to condition on).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    body, head = model.get_decoder(), model.get_output_embeddings()
    hidden = body(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=positions_from_mask(attention_mask)
    ).last_hidden_state
    result = torch.zeros(input_ids.shape, dtype=torch.float32, device=input_ids.device)
    targets_mask = completion_mask.bool()
    if not targets_mask.any():
        return result
    # Position t predicts token t + 1: start one before the earliest completion token in the batch.
    first = int(targets_mask.any(0).nonzero()[0]) - 1
    scale = _logit_transform(model.config)
    for start in range(first, input_ids.shape[1] - 1, chunk_size):
        stop = min(start + chunk_size, input_ids.shape[1] - 1)
        states, targets = hidden[:, start:stop], input_ids[:, start + 1 : stop + 1]
        if torch.is_grad_enabled():
            chunk = checkpoint(_chunk_logprobs, head, states, targets, scale, use_reentrant=False)
        else:
            chunk = _chunk_logprobs(head, states, targets, scale)
        result[:, start + 1 : stop + 1] = chunk
    return result * targets_mask


def head_logprobs(
    model: Any, hidden: torch.Tensor, targets: torch.Tensor, *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> torch.Tensor:
    """(batch, n) float32 log pi(targets[:, i] | state hidden[:, i]): the LM head and log-softmax applied to
    `chunk_size` states at a time (checkpointed when gradients are on), as `token_logprobs` does; for
    callers that choose which hidden state predicts which token themselves (packed pair rows)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    head, scale = model.get_output_embeddings(), _logit_transform(model.config)
    chunks = []
    for start in range(0, targets.shape[1], chunk_size):
        states, chunk_targets = hidden[:, start : start + chunk_size], targets[:, start : start + chunk_size]
        if torch.is_grad_enabled():
            chunks.append(
                checkpoint(_chunk_logprobs, head, states, chunk_targets, scale, use_reentrant=False)
            )
        else:
            chunks.append(_chunk_logprobs(head, states, chunk_targets, scale))
    if not chunks:
        return torch.zeros(targets.shape, dtype=torch.float32, device=targets.device)
    return torch.cat(chunks, dim=1)


def _chunk_logprobs(
    head: torch.nn.Module, states: torch.Tensor, targets: torch.Tensor, scale: tuple[float, float | None]
) -> torch.Tensor:
    logits = head(states).float()
    multiplier, softcap = scale
    if multiplier != 1.0:
        logits = logits * multiplier
    if softcap is not None:
        logits = torch.tanh(logits / softcap) * softcap
    return torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def _logit_transform(config: Any) -> tuple[float, float | None]:
    """What a model's own forward does to the LM head's output (Cohere, Granite, Gemma 2/3 do some)."""
    multiplier = float(getattr(config, "logit_scale", None) or 1.0)
    granite_scaling = getattr(config, "logits_scaling", None)
    if granite_scaling:
        multiplier /= float(granite_scaling)
    softcap = getattr(config, "final_logit_softcapping", None)
    return multiplier, (float(softcap) if softcap else None)


def right_padded_pairs(
    prompt_ids: Sequence[Sequence[int]], completion_ids: Sequence[Sequence[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, completion_mask) for prompt + completion rows, padded on the right."""
    rows = [list(p) + list(c) for p, c in zip(prompt_ids, completion_ids, strict=True)]
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    completion_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, (row, prompt) in enumerate(zip(rows, prompt_ids, strict=True)):
        input_ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention_mask[index, : len(row)] = 1
        completion_mask[index, len(prompt) : len(row)] = 1
    return input_ids, attention_mask, completion_mask


@torch.no_grad()
def score_completions(
    policy: Policy,
    prompts: Sequence[str],
    completions: Sequence[Sequence[int]] | Sequence[str],
    *,
    batch_size: int = 16,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> list[ScoredCompletion]:
    """log pi(completion | prompt) for each pair. Completions are token ids (as a backend returns them)
    or text (encoded without special tokens: append the EOS token yourself if it should count)."""
    if len(prompts) != len(completions):
        raise ValueError(f"got {len(prompts)} prompts and {len(completions)} completions")
    tokenizer = policy.tokenizer
    completion_ids = [
        tokenizer(c, add_special_tokens=False)["input_ids"] if isinstance(c, str) else list(c)
        for c in completions
    ]
    prompt_ids = policy.encode_prompts(prompts)
    if any(not ids for ids in prompt_ids):
        raise ValueError("every prompt must encode to at least one token (the first has no prefix)")
    scored: list[ScoredCompletion] = []
    for start in range(0, len(prompt_ids), batch_size):
        prompts_part = prompt_ids[start : start + batch_size]
        completions_part = completion_ids[start : start + batch_size]
        tensors = right_padded_pairs(prompts_part, completions_part, tokenizer.pad_token_id)
        input_ids, attention_mask, completion_mask = (t.to(policy.device) for t in tensors)
        values = token_logprobs(
            policy.model, input_ids, attention_mask, completion_mask, chunk_size=chunk_size
        )
        for row, (prompt, completion) in enumerate(zip(prompts_part, completions_part, strict=True)):
            per_token = values[row, len(prompt) : len(prompt) + len(completion)].double().tolist()
            scored.append(ScoredCompletion(tuple(per_token), float(sum(per_token))))
    return scored
