"""What the quickstart adds to a published tournament: each entrant's moves, and a README that reads it.

`moves.csv` / `moves.json`: per entrant, the share of malformed responses, the move distribution of the
well-formed ones, and its exact exploitability in the move game, both plain (how much more than 1/2 a
best-responding move wins against it) and regularised at the task's tau (zero exactly at the task's
regularised equilibrium). The README states what the table shows with the numbers of this run, so it can
never disagree with the files beside it.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from arena.io import atomic_write_text
from arena.leaderboard import render_json
from arena.quickstart.algorithms import algorithm_table
from arena.quickstart.intervals import best_response_edges, moves_intervals
from arena.quickstart.narrative import combined_table, what_it_shows
from arena.tournament.run import publish_dir

ALGORITHMS_JSON = "algorithms.json"
WITHOUT_COPY_JSON = "without-copy.json"  # the clones tournament's field without the copy, same matches


def best_response_edge(move_probs: list[float], preferences: Any) -> float:
    """max over moves m of P(m beats a move drawn from move_probs) - 1/2: 0 only for an unexploitable mix."""
    return float(best_response_edges(np.array([move_probs]), preferences)[0])


def moves_rows(task: Any, samples: dict[str, dict[str, list[Any]]]) -> list[dict[str, Any]]:
    spans = moves_intervals(task, samples)
    rows = []
    for entrant, by_prompt in samples.items():
        texts = [sample.text for group in by_prompt.values() for sample in group]
        report = task.report(texts)
        probs = report.move_probs
        row: dict[str, Any] = {"model": entrant, "samples": report.total, "malformed": report.malformed}
        for move, share in zip(task.moves, probs or [None] * len(task.moves), strict=True):
            row[move.lower()] = share
        row["exploitability"] = best_response_edge(probs, task.preferences) if probs else None
        for key in ("malformed", "exploitability"):
            low_high = spans[entrant][key]
            row[f"{key}_ci_low"], row[f"{key}_ci_high"] = low_high if low_high else (None, None)
        row["exploitability_tau"] = report.exploitability
        row["tau"] = report.tau
        rows.append(row)
    return rows


def publish_moves_report(
    task: Any, recipe: Any, summary: dict[str, Any], matches_file: Path | None = None
) -> list[dict[str, Any]]:
    """Write moves.csv/json beside the tournament's published leaderboard, the algorithm table
    (algorithms.csv/json, from the tournament's `matches_file`) and the README that reads them."""
    target = publish_dir(recipe)
    rows = moves_rows(task, summary["samples"])
    atomic_write_text(
        target / "moves.json", json.dumps({"moves": list(task.moves), "entrants": rows}, indent=2) + "\n"
    )
    atomic_write_text(target / "moves.csv", _csv(rows))
    board = json.loads((target / "leaderboard.json").read_text())
    clone = first_clone(recipe)
    if matches_file is None:
        raise ValueError("the quickstart's reports need the tournament's matches (matches_file)")
    import pandas as pd

    matches = pd.read_csv(matches_file)
    if clone is not None:
        # The same field without the copy, from the same matches: the only difference is the copy.
        without = _board_without(matches, clone[1], recipe)
        without_json = render_json(without)
        atomic_write_text(target / WITHOUT_COPY_JSON, without_json)
        text = clones_readme(board, json.loads(without_json), *clone)
    else:
        table = algorithm_table(task, matches, summary["samples"])
        atomic_write_text(target / ALGORITHMS_JSON, json.dumps(table, indent=2) + "\n")
        atomic_write_text(target / "algorithms.csv", _csv([_flat(row) for row in table["models"]]))
        text = leaderboard_readme(board, table, task)
    atomic_write_text(target / "README.md", text)
    return rows


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


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def leaderboard_readme(board: dict[str, Any], table: dict[str, Any], task: Any) -> str:
    """The README of the main board: the algorithm table and the claims read from its intervals."""
    tournament = board.get("tournament", {})
    rows = table["models"]
    seeds = sorted({row["seeds"] for row in rows if row["model"] != "reference"})
    lines = [
        f"# {board['name']}: every algorithm against the reference, on the `moves` task",
        "",
        "Published by `arena quickstart` (`make quickstart`), which trains every entrant from nothing on two",
        "CPU cores: a tiny Llama, its reference policy (SFT on a corpus that plays 60% rock, 30% scissors,",
        "10% paper, with 30% malformed sentences), a reward model, a preference model, and policies aligned",
        f"by each algorithm (`recipes/quickstart/`), each recipe trained {' or '.join(map(str, seeds))} times"
        " with different seeds."
        f" Each of the {len(board['models'])} trained models answers {tournament.get('prompt_count', '?')}"
        f" held-out prompts {tournament.get('samples_per_prompt', '?')} times; the task's oracle judges every"
        " pair in both orders: a well-formed sentence beats a malformed one, and between well-formed ones rock",
        "beats scissors beats paper beats rock.",
        "",
        "## Algorithms",
        "",
        "Each row pools an algorithm's training runs (`runs`). `algorithms.json` has every number below;",
        "`leaderboard.*`, `heatmap.png` and `index.html` rank each trained model on its own.",
        "",
        combined_table(table, rows, task.moves),
        "`malformed` and the moves are shares of each entrant's responses (the moves among the well-formed",
        "ones); `exploitability` is how much more than 1/2 the best single move wins against that move mix",
        "(0 for uniform play). `moves.csv` also has it regularised at the task's tau, as in KNOWN_ANSWERS.md.",
        f"Intervals are 95% intervals of a two-stage bootstrap ({table['rounds']} rounds, seed {table['seed']}):"
        " each round draws the replicates of the pipeline with replacement, then the prompts; `in support`",
        "is the share of rounds whose Nash equilibrium plays the algorithm. `win rate` is the mean over the",
        "other algorithms.",
        "",
        "## What it shows",
        "",
        "Each claim compares intervals, not point estimates (`arena/quickstart/narrative.py` says the rules):",
        "",
        *what_it_shows(table, rows),
        "",
        "On another CPU kind the same recipes train to other weights and every point estimate moves (a rerun",
        "on the same machine kind rewrites this folder byte for byte); the intervals resample the replicates",
        "of the pipeline to cover that. `docs/reproducibility.md` compares CPU kinds.",
        "",
        "![win rates](heatmap.png)",
        "",
    ]
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
            f"| {name} | {_fmt(old['elo'] if old else None, 1)} | {entry['elo']:.1f} | "
            f"{_fmt(old['nash_rating'] if old else None, 4)} | {entry['nash_rating']:.4f} | "
            f"{_fmt(old['nash_weight'] if old else None, 4)} | {entry['nash_weight']:.4f} |"
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
