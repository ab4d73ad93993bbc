"""Match results, validated and deduplicated: the input of every rating.

Three layouts are accepted, as a table with `model_a`, `model_b` and one of:
- `winner`: FastChat's battle format, one of `model_a`, `model_b`, `tie`, `tie (bothbad)`;
- `p_a`: the probability that model_a wins (a soft outcome; 1, 0 or 1/2 for a hard one);
- `wins_a`, `wins_b`, `ties`: aggregated counts per pair.
Optional columns: `prompt_id` (the bootstrap then resamples prompts) and `judge` (recorded only).

Identical matches are merged into one cell with a count, so a million battles between 129 models become
a few thousand cells, and everything downstream (win rates, Bradley-Terry, its bootstrap) scales with
the cells, not the matches. Each cell keeps the orientation it was given in, so statistics reported
from model_a's side are exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from arena.errors import ArenaError

WINNER_OUTCOMES: dict[str, float] = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}
COUNT_COLUMNS = ("wins_a", "wins_b", "ties")
NO_PROMPT = -1


@dataclass(frozen=True)
class Matches:
    """Deduplicated matches: cell k is `count[k]` matches of models[a[k]] against models[b[k]], each
    won by a with probability `outcome[k]`, on prompt group `prompt[k]` (NO_PROMPT when unknown)."""

    models: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    count: np.ndarray
    prompt: np.ndarray
    judges: tuple[str, ...] = ()
    source: str = "matches"

    @property
    def n_matches(self) -> int:
        return int(self.count.sum())

    @property
    def has_prompts(self) -> bool:
        return bool(np.any(self.prompt != NO_PROMPT))


def _fail(source: str, where: str, message: str) -> ArenaError:
    """The one line a user sees: `FILE: row 3, column winner: what is wrong`."""
    return ArenaError(f"{source}: {where}: {message}")


def _at(row: int, column: str | None = None) -> str:
    return f"row {row}" + (f", column {column}" if column else "")


def _is_missing(values: pd.Series) -> np.ndarray:
    as_text = values.astype(str).str.strip()
    return (values.isna() | (as_text == "")).to_numpy()


def _first_bad_row(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0]) + 1  # rows are counted from 1, after the header


def _names(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    values = frame[column]
    missing = _is_missing(values)
    if missing.any():
        raise _fail(source, _at(_first_bad_row(missing), column), "missing model name")
    return values.astype(str).str.strip().to_numpy()


def _numbers(frame: pd.DataFrame, column: str, source: str, low: float, high: float) -> np.ndarray:
    values = frame[column]
    missing = _is_missing(values)
    if missing.any():
        raise _fail(source, _at(_first_bad_row(missing), column), "missing value")
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers)
    if bad.any():
        row = _first_bad_row(bad)
        raise _fail(source, _at(row, column), f"{values.iloc[row - 1]!r} is not a number")
    outside = (numbers < low) | (numbers > high)
    if outside.any():
        row = _first_bad_row(outside)
        raise _fail(source, _at(row, column), f"{numbers[row - 1]:g} is outside [{low:g}, {high:g}]")
    return numbers


def _layout(frame: pd.DataFrame, source: str) -> str:
    """Which of the three layouts the header announces: 'winner', 'p_a' or 'counts'."""
    for column in ("model_a", "model_b"):
        if column not in frame.columns:
            raise _fail(source, "header", f"missing column '{column}' (columns: {_listed(frame)})")
    present = [c for c in COUNT_COLUMNS if c in frame.columns]
    layouts = [c for c in ("winner", "p_a") if c in frame.columns] + (["counts"] if present else [])
    if len(layouts) > 1:
        raise _fail(source, "header", f"give only one of winner, p_a or {', '.join(COUNT_COLUMNS)}")
    if not layouts:
        raise _fail(source, "header", f"missing column 'winner' (or 'p_a', or {', '.join(COUNT_COLUMNS)})")
    if layouts == ["counts"] and len(present) < len(COUNT_COLUMNS):
        absent = next(c for c in COUNT_COLUMNS if c not in present)
        raise _fail(source, "header", f"missing column '{absent}' (columns: {_listed(frame)})")
    return layouts[0]


def _listed(frame: pd.DataFrame) -> str:
    return ", ".join(str(c) for c in frame.columns) or "none"


def matches_from_frame(frame: pd.DataFrame, source: str = "matches") -> Matches:
    """Validate a table of matches (any of the three layouts) and deduplicate it. Raises ArenaError."""
    layout = _layout(frame, source)
    if len(frame) == 0:
        raise _fail(source, _at(1), "no matches (the file has no rows)")
    model_a = _names(frame, "model_a", source)
    model_b = _names(frame, "model_b", source)
    rows = np.arange(1, len(frame) + 1)
    if layout == "winner":
        text = frame["winner"].astype(str).str.strip()
        outcome = text.map(WINNER_OUTCOMES).to_numpy(dtype=float)
        unknown = np.isnan(outcome)
        if unknown.any():
            row = _first_bad_row(unknown)
            allowed = ", ".join(WINNER_OUTCOMES)
            raise _fail(
                source, _at(row, "winner"), f"unknown value {text.iloc[row - 1]!r} (expected {allowed})"
            )
        count = np.ones(len(frame))
    elif layout == "p_a":
        outcome = _numbers(frame, "p_a", source, 0.0, 1.0)
        count = np.ones(len(frame))
    else:
        counts = [_numbers(frame, column, source, 0.0, np.inf) for column in COUNT_COLUMNS]
        for column, values in zip(COUNT_COLUMNS, counts, strict=True):
            fractional = values != np.round(values)
            if fractional.any():
                raise _fail(source, _at(_first_bad_row(fractional), column), "counts must be whole numbers")
        # One row of counts becomes up to three cells: a's wins, b's wins and ties.
        model_a, model_b, rows = (np.tile(x, 3) for x in (model_a, model_b, rows))
        outcome = np.repeat([1.0, 0.0, 0.5], len(frame))
        count = np.concatenate(counts)
        frame = pd.concat([frame] * 3, ignore_index=True)
    if layout == "counts" and count.sum() == 0:
        raise _fail(source, _at(1), "no matches (every count is 0)")
    prompts = _prompt_groups(frame, source)
    judges = _judges(frame)
    kept = count > 0
    return _deduplicate(
        model_a[kept], model_b[kept], outcome[kept], count[kept], prompts[kept], rows[kept], judges, source
    )


def _prompt_groups(frame: pd.DataFrame, source: str) -> np.ndarray:
    if "prompt_id" not in frame.columns:
        return np.full(len(frame), NO_PROMPT)
    values = frame["prompt_id"]
    missing = _is_missing(values)
    codes = pd.factorize(values.astype(str).str.strip())[0]
    return np.where(missing, NO_PROMPT, codes)  # a match without a prompt id is a unit of its own


def _judges(frame: pd.DataFrame) -> tuple[str, ...]:
    if "judge" not in frame.columns:
        return ()
    values = frame["judge"][~_is_missing(frame["judge"])]
    return tuple(sorted({str(v).strip() for v in values}))


def _deduplicate(
    model_a: np.ndarray,
    model_b: np.ndarray,
    outcome: np.ndarray,
    count: np.ndarray,
    prompt: np.ndarray,
    rows: np.ndarray,
    judges: tuple[str, ...],
    source: str,
) -> Matches:
    models, codes = np.unique(np.concatenate([model_a, model_b]), return_inverse=True)
    a, b = codes[: len(model_a)], codes[len(model_a) :]
    _check_everyone_plays_someone(models, a, b, rows, source)
    _check_connected(models, a, b, source)
    cells = pd.DataFrame({"a": a, "b": b, "outcome": outcome, "prompt": prompt, "count": count})
    merged = cells.groupby(["a", "b", "outcome", "prompt"], sort=True, as_index=False)["count"].sum()
    return Matches(
        models=tuple(str(m) for m in models),
        a=merged["a"].to_numpy(dtype=np.int64),
        b=merged["b"].to_numpy(dtype=np.int64),
        outcome=merged["outcome"].to_numpy(dtype=float),
        count=merged["count"].to_numpy(dtype=float),
        prompt=merged["prompt"].to_numpy(dtype=np.int64),
        judges=judges,
        source=source,
    )


def _check_everyone_plays_someone(
    models: np.ndarray, a: np.ndarray, b: np.ndarray, rows: np.ndarray, source: str
) -> None:
    """A model whose every match is against itself has no rating at all: say so instead of guessing."""
    against_others = np.zeros(len(models), dtype=bool)
    different = a != b
    against_others[a[different]] = True
    against_others[b[different]] = True
    if against_others.all():
        return
    loner = int(np.flatnonzero(~against_others)[0])
    first = int(np.flatnonzero(a == loner)[0]) if np.any(a == loner) else int(np.flatnonzero(b == loner)[0])
    message = f"model {str(models[loner])!r} only plays itself (model_a = model_b in every match it is in)"
    raise _fail(source, _at(int(rows[first]), "model_a"), message)


def _check_connected(models: np.ndarray, a: np.ndarray, b: np.ndarray, source: str) -> None:
    """Ratings compare models only through chains of matches; groups that never meet have none."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(models), len(models)))
    groups, label = connected_components(graph, directed=False)
    if groups > 1:
        first, other = str(models[0]), str(models[int(np.flatnonzero(label != label[0])[0])])
        raise _fail(
            source,
            "all rows",
            f"the models form {groups} groups that never play each other (e.g. {first!r} and {other!r}): "
            "ratings across groups are undefined",
        )


def as_matches(matches: Matches | pd.DataFrame | Iterable[Any], source: str = "matches") -> Matches:
    """Matches from a Matches, a table in any accepted layout, or (model_a, model_b, p_a) tuples."""
    if isinstance(matches, Matches):
        return matches
    if isinstance(matches, pd.DataFrame):
        return matches_from_frame(matches, source)
    records = list(matches)
    if records and all(isinstance(r, dict) for r in records):
        return matches_from_frame(pd.DataFrame.from_records(records), source)
    return matches_from_frame(pd.DataFrame(records, columns=["model_a", "model_b", "p_a"]), source)
