"""`arena tournament RECIPE`: a round robin between policies, judged, rated and published."""

from __future__ import annotations

import click

from arena.cli.options import overrides_option


@click.command(name="tournament")
@click.argument("recipe", type=click.Path(dir_okay=False))
@overrides_option
@click.option("--export", metavar="FILE", default=None,
              help="Also write the match table (the format `arena leaderboard` reads) to FILE.")  # fmt: skip
def tournament(recipe: str, overrides: tuple[str, ...], export: str | None) -> None:
    """Run a round-robin tournament and publish its Nash leaderboard (reruns continue where they stopped)."""
    from arena import console
    from arena.plugins import make_plugin_host
    from arena.recipes import load_recipe

    host = make_plugin_host()
    parsed = load_recipe(recipe, overrides, registries=host.registries, expect="tournament")

    from arena.leaderboard import formatted_rows
    from arena.tournament.run import run_tournament

    summary = run_tournament(parsed, recipe, host, export=export)
    board = summary["board"]
    headings, rows = formatted_rows(board)
    console.stdout().print(console.table(board.name, headings, rows))
    click.echo(
        f"{summary['matches']} matches; generated {summary['samples_generated']} samples and judged "
        f"{summary['judge_items']} items this run; published to {summary['leaderboard']}/"
    )
