"""Training data: rows (read by arena/rows.py, or from a task) tokenised into examples, batched into tensors.

Rows longer than `max_length` are cut from the left of the prompt (the completion is what is learned);
a completion that alone does not fit is cut from the right. Every cut is counted and reported.

Conversational rows (`arena.rows.Conversation` cells: lists of {role, content} messages) are tokenised as
TRL tokenises them: the prompt is the chat template of its messages with the generation prompt; a
completion is the template of prompt + completion messages with the prompt's tokens taken off the front,
so it holds exactly what the template writes for the assistant turn(s), end-of-turn tokens included, and
no EOS is appended. Where the prompt alone renders differently from the start of the whole conversation,
the completion starts where the two diverge (for a pair: the earlier of chosen's and rejected's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from arena.errors import ArenaError, RecipeKeyError
from arena.generation.logprobs import right_padded_pairs
from arena.policy import Policy, encode_conversation
from arena.rows import Conversation, to_conversation

# Rows are read in arena/rows.py; these names stay importable from here for the training modules.
from arena.training.algorithm import CompletionBatch, PairBatch

PAIR_COLUMNS = ("prompt", "chosen", "rejected")
PAIR_OPTIONAL = ("label",)  # P(chosen is preferred); 1.0 when the data has no label column
# A policy's pairs may also weigh each row (`weight`, a positive number; 1.0 when the data has no such
# column): the step's loss is then the weighted mean sum(w l) / sum(w) (`collate_pairs`). Judges do not
# read it.
PAIR_WEIGHT = "weight"
COMPLETION_COLUMNS = ("prompt", "completion")


@dataclass(frozen=True)
class PairExample:
    prompt_ids: tuple[int, ...]
    chosen_ids: tuple[int, ...]
    rejected_ids: tuple[int, ...]
    label: float = 1.0  # P(chosen is preferred); 1.0 for hard labels
    weight: float = 1.0  # the row's weight in the step's weighted mean loss


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
    """Pair examples; `add_eos` appends the EOS id to text completions (a template writes its own end)."""
    examples, truncated = [], 0
    for row, (prompt, (good, bad)) in zip(
        rows, _encode_rows(rows, policy, ("chosen", "rejected"), add_eos), strict=True
    ):
        fitted_prompt, (good, bad), cut = fit_to_length(prompt, [good, bad], max_length)
        truncated += cut
        label = float(row.get("label", 1.0))
        weight = float(row.get(PAIR_WEIGHT, 1.0))
        examples.append(PairExample(tuple(fitted_prompt), tuple(good), tuple(bad), label, weight))
    return Tokenized(examples, truncated)


def tokenize_completions(
    rows: Sequence[dict[str, Any]], policy: Policy, max_length: int, add_eos: bool
) -> Tokenized:
    """Completion examples (SFT); `add_eos` as for pairs."""
    examples, truncated = [], 0
    for prompt, (completion,) in _encode_rows(rows, policy, ("completion",), add_eos):
        fitted_prompt, (fitted,), cut = fit_to_length(prompt, [completion], max_length)
        truncated += cut
        examples.append(CompletionExample(tuple(fitted_prompt), tuple(fitted)))
    return Tokenized(examples, truncated)


def _encode_rows(
    rows: Sequence[dict[str, Any]], policy: Policy, columns: tuple[str, ...], add_eos: bool
) -> list[tuple[list[int], list[list[int]]]]:
    """(prompt ids, ids of each completion column) per row, text rows batched, conversational ones one
    at a time through the chat template."""
    chat = [_is_conversational(row, columns) for row in rows]
    text_rows = [row for row, is_chat in zip(rows, chat, strict=True) if not is_chat]
    prompts = policy.encode_prompts([str(row["prompt"]) for row in text_rows]) if text_rows else []
    completions = [_encode_completions(policy, [row[c] for row in text_rows], add_eos) for c in columns]
    encoded_text = iter(zip(prompts, zip(*completions, strict=True), strict=True))
    result = []
    for row, is_chat in zip(rows, chat, strict=True):
        if is_chat:
            result.append(_encode_conversational(row, policy, columns))
        else:
            prompt, ids = next(encoded_text)
            result.append((prompt, list(ids)))
    return result


def _is_conversational(row: dict[str, Any], columns: tuple[str, ...]) -> bool:
    """Whether a row's prompt and completions are messages (rows read by arena.rows are checked to be all
    one kind; a task's rows may hold plain lists of messages)."""
    return any(isinstance(row[c], (list, tuple)) for c in ("prompt", *columns))


def _encode_conversational(
    row: dict[str, Any], policy: Policy, columns: tuple[str, ...]
) -> tuple[list[int], list[list[int]]]:
    prompt = _conversation(row, "prompt")
    prompt_ids = encode_conversation(policy.tokenizer, prompt, add_generation_prompt=True)
    wholes = [
        encode_conversation(policy.tokenizer, prompt + _conversation(row, c), add_generation_prompt=False)
        for c in columns
    ]
    # The completion starts where the prompt alone and the whole conversation stop agreeing: after the
    # prompt for most templates, earlier for one that renders the generation prompt differently.
    shared = min(_common_prefix(prompt_ids, whole) for whole in wholes)
    return prompt_ids[:shared], [whole[shared:] for whole in wholes]


def _conversation(row: dict[str, Any], column: str) -> Conversation:
    value = row[column]
    if not isinstance(value, (list, tuple)):
        raise ArenaError(
            f"a conversational row has text in '{column}': expected {{role, content}} messages in "
            "prompt and completions alike"
        )
    return to_conversation(value, column)


def _common_prefix(first: Sequence[int], second: Sequence[int]) -> int:
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return length


def _encode_completions(policy: Policy, texts: Sequence[Any], add_eos: bool) -> list[list[int]]:
    if not texts:
        return []
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


def check_pair_weights(rows: Sequence[dict[str, Any]], path: str, column: str, key: str = "data") -> None:
    """Every row's `weight` (read from the file's `column`) is a finite positive number: one line naming
    the file, row and column otherwise (a zero or negative weight has no weighted mean to take part in)."""
    for index, row in enumerate(rows):
        if PAIR_WEIGHT not in row:
            continue
        value = row[PAIR_WEIGHT]
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        if number is None or not math.isfinite(number) or number <= 0:
            raise RecipeKeyError(
                key,
                f"'{path}' row {index + 1}, column '{column}': expected a positive number, got {value!r}",
            )


def collate_pairs(
    examples: Sequence[PairExample],
    pad_id: int,
    reference_logprobs: torch.Tensor | None,
    weight_scale: float | None = None,
) -> PairBatch:
    """A batch of pairs. With `weight_scale`, it carries weights w * weight_scale: a loss multiplied by
    them and summed over the step's global batch of B pairs, then divided by B (the Trainer's reduction),
    is sum(w l) / sum(w) when weight_scale = B / sum(w) over that batch (`PolicyCollator`)."""
    prompts = [e.prompt_ids for e in examples] * 2
    completions = [e.chosen_ids for e in examples] + [e.rejected_ids for e in examples]
    input_ids, attention_mask, completion_mask = right_padded_pairs(prompts, completions, pad_id)
    labels = torch.tensor([e.label for e in examples], dtype=torch.float32)
    weights = None
    if weight_scale is not None:
        weights = torch.tensor([e.weight * weight_scale for e in examples], dtype=torch.float32)
    return PairBatch(input_ids, attention_mask, completion_mask, reference_logprobs, labels, weights)


def collate_completions(examples: Sequence[CompletionExample], pad_id: int) -> CompletionBatch:
    input_ids, attention_mask, completion_mask = right_padded_pairs(
        [e.prompt_ids for e in examples], [e.completion_ids for e in examples], pad_id
    )
    return CompletionBatch(input_ids, attention_mask, completion_mask)
