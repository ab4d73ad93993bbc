"""Reading match files: CSV, JSONL, parquet, JSON records, leaderbot's aggregated Chatbot Arena JSON, a saved
`datasets` folder or a hub dataset id, in any of the public formats of arena.ratings.importers.

Every problem becomes an ArenaError naming the file, the row and the column. CSV cells are read as text
and converted here, so a model called "NA" stays a model and a bad number is reported where it is.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from arena.errors import ArenaError
from arena.ratings.importers import REQUIRED, ImportOptions, ImportReport, check_options_apply, import_table
from arena.ratings.matches import Matches, matches_from_frame

SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json", ".parquet", ".pq")
# What a hub dataset id looks like (owner/name): anything else that is not here is a missing file.
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def read_matches(
    path: str | Path, format: str = "auto", options: ImportOptions | None = None, split: str = "train"
) -> Matches:
    """Read and validate a match file (see arena.ratings.matches for the accepted columns)."""
    return import_matches(path, format, options, split)[0]


def import_matches(
    path: str | Path, format: str = "auto", options: ImportOptions | None = None, split: str = "train"
) -> tuple[Matches, ImportReport]:
    """Matches from a file, a saved `datasets` folder or a hub id in `format` (auto: detected), and what
    the importer left out. Raises ArenaError with one line for anything unreadable."""
    options = options or ImportOptions()
    source = str(path)
    table = _read_table(Path(path), source, split)
    if isinstance(table, dict):  # leaderbot's {models, X, Y} counts
        if format not in ("auto", "leaderbot"):
            raise ArenaError(
                f"{source}: header: --format {format} needs a table, and this is leaderbot's "
                "{models, X, Y} counts (use --format leaderbot or auto)"
            )
        check_options_apply(options, "leaderbot", source)
        report = ImportReport("leaderbot counts", len(table["X"]))
        both_bad_as_tie = options.both_bad == "tie"
        report.notes.append(
            "both-bad ties counted as ties (--both-bad tie)"
            if both_bad_as_tie
            else "both-bad ties left out, as leaderbot's published fits do (--both-bad tie counts them)"
        )
        return matches_from_frame(leaderbot_counts(table, source, both_bad_as_tie), source), report
    frame, report = import_table(table, format, options, source)
    return matches_from_frame(frame, source), report


def _read_table(path: Path, source: str, split: str) -> pd.DataFrame | dict[str, Any]:
    if path.is_dir():
        return _read_saved_dataset(path, source, split)
    suffix = path.suffix.lower()
    if not path.is_file():
        if suffix not in SUFFIXES and HUB_ID.match(source):
            return _read_hub_dataset(source, split)
        raise ArenaError(f"{source}: no such file")
    if suffix not in SUFFIXES:
        raise ArenaError(
            f"{source}: unknown format {suffix or '(no suffix)'!r} (expected {', '.join(SUFFIXES)})"
        )
    if path.stat().st_size == 0:
        raise ArenaError(f"{source}: row 1: no matches (the file is empty)")
    if suffix == ".csv":
        return _read_csv(path, source)
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path, source)
    if suffix == ".json":
        return _read_json(path, source)
    return _read_parquet(path, source)


def _read_saved_dataset(path: Path, source: str, split: str) -> pd.DataFrame:
    """A folder written by `datasets`' save_to_disk: one dataset, or a DatasetDict read at `split`."""
    if not ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
        raise ArenaError(f"{source}: expected a file or a folder written by datasets' save_to_disk")
    import datasets

    datasets.disable_progress_bars()
    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises many types for a damaged folder
        raise ArenaError(
            f"{source}: not a readable saved dataset ({' '.join(str(exc).split())[:200]})"
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise ArenaError(f"{source}: --split: expected one of {', '.join(loaded)}, got {split!r}")
        loaded = loaded[split]
    return _dataset_frame(loaded, source)


def _read_hub_dataset(name: str, split: str) -> pd.DataFrame:
    import datasets

    datasets.disable_progress_bars()
    try:
        loaded = datasets.load_dataset(name, split=split)
    except Exception as exc:  # offline, missing, gated or broken: datasets raises many types
        offline = [
            v for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE") if os.environ.get(v, "") not in ("", "0")
        ]
        if offline:
            raise ArenaError(
                f"{name}: not a local file or folder, and not in the Hugging Face cache as a hub dataset "
                f"({' and '.join(offline)} set: nothing is downloaded; run once online or pass a file)"
            ) from None
        raise ArenaError(
            f"{name}: not a local file or folder, and not readable as a hub dataset at split {split!r} "
            f"({' '.join(str(exc).split())[:200]})"
        ) from None
    return _dataset_frame(loaded, name)


def _dataset_frame(dataset: Any, source: str) -> pd.DataFrame:
    frame = dataset.to_pandas()
    if len(frame) == 0:
        raise ArenaError(f"{source}: row 1: no matches (the dataset has no rows)")
    return frame


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


def _read_json(path: Path, source: str) -> pd.DataFrame | dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        raise ArenaError(f"{source}: row {exc.lineno}: not valid JSON ({exc.msg})") from None
    if isinstance(data, dict) and set(REQUIRED["leaderbot"]) <= set(data):
        return data
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ArenaError(
            f"{source}: row 1: expected a list of match objects or leaderbot's {{models, X, Y}} counts"
        )
    if not data:
        raise ArenaError(f"{source}: row 1: no matches (the list is empty)")
    return pd.DataFrame.from_records(data)


def leaderbot_counts(data: dict[str, Any], source: str, both_bad_as_tie: bool = False) -> pd.DataFrame:
    """Leaderbot's Chatbot Arena counts (github.com/suquark/leaderbot) as rows of wins_a, wins_b, ties.

    `X` lists pairs of model indices and `Y` per pair: wins of the first, wins of the second, ties, and
    ties where both were bad. Following leaderbot's published fits, only the first three columns count
    (ties where both answers were bad are left out), which is the convention its NLL 0.6554 refers to;
    `both_bad_as_tie` adds the fourth column to the ties instead.
    """
    models, pairs, counts = data["models"], data["X"], data["Y"]
    if len(pairs) != len(counts):
        raise ArenaError(
            f"{source}: row 1, column Y: {len(counts)} rows of counts for {len(pairs)} pairs in X"
        )
    rows = []
    for number, (pair, row) in enumerate(zip(pairs, counts, strict=True), start=1):
        if len(pair) != 2 or len(row) < (4 if both_bad_as_tie else 3):
            raise ArenaError(
                f"{source}: row {number}, column X/Y: expected [i, j] and [wins_i, wins_j, ties, ...]"
            )
        try:
            first, second = models[int(pair[0])], models[int(pair[1])]
        except (IndexError, ValueError, TypeError):
            raise ArenaError(
                f"{source}: row {number}, column X: {pair!r} is not a pair of model indices"
            ) from None
        rows.append(
            {
                "model_a": first,
                "model_b": second,
                "wins_a": row[0],
                "wins_b": row[1],
                "ties": row[2] + (row[3] if both_bad_as_tie else 0),
            }
        )
    return pd.DataFrame.from_records(rows, columns=["model_a", "model_b", "wins_a", "wins_b", "ties"])


def _read_parquet(path: Path, source: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
        raise ArenaError(
            f"{source}: header: not a readable parquet file ({' '.join(str(exc).split())})"
        ) from None
