"""Training data: rows through `datasets` (or from a task), tokenised into examples, batched into tensors.

Rows longer than `max_length` are cut from the left of the prompt (the completion is what is learned);
a completion that alone does not fit is cut from the right. Every cut is counted and reported.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from arena.errors import RecipeKeyError
from arena.generation.logprobs import right_padded_pairs
from arena.policy import Policy
from arena.recipes import DataSettings
from arena.training.algorithm import CompletionBatch, PairBatch

PAIR_COLUMNS = ("prompt", "chosen", "rejected")
PAIR_OPTIONAL = ("label",)  # P(chosen is preferred); 1.0 when the data has no label column
COMPLETION_COLUMNS = ("prompt", "completion")
_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}


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


def load_rows(
    data: DataSettings,
    columns: Sequence[str],
    key: str = "data",
    optional: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Rows with the columns a run reads, named as it reads them (after `data.columns` renames).

    `columns` must be there; `optional` ones (e.g. a pair's `label`) are kept when they are. Every rename
    must name a column the run reads and a column the file has: a rename that matched nothing would
    otherwise leave the run reading a same-named column of the file instead. `key` is where the recipe
    names this data, for error messages (`data`, `prompts`).
    """
    table = _load_table(data, key)
    available = list(table.column_names)
    readable = [*columns, *optional]
    listing = f"(columns: {', '.join(available)})"
    for target, source in data.columns.items():
        if target not in readable:
            raise RecipeKeyError(
                f"{key}.columns.{target}",
                f"expected one of the columns this run reads ({', '.join(readable)}), got '{target}'",
            )
        if source not in available:
            raise RecipeKeyError(
                f"{key}.columns.{target}", f"column '{source}' not in '{data.path}' {listing}"
            )
    for column in columns:
        source = data.columns.get(column, column)
        if source not in available:
            raise RecipeKeyError(
                f"{key}.columns.{column}" if key == "data" else f"{key}.column",
                f"column '{source}' not in '{data.path}' {listing}",
            )
    sources = {target: data.columns.get(target, target) for target in readable}
    sources = {target: source for target, source in sources.items() if source in available}
    if data.limit is not None:
        table = table.select(range(min(data.limit, len(table))))
    table = table.select_columns(list(dict.fromkeys(sources.values())))
    rows = [{target: row[source] for target, source in sources.items()} for row in table]
    if not rows:
        raise RecipeKeyError(f"{key}.path", f"'{data.path}' has no rows")
    return rows


def _load_table(data: DataSettings, key: str) -> Any:
    """The split `data.split` of a local file, a saved dataset or a hub dataset, as a `datasets.Dataset`."""
    import datasets

    datasets.disable_progress_bars()
    path = Path(data.path).expanduser()
    try:
        if path.is_file():
            builder = _BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise RecipeKeyError(
                    f"{key}.path",
                    f"expected a .jsonl, .json, .csv or .parquet file, got '{data.path}'",
                )
            # A file is one split, "train"; slices of it ("train[:80%]") read as they do on the hub.
            return datasets.load_dataset(builder, data_files=str(path), split=data.split)
        if path.is_dir() and (path / "dataset_dict.json").exists():  # save_to_disk of several splits
            splits = datasets.load_from_disk(str(path))
            if data.split not in splits:
                raise RecipeKeyError(
                    f"{key}.split",
                    f"expected one of the splits of '{data.path}' ({', '.join(splits)}), got '{data.split}'",
                )
            return splits[data.split]
        if path.is_dir() and (path / "dataset_info.json").exists():  # save_to_disk of one dataset
            if data.split != "train":
                raise RecipeKeyError(
                    f"{key}.split",
                    f"expected 'train': '{data.path}' is one saved dataset without splits, "
                    f"got '{data.split}'",
                )
            return datasets.load_from_disk(str(path))
        return datasets.load_dataset(data.path, split=data.split)
    except RecipeKeyError:
        raise
    except Exception as exc:  # datasets raises many types for unreadable data
        reason = " ".join(str(exc).split())[:200]
        where = "split" if "split" in reason.lower() else "path"
        raise RecipeKeyError(
            f"{key}.{where}", f"cannot read '{data.path}' (split '{data.split}'): {reason}"
        ) from None


def split_by_prompt(
    rows: list[dict[str, Any]], fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training rows, held-out rows): every row of a seeded `fraction` of the distinct prompts is held
    out (at least one prompt when fraction > 0), so that no held-out prompt is ever trained on."""
    if fraction <= 0:
        return rows, []
    prompts = list(dict.fromkeys(str(row["prompt"]) for row in rows))
    if len(prompts) < 2:
        raise RecipeKeyError(
            "data.eval_fraction",
            f"expected data with at least 2 distinct prompts to hold some out, got {len(prompts)}",
        )
    count = min(len(prompts) - 1, max(1, round(fraction * len(prompts))))
    held_out = set(random.Random(seed).sample(prompts, count))
    return (
        [r for r in rows if str(r["prompt"]) not in held_out],
        [r for r in rows if str(r["prompt"]) in held_out],
    )


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
