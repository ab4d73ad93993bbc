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
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch

from arena.errors import ArenaError, RecipeKeyError
from arena.generation.base import SamplingSettings
from arena.judging import PointwiseJudge, trainable
from arena.policy import Policy, load_policy
from arena.recipes import JudgeRecipe, TrainRecipe
from arena.tasks import Task
from arena.training.algorithm import Algorithm, MicroBatch, StepOutput, TrainContext
from arena.training.examples import ExampleSource, held_out_metrics, load_examples
from arena.training.precision import apply_memory_settings, weights_dtype
from arena.training.recipe_use import check_recipe_use
from arena.training.rollouts import make_rollouts

if TYPE_CHECKING:
    from arena.training.vllm_rollouts import RolloutEngine


class Objective(Protocol):
    label: str  # what the progress bar calls it: the algorithm's or the judge's name
    model: torch.nn.Module  # the parameters the optimizer trains (and checkpoints hold)
    examples: ExampleSource  # the training examples, in the loop's seeded order, and their collate
    summary: dict[str, Any]  # fields summary.json starts with (after `name`): {"algorithm": "dpo"}, ...

    # start_step does something (the loop then gathers a sharded model for it before each step)
    starts_steps: bool

    def loss(self, batch: Any, micro_batch: MicroBatch) -> StepOutput: ...

    def start_step(self, step: int) -> None:
        """Before each optimizer step's micro-batches."""
        ...

    def diagnostics(self) -> dict[str, Any]:
        """Extra fields for each logged step of metrics.jsonl (e.g. a game's action probabilities)."""
        ...

    def evaluate(self) -> dict[str, Any]:
        """After the last step: fields added to summary.json (e.g. held-out accuracy and log-loss)."""
        ...

    def save(self, directory: Path) -> None:
        """Write the final model (OUT/final), atomically."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """What checkpoints keep besides the model and optimizer (the algorithm's own state; {}: none)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`'s result on `--resume`."""
        ...


@dataclass
class PolicyObjective:
    """An algorithm plugin training a policy: what `arena train` runs for `kind: train`."""

    label: str
    model: torch.nn.Module
    examples: ExampleSource
    summary: dict[str, Any]
    algorithm: Algorithm
    policy: Policy
    task: Task | None
    eval_batch_size: int = 8  # examples per forward pass on the held-out examples (data.eval_fraction)
    save_final: Callable[[Path], None] | None = None  # a LoRA run's final/ (arena.training.lora.save_lora)
    rollout_engine: RolloutEngine | None = None  # generation.backend vllm: the engine that follows the policy

    @property
    def starts_steps(self) -> bool:
        overridden = type(self.algorithm).start_step is not Algorithm.start_step
        return overridden or self.rollout_engine is not None

    def loss(self, batch: Any, micro_batch: MicroBatch) -> StepOutput:
        return self.algorithm.loss(batch, micro_batch)

    def start_step(self, step: int) -> None:
        if self.rollout_engine is not None:  # (the loop gathers a sharded policy around this call)
            self.rollout_engine.start_step(step)
        self.algorithm.start_step(step)

    def diagnostics(self) -> dict[str, Any]:
        if self.task is not None and self.task.provides_diagnostics:
            return self.task.diagnostics(self.policy, self.algorithm.kl_coefficient)
        return {}

    def evaluate(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        held_out = self.examples.held_out
        if held_out is not None and self.algorithm.data != "prompts":  # online ones evaluate their own way
            result["eval"] = held_out_metrics(self.algorithm, held_out, self.eval_batch_size)
        if self.rollout_engine is None:
            return {**result, **self.algorithm.evaluate()}
        self.rollout_engine.sync_now()  # the evaluation samples the trained policy
        try:
            return {**result, **self.algorithm.evaluate()}
        finally:
            self.rollout_engine.close()  # nothing samples after the evaluation

    def state_dict(self) -> dict[str, Any]:
        return self.algorithm.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.algorithm.load_state_dict(state)

    def save(self, directory: Path) -> None:
        self.algorithm.before_save()
        if self.save_final is not None:
            self.save_final(directory)
        else:
            self.policy.save(directory, overwrite=True)


def build_objective(
    recipe: TrainRecipe | JudgeRecipe, plugins: Any, device: torch.device, out_dir: Path
) -> Objective:
    if isinstance(recipe, JudgeRecipe):
        return _judge_objective(recipe, plugins, device)
    return _policy_objective(recipe, plugins, device)


def check_trainable(recipe: JudgeRecipe, plugins: Any) -> None:
    """A judge recipe must name a judge that `arena train` can train; checked before anything loads."""
    entry = plugins.judges.get(recipe.judge)
    if trainable(entry.config) is None:
        names = [e.name for e in plugins.judges if trainable(e.config) is not None]
        raise RecipeKeyError(
            "judge",
            f"judge '{recipe.judge}' cannot be trained by `arena train` "
            f"(trainable judges: {', '.join(names) or 'none installed'})",
        )


def build_algorithm(recipe: TrainRecipe, plugins: Any) -> Algorithm:
    algorithm = plugins.algorithms.get(recipe.algorithm).build(recipe.args)
    if not isinstance(algorithm, Algorithm):
        raise ArenaError(
            f"algorithm '{recipe.algorithm}': its factory returned {type(algorithm).__name__}, which is not "
            "an arena.api.Algorithm"
        )
    return algorithm


def check_train_plugins(recipe: TrainRecipe, plugins: Any) -> tuple[Algorithm, Task | None]:
    """The algorithm and task a train recipe names, built and checked against the contract, and no key set
    that they would ignore: what `arena train` checks before any model loads (and `recipes validate` too)."""
    algorithm = build_algorithm(recipe, plugins)
    task = plugins.build_task(recipe.task.name, recipe.task.args) if recipe.task else None
    check_recipe_use(recipe, algorithm, task)
    return algorithm, task


def _policy_objective(recipe: TrainRecipe, plugins: Any, device: torch.device) -> PolicyObjective:
    from arena.training import lora as lora_

    algorithm, task = check_train_plugins(recipe, plugins)  # before any model loads
    if recipe.lora is not None:
        lora_.check_parallelism()
    options = lora_.load_options(recipe.lora, device)  # QLoRA: the base quantized as it loads
    dtype = weights_dtype(recipe.training)  # training.dtype: the reference copy gets it too
    policy = _load("policy", recipe.policy, dtype=dtype, device=device, load_options=options)
    apply_memory_settings(policy.model, recipe.training)  # training.gradient_checkpointing, before LoRA
    if task is not None and task.prepares_policy:
        task.prepare_policy(policy)  # e.g. a game sets the policy's action distribution to its reference
    if recipe.lora is not None:  # adapters around the base, in place
        peft = lora_.attach_lora(policy.model, recipe.lora, task_type="CAUSAL_LM", source=recipe.policy)
        policy = Policy(peft, policy.tokenizer, policy.source)
    reference = None
    if algorithm.needs_reference:
        if recipe.lora is not None and not recipe.reference:  # the base itself: no second copy
            reference = Policy(lora_.AdaptersDisabled(policy.model), policy.tokenizer, policy.source)
        else:
            reference = (
                _load("reference", recipe.reference, device=device)
                if recipe.reference
                else copy.deepcopy(policy)
            )
            reference.model.requires_grad_(False).eval()
    examples = load_examples(recipe, algorithm, task, policy, reference, device)
    context = TrainContext(policy, reference, device)
    rollout_engine = None
    if algorithm.data == "prompts":
        if examples.held_out is not None and not algorithm.evaluates_prompts:
            raise RecipeKeyError(
                "data.eval_fraction",
                f"expected 0: {recipe.algorithm} has no evaluation on held-out prompts",
            )
        assert reference is not None, "online algorithms train against a reference"
        context.judge = _training_judge(recipe, algorithm, task, plugins)
        sampling = SamplingSettings.of(recipe.generation)
        context.rollouts, rollout_engine = make_rollouts(policy, reference, task, sampling, recipe.generation)
        held_out = examples.held_out
        context.eval_prompts = (
            list(held_out.examples) if held_out is not None else task.prompts("eval") if task else []
        )
    algorithm.setup(context)
    save_final = None
    if recipe.lora is not None:
        changed = task is not None and task.prepares_policy  # the base differs from recipe.policy's files
        merge = bool(recipe.lora.merge)
        save_final = functools.partial(
            lora_.save_lora, policy.model, policy.tokenizer, merge=merge, base_changed=changed
        )
    return PolicyObjective(
        recipe.algorithm,
        # with LoRA, what trains is the adapters (and what setup added, e.g. PPO's value head)
        policy.model if recipe.lora is None else lora_.AdapterParameters(policy.model),
        examples,
        {"algorithm": recipe.algorithm},
        algorithm,
        policy,
        task,
        eval_batch_size=recipe.training.batch_size,
        save_final=save_final,
        rollout_engine=rollout_engine,
    )


def _training_judge(recipe: TrainRecipe, algorithm: Algorithm, task: Task | None, plugins: Any) -> Any:
    """An online algorithm's judge: the recipe's, else the task's oracle; one that can do `judge_use`."""
    if recipe.judge is not None:
        judge = plugins.judges.get(recipe.judge.name).build(recipe.judge.args)
        where = f"judge '{recipe.judge.name}'"
    elif task is not None and task.provides_oracle:
        judge = task.oracle_judge()
        where = f"the oracle of task '{task.name}'"
    else:
        raise RecipeKeyError(
            "judge", f"missing required key ({recipe.algorithm} needs a judge, or a task with an oracle)"
        )
    if algorithm.judge_use == "score" and not isinstance(judge, PointwiseJudge):
        raise RecipeKeyError(
            "judge",
            f"expected a pointwise judge (one with score(), e.g. reward-model): {recipe.algorithm} trains "
            f"on rewards, and {where} only compares",
        )
    return judge


def _load(key: str, source: str, **options: Any) -> Policy:
    """A model the recipe names at `key`; a hub id that cannot load says so on that key (validation
    accepts hub ids offline: they are checked here)."""
    try:
        return load_policy(source, **options)
    except RecipeKeyError:
        raise
    except ArenaError as exc:
        raise RecipeKeyError(key, str(exc)) from exc


def _judge_objective(recipe: JudgeRecipe, plugins: Any, device: torch.device) -> Objective:
    from arena.training.judges import JudgeTrainContext, preference_rows

    check_trainable(recipe, plugins)
    judge_class = plugins.judges.get(recipe.judge).load()
    if not callable(getattr(judge_class, "training_objective", None)):  # the contract, checked once
        raise RecipeKeyError(
            "judge", f"judge '{recipe.judge}' names TrainingArgs but has no training_objective"
        )
    task = plugins.build_task(recipe.task.name, recipe.task.args) if recipe.task else None
    train_rows, held_out = preference_rows(recipe, task)
    settings = recipe.training
    if recipe.lora is not None:
        from arena.training.lora import check_parallelism

        check_parallelism()
    context = JudgeTrainContext(
        recipe.backbone, train_rows, held_out, device, settings.max_length, settings.batch_size, recipe.lora
    )
    objective = judge_class.training_objective(recipe.args, context)
    if recipe.lora is not None:
        from arena.training.lora import AdapterParameters

        if not isinstance(objective.model, AdapterParameters):  # it never asked context.trainable()
            raise RecipeKeyError(
                "lora", f"expected no lora: judge '{recipe.judge}' trains its whole model (docs/judges.md)"
            )
    return objective
