"""Training a judge on the shared loop: preference rows, the held-out split, and held-out metrics.

A judge plugin that `arena train` can train has a config class naming its `TrainingArgs` and a factory
with `training_objective(args, context) -> Objective` (`arena.training.objective`). This module gives it
what every such objective needs:

- `JudgeTrainContext.preference_rows()`: (training rows, held-out rows), each a dict with `prompt`,
  `chosen`, `rejected` and `label` (P(chosen preferred), 1.0 for hard labels). From `data`, the held-out
  rows are every row of a seeded `data.eval_fraction` of the distinct prompts (held-out prompts are never
  trained on); from a task that `provides_pairs`, its `pairs_rows()` and `pairs_rows(split="eval")`.
- `JudgeObjective`: the loop's `Objective` for a judge; after the last step it asks the trained judge
  itself (its `compare`, the path every user of the judge takes) for P(chosen beats rejected) on the
  held-out rows and reports accuracy and log-loss in summary.json under `eval`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from arena.errors import RecipeKeyError
from arena.recipes import JudgeRecipe, LoraSettings
from arena.rows import load_rows, plain_text, split_by_prompt
from arena.tasks import Task
from arena.training.algorithm import MicroBatch, StepOutput
from arena.training.data import PAIR_COLUMNS, PAIR_OPTIONAL
from arena.training.examples import ExampleSource

Rows = list[dict[str, Any]]


@dataclass
class JudgeTrainContext:
    """What the host hands a judge's training objective: the backbone to load, the rows, and the settings
    its collate and wrapper use."""

    backbone: str  # the recipe's `backbone`: a model directory or hub id (errors on it: RecipeKeyError)
    train_rows: Rows
    held_out_rows: Rows
    device: torch.device
    max_length: int  # training.max_length
    batch_size: int  # training.batch_size (the evaluation's forward passes)
    lora: LoraSettings | None = None  # the recipe's `lora:` (docs/lora.md)

    def preference_rows(self) -> tuple[Rows, Rows]:
        """(training rows, held-out rows); see the module docstring."""
        return self.train_rows, self.held_out_rows

    def load_options(self) -> dict[str, Any]:
        """Extra `from_pretrained` options for the backbone: QLoRA's quantization (`lora.quantize`), or {}."""
        from arena.training.lora import load_options

        return load_options(self.lora, self.device)

    def trainable(self, model: Any) -> TrainableModel:
        """What trains: the loaded model itself, or with `lora:` its adapters and its head (peft keeps the
        head whole and trainable), the final/ directory then the merged classifier with final/adapter."""
        from arena.policy import save_policy

        if self.lora is None:
            return TrainableModel(
                model,
                model,
                lambda directory, tokenizer: save_policy(model, tokenizer, directory, overwrite=True),
            )
        from arena.training import lora

        peft_model = lora.attach_lora(model, self.lora, task_type="SEQ_CLS", source=self.backbone)
        return TrainableModel(
            peft_model,
            lora.AdapterParameters(peft_model),
            lambda directory, tokenizer: lora.save_lora(peft_model, tokenizer, directory, merge=True),
        )


@dataclass
class TrainableModel:
    """A judge's model in training: `model` is called, `parameters` is what the optimizer trains and
    checkpoints hold (the objective's `model`), `save(directory, tokenizer)` writes final/."""

    model: Any
    parameters: torch.nn.Module
    save: Callable[[Path, Any], Any]


def preference_rows(recipe: JudgeRecipe, task: Task | None) -> tuple[Rows, Rows]:
    """A judge recipe's (training rows, held-out rows): from `data`, or from the task's pairs."""
    if recipe.data is not None:
        rows = _checked(load_rows(recipe.data, PAIR_COLUMNS, optional=PAIR_OPTIONAL), "data")
        return split_by_prompt(rows, recipe.data.eval_fraction, recipe.training.seed)
    if task is None or not task.provides_pairs:
        raise RecipeKeyError(
            "data",
            f"missing required key (task '{recipe.task.name if recipe.task else '?'}' provides no "
            "preference pairs)",
        )
    return _checked(task.pairs_rows(), "task"), _checked(task.pairs_rows(split="eval"), "task")


def preference_metrics(probabilities: Sequence[float], labels: Sequence[float]) -> dict[str, float]:
    """Accuracy (P on the labelled side of 1/2; P = 1/2 counts half; rows labelled 1/2 are left out of
    accuracy) and log-loss (binary cross-entropy of P against the label, P clipped to [1e-12, 1 - 1e-12])."""
    right, decided, loss = 0.0, 0, 0.0
    for p, y in zip(probabilities, labels, strict=True):
        clipped = min(max(p, 1e-12), 1 - 1e-12)
        loss -= y * math.log(clipped) + (1 - y) * math.log(1 - clipped)
        if y != 0.5:
            decided += 1
            right += 0.5 if p == 0.5 else float((p > 0.5) == (y > 0.5))
    return {
        "accuracy": right / decided if decided else float("nan"),
        "log_loss": loss / len(labels) if labels else float("nan"),
    }


@dataclass
class JudgeObjective:
    """A judge on the Trainer loop. `judge` wraps the model being trained (in memory) for evaluation."""

    label: str
    model: torch.nn.Module
    examples: ExampleSource
    judge: Any
    held_out: Rows
    loss_fn: Callable[[Any], StepOutput]
    save_fn: Callable[[Path], None]
    summary: dict[str, Any] = field(default_factory=dict)
    starts_steps: bool = False

    def loss(self, batch: Any, micro_batch: MicroBatch) -> StepOutput:
        return self.loss_fn(batch)

    def start_step(self, step: int) -> None:
        pass

    def diagnostics(self) -> dict[str, Any]:
        return {}

    def evaluate(self) -> dict[str, Any]:
        if not self.held_out:
            return {"eval": None}
        rows = self.held_out
        with torch.no_grad():
            probabilities = self.judge.compare(
                [r["prompt"] for r in rows], [r["chosen"] for r in rows], [r["rejected"] for r in rows]
            )
        metrics = preference_metrics(probabilities, [r["label"] for r in rows])
        prompts = len({r["prompt"] for r in rows})
        return {"eval": {"pairs": len(rows), "prompts": prompts, **metrics}}

    def state_dict(self) -> dict[str, Any]:
        return {}  # a judge's training keeps nothing beyond its model and optimizer

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def save(self, directory: Path) -> None:
        self.save_fn(directory)


def _checked(rows: Rows, key: str) -> Rows:
    """Rows as text (conversations rendered by `plain_text`) with a float label in [0, 1] (default 1.0)."""
    result = []
    for index, row in enumerate(rows):
        label = row.get("label", 1.0)
        if label is None:
            label = 1.0
        if isinstance(label, bool) or not isinstance(label, (int, float)) or not 0 <= label <= 1:
            raise RecipeKeyError(key, f"row {index}: expected a label in [0, 1], got {label!r}")
        # Judges read text: a conversation is read as arena.rows.plain_text renders it, in training and in use.
        texts = {column: plain_text(row[column]) for column in PAIR_COLUMNS}
        result.append({**texts, "label": float(label)})
    return result
