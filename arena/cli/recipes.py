"""`arena recipes`: validate recipes before running them, and show them with every default filled in."""

from __future__ import annotations

import click

from arena.cli.options import overrides_option
from arena.errors import ArenaError
from arena.plugins import make_plugin_host
from arena.recipes import load_recipe, recipe_kind, resolved_yaml


@click.group(name="recipes")
def recipes() -> None:
    """Validate recipes and show them resolved."""


@recipes.command(name="validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@overrides_option
def validate(files: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """Check each recipe (types, names, paths, plugin args); one line per problem, exit code 2 if any."""
    from arena.console import error_line

    host = make_plugin_host()
    failed = 0
    for file in files:
        try:
            recipe = load_recipe(file, overrides, registries=host.registries)
        except ArenaError as exc:
            error_line(str(exc))
            failed += 1
            continue
        click.echo(f"{file}: ok ({recipe_kind(recipe)} recipe '{recipe.name}')")
    if failed:
        raise click.exceptions.Exit(2)


@recipes.command(name="show")
@click.argument("file", type=click.Path(dir_okay=False))
@overrides_option
def show(file: str, overrides: tuple[str, ...]) -> None:
    """Print the recipe as a run would save it: overrides applied, every default filled in."""
    host = make_plugin_host()
    click.echo(resolved_yaml(load_recipe(file, overrides, registries=host.registries)), nl=False)
