"""What a tournament plays on: its prompts (a file, a hub dataset or a task) and its entrants' models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arena.errors import RecipeKeyError
from arena.recipes import TournamentRecipe


def load_prompts(recipe: TournamentRecipe, plugins: Any) -> list[str]:
    """The prompt set, each prompt once, in order."""
    if recipe.prompts is not None:
        key = "prompts"
        prompts = _prompts_from_data(recipe)
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


def _prompts_from_data(recipe: TournamentRecipe) -> list[str]:
    import datasets

    from arena.training.data import load_rows

    assert recipe.prompts is not None
    settings = recipe.prompts
    datasets.disable_progress_bars()
    path = Path(settings.path).expanduser()
    if path.is_file() and path.suffix == ".txt":
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    data = _as_data_settings(settings)
    rows = load_rows(data, [settings.column], key="prompts")
    return [str(row[settings.column]) for row in rows]


def _as_data_settings(settings: Any) -> Any:
    from arena.recipes import DataSettings

    return DataSettings(path=settings.path, split=settings.split)


def entrant_model(model: str) -> str:
    """A training run's output directory stands for its final model."""
    final = Path(model).expanduser() / "final"
    return str(final) if (final / "config.json").is_file() else model
