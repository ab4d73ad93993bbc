"""`arena leaderboard`: a Nash-averaging leaderboard beside Bradley-Terry Elo, from a file of matches."""

from __future__ import annotations

from pathlib import Path

import click

from arena.errors import ArenaError


@click.command(name="leaderboard")
@click.argument("matches", metavar="MATCHES")
@click.option("--out", "out", required=True, metavar="DIR", help="Folder for the six output files.")
@click.option("--bootstrap", default=1000, show_default=True, metavar="N", type=click.IntRange(min=0),
              help="Bootstrap rounds for the Elo and Nash confidence intervals (0: none).")  # fmt: skip
@click.option("--seed", default=0, show_default=True, metavar="S", type=int, help="Seed of the bootstrap.")
@click.option("--nash-temperature", "nash_temperature", default=None, metavar="T",
              type=click.FloatRange(min=0, min_open=True),
              help="Also show the quantal-response equilibrium p = softmax(A p / T), smooth in the data.")  # fmt: skip
@click.option(
    "--name", default=None, metavar="NAME", help="Title of the leaderboard (default: the file's name)."
)
def leaderboard(
    matches: str, out: str, bootstrap: int, seed: int, nash_temperature: float | None, name: str | None
) -> None:
    """Rank models from match results: Nash averaging beside Elo, both with confidence intervals.

    MATCHES is CSV, JSONL, JSON or parquet with columns model_a, model_b and either winner (model_a,
    model_b, tie, tie (bothbad)), p_a (probability that model_a wins) or wins_a, wins_b, ties (counts);
    optional prompt_id (the bootstrap then resamples prompts) and judge. Leaderbot's Chatbot Arena
    counts JSON ({models, X, Y}) is read as counts. Writes leaderboard.json, leaderboard.md,
    leaderboard.csv, winrates.csv, heatmap.png and index.html to DIR.
    """
    from arena.ratings.readers import read_matches

    target = Path(out)
    if target.exists() and not target.is_dir():
        raise ArenaError(f"{out}: --out must be a folder, and this is a file")
    # Read (and validate) first: bad input is reported before scipy and matplotlib are even imported.
    validated = read_matches(matches)

    from arena import console
    from arena.leaderboard import formatted_rows, publish
    from arena.ratings.table import build_leaderboard

    board = build_leaderboard(
        validated,
        name or Path(matches).stem,
        bootstrap=bootstrap,
        seed=seed,
        nash_temperature=nash_temperature,
    )
    publish(board, target)
    headings, rows = formatted_rows(board)
    console.stdout().print(console.table(board.name, headings, rows))
    fit = board.fit
    click.echo(
        f"Nash support: {', '.join(board.support)}. Tied for top (Nash rating intervals overlap the "
        f"leader's): {', '.join(board.tied_for_top)}. Bradley-Terry NLL per match {fit.nll_per_match:.4f}; "
        f"{int(board.imputed.sum())} unplayed cells imputed. Wrote {len(rows)} models to {target}/."
    )
