"""`arena recipes`: validate recipes before running them, and show them with every default filled in."""

from __future__ import annotations

from pathlib import Path

import click

from arena.cli.options import overrides_option
from arena.errors import ArenaError
from arena.plugins import make_plugin_host
from arena.recipes import load_recipe, read_yaml_mapping, recipe_kind, resolved_yaml


@click.group(name="recipes")
def recipes() -> None:
    """Validate recipes and show them resolved."""


@recipes.command(name="validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@overrides_option
def validate(files: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """Check each recipe (types, names, paths, plugin args); one line per problem, exit code 2 if any."""
    from arena.console import error_line
    from arena.schema import assume_produced

    host = make_plugin_host()
    failed = 0
    # A chain of recipes (a reward model, then PPO reading it) validates together: the model directories
    # that the train and judge recipes given here will write count as existing.
    with assume_produced(filter(None, map(_declared_output, files))):
        for file in files:
            try:
                recipe = load_recipe(file, overrides, registries=host.registries)
                _check_plugins(recipe, file, host)
            except ArenaError as exc:
                error_line(str(exc))
                failed += 1
                continue
            click.echo(f"{file}: ok ({recipe_kind(recipe)} recipe '{recipe.name}')")
    if failed:
        raise click.exceptions.Exit(2)


def _check_plugins(recipe: object, file: str, host: object) -> None:
    """A train recipe's algorithm and task, built (no model loads) and checked as `arena train` checks them:
    the plugin contract, and keys the algorithm or task would ignore."""
    from arena.errors import recipe_errors
    from arena.recipes import TrainRecipe

    if isinstance(recipe, TrainRecipe):
        from arena.training.objective import check_train_plugins

        with recipe_errors(file):
            check_train_plugins(recipe, host)


def _declared_output(file: str) -> Path | None:
    """Where a train or judge recipe will write (its `output`, else runs/<name>); None for anything else."""
    try:
        raw = read_yaml_mapping(file)
    except ArenaError:
        return None  # reported by the validation itself
    if raw.get("kind") not in ("train", "judge") or not isinstance(raw.get("name"), str):
        return None
    output = raw.get("output")
    return Path(output) if isinstance(output, str) and output else Path("runs") / raw["name"]


@recipes.command(name="show")
@click.argument("file", type=click.Path(dir_okay=False))
@overrides_option
def show(file: str, overrides: tuple[str, ...]) -> None:
    """Print the recipe as a run would save it: overrides applied, every default filled in."""
    host = make_plugin_host()
    click.echo(resolved_yaml(load_recipe(file, overrides, registries=host.registries)), nl=False)
