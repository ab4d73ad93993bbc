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
from typing import Any

from arena.io import atomic_write_text
from arena.tournament.run import publish_dir


def best_response_edge(move_probs: list[float], preferences: Any) -> float:
    """max over moves m of P(m beats a move drawn from move_probs) - 1/2: 0 only for an unexploitable mix."""
    return max(sum(p * row[j] for j, p in enumerate(move_probs)) for row in preferences) - 0.5


def moves_rows(task: Any, samples: dict[str, dict[str, list[Any]]]) -> list[dict[str, Any]]:
    rows = []
    for entrant, by_prompt in samples.items():
        texts = [sample.text for group in by_prompt.values() for sample in group]
        report = task.report(texts)
        probs = report.move_probs
        row: dict[str, Any] = {"model": entrant, "samples": report.total, "malformed": report.malformed}
        for move, share in zip(task.moves, probs or [None] * len(task.moves), strict=True):
            row[move.lower()] = share
        row["exploitability"] = best_response_edge(probs, task.preferences) if probs else None
        row["exploitability_tau"] = report.exploitability
        row["tau"] = report.tau
        rows.append(row)
    return rows


def publish_moves_report(task: Any, recipe: Any, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Write moves.csv, moves.json and README.md beside the tournament's published leaderboard."""
    target = publish_dir(recipe)
    rows = moves_rows(task, summary["samples"])
    atomic_write_text(
        target / "moves.json", json.dumps({"moves": list(task.moves), "entrants": rows}, indent=2) + "\n"
    )
    atomic_write_text(target / "moves.csv", _csv(rows))
    board = json.loads((target / "leaderboard.json").read_text())
    clone = first_clone(recipe)
    original_board = target.parent / "leaderboard.json"
    if clone is not None and original_board.is_file():
        text = clones_readme(board, json.loads(original_board.read_text()), *clone)
    else:
        text = leaderboard_readme(board, rows, task)
    atomic_write_text(target / "README.md", text)
    return rows


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


def ranking_rows(
    board: dict[str, Any], rows: list[dict[str, Any]], moves: tuple[str, ...] | list[str]
) -> tuple[list[str], list[list[str]]]:
    """The leaderboard's ratings beside each entrant's moves, as text cells (README and terminal)."""
    by_model = {row["model"]: row for row in rows}
    names = [m.lower() for m in moves]
    headings = [
        "model",
        "Nash rating",
        "Nash weight",
        "Elo",
        "win rate",
        "malformed",
        *names,
        "exploitability",
    ]
    cells = []
    for entry in board["models"]:
        mine = by_model[entry["model"]]
        cells.append(
            [
                entry["model"],
                f"{entry['nash_rating']:.4f}",
                f"{entry['nash_weight']:.4f}",
                f"{entry['elo']:.1f}",
                f"{entry['win_rate']:.3f}",
                _fmt(mine["malformed"]),
                *(_fmt(mine[name]) for name in names),
                _fmt(mine["exploitability"]),
            ]
        )
    return headings, cells


def combined_table(board: dict[str, Any], rows: list[dict[str, Any]], moves: tuple[str, ...]) -> str:
    """Markdown of `ranking_rows`."""
    headings, cells = ranking_rows(board, rows, moves)
    lines = ["| " + " | ".join(headings) + " |", "|---|" + "---:|" * (len(headings) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def find_cycle(board: dict[str, Any]) -> tuple[str, str, str] | None:
    """Three entrants a, b, c with a beating b, b beating c and c beating a (win rates above 1/2)."""
    rates = {(p["model"], p["opponent"]): p["win_rate"] for p in board["pairs"]}
    names = [m["model"] for m in board["models"]]
    for a in names:
        for b in names:
            for c in names:
                if rates.get((a, b), 0) > 0.5 and rates.get((b, c), 0) > 0.5 and rates.get((c, a), 0) > 0.5:
                    return a, b, c
    return None


def leaderboard_readme(board: dict[str, Any], rows: list[dict[str, Any]], task: Any) -> str:
    models = board["models"]
    by_elo = max(models, key=lambda m: m["elo"])
    by_weight = max(models, key=lambda m: m["nash_weight"])
    support = board["nash"]["support"]
    rated = [r for r in rows if r["exploitability"] is not None]
    least = min(rated, key=lambda r: r["exploitability"]) if rated else None
    most = max(rated, key=lambda r: r["exploitability"]) if rated else None
    reference = next((r for r in rows if r["model"] == "reference"), None)
    tournament = board.get("tournament", {})
    cycle = find_cycle(board)
    if len(support) == 1:
        nash = (
            f"- **Nash**: `{by_weight['model']}` beats every other entrant head to head, so the maximum-entropy"
            f" Nash equilibrium is `{by_weight['model']}` alone (weight 1) and its rating is 0. Every other"
            " rating is negative: how much that entrant loses to the equilibrium."
        )
    else:
        nash = (
            f"- **Nash** mixes {', '.join(f'`{m}`' for m in support)}, with the largest weight on"
            f" `{by_weight['model']}` ({by_weight['nash_weight']:.3f}). An entrant outside the mix has a"
            " negative rating: the mix beats it."
        )
    if cycle is not None:
        heatmap = (
            f"- **The heatmap** (`heatmap.png`, row beats column) has a cycle: `{cycle[0]}` beats `{cycle[1]}`,"
            f" `{cycle[1]}` beats `{cycle[2]}`, and `{cycle[2]}` beats `{cycle[0]}`. No single score (Elo, a"
            " reward model) can order them; the Nash equilibrium mixes them instead."
        )
    else:
        heatmap = (
            "- **The heatmap** (`heatmap.png`, row beats column) has no cycle among these entrants: the cycle"
            " is inside the game (rock beats scissors beats paper beats rock), and the exploitability column"
            " measures it. Beating this field is not the same as being hard to beat."
        )
    lines = [
        f"# {board['name']}: every algorithm against the reference, on the `moves` task",
        "",
        "Published by `arena quickstart` (`make quickstart`), which trains every entrant from nothing on two",
        "CPU cores: a tiny Llama, its reference policy (SFT on a corpus that plays 60% rock, 30% scissors,",
        "10% paper, with 30% malformed sentences), a reward model, a preference model, and one policy per",
        "algorithm (`recipes/quickstart/`). Each entrant answers"
        f" {tournament.get('prompt_count', '?')} held-out prompts {tournament.get('samples_per_prompt', '?')}"
        " times; the task's oracle judges every pair in both orders: a well-formed sentence beats a",
        "malformed one, and between well-formed ones rock beats scissors beats paper beats rock.",
        "",
        combined_table(board, rows, task.moves),
        "`malformed` and the moves are shares of each entrant's responses (the moves among the well-formed",
        "ones); `exploitability` is how much more than 1/2 the best single move wins against that move mix",
        "(0 for uniform play). `moves.csv` also has it regularised at the task's tau, as in KNOWN_ANSWERS.md.",
        "",
        "## What it shows",
        "",
        f"- **Elo** ranks `{by_elo['model']}` first (Elo {by_elo['elo']:.1f}, mean win rate"
        f" {by_elo['win_rate']:.3f}). Elo averages over the field, so it rewards beating whichever entrants"
        " happen to be there, and a copy of an entrant moves it (`clones/`).",
        nash,
        heatmap,
    ]
    if least is not None and most is not None:
        moves = (
            f"- **Moves**: `{least['model']}` plays the least exploitable mix (edge"
            f" {_fmt(least['exploitability'])}), `{most['model']}` the most ({_fmt(most['exploitability'])})"
        )
        if reference is not None and reference["model"] not in (least["model"], most["model"]):
            moves += f"; the reference's is {_fmt(reference['exploitability'])}"
        lines.append(moves + ".")
    lines += ["", "![win rates](heatmap.png)", ""]
    return "\n".join(lines)


def clones_readme(board: dict[str, Any], original: dict[str, Any], source: str, copy: str) -> str:
    before = {m["model"]: m for m in original["models"]}
    after = {m["model"]: m for m in board["models"]}
    lines = [
        f"# {board['name']}: clone invariance, with real entrants",
        "",
        f"The quickstart's tournament again, with `{copy}`, an exact copy of `{source}`, entered as well",
        "(published by `arena quickstart` from `recipes/quickstart/tournament-clones.yaml`). Nothing else",
        "changed: the same models, prompts, samples and judgments (`../` is the tournament without the copy).",
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
