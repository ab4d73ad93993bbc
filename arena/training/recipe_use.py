"""Keys of a train recipe that only some algorithms read: refused, with one line, where the run would
ignore them.

The schema checks each key on its own; whether a key is used depends on the algorithm (an offline one
asks no judge and samples nothing) and on the task (a game's one-token actions are sampled exactly, so of
`generation:` only the choice of sampler applies).
These checks run when `arena train` has built the algorithm and the task, before any model loads or
anything is written. A key left at its default changes nothing, so only keys set to something else are
refused.
"""

from __future__ import annotations

from arena.errors import RecipeKeyError
from arena.generation.base import SamplingSettings
from arena.recipes import RolloutSettings, TrainingSettings, TrainRecipe
from arena.tasks import Task
from arena.training.algorithm import Algorithm


def check_recipe_use(recipe: TrainRecipe, algorithm: Algorithm, task: Task | None) -> None:
    """Raise RecipeKeyError for a key that `algorithm` (with `task`) would ignore."""
    name, kind = recipe.algorithm, algorithm.data
    online = kind == "prompts"
    game = task is not None and task.provides_game_rollouts  # online algorithms roll out its actions exactly

    def refuse(key: str, why: str) -> None:
        raise RecipeKeyError(key, why)

    if recipe.reference is not None and not algorithm.needs_reference:
        refuse("reference", f"expected no reference: {name} trains without a reference policy")
    if recipe.judge is not None and not online:
        refuse(
            "judge", f"expected no judge: {name} trains on fixed {kind} and asks none (online algorithms do)"
        )
    if recipe.generation != RolloutSettings():
        if not online:
            refuse(
                "generation", f"expected no generation settings: {name} samples nothing (it trains on {kind})"
            )
        if game and SamplingSettings.of(recipe.generation) != SamplingSettings():
            refuse(
                "generation",
                f"expected no sampling settings with task '{recipe.task.name if recipe.task else ''}': "
                "a game's one-token actions are sampled exactly from the policy's distribution "
                "(only backend, sync_every, gpu_memory_utilization and sleep apply)",
            )
    if online and recipe.training.max_length != TrainingSettings.max_length:
        refuse(
            "training.max_length",
            f"expected no max_length: {name} cuts nothing (generation.max_new_tokens bounds its responses)",
        )
    if online and game and recipe.data is not None:
        refuse("data", "expected no data with a game task: online algorithms play the game's own prompt")
    if (
        recipe.data is not None
        and task is not None
        and not online
        and not (task.prepares_policy or task.provides_diagnostics)
    ):
        refuse(
            "task", f"expected no task beside `data`: {name} trains on `data`, and the task adds nothing else"
        )
