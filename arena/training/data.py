"""Training data: rows (read by arena/rows.py, or from a task) tokenised into examples, batched into tensors.

Rows longer than `max_length` are cut from the left of the prompt (the completion is what is learned);
a completion that alone does not fit is cut from the right. Every cut is counted and reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from arena.generation.logprobs import right_padded_pairs
from arena.policy import Policy

# Rows are read in arena/rows.py; these names stay importable from here for the training modules.
from arena.training.algorithm import CompletionBatch, PairBatch

PAIR_COLUMNS = ("prompt", "chosen", "rejected")
PAIR_OPTIONAL = ("label",)  # P(chosen is preferred); 1.0 when the data has no label column
COMPLETION_COLUMNS = ("prompt", "completion")


@dataclass(frozen=True)
class PairExample:
    prompt_ids: tuple[int, ...]
    chosen_ids: tuple[int, ...]
    rejected_ids: tuple[int, ...]
    label: float = 1.0  # P(chosen is preferred); 1.0 for hard labels


@dataclass(frozen=True)
class CompletionExample:
    prompt_ids: tuple[int, ...]
    completion_ids: tuple[int, ...]


@dataclass
class Tokenized:
    examples: list[Any]
    truncated: int  # rows that were cut to fit max_length


def tokenize_pairs(
    rows: Sequence[dict[str, Any]], policy: Policy, max_length: int, add_eos: bool
) -> Tokenized:
    prompts = policy.encode_prompts([str(row["prompt"]) for row in rows])
    chosen = _encode_completions(policy, [row["chosen"] for row in rows], add_eos)
    rejected = _encode_completions(policy, [row["rejected"] for row in rows], add_eos)
    examples, truncated = [], 0
    for row, prompt, good, bad in zip(rows, prompts, chosen, rejected, strict=True):
        fitted_prompt, (good, bad), cut = fit_to_length(prompt, [good, bad], max_length)
        truncated += cut
        label = float(row.get("label", 1.0))
        examples.append(PairExample(tuple(fitted_prompt), tuple(good), tuple(bad), label))
    return Tokenized(examples, truncated)


def tokenize_completions(
    rows: Sequence[dict[str, Any]], policy: Policy, max_length: int, add_eos: bool
) -> Tokenized:
    prompts = policy.encode_prompts([str(row["prompt"]) for row in rows])
    completions = _encode_completions(policy, [row["completion"] for row in rows], add_eos)
    examples, truncated = [], 0
    for prompt, completion in zip(prompts, completions, strict=True):
        fitted_prompt, (fitted,), cut = fit_to_length(prompt, [completion], max_length)
        truncated += cut
        examples.append(CompletionExample(tuple(fitted_prompt), tuple(fitted)))
    return Tokenized(examples, truncated)


def _encode_completions(policy: Policy, texts: Sequence[Any], add_eos: bool) -> list[list[int]]:
    encoded = policy.tokenizer([str(text) for text in texts], add_special_tokens=False)["input_ids"]
    eos = policy.tokenizer.eos_token_id
    return [list(ids) + ([eos] if add_eos and eos is not None else []) for ids in encoded]


def fit_to_length(
    prompt: list[int], completions: list[list[int]], max_length: int
) -> tuple[list[int], list[list[int]], int]:
    """Cut a prompt from the left (keeping one token), then completions from the right, to fit max_length;
    returns (prompt, completions, 1 if anything was cut else 0)."""
    longest = max(len(c) for c in completions)
    if len(prompt) + longest <= max_length:
        return prompt, completions, 0
    # Keep at least one prompt token: the first completion token must be conditioned on something.
    room = max(1, max_length - longest)
    prompt = prompt[-room:]
    completions = [c[: max_length - len(prompt)] for c in completions]
    return prompt, completions, 1


def collate_pairs(
    examples: Sequence[PairExample], pad_id: int, reference_logprobs: torch.Tensor | None
) -> PairBatch:
    prompts = [e.prompt_ids for e in examples] * 2
    completions = [e.chosen_ids for e in examples] + [e.rejected_ids for e in examples]
    input_ids, attention_mask, completion_mask = right_padded_pairs(prompts, completions, pad_id)
    labels = torch.tensor([e.label for e in examples], dtype=torch.float32)
    return PairBatch(input_ids, attention_mask, completion_mask, reference_logprobs, labels)


def collate_completions(examples: Sequence[CompletionExample], pad_id: int) -> CompletionBatch:
    input_ids, attention_mask, completion_mask = right_padded_pairs(
        [e.prompt_ids for e in examples], [e.completion_ids for e in examples], pad_id
    )
    return CompletionBatch(input_ids, attention_mask, completion_mask)
