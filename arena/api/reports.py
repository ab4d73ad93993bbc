"""What the host hands a task's tournament report, and what the report hands back.

A task that `provides_report` implements `tournament_report(result: TournamentResult) -> TournamentReport`.
The host (`arena quickstart`) builds the result once the tournament has published its leaderboard, writes
the report's files beside it (once each), and reads the report's columns into its generic tables and
README: the algorithm table's two-stage bootstrap pools the task's per-prompt counts (`PromptCounts`), and
the README's claims about the task's columns are the task's own (`TournamentReport.claims`).

Also here, for writing claims: `Interval`, `best_and_tied` and the formatting helpers the host's claims
use, so a task's sentences read like the host's. Light: no numpy, pandas or torch at import.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from arena.generation.base import Sample


@dataclass(frozen=True)
class TournamentResult:
    """A published tournament, as a task's report sees it."""

    recipe: Any  # the TournamentRecipe as run (entrants, task, ratings settings)
    board: dict[str, Any]  # the published leaderboard.json content (models, pairs, tournament, entrants)
    matches: pd.DataFrame  # every match: model_a, model_b, p_a, prompt_id (index into the prompt list), judge
    samples: dict[str, dict[str, list[Sample]]]  # per entrant, per prompt (in the tournament's prompt order)
    publish_dir: Path  # where the leaderboard was published; the report's files go beside it


class PromptCounts(Protocol):
    """A task's statistic of responses that pools by addition: a count vector per prompt (e.g. answers per
    move, then malformed ones), and the columns a pooled count vector gives. The host's bootstrap sums the
    counts of the drawn runs and prompts per round; the arrays below end with the count axis."""

    description: str  # what the columns are, for the method line of the table (e.g. "malformed share")

    def counts(self, texts: Sequence[str]) -> Sequence[float]:
        """The count vector of one prompt's responses."""
        ...

    def columns(self, pooled: np.ndarray) -> dict[str, np.ndarray]:
        """(rounds, groups, counts) -> {column: (rounds, groups)}, NaN where undefined; the host reports
        row 0 (every run and prompt once) and the 95% interval of the other rounds, in this order."""
        ...

    def point_columns(self, pooled: np.ndarray) -> dict[str, np.ndarray]:
        """(groups, counts) -> {column: (groups,)} shown without an interval (NaN: none)."""
        ...

    def replicate_columns(self, pooled: np.ndarray) -> dict[str, np.ndarray]:
        """(groups, counts) -> {column: (groups,)} of one replicate of the pipeline on its own."""
        ...


@dataclass(frozen=True)
class ReportColumn:
    """A column of the task's in the host's ranking table: `key` in the rows; with `interval`, the rows
    also have `<key>_ci_low` and `<key>_ci_high`."""

    key: str
    interval: bool = False


@dataclass(frozen=True)
class ReadmeText:
    """The task's sentences in the host's README (markdown; line breaks are kept as given)."""

    reference: str  # what the reference policy was trained on ("its reference policy (SFT on ...)")
    judging: str  # how the judge decides a pair, completing "the task's oracle judges ... in both orders: "
    columns: str  # the paragraph under the table that says what the task's columns are
    no_cycle: str  # completes "**No cycle** among entrants is beyond the intervals: "


@dataclass(frozen=True)
class TournamentReport:
    """What a task adds to a published tournament."""

    files: dict[str, str]  # file name -> text, written beside the leaderboard (each once)
    rows: list[dict[str, Any]]  # per entrant, {"model": name, **the task's columns}
    columns: tuple[ReportColumn, ...]  # the task's columns in the ranking table, in order
    statistic: PromptCounts  # what the algorithm table pools and bootstraps
    readme: ReadmeText
    # (rows, reference entrant, the algorithm table) -> the README's claims about the task's columns
    claims: Callable[[list[dict[str, Any]], str, dict[str, Any]], list[str]] = field(
        default=lambda rows, reference, table: []
    )


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high


def best_and_tied(values: dict[str, float], intervals: dict[str, Interval], lowest: bool) -> list[str]:
    """The best entrant by point value first, then every other whose interval overlaps the best one's."""
    best = (min if lowest else max)(values, key=lambda name: (values[name], name))
    tied = sorted(
        (name for name in values if name != best and intervals[name].overlaps(intervals[best])),
        key=lambda name: (values[name] if lowest else -values[name], name),
    )
    return [best, *tied]


def format_number(value: float | None, digits: int = 3) -> str:
    """A number as the README shows it; `-` for none."""
    return "-" if value is None else f"{value:.{digits}f}"


def format_interval(low: float | None, high: float | None, digits: int = 3) -> str:
    """`[low, high]`; `-` when there is no interval."""
    return "-" if low is None or high is None else f"[{low:.{digits}f}, {high:.{digits}f}]"


def quoted_names(names: list[str]) -> str:
    """`a`, `b` and `c`."""
    quoted = [f"`{name}`" for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def extreme_claim(rows: list[dict[str, Any]], key: str, lowest: bool, what: str) -> str | None:
    """`what` names the extreme ("the least exploitable"): one entrant alone when its interval is disjoint
    from every other's, otherwise every entrant whose interval overlaps the best one's."""
    rated = [r for r in rows if r[key] is not None and r[f"{key}_ci_low"] is not None]
    if len(rated) < 2:
        return None
    values = {r["model"]: r[key] for r in rated}
    spans = {r["model"]: Interval(r[f"{key}_ci_low"], r[f"{key}_ci_high"]) for r in rated}
    group = best_and_tied(values, spans, lowest)
    detail = ", ".join(f"`{name}` {format_interval(spans[name].low, spans[name].high)}" for name in group)
    if len(group) == 1:
        return f"`{group[0]}` is {what} alone ({detail}; every other interval is disjoint from it)"
    return f"{quoted_names(group)} are tied for {what} ({detail}: the intervals overlap)"


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV, the first row's keys as the header, floats to 4 decimals (as the host's tables)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()
