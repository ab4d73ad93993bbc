"""What a tournament plays on: its prompts (a file, a hub dataset or a task) and its entrants' models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arena.errors import RecipeKeyError
from arena.recipes import TournamentRecipe
from arena.rows import prompt_texts


def load_prompts(recipe: TournamentRecipe, plugins: Any) -> list[str]:
    """The prompt set, each prompt once, in order."""
    if recipe.prompts is not None:
        key = "prompts"
        prompts = prompt_texts(recipe.prompts)
    else:
        assert recipe.task is not None  # the recipe's own check requires prompts or a task
        key = "task"
        task = plugins.build_task(recipe.task.name, recipe.task.args)
        prompts = [str(p) for p in task.prompts("eval")]
    unique = list(dict.fromkeys(p for p in prompts if p.strip()))
    if recipe.prompts is not None and recipe.prompts.limit is not None:
        unique = unique[: recipe.prompts.limit]
    if not unique:
        raise RecipeKeyError(key, "the prompt set is empty")
    return unique


def entrant_model(model: str) -> str:
    """A training run's output directory stands for its final model."""
    final = Path(model).expanduser() / "final"
    return str(final) if (final / "config.json").is_file() else model
