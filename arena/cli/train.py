"""`arena train RECIPE`: train a policy (or a judge) as the recipe says."""

from __future__ import annotations

import click

from arena.cli.options import overrides_option


@click.command(name="train")
@click.argument("recipe", type=click.Path(dir_okay=False))
@overrides_option
@click.option("--resume", is_flag=True, help="Continue from the latest checkpoint in the output directory.")
def train(recipe: str, overrides: tuple[str, ...], resume: bool) -> None:
    """Train a policy or a judge from a recipe."""
    from arena.plugins import make_plugin_host
    from arena.recipes import TrainRecipe, load_recipe, output_dir

    host = make_plugin_host()
    parsed = load_recipe(recipe, overrides, registries=host.registries)
    if not isinstance(parsed, TrainRecipe):
        from arena.errors import RecipeError

        raise RecipeError(recipe, "kind", f"`arena train` runs train recipes; this is a {parsed.kind} recipe "
                          "(judge training arrives with the judge plugins)")
    from arena.training.loop import train as run_training

    summary = run_training(parsed, recipe, host, resume=resume)
    final = summary["final"]
    shown = ", ".join(f"{k} {v:.4g}" for k, v in final.items() if isinstance(v, float) and k in ("loss", "accuracy"))
    click.echo(f"{parsed.name}: {summary['steps']} steps, {shown}; model in {output_dir(parsed) / 'final'}")
