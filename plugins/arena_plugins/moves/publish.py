"""The moves task's tournament report (`MovesTask.tournament_report`): each entrant's moves, the columns the
host's algorithm table pools, and the README's sentences and claims about them.

`moves.csv` / `moves.json`: per entrant, the share of malformed responses, the move distribution of the
well-formed ones, and its exact exploitability in the move game, both plain (how much more than 1/2 a
best-responding move wins against it) and regularised at the task's tau (zero exactly at the task's
regularised equilibrium). The claims compare 95% intervals, never point estimates (the rules are in
`arena/quickstart/narrative.py`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from arena.api import (
    ReadmeText,
    ReportColumn,
    TournamentReport,
    TournamentResult,
    csv_text,
    extreme_claim,
    format_interval,
    quoted_names,
)
from arena_plugins.moves.intervals import best_response_edges, moves_intervals, response_counts


def best_response_edge(move_probs: list[float], preferences: Any) -> float:
    """max over moves m of P(m beats a move drawn from move_probs) - 1/2: 0 only for an unexploitable mix."""
    return float(best_response_edges(np.array([move_probs]), preferences)[0])


@dataclass(frozen=True)
class MoveCounts:
    """The algorithm table's pooled statistic (`arena.api.PromptCounts`): answers per move, then malformed
    ones; pooled, the malformed share and the move mix's exploitability (how much more than 1/2 the best
    single move wins against it), and the move shares."""

    task: Any
    description: str = "malformed share and move exploitability"

    def counts(self, texts: Sequence[str]) -> Sequence[float]:
        return response_counts(self.task, texts)

    def columns(self, pooled: np.ndarray) -> dict[str, np.ndarray]:
        answered = pooled.sum(axis=2)
        malformed = pooled[..., -1] / np.maximum(answered, 1.0)
        move_counts = pooled[..., :-1]
        well_formed = move_counts.sum(axis=2)
        shares = move_counts / np.maximum(well_formed, 1.0)[..., None]
        groups = range(pooled.shape[1])
        edges = np.stack([best_response_edges(shares[:, g], self.task.preferences) for g in groups], axis=1)
        edges[well_formed == 0] = np.nan
        return {"malformed": malformed, "exploitability": edges}

    def point_columns(self, pooled: np.ndarray) -> dict[str, np.ndarray]:
        move_counts = pooled[:, :-1]
        well_formed = move_counts.sum(axis=1)
        shares = move_counts / np.maximum(well_formed, 1.0)[:, None]
        shares[well_formed == 0] = np.nan  # no well-formed answer: no move distribution
        return {move.lower(): shares[:, k] for k, move in enumerate(self.task.moves)}

    def replicate_columns(self, pooled: np.ndarray) -> dict[str, np.ndarray]:
        return {"malformed": pooled[:, -1] / pooled.sum(axis=1)}


def moves_rows(task: Any, samples: dict[str, dict[str, list[Any]]]) -> list[dict[str, Any]]:
    """Per entrant: samples, malformed share, move shares, exploitability (plain, with intervals; and at tau)."""
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


def report_columns(task: Any) -> tuple[ReportColumn, ...]:
    moves = tuple(ReportColumn(move.lower()) for move in task.moves)
    return (ReportColumn("malformed", interval=True), *moves, ReportColumn("exploitability", interval=True))


def readme_text(task: Any) -> ReadmeText:
    """The README's sentences about the task, from its args (the reference's mix, the move matrix)."""
    mix = zip(task.moves, task.reference, strict=True)
    first, second, *rest = (f"{share:.0%} {move.lower()}" for move, share in mix)
    cycle = " beats ".join(move.lower() for move in (*task.moves, task.moves[0]))
    p = task.preferences[0][1]
    odds = "" if p == 1.0 else f" (each with probability {p:.3g})"
    return ReadmeText(
        reference=f"its reference policy (SFT on a corpus that plays {first}, {second},\n"
        f"{', '.join(rest)}, with {task.args.malformed:.0%} malformed sentences)",
        judging="a well-formed sentence beats a malformed one, and between well-formed ones "
        + cycle.replace(" ", "\n", 1)
        + f"{odds}.",
        columns="`malformed` and the moves are shares of each entrant's responses (the moves among the"
        " well-formed\nones); `exploitability` is how much more than 1/2 the best single move wins against that"
        " move mix\n(0 for uniform play). `moves.csv` also has it regularised at the task's tau, as in"
        " KNOWN_ANSWERS.md.",
        no_cycle=f"the cycle is inside the game ({cycle}), and the exploitability column measures it."
        " Beating this field is not the same as being hard to beat.",
    )


def moves_claims(rows: list[dict[str, Any]], reference: str) -> list[str]:
    """Who is least exploitable, who became more exploitable than the reference, who breaks form most."""
    claims = []
    least = extreme_claim(rows, "exploitability", True, "the least exploitable")
    most_malformed = extreme_claim(rows, "malformed", False, "the most often malformed")
    if least is not None:
        claims.append(f"- **Exploitability**: {least}.")
    ref = next((r for r in rows if r["model"] == reference), None)
    if ref is not None and ref["exploitability_ci_high"] is not None:
        worse = [
            r["model"]
            for r in rows
            if r["model"] != reference
            and r["exploitability_ci_low"] is not None
            and r["exploitability_ci_low"] > ref["exploitability_ci_high"]
        ]
        if worse:
            claims.append(
                f"- {quoted_names(worse)} became *more* exploitable than the reference: each interval lies"
                " above the reference's"
                f" {format_interval(ref['exploitability_ci_low'], ref['exploitability_ci_high'])}."
            )
    if most_malformed is not None:
        claims.append(f"- **Form**: {most_malformed}.")
    return claims


def spread_claim(table: dict[str, Any]) -> str | None:
    """The algorithm whose malformed share differs most between replicates of the pipeline."""
    replicates = table.get("replicates") or []
    if len(replicates) < 2:
        return None
    names = list(replicates[0]["malformed"])
    values = {name: [r["malformed"][name] for r in replicates] for name in names}
    widest = max(names, key=lambda name: (max(values[name]) - min(values[name]), name))
    shares = ", ".join(
        f"{value:.3f} (seed {r['seed']})" for value, r in zip(values[widest], replicates, strict=True)
    )
    return (
        f"- **Between replicates**: `{widest}`'s malformed share differs most: {shares}. One training run"
        " is not the algorithm: the table pools the runs, and its intervals resample them."
    )


def report_claims(rows: list[dict[str, Any]], reference: str, table: dict[str, Any]) -> list[str]:
    """The README's claims about the moves' columns, after the host's claims about the ratings."""
    spread = spread_claim(table)
    return moves_claims(rows, reference) + ([spread] if spread is not None else [])


def tournament_report(task: Any, result: TournamentResult) -> TournamentReport:
    rows = moves_rows(task, result.samples)
    return TournamentReport(
        files={
            "moves.json": json.dumps({"moves": list(task.moves), "entrants": rows}, indent=2) + "\n",
            "moves.csv": csv_text(rows),
        },
        rows=rows,
        columns=report_columns(task),
        statistic=MoveCounts(task),
        readme=readme_text(task),
        claims=report_claims,
    )
