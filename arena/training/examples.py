"""The examples an objective trains on, the order the loop sees them in, and how they become batches.

The order is a fixed function of (seed, step): epoch e is a seeded permutation of the examples, and step
s takes the next `batch_size` positions of that stream. Resuming at step s therefore sees exactly the
batches an uninterrupted run would, with no sampler state to save.

Weighted pairs (a `weight` column): the step's loss is sum(w l) / sum(w) over its global batch. Every
process computes the whole global batch's indices (`batch_indices`), so each knows that batch's total
weight without communicating; the pairs it collates for the step then carry w x B / sum(w), and the
Trainer's reduction (per-example losses summed over micro-batches and processes, divided by B) gives the
weighted mean exactly, under gradient accumulation and any number of processes.

`ExampleSource` is the same for every objective; what differs is its `collate` (indices -> a batch on
the device). Policy algorithms get theirs from `load_examples` (pairs carry the frozen reference's
log-probs, computed for every example in one pass before training: `cache_reference_logprobs`); a judge
builds its own (`arena.training.judges`).
"""

from __future__ import annotations

import functools
import math
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
    PAIR_WEIGHT,
    PairExample,
    Tokenized,
    check_pair_weights,
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
        """The global batch of `step`. Weighted pairs collated after this call are weighted relative to
        this batch's total weight (the loop collates each step's micro-batches right after it)."""
        count = len(self.examples)
        indices = []
        for position in range(step * batch_size, (step + 1) * batch_size):
            epoch, offset = divmod(position, count)
            indices.append(self._permutation(seed, epoch)[offset])
        if isinstance(self.collate_indices, PolicyCollator):
            self.collate_indices.start_step(indices)
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
    """Batches of a policy algorithm: completions, or pairs with the frozen reference's summed log-probs
    (computed for every example before training by `cache_reference_logprobs`)."""

    kind: str
    examples: list[Any]
    pad_id: int
    device: torch.device
    reference: Any = None  # a frozen Policy whose log-probs pair batches carry; released once they are cached
    reference_logprobs: torch.Tensor | None = None  # (examples, 2): chosen, rejected
    # Weighted pairs: B / sum(w) of the current step's global batch (`start_step`); None: of all examples
    # (held-out evaluation, callers outside the loop), so the mean over them is the weighted mean.
    weight_scale: float | None = None

    @functools.cached_property
    def weighted(self) -> bool:
        return self.kind == "pairs" and any(e.weight != 1.0 for e in self.examples)

    @functools.cached_property
    def _scale_of_all(self) -> float:
        return len(self.examples) / math.fsum(e.weight for e in self.examples)

    def start_step(self, indices: Sequence[int]) -> None:
        """Weigh the pairs of the step whose global batch is `indices` against that batch's total weight."""
        if self.weighted:
            self.weight_scale = len(indices) / math.fsum(self.examples[i].weight for i in indices)

    def __call__(self, indices: Sequence[int]) -> Any:
        chosen = [self.examples[i] for i in indices]
        if self.kind == "completions":
            return to_device(collate_completions(chosen, self.pad_id), self.device)
        if self.reference is not None and self.reference_logprobs is None:
            cache_reference_logprobs([self], batch_size=len(indices))  # a caller outside the Trainer loop
        reference = None
        if self.reference_logprobs is not None:
            rows = self.reference_logprobs[list(indices)]
            reference = torch.cat([rows[:, 0], rows[:, 1]])
        scale = None
        if self.weighted:  # unweighted pairs carry no weights: the plain mean, computed as before
            scale = self.weight_scale if self.weight_scale is not None else self._scale_of_all
        return to_device(collate_pairs(chosen, self.pad_id, reference, scale), self.device)


def pair_collators(source: ExampleSource) -> list[PolicyCollator]:
    """The collators of a source and its held-out examples that attach reference log-probs to pairs."""
    sources = [source] + ([source.held_out] if source.held_out is not None else [])
    return [
        s.collate_indices
        for s in sources
        if isinstance(s.collate_indices, PolicyCollator) and s.collate_indices.reference is not None
    ]


@torch.no_grad()
def cache_reference_logprobs(
    collators: Sequence[PolicyCollator], batch_size: int, *, show_progress: bool = False
) -> None:
    """The reference's summed log-probs of every pair of `collators` (training and held-out examples
    alike), in one pass of `batch_size` pairs at a time, longest first (less padding); then each collator
    lets go of the reference, so that nothing holds it any more (offline algorithms: a second model's
    weights off the device for the whole run). The caller runs this under the training's autocast, so the
    reference's log-probs have the precision the policy's get (the margin is 0 at step 0, to rounding)."""
    from arena import console

    if not collators:
        return
    reference = collators[0].reference
    work = [(c, i) for c in collators for i in range(len(c.examples))]
    work.sort(key=lambda item: -_row_length(item[0].examples[item[1]]))  # stable: ties keep their order
    results = {id(c): torch.zeros((len(c.examples), 2), dtype=torch.float32) for c in collators}
    with console.progress("reference log-probs", len(work), enabled=show_progress) as bar:
        for start in range(0, len(work), batch_size):
            part = work[start : start + batch_size]
            batch = collate_pairs([c.examples[i] for c, i in part], collators[0].pad_id, None)
            values = pair_logprobs(reference.model, to_device(batch, collators[0].device)).float().cpu()
            for row, (collator, index) in enumerate(part):
                results[id(collator)][index] = torch.stack([values[row], values[len(part) + row]])
            bar.update(0, advance=len(part))
    for collator in collators:
        collator.reference_logprobs = results[id(collator)]
        collator.reference = None


def _row_length(example: PairExample) -> int:
    return len(example.prompt_ids) + max(len(example.chosen_ids), len(example.rejected_ids))


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
        optional = (*PAIR_OPTIONAL, PAIR_WEIGHT) if kind == "pairs" else ()
        rows = load_rows(recipe.data, columns, optional=optional)
        if kind == "pairs":
            check_pair_weights(rows, recipe.data.path, recipe.data.columns.get(PAIR_WEIGHT, PAIR_WEIGHT))
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
    reduction the training log uses), in batches of `batch_size`. Weighted pairs carry w x N / sum(w) over
    the N held-out pairs, so the loss is their weighted mean; the metrics stay plain means."""
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
