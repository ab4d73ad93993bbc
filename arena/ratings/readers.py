"""Reading match files: CSV, JSONL, parquet, JSON records, and leaderbot's aggregated Chatbot Arena JSON.

Every problem becomes an ArenaError naming the file, the row and the column. CSV cells are read as text
and converted here, so a model called "NA" stays a model and a bad number is reported where it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from arena.errors import ArenaError
from arena.ratings.matches import Matches, matches_from_frame

SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json", ".parquet", ".pq")


def read_matches(path: str | Path) -> Matches:
    """Read and validate a match file (see arena.ratings.matches for the accepted columns)."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ArenaError(f"{source}: no such file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ArenaError(
            f"{source}: unknown format {suffix or '(no suffix)'!r} (expected {', '.join(SUFFIXES)})"
        )
    if path.stat().st_size == 0:
        raise ArenaError(f"{source}: row 1: no matches (the file is empty)")
    if suffix == ".csv":
        frame = _read_csv(path, source)
    elif suffix in (".jsonl", ".ndjson"):
        frame = _read_jsonl(path, source)
    elif suffix == ".json":
        frame = _read_json(path, source)
    else:
        frame = _read_parquet(path, source)
    return matches_from_frame(frame, source)


def _read_csv(path: Path, source: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise ArenaError(f"{source}: row 1: no matches (the file is empty)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ArenaError(
            f"{source}: header: not a readable CSV file ({' '.join(str(exc).split())})"
        ) from None


def _read_jsonl(path: Path, source: str) -> pd.DataFrame:
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ArenaError(f"{source}: row {number}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise ArenaError(f"{source}: row {number}: expected a JSON object with model_a, model_b, ...")
            records.append(record)
    if not records:
        raise ArenaError(f"{source}: row 1: no matches (the file has no records)")
    return pd.DataFrame.from_records(records)


def _read_json(path: Path, source: str) -> pd.DataFrame:
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        raise ArenaError(f"{source}: row {exc.lineno}: not valid JSON ({exc.msg})") from None
    if isinstance(data, dict) and {"models", "X", "Y"} <= set(data):
        return leaderbot_counts(data, source)
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ArenaError(
            f"{source}: row 1: expected a list of match objects or leaderbot's {{models, X, Y}} counts"
        )
    if not data:
        raise ArenaError(f"{source}: row 1: no matches (the list is empty)")
    return pd.DataFrame.from_records(data)


def leaderbot_counts(data: dict[str, Any], source: str) -> pd.DataFrame:
    """Leaderbot's Chatbot Arena counts (github.com/suquark/leaderbot) as rows of wins_a, wins_b, ties.

    `X` lists pairs of model indices and `Y` per pair: wins of the first, wins of the second, ties, and
    ties where both were bad. Following leaderbot's published fits, only the first three columns count
    (ties where both answers were bad are left out), which is the convention its NLL 0.6554 refers to.
    """
    models, pairs, counts = data["models"], data["X"], data["Y"]
    if len(pairs) != len(counts):
        raise ArenaError(
            f"{source}: row 1, column Y: {len(counts)} rows of counts for {len(pairs)} pairs in X"
        )
    rows = []
    for number, (pair, row) in enumerate(zip(pairs, counts, strict=True), start=1):
        if len(pair) != 2 or len(row) < 3:
            raise ArenaError(
                f"{source}: row {number}, column X/Y: expected [i, j] and [wins_i, wins_j, ties, ...]"
            )
        try:
            first, second = models[int(pair[0])], models[int(pair[1])]
        except (IndexError, ValueError, TypeError):
            raise ArenaError(
                f"{source}: row {number}, column X: {pair!r} is not a pair of model indices"
            ) from None
        rows.append({"model_a": first, "model_b": second, "wins_a": row[0], "wins_b": row[1], "ties": row[2]})
    return pd.DataFrame.from_records(rows, columns=["model_a", "model_b", "wins_a", "wins_b", "ties"])


def _read_parquet(path: Path, source: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
        raise ArenaError(
            f"{source}: header: not a readable parquet file ({' '.join(str(exc).split())})"
        ) from None
