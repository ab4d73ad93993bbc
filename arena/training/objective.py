"""What the one Trainer loop trains: an `Objective`, built from a recipe.

The loop owns devices, batching, the optimizer, checkpoints, metrics and outputs; an objective owns the
rest: which model is trained, the examples and how they are batched, the loss, what is logged beside
the loss, what is evaluated after the last step, and how the final model is saved.

- A `train` recipe gives a `PolicyObjective`: an algorithm plugin (DPO, IPO, SFT, ...) training a policy
  against its frozen reference, on pairs or completions from `data` or a task.
- A `judge` recipe gives the judge plugin's own objective (`JudgeClass.training_objective(args,
  context)`, see `arena.training.judges`): a reward or preference model trained on preference pairs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from arena.errors import ArenaError, RecipeError
from arena.judging import trainable
from arena.policy import Policy, load_policy
from arena.recipes import JudgeRecipe, TrainRecipe
from arena.training.algorithm import StepOutput, TrainContext
from arena.training.examples import ExampleSource, held_out_metrics, load_examples
from arena.training.recipe_use import check_recipe_use


class Objective(Protocol):
    label: str  # what the progress bar calls it: the algorithm's or the judge's name
    model: torch.nn.Module  # the parameters the optimizer trains (and checkpoints hold)
    examples: ExampleSource  # the training examples, in the loop's seeded order, and their collate
    summary: dict[str, Any]  # fields summary.json starts with (after `name`): {"algorithm": "dpo"}, ...

    def loss(self, batch: Any) -> StepOutput: ...

    def diagnostics(self) -> dict[str, Any]:
        """Extra fields for each logged step of metrics.jsonl (e.g. a game's action probabilities)."""
        ...

    def evaluate(self) -> dict[str, Any]:
        """After the last step: fields added to summary.json (e.g. held-out accuracy and log-loss)."""
        ...

    def save(self, directory: Path) -> None:
        """Write the final model (OUT/final), atomically."""
        ...


@dataclass
class PolicyObjective:
    """An algorithm plugin training a policy: what `arena train` runs for `kind: train`."""

    label: str
    model: torch.nn.Module
    examples: ExampleSource
    summary: dict[str, Any]
    algorithm: Any
    policy: Policy
    task: Any | None
    eval_batch_size: int = 8  # examples per forward pass on the held-out examples (data.eval_fraction)

    def loss(self, batch: Any) -> StepOutput:
        return self.algorithm.loss(batch)

    def start_step(self, step: int) -> None:
        """Before each optimizer step's micro-batches (e.g. Nash-MD updates its EMA opponent once a step)."""
        hook = getattr(self.algorithm, "start_step", None)
        if callable(hook):
            hook(step)

    def diagnostics(self) -> dict[str, Any]:
        if self.task is not None and hasattr(self.task, "diagnostics"):
            return self.task.diagnostics(self.policy, getattr(self.algorithm, "kl_coefficient", None))
        return {}

    def evaluate(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        held_out = self.examples.held_out
        if held_out is not None and self.algorithm.data != "prompts":  # online ones evaluate their own way
            result["eval"] = held_out_metrics(self.algorithm, held_out, self.eval_batch_size)
        evaluate = getattr(self.algorithm, "evaluate", None)  # e.g. online algorithms: P(policy > reference)
        return {**result, **(evaluate() if callable(evaluate) else {})}

    def save(self, directory: Path) -> None:
        detach = getattr(self.algorithm, "detach_training_modules", None)  # e.g. PPO's value head
        if callable(detach):
            detach()
        self.policy.save(directory, overwrite=True)


def build_objective(
    recipe: TrainRecipe | JudgeRecipe, recipe_file: str, plugins: Any, device: torch.device, out_dir: Path
) -> Objective:
    if isinstance(recipe, JudgeRecipe):
        return _judge_objective(recipe, recipe_file, plugins, device, out_dir)
    return _policy_objective(recipe, recipe_file, plugins, device, out_dir)


def check_trainable(recipe: JudgeRecipe, recipe_file: str, plugins: Any) -> None:
    """A judge recipe must name a judge that `arena train` can train; checked before anything loads."""
    entry = plugins.judges.get(recipe.judge)
    if trainable(entry.config) is None:
        names = [e.name for e in plugins.judges if trainable(e.config) is not None]
        raise RecipeError(
            recipe_file,
            "judge",
            f"judge '{recipe.judge}' cannot be trained by `arena train` "
            f"(trainable judges: {', '.join(names) or 'none installed'})",
        )


def _policy_objective(
    recipe: TrainRecipe, recipe_file: str, plugins: Any, device: torch.device, out_dir: Path
) -> PolicyObjective:
    algorithm = plugins.algorithms.get(recipe.algorithm).build(recipe.args)
    task = plugins.tasks.get(recipe.task.name).build(recipe.task.args) if recipe.task else None
    check_recipe_use(recipe, algorithm, task, recipe_file)  # before any model loads
    policy = _load(recipe_file, "policy", recipe.policy, dtype=torch.float32, device=device)
    if task is not None and hasattr(task, "prepare_policy"):
        task.prepare_policy(policy)  # e.g. a game sets the policy's action distribution to its reference
    reference = None
    if algorithm.needs_reference:
        reference = (
            _load(recipe_file, "reference", recipe.reference, device=device)
            if recipe.reference
            else copy.deepcopy(policy)
        )
        reference.model.requires_grad_(False).eval()
    context = TrainContext(policy, reference, task, device, out_dir, recipe, recipe_file, plugins)
    algorithm.setup(context)
    examples = load_examples(algorithm, context)
    if examples.held_out is not None and algorithm.data == "prompts":
        if not hasattr(algorithm, "eval_prompts"):
            raise RecipeError(
                recipe_file,
                "data.eval_fraction",
                f"expected 0: {recipe.algorithm} has no evaluation on held-out prompts (no eval_prompts)",
            )
        algorithm.eval_prompts = list(examples.held_out.examples)  # instead of the task's eval prompts
    return PolicyObjective(
        recipe.algorithm,
        policy.model,
        examples,
        {"algorithm": recipe.algorithm},
        algorithm,
        policy,
        task,
        eval_batch_size=recipe.training.batch_size,
    )


def _load(recipe_file: str, key: str, source: str, **options: Any) -> Policy:
    """A model the recipe names at `key`; a hub id that cannot load says so on that key (validation
    accepts hub ids offline: they are checked here)."""
    try:
        return load_policy(source, **options)
    except RecipeError:
        raise
    except ArenaError as exc:
        raise RecipeError(recipe_file, key, str(exc)) from exc


def _judge_objective(
    recipe: JudgeRecipe, recipe_file: str, plugins: Any, device: torch.device, out_dir: Path
) -> Objective:
    from arena.training.judges import JudgeTrainContext

    check_trainable(recipe, recipe_file, plugins)
    judge_class = plugins.judges.get(recipe.judge).load()
    if not hasattr(judge_class, "training_objective"):
        raise RecipeError(
            recipe_file, "judge", f"judge '{recipe.judge}' names TrainingArgs but has no training_objective"
        )
    task = plugins.tasks.get(recipe.task.name).build(recipe.task.args) if recipe.task else None
    context = JudgeTrainContext(recipe, recipe_file, plugins, task, device, out_dir)
    return judge_class.training_objective(recipe.args, context)
