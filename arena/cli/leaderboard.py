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
@click.option("--control", default=None, type=click.Choice(["length", "style"]),
              help="Control both rating columns for response length (AlpacaEval's term) or style (lmarena's: "
              "length, headers, lists, bold); needs response_a/response_b or len_a/len_b columns.")  # fmt: skip
# Public formats (docs/importers.md): how MATCHES is read, and the scale Elo is shown on.
@click.option("--format", "format_", default="auto", show_default=True,
              type=click.Choice(["auto", "matches", "lmarena", "55k", "alpaca-eval", "arena-hard", "leaderbot"]),
              help="Layout of MATCHES; auto detects it from the columns.")  # fmt: skip
@click.option("--split", default="train", show_default=True, metavar="SPLIT",
              help="Split of a saved datasets folder (DatasetDict) or a hub dataset id.")  # fmt: skip
@click.option("--both-bad", "both_bad", default=None, type=click.Choice(["tie", "exclude"]),
              help="Ties where both answers were bad: a tie (lmarena's default) or left out "
              "(leaderbot's default).")  # fmt: skip
@click.option("--anonymous-only", "anonymous_only", is_flag=True,
              help="Keep only anonymous battles (anony true), as lmarena's leaderboard does.")  # fmt: skip
@click.option("--strong-weight", "strong_weight", default=None, metavar="N", type=click.IntRange(min=1),
              help="Arena-Hard: matches a strong verdict (A>>B, B>>A) counts for (default 3, as Arena-Hard's "
              "--weight).")  # fmt: skip
@click.option("--arena-hard-baseline", "arena_hard_baseline", default=None, metavar="MODEL",
              help="Arena-Hard: the baseline of files that do not name it (default gpt-4-0314).")  # fmt: skip
@click.option("--anchor", default=None, metavar="MODEL=RATING",
              help="Shift every Elo and interval so that MODEL reads RATING (another board's scale).")  # fmt: skip
def leaderboard(
    matches: str,
    out: str,
    bootstrap: int,
    seed: int,
    nash_temperature: float | None,
    name: str | None,
    format_: str,
    split: str,
    both_bad: str | None,
    anonymous_only: bool,
    strong_weight: int | None,
    arena_hard_baseline: str | None,
    anchor: str | None,
    control: str | None,
) -> None:
    """Rank models from match results: Nash averaging beside Elo, both with confidence intervals.

    MATCHES is CSV, JSONL, JSON or parquet with columns model_a, model_b and either winner (model_a,
    model_b, tie, tie (bothbad)), p_a (probability that model_a wins) or wins_a, wins_b, ties (counts);
    optional prompt_id (the bootstrap then resamples prompts) and judge. Also read (--format, detected by
    default): lmarena battles, the 55k one-hot layout, AlpacaEval annotations.json, Arena-Hard judgment
    jsonl, leaderbot's Chatbot Arena counts ({models, X, Y}), each as a file, a saved datasets folder or
    a hub id. Writes leaderboard.json, leaderboard.md, leaderboard.csv, winrates.csv, heatmap.png and
    index.html to DIR.
    """
    from arena.python_api import leaderboard as build

    target = Path(out)
    if target.exists() and not target.is_dir():
        raise ArenaError(f"{out}: --out must be a folder, and this is a file")
    # The same path as `arena.leaderboard` (arena/python_api.py): read and validate first, so that bad
    # input is reported before the ratings are computed; then build, anchor and publish.
    result = build(
        matches,
        target,
        name=name,
        bootstrap=bootstrap,
        seed=seed,
        nash_temperature=nash_temperature,
        control=control,  # type: ignore[arg-type]  # click.Choice: "length" or "style"
        format=format_,
        split=split,
        both_bad=both_bad,  # type: ignore[arg-type]  # click.Choice: "tie" or "exclude"
        anonymous_only=anonymous_only,
        strong_weight=strong_weight,
        arena_hard_baseline=arena_hard_baseline,
        anchor=anchor,
    )
    if result.import_note is not None:
        click.echo(result.import_note)

    from arena import console
    from arena.leaderboard import formatted_rows

    board = result.board
    headings, rows = formatted_rows(board)
    console.stdout().print(console.table(board.name, headings, rows))
    fit = board.fit
    click.echo(
        f"Nash support: {', '.join(board.support)}. Tied for top (Nash rating intervals overlap the "
        f"leader's): {', '.join(board.tied_for_top)}. Bradley-Terry NLL per match {fit.nll_per_match:.4f}; "
        f"{int(board.imputed.sum())} unplayed cells imputed. Wrote {len(rows)} models to {target}/."
    )
