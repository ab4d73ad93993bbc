"""What the quickstart adds to a published tournament: the task's report, the algorithm table, a README.

The task's report (`tournament_report`, its `provides_report` ability) writes its own files beside the
leaderboard and names its columns and claims; the algorithm table pools those columns over each
algorithm's training runs. The README states what the table shows with the numbers of this run, so it can
never disagree with the files beside it. Every file here is written once.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from arena.api.reports import (
    ReadmeText,
    ReportColumn,
    TournamentReport,
    TournamentResult,
    csv_text,
    format_number,
)
from arena.io import atomic_write_text
from arena.leaderboard import render_json
from arena.page import add_columns
from arena.quickstart.algorithms import algorithm_table
from arena.quickstart.curves import CURVES_NOTE, publish_curves
from arena.quickstart.narrative import Claims, combined_table, what_it_shows
from arena.tournament.run import publish_dir

ALGORITHMS_JSON = "algorithms.json"
WITHOUT_COPY_JSON = "without-copy.json"  # the clones tournament's field without the copy, same matches


def publish_report(
    task: Any, recipe: Any, summary: dict[str, Any], matches_file: Path
) -> tuple[TournamentReport, dict[str, Any] | None]:
    """Write the task's report beside the tournament's published leaderboard, then the algorithm table
    (algorithms.csv/json, from the tournament's `matches_file`), or for a field with a copy of an entrant
    the same field without it, and the README that reads them. Returns the report and the algorithm
    table (None for a field with a copy)."""
    import pandas as pd

    target = publish_dir(recipe)
    board = summary["published"]  # the leaderboard.json the tournament wrote, not read back
    matches = pd.read_csv(matches_file)
    report = task.tournament_report(TournamentResult(recipe, board, matches, summary["samples"], target))
    for name, text in report.files.items():
        atomic_write_text(target / name, text)
    page = target / "index.html"
    if page.is_file() and report.rows:  # the task's columns on the page too, beside the ratings (arena.page)
        add_columns(
            page, [column.key for column in report.columns], {row["model"]: row for row in report.rows}
        )
    clone = first_clone(recipe)
    if clone is not None:
        # The same field without the copy, from the same matches: the only difference is the copy.
        without_json = render_json(_board_without(matches, clone[1], recipe))
        atomic_write_text(target / WITHOUT_COPY_JSON, without_json)
        text = clones_readme(board, json.loads(without_json), *clone)
        table = None
    else:
        table = algorithm_table(report.statistic, matches, summary["samples"])
        atomic_write_text(target / ALGORITHMS_JSON, json.dumps(table, indent=2) + "\n")
        atomic_write_text(target / "algorithms.csv", csv_text([_flat(row) for row in table["models"]]))
        curves = publish_curves(recipe, target)  # the entrants' training curves (arena/quickstart/curves.py)
        text = leaderboard_readme(
            board, table, recipe.task.name, report.columns, report.readme, report.claims, curves
        )
    atomic_write_text(target / "README.md", text)
    return report, table


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    return {k: " ".join(v) if isinstance(v, list) else v for k, v in row.items()}


def _board_without(matches: Any, entrant: str, recipe: Any) -> Any:
    """The leaderboard of the tournament's matches with `entrant` left out, rated as the tournament rates."""
    from arena.ratings.matches import matches_from_frame
    from arena.ratings.table import build_leaderboard

    kept = matches[(matches["model_a"] != entrant) & (matches["model_b"] != entrant)]
    return build_leaderboard(
        matches_from_frame(kept, f"tournament {recipe.name} without {entrant}"),
        f"{recipe.leaderboard or recipe.name} without {entrant}",
        bootstrap=recipe.ratings.bootstrap,
        seed=recipe.ratings.seed,
        nash_temperature=recipe.ratings.nash_temperature,
    )


def first_clone(recipe: Any) -> tuple[str, str] | None:
    """(original, copy): the first entrant whose model an earlier entrant already plays, if any."""
    seen: dict[str, str] = {}
    for entrant in recipe.entrants:
        if entrant.model in seen:
            return seen[entrant.model], entrant.name
        seen[entrant.model] = entrant.name
    return None


def leaderboard_readme(
    board: dict[str, Any],
    table: dict[str, Any],
    task_name: str,
    columns: tuple[ReportColumn, ...],
    readme: ReadmeText,
    claims: Claims,
    curves: str | None = None,
) -> str:
    """The README of the main board: the algorithm table and the claims read from its intervals; the
    task's sentences (`readme`), columns and claims come from its report; `curves` is the training curves'
    figure beside it, if any."""
    tournament = board.get("tournament", {})
    rows = table["models"]
    seeds = sorted({row["seeds"] for row in rows if row["model"] != "reference"})
    lines = [
        f"# {board['name']}: every algorithm against the reference, on the `{task_name}` task",
        "",
        "Published by `arena quickstart` (`make quickstart`), which trains every entrant from nothing on two",
        f"CPU cores: a tiny Llama, {readme.reference}, a reward model, a preference model, and policies aligned",
        f"by each algorithm (`recipes/quickstart/`), each recipe trained {' or '.join(map(str, seeds))} times"
        " with different seeds."
        f" Each of the {len(board['models'])} trained models answers {tournament.get('prompt_count', '?')}"
        f" held-out prompts {tournament.get('samples_per_prompt', '?')} times; the task's oracle judges every"
        f" pair in both orders: {readme.judging}",
        "",
        "## Algorithms",
        "",
        "Each row pools an algorithm's training runs (`runs`). `algorithms.json` has every number below;",
        "`leaderboard.*`, `heatmap.png` and `index.html` rank each trained model on its own.",
        "",
        combined_table(table, rows, columns),
        readme.columns,
        f"Intervals are 95% intervals of a two-stage bootstrap ({table['rounds']} rounds, seed {table['seed']}):"
        " each round draws the replicates of the pipeline with replacement, then the prompts; `in support`",
        "is the share of rounds whose Nash equilibrium plays the algorithm. `win rate` is the mean over the",
        "other algorithms.",
        "",
        "## What it shows",
        "",
        "Each claim compares intervals, not point estimates (`arena/quickstart/narrative.py` says the rules):",
        "",
        *what_it_shows(table, rows, readme.no_cycle, claims),
        "",
        "On another CPU kind the same recipes train to other weights and every point estimate moves (a rerun",
        "on the same machine kind rewrites this folder byte for byte); the intervals resample the replicates",
        "of the pipeline to cover that. `docs/reproducibility.md` compares CPU kinds.",
        "",
        "![win rates](heatmap.png)",
        "",
    ]
    if curves is not None:
        note = textwrap.fill(CURVES_NOTE, width=105)
        lines += ["## Training curves", "", note, "", f"![training curves]({curves})", ""]
    return "\n".join(lines)


def clones_readme(board: dict[str, Any], original: dict[str, Any], source: str, copy: str) -> str:
    before = {m["model"]: m for m in original["models"]}
    after = {m["model"]: m for m in board["models"]}
    lines = [
        f"# {board['name']}: clone invariance, with real entrants",
        "",
        f"The quickstart's seed-0 models again, with `{copy}`, an exact copy of `{source}`, entered as well",
        "(published by `arena quickstart` from `recipes/quickstart/tournament-clones.yaml`). The columns",
        f"without the copy rate the same matches with `{copy}`'s left out (`{WITHOUT_COPY_JSON}`): the same",
        "models, prompts, samples and judgments, rated the same way.",
        "",
        "| model | Elo without copy | Elo with copy | Nash rating without | Nash rating with |"
        " Nash weight without | Nash weight with |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in after.items():
        old = before.get(name)
        lines.append(
            f"| {name} | {format_number(old['elo'] if old else None, 1)} | {entry['elo']:.1f} | "
            f"{format_number(old['nash_rating'] if old else None, 4)} | {entry['nash_rating']:.4f} | "
            f"{format_number(old['nash_weight'] if old else None, 4)} | {entry['nash_weight']:.4f} |"
        )
    shared = [name for name in after if name in before]
    elo_shift = max(abs(after[n]["elo"] - before[n]["elo"]) for n in shared)
    nash_shift = max(abs(after[n]["nash_rating"] - before[n]["nash_rating"]) for n in shared)
    split = after[source]["nash_weight"] + after[copy]["nash_weight"]
    lines += [
        "",
        f"- **Elo** moved by up to {elo_shift:.1f} points: `{source}`'s results now count twice in everyone's"
        " average, so adding a copy of a model is a way to game an Elo leaderboard.",
        f"- **Nash ratings** moved by at most {nash_shift:.2g}: the copy adds no new strategy. `{source}` and"
        f" `{copy}` share the weight `{source}` had alone ({split:.4f} together, "
        f"{before[source]['nash_weight']:.4f} before).",
        "",
        "![win rates](heatmap.png)",
        "",
    ]
    return "\n".join(lines)
