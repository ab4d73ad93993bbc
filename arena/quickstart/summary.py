"""The quickstart's closing terminal output: what each stage did, then the leaderboard with the moves."""

from __future__ import annotations

import json
from typing import Any

from arena import console
from arena.quickstart.narrative import ranking_rows
from arena.quickstart.plan import QuickstartOptions
from arena.quickstart.report import ALGORITHMS_JSON


def print_summary(out: Any, summary: dict[str, Any], options: QuickstartOptions) -> None:
    stage_rows = [
        [r.stage.name, "reused" if r.reused else "ran", f"{r.seconds:.1f}", r.outcome]
        for r in summary["results"]
    ]
    out.print(console.table("arena quickstart: stages", ["stage", "", "seconds", "result"], stage_rows))
    board_file = options.publish_to / "leaderboard.json"
    moves_file = options.publish_to / "moves.json"
    if (
        board_file.is_file()
        and moves_file.is_file()
        and any(r.stage.kind == "tournament" for r in summary["results"])
    ):
        board = json.loads(board_file.read_text())
        moves = json.loads(moves_file.read_text())
        table_file = options.publish_to / ALGORITHMS_JSON
        if table_file.is_file():  # the algorithm table: each algorithm's training runs pooled
            table = json.loads(table_file.read_text())
            title, cells = (
                f"algorithms ({board['name']})",
                ranking_rows(table, table["models"], moves["moves"]),
            )
        else:
            title, cells = (
                f"leaderboard {board['name']}",
                ranking_rows(board, moves["entrants"], moves["moves"]),
            )
        out.print(console.table(title, *cells))
        out.print(f"published to {options.publish_to}/ (README.md, heatmap.png, index.html)")
    out.print(f"{len(summary['results'])} stages in {summary['seconds']:.1f} s; runs in {options.out}/")
