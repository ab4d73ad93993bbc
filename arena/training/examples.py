"""The examples an objective trains on, the order the loop sees them in, and how they become batches.

The order is a fixed function of (seed, step): epoch e is a seeded permutation of the examples, and step
s takes the next `batch_size` positions of that stream. Resuming at step s therefore sees exactly the
batches an uninterrupted run would, with no sampler state to save.

`ExampleSource` is the same for every objective; what differs is its `collate` (indices -> a batch on
the device). Policy algorithms get theirs from `load_examples` (pairs carry the frozen reference's
log-probs, computed once per example); a judge builds its own (`arena.training.judges`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from arena.errors import RecipeKeyError
from arena.policy import Policy
from arena.rows import load_rows, split_by_prompt
from arena.tasks import Task
from arena.training.data import (
    COMPLETION_COLUMNS,
    PAIR_COLUMNS,
    PAIR_OPTIONAL,
    PairExample,
    Tokenized,
    collate_completions,
    collate_pairs,
    tokenize_completions,
    tokenize_pairs,
)
from arena.training.pair_scoring import pair_logprobs


@dataclass
class ExampleSource:
    examples: list[Any]
    collate_indices: Callable[[Sequence[int]], Any]  # indices into `examples` -> a batch on the device
    truncated: int = 0  # examples that were cut to fit training.max_length
    prompts: int = 0  # distinct prompts among the examples
    held_out: ExampleSource | None = None  # data.eval_fraction's examples: evaluated on, never trained on
    _permutations: dict[tuple[int, int], list[int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.examples)

    def batch_indices(self, step: int, batch_size: int, seed: int) -> list[int]:
        count = len(self.examples)
        indices = []
        for position in range(step * batch_size, (step + 1) * batch_size):
            epoch, offset = divmod(position, count)
            indices.append(self._permutation(seed, epoch)[offset])
        return indices

    def _permutation(self, seed: int, epoch: int) -> list[int]:
        key = (seed, epoch)
        if key not in self._permutations:
            self._permutations.clear()  # one epoch at a time is all a step needs (two at a boundary)
            generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            self._permutations[key] = torch.randperm(len(self.examples), generator=generator).tolist()
        return self._permutations[key]

    def collate(self, indices: Sequence[int]) -> Any:
        return self.collate_indices(indices)


@dataclass
class PolicyCollator:
    """Batches of a policy algorithm: completions, or pairs with the frozen reference's summed log-probs."""

    kind: str
    examples: list[Any]
    pad_id: int
    device: torch.device
    reference: Any = None  # a frozen Policy whose log-probs pair batches carry
    _reference_cache: dict[int, tuple[float, float]] = field(default_factory=dict)

    def __call__(self, indices: Sequence[int]) -> Any:
        chosen = [self.examples[i] for i in indices]
        if self.kind == "completions":
            return to_device(collate_completions(chosen, self.pad_id), self.device)
        reference = self._reference_logprobs(indices) if self.reference is not None else None
        return to_device(collate_pairs(chosen, self.pad_id, reference), self.device)

    @torch.no_grad()
    def _reference_logprobs(self, indices: Sequence[int]) -> torch.Tensor:
        """Summed reference log-probs (chosen rows, then rejected), each example computed once."""
        missing = sorted({i for i in indices if i not in self._reference_cache})
        if missing:
            batch = collate_pairs([self.examples[i] for i in missing], self.pad_id, None)
            batch = to_device(batch, self.device)
            values = pair_logprobs(self.reference.model, batch)
            half = len(missing)
            for row, index in enumerate(missing):
                self._reference_cache[index] = (float(values[row]), float(values[half + row]))
        pairs = [self._reference_cache[i] for i in indices]
        return torch.tensor([c for c, _ in pairs] + [r for _, r in pairs], dtype=torch.float32)


def load_examples(
    recipe: Any,
    algorithm: Any,
    task: Task | None,
    policy: Policy,
    reference: Policy | None,
    device: torch.device,
) -> ExampleSource:
    """A policy algorithm's examples: `data` (through `datasets`) or the task's rows, tokenised.

    With `data.eval_fraction`, every row of a seeded share of the prompts is held out (`held_out`): never
    trained on, evaluated on after the last step.
    """
    kind = algorithm.data
    if kind == "prompts":
        return _prompt_examples(recipe, task)
    columns = PAIR_COLUMNS if kind == "pairs" else COMPLETION_COLUMNS
    held_out_rows: list[dict[str, Any]] = []
    if recipe.data is not None:
        optional = PAIR_OPTIONAL if kind == "pairs" else ()
        rows = load_rows(recipe.data, columns, optional=optional)
        rows, held_out_rows = split_by_prompt(rows, recipe.data.eval_fraction, recipe.training.seed)
        add_eos = True
    elif task is not None and kind == "pairs" and task.provides_pairs:
        rows, add_eos = task.pairs_rows(), task.completions_end_with_eos
    elif task is not None and kind == "completions" and task.provides_completions:
        rows, add_eos = task.completions_rows(), task.completions_end_with_eos
    else:
        task_name = f"task '{recipe.task.name}'" if recipe.task else "no task"
        raise RecipeKeyError(
            "data", f"missing required key ({recipe.algorithm} trains on {kind}; {task_name} provides none)"
        )
    max_length = recipe.training.max_length
    pair_reference = reference if kind == "pairs" else None
    source = _tokenized_source(kind, rows, add_eos, policy, max_length, pair_reference, device)
    if held_out_rows:
        source.held_out = _tokenized_source(
            kind, held_out_rows, add_eos, policy, max_length, pair_reference, device
        )
    return source


def _tokenized_source(
    kind: str,
    rows: list[dict[str, Any]],
    add_eos: bool,
    policy: Policy,
    max_length: int,
    reference: Policy | None,
    device: torch.device,
) -> ExampleSource:
    tokenized: Tokenized = (
        tokenize_pairs(rows, policy, max_length, add_eos)
        if kind == "pairs"
        else tokenize_completions(rows, policy, max_length, add_eos)
    )
    warn_truncated(tokenized.truncated, len(rows), max_length)
    collator = PolicyCollator(kind, tokenized.examples, policy.tokenizer.pad_token_id, device, reference)
    prompts = len({row["prompt"] for row in rows})
    return ExampleSource(tokenized.examples, collator, tokenized.truncated, prompts=prompts)


def _prompt_examples(recipe: Any, task: Task | None) -> ExampleSource:
    """Online algorithms train on prompts: the `prompt` column of `data`, or the task's training prompts.
    With `data.eval_fraction` a seeded share of the data's prompts is held out (the algorithm evaluates on
    them instead of the task's eval prompts)."""
    held_out: list[str] = []
    if recipe.data is not None:
        rows = load_rows(recipe.data, ["prompt"])
        rows, held_out_rows = split_by_prompt(rows, recipe.data.eval_fraction, recipe.training.seed)
        prompts = [str(row["prompt"]) for row in rows]
        held_out = list(dict.fromkeys(str(row["prompt"]) for row in held_out_rows))
    elif task is not None:
        prompts = [str(p) for p in task.prompts("train")]
    else:
        raise RecipeKeyError(
            "data", f"missing required key ({recipe.algorithm} needs prompts: `data` or a task)"
        )

    def collate(indices: Sequence[int]) -> list[str]:
        return [prompts[i] for i in indices]

    source = ExampleSource(prompts, collate, prompts=len(set(prompts)))
    if held_out:
        source.held_out = ExampleSource(
            held_out, lambda indices: [held_out[i] for i in indices], prompts=len(held_out)
        )
    return source


@torch.no_grad()
def held_out_metrics(algorithm: Any, held_out: ExampleSource, batch_size: int) -> dict[str, Any]:
    """The algorithm's loss and logged metrics on the held-out examples, as means over examples (the
    reduction the training log uses), in batches of `batch_size`."""
    totals: dict[str, float] = {}
    count = len(held_out)
    for start in range(0, count, batch_size):
        output = algorithm.loss(held_out.collate(range(start, min(start + batch_size, count))))
        for name, values in {"loss": output.losses, **output.metrics}.items():
            totals[name] = totals.get(name, 0.0) + float(values.detach().float().sum())
    what = "pairs" if held_out.examples and isinstance(held_out.examples[0], PairExample) else "completions"
    return {
        what: count,
        "prompts": held_out.prompts,
        **{name: total / count for name, total in totals.items()},
    }


def warn_truncated(truncated: int, rows: int, max_length: int) -> None:
    if truncated:
        from arena.console import warn

        warn(
            f"{truncated} of {rows} examples were longer than training.max_length={max_length} "
            "and were cut (prompts from the left)"
        )


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor field of a batch dataclass to `device`."""
    for name, value in vars(batch).items():
        if isinstance(value, torch.Tensor):
            setattr(batch, name, value.to(device))
    return batch
