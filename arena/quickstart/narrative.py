"""The quickstart leaderboard's README: a table and claims read from the published intervals.

Every claim is a comparison of 95% intervals, never of point estimates, so that it states what survives a
rerun on another CPU kind, where the same recipes train to slightly different weights and the point
estimates move (docs/reproducibility.md measures it). The rules, one per kind of claim:

- "X leads" only when X's interval lies entirely above every other entrant's; otherwise the entrants whose
  intervals overlap the leader's are named as statistically tied (the board's `tied_for_top`).
- "X beats Y head to head" only when the interval of X's win rate against Y lies above 1/2.
- "X is the best by a task's column" (`arena.api.extreme_claim`) only when its interval is disjoint from
  every other's; otherwise the overlapping entrants are named with it.

The task's columns and its claims about them come from its report (`arena.api.TournamentReport`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from arena.api.reports import ReportColumn
from arena.api.reports import format_interval as _span
from arena.api.reports import format_number as _fmt
from arena.api.reports import quoted_names as _names

TOP_SHARE = 0.5  # "usually in the equilibrium": in the support in at least this share of rounds
Claims = Callable[[list[dict[str, Any]], str, dict[str, Any]], list[str]]


def ranking_rows(
    board: dict[str, Any], rows: list[dict[str, Any]], columns: tuple[ReportColumn, ...]
) -> tuple[list[str], list[list[str]]]:
    """The ratings with their intervals beside the task's columns of each entrant's row, as text cells
    (README and terminal)."""
    by_model = {row["model"]: row for row in rows}
    pooled = all("seeds" in entry for entry in board["models"])  # the algorithm table: runs per row
    headings = [
        "model",
        *(["runs"] if pooled else []),
        "Nash rating (95% CI)",
        "Nash weight (95% CI)",
        "in support",
        "Elo (95% CI)",
        "win rate",
        *(f"{column.key} (95% CI)" if column.interval else column.key for column in columns),
    ]
    cells = []
    for entry in board["models"]:
        mine = by_model[entry["model"]]
        cells.append(
            [
                entry["model"],
                *([str(entry["seeds"])] if pooled else []),
                f"{entry['nash_rating']:.4f} {_span(entry['nash_rating_ci_low'], entry['nash_rating_ci_high'], 4)}",
                f"{entry['nash_weight']:.3f} {_span(entry['nash_weight_ci_low'], entry['nash_weight_ci_high'])}",
                _fmt(entry["nash_support_share"], 2),
                f"{entry['elo']:.1f} {_span(entry['elo_ci_low'], entry['elo_ci_high'], 1)}",
                f"{entry['win_rate']:.3f}",
                *(_cell(mine, column) for column in columns),
            ]
        )
    return headings, cells


def _cell(row: dict[str, Any], column: ReportColumn) -> str:
    value = _fmt(row[column.key])
    if not column.interval:
        return value
    return f"{value} {_span(row[f'{column.key}_ci_low'], row[f'{column.key}_ci_high'])}"


def combined_table(
    board: dict[str, Any], rows: list[dict[str, Any]], columns: tuple[ReportColumn, ...]
) -> str:
    """Markdown of `ranking_rows`."""
    headings, cells = ranking_rows(board, rows, columns)
    lines = ["| " + " | ".join(headings) + " |", "|---|" + "---:|" * (len(headings) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def _pair(board: dict[str, Any], model: str, opponent: str) -> dict[str, Any] | None:
    return next((p for p in board["pairs"] if p["model"] == model and p["opponent"] == opponent), None)


def beats(board: dict[str, Any], model: str, opponent: str) -> bool:
    """The paired test's 95% interval of model's win rate against opponent lies above 1/2."""
    pair = _pair(board, model, opponent)
    return pair is not None and pair["win_rate_ci_low"] is not None and pair["win_rate_ci_low"] > 0.5


def significant_cycle(board: dict[str, Any]) -> tuple[str, str, str] | None:
    """Three entrants a, b, c with a beating b, b beating c and c beating a, each beyond its interval."""
    names = [m["model"] for m in board["models"]]
    for a in names:
        for b in names:
            for c in names:
                if len({a, b, c}) == 3 and beats(board, a, b) and beats(board, b, c) and beats(board, c, a):
                    return a, b, c
    return None


def replicates_note(board: dict[str, Any]) -> str:
    """Which algorithms each replicate's own equilibrium plays (only the algorithm table has replicates)."""
    replicates = board.get("replicates") or []
    if len(replicates) < 2:
        return ""
    plays = "; ".join(f"seed {r['seed']}: {_names(r['nash_support'])}" for r in replicates)
    return f" Each replicate of the pipeline alone: {plays}."


def nash_claim(board: dict[str, Any]) -> str:
    models = {m["model"]: m for m in board["models"]}
    tied = board["nash_bootstrap"]["tied_for_top"]
    leader = models[tied[0]]
    if len(tied) == 1:
        runner = next(m for m in board["models"] if m["model"] != leader["model"])
        return (
            f"- **Nash**: `{leader['model']}` leads alone: its Nash rating interval"
            f" {_span(leader['nash_rating_ci_low'], leader['nash_rating_ci_high'], 4)} lies above every other"
            f" entrant's (the next, `{runner['model']}`:"
            f" {_span(runner['nash_rating_ci_low'], runner['nash_rating_ci_high'], 4)}); it is in the"
            f" equilibrium's support in {leader['nash_support_share']:.0%} of the bootstrap rounds."
            + replicates_note(board)
        )
    shares = ", ".join(f"`{name}` {models[name]['nash_support_share']:.0%}" for name in tied)
    intervals = ", ".join(
        f"`{name}` {_span(models[name]['nash_rating_ci_low'], models[name]['nash_rating_ci_high'], 4)}"
        for name in tied
    )
    return (
        f"- **Nash**: {_names(tied)} are statistically tied at the top: their Nash rating intervals overlap"
        f" the leader's ({intervals}). Which of them the point estimate puts first is within the noise;"
        f" the share of bootstrap rounds whose equilibrium plays each: {shares}." + replicates_note(board)
    )


def elo_claim(board: dict[str, Any]) -> str:
    models = {m["model"]: m for m in board["models"]}
    tied = board["bradley_terry"]["tied_for_top"]
    spans = ", ".join(
        f"`{name}` {_span(models[name]['elo_ci_low'], models[name]['elo_ci_high'], 1)}" for name in tied
    )
    head = (
        f"`{tied[0]}` leads Elo alone ({spans})"
        if len(tied) == 1
        else f"{_names(tied)} are statistically tied at the top of Elo ({spans})"
    )
    return (
        f"- **Elo**: {head}. Elo averages over the field, so it rewards beating whichever entrants happen to"
        " be there, and a copy of an entrant moves it (`clones/`)."
    )


def reference_claim(board: dict[str, Any], reference: str) -> str | None:
    others = [m["model"] for m in board["models"] if m["model"] != reference]
    above = [name for name in others if beats(board, name, reference)]
    below = [name for name in others if beats(board, reference, name)]
    if not above and not below:
        return None
    parts = []
    if above:
        parts.append(f"{_names(above)} beat{'s' if len(above) == 1 else ''} the reference head to head")
    if below:
        parts.append(f"{_names(below)} lose{'s' if len(below) == 1 else ''} to it")
    rest = [name for name in others if name not in above and name not in below]
    tail = f"; {_names(rest)} cannot be told from it" if rest else ""
    return (
        f"- **Against the reference**: {' and '.join(parts)}{tail} (the 95% bootstrap interval of the"
        " head-to-head win rate lies entirely above or below 1/2)."
    )


def what_it_shows(
    board: dict[str, Any],
    rows: list[dict[str, Any]],
    no_cycle: str,
    claims: Claims,
    reference: str = "reference",
) -> list[str]:
    """The README's claims, each read from an interval on the board or in the task's rows: the ratings'
    here, then the task's own (`claims`); `no_cycle` says where the task's cycle lives when no cycle among
    entrants is beyond the intervals."""
    lines = [nash_claim(board), elo_claim(board)]
    against = reference_claim(board, reference)
    if against is not None:
        lines.append(against)
    cycle = significant_cycle(board)
    if cycle is not None:
        lines.append(
            f"- **A cycle** among entrants: `{cycle[0]}` beats `{cycle[1]}`, `{cycle[1]}` beats `{cycle[2]}`"
            f" and `{cycle[2]}` beats `{cycle[0]}`, each beyond its interval: no single score can order them."
        )
    else:
        lines.append(f"- **No cycle** among entrants is beyond the intervals: {no_cycle}")
    return lines + claims(rows, reference, board)
