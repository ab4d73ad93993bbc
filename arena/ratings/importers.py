"""Public battle and judgment files as match tables: format detection, lmarena battles, the 55k one-hot layout.

Every importer turns the rows it is given into the match layout of arena.ratings.matches (`model_a`,
`model_b`, then `winner`, `p_a` or counts, with `prompt_id`) and reports what it left out, so that
`matches_from_frame` validates and deduplicates every format the same way. AlpacaEval annotations and
Arena-Hard judgments live in arena.ratings.judgments. docs/importers.md describes each format.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from arena.errors import ArenaError

FORMATS = ("auto", "matches", "lmarena", "55k", "alpaca-eval", "arena-hard", "leaderbot")
BOTH_BAD = ("tie", "exclude")
# Columns a table must have to be read in each format (leaderbot's are the keys of its JSON object).
REQUIRED: dict[str, tuple[str, ...]] = {
    "matches": ("model_a", "model_b"),
    "lmarena": ("model_a", "model_b", "winner"),
    "55k": ("model_a", "model_b", "winner_model_a", "winner_model_b", "winner_tie"),
    "alpaca-eval": ("generator_1", "generator_2", "preference"),
    "arena-hard": ("question_id", "model", "games"),
    "leaderbot": ("models", "X", "Y"),
}
# lmarena's winner values; both of the last two mean a tie in which both answers were bad.
LMARENA_WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)", "both_bad")
BOTH_BAD_WINNERS = ("tie (bothbad)", "both_bad")
ONE_HOT = ("winner_model_a", "winner_model_b", "winner_tie")


@dataclass(frozen=True)
class ImportOptions:
    """How a public file's conventions are read (the CLI's format options)."""

    both_bad: str | None = None  # "tie" or "exclude"; None: the format's default (docs/importers.md)
    anonymous_only: bool = False  # lmarena: keep only battles with anony true
    strong_weight: int | None = None  # Arena-Hard: matches per strong verdict (A>>B); None: 3
    baseline: str | None = None  # Arena-Hard: the baseline model (v0.1 files do not name it)

    def __post_init__(self) -> None:
        if self.both_bad is not None and self.both_bad not in BOTH_BAD:
            raise ArenaError(f"--both-bad: expected one of {', '.join(BOTH_BAD)}, got {self.both_bad!r}")
        if self.strong_weight is not None and self.strong_weight < 1:
            raise ArenaError(f"--strong-weight: expected a whole number >= 1, got {self.strong_weight}")


@dataclass
class ImportReport:
    """What an importer read and what it left out, for the one line the CLI prints."""

    format: str
    rows: int
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def drop(self, reason: str, count: int) -> None:
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(count)

    def summary(self) -> str:
        left_out = "; ".join(f"{count} {reason}" for reason, count in self.dropped.items())
        text = f"Read {self.rows} rows as {self.format}" + (f"; left out {left_out}" if left_out else "")
        return text + "".join(f"; {note}" for note in self.notes) + "."


def fail(source: str, where: str, message: str) -> ArenaError:
    return ArenaError(f"{source}: {where}: {message}")


def listed(columns: Iterable[object]) -> str:
    return ", ".join(str(c) for c in columns) or "none"


def missing_columns(columns: Iterable[object], fmt: str) -> list[str]:
    present = {str(c) for c in columns}
    return [c for c in REQUIRED[fmt] if c not in present]


def detect_format(columns: list[str], source: str) -> str:
    """The format a table's header announces; undetectable: one line naming the closest format's gaps."""
    present = set(columns)
    if {"games", "model"} <= present and ({"question_id", "uid"} & present):
        return "arena-hard"
    if {"generator_1", "generator_2"} & present and "preference" in present:
        return "alpaca-eval"
    if set(ONE_HOT) & present:
        return "55k"
    if {"model_a", "model_b", "winner"} <= present and ({"question_id", "anony"} & present):
        return "lmarena"
    if {"model_a", "model_b", "winner", "p_a", "wins_a", "wins_b", "ties"} & present:
        return "matches"  # its own checks name what a match table lacks
    tabular = [f for f in REQUIRED if f != "leaderbot"]
    # The closest format shares the most columns with the table, then lacks the fewest.
    closest = min(
        tabular,
        key=lambda f: (
            len(missing_columns(present, f)) - len(REQUIRED[f]),
            len(missing_columns(present, f)),
            tabular.index(f),
        ),
    )
    gaps = ", ".join(missing_columns(present, closest))
    raise fail(
        source,
        "header",
        f"not a known layout (columns: {listed(columns)}): closest is --format {closest}, which needs "
        f"{gaps}; or name the format with --format",
    )


def require_columns(frame: pd.DataFrame, fmt: str, source: str) -> None:
    gaps = missing_columns(frame.columns, fmt)
    if fmt == "arena-hard" and gaps == ["question_id"] and "uid" in frame.columns:
        gaps = []  # Arena-Hard v2 calls the prompt id uid
    if gaps:
        raise fail(
            source,
            "header",
            f"--format {fmt} needs column{'s' if len(gaps) > 1 else ''} {', '.join(gaps)} "
            f"(columns: {listed(frame.columns)})",
        )


def is_missing(values: pd.Series) -> np.ndarray:
    return (values.isna() | (values.astype(str).str.strip() == "")).to_numpy()


def shown(value: object) -> str:
    """A cell as a user wrote it: text quoted, numbers plain (not numpy's repr)."""
    return (
        repr(value)
        if isinstance(value, str)
        else str(value.item() if isinstance(value, np.generic) else value)
    )


def first_row(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0]) + 1


def check_names(frame: pd.DataFrame, columns: tuple[str, ...], source: str) -> None:
    """Before any row is left out, so that the row numbers in errors are the file's."""
    for column in columns:
        missing = is_missing(frame[column])
        if missing.any():
            raise fail(source, f"row {first_row(missing)}, column {column}", "missing model name")


_TRUE = {"true", "1", "yes", "t", "y", "1.0"}
_FALSE = {"false", "0", "no", "f", "n", "0.0"}


def booleans(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    """A column of booleans as a CSV, JSON or parquet file writes them."""
    text = frame[column].astype(str).str.strip().str.lower()
    bad = ~text.isin(_TRUE | _FALSE).to_numpy()
    if bad.any():
        row = first_row(bad)
        raise fail(
            source,
            f"row {row}, column {column}",
            f"expected true or false, got {shown(frame[column].iloc[row - 1])}",
        )
    return text.isin(_TRUE).to_numpy()


def anonymous_filter(
    frame: pd.DataFrame, options: ImportOptions, report: ImportReport, source: str
) -> np.ndarray:
    """Rows kept by --anonymous-only (every row without it)."""
    if not options.anonymous_only:
        return np.ones(len(frame), dtype=bool)
    if "anony" not in frame.columns:
        raise fail(
            source, "header", f"--anonymous-only needs column anony (columns: {listed(frame.columns)})"
        )
    anonymous = booleans(frame, "anony", source)
    report.drop("not anonymous (--anonymous-only)", int((~anonymous).sum()))
    return anonymous


def prompt_ids(frame: pd.DataFrame, *candidates: str) -> pd.Series | None:
    """The first of the candidate columns present, as the prompt id the bootstrap resamples."""
    for column in candidates:
        if column in frame.columns:
            return frame[column]
    return None


# Per-response style features a control reads (arena.ratings.style_features), carried through as they are.
FEATURE_COLUMNS = tuple(f"{name}_{side}" for name in ("len", "headers", "lists", "bold") for side in "ab")


def carry_features(
    frame: pd.DataFrame, out: pd.DataFrame, texts: tuple[str, str] = ("response_a", "response_b")
) -> None:
    """Give `out` the response texts (as response_a/response_b) and precomputed features of `frame`, and
    lmarena's `conv_metadata` (its style control's own counts) as len/headers/lists/bold columns."""
    for column, target in zip(texts, ("response_a", "response_b"), strict=True):
        if column in frame.columns:
            out[target] = frame[column].map(_response_text)
    for column in FEATURE_COLUMNS:
        if column in frame.columns:
            out[column] = frame[column]
    if "conv_metadata" in frame.columns and not any(c in frame.columns for c in FEATURE_COLUMNS):
        metadata = [m if isinstance(m, dict) else {} for m in frame["conv_metadata"]]
        for side in "ab":
            # Missing counts become NaN, which the control reports as a bad value on that row.
            out[f"len_{side}"] = [m.get(f"sum_assistant_{side}_tokens", np.nan) for m in metadata]
            for name, key in (("headers", "header_count"), ("lists", "list_count"), ("bold", "bold_count")):
                out[f"{name}_{side}"] = [_total(m.get(f"{key}_{side}")) for m in metadata]


def _total(counts: object) -> float:
    """lmarena stores markdown counts per kind ({h1: 2, h2: 0, ...}); a plain number is already a total."""
    if isinstance(counts, dict):
        return float(sum(v for v in counts.values() if isinstance(v, int | float)))
    return float(counts) if isinstance(counts, int | float) else np.nan


def _response_text(value: object) -> object:
    """The 55k layout stores each response as a JSON list of turns ('["Hi!", "..."]'): the turns joined,
    so that words and markdown lines are counted in the text rather than in its JSON encoding."""
    if isinstance(value, str) and value.startswith("["):
        try:
            turns = json.loads(value)
        except json.JSONDecodeError:
            return value
        if isinstance(turns, list):
            return "\n\n".join(t for t in turns if isinstance(t, str))
    return value


def lmarena_battles(
    frame: pd.DataFrame, options: ImportOptions, source: str
) -> tuple[pd.DataFrame, ImportReport]:
    """lmarena (FastChat clean_battle) battles: every winner value, both_bad as a tie or left out, the
    anonymous filter, question_id as the prompt id. The `judge` column (a voter's hash) is not kept."""
    report = ImportReport("lmarena battles", len(frame))
    check_names(frame, ("model_a", "model_b"), source)
    winner = frame["winner"].astype(str).str.strip()
    unknown = ~winner.isin(LMARENA_WINNERS).to_numpy()
    if unknown.any():
        row = first_row(unknown)
        raise fail(
            source,
            f"row {row}, column winner",
            f"unknown value {winner.iloc[row - 1]!r} (expected {', '.join(LMARENA_WINNERS)})",
        )
    keep = anonymous_filter(frame, options, report, source)
    both_bad = winner.isin(BOTH_BAD_WINNERS).to_numpy()
    if (options.both_bad or "tie") == "exclude":
        report.drop("both-bad ties (--both-bad exclude)", int((both_bad & keep).sum()))
        keep = keep & ~both_bad
    out = pd.DataFrame(
        {
            "model_a": frame["model_a"],
            "model_b": frame["model_b"],
            # Both spellings of a both-bad tie become FastChat's, which the match layout reads as a tie.
            "winner": winner.where(~both_bad, "tie (bothbad)"),
        }
    )
    prompts = prompt_ids(frame, "prompt_id", "question_id")
    if prompts is not None:
        out["prompt_id"] = prompts
    carry_features(frame, out)
    return _kept(out, keep, report, source)


def one_hot_battles(
    frame: pd.DataFrame, options: ImportOptions, source: str
) -> tuple[pd.DataFrame, ImportReport]:
    """The 55k human-preference layout: winner_model_a, winner_model_b, winner_tie, exactly one of them 1.
    Rows with the same prompt text are one prompt for the bootstrap (each row's `id` is unique)."""
    report = ImportReport("55k one-hot preferences", len(frame))
    check_names(frame, ("model_a", "model_b"), source)
    flags = []
    for column in ONE_HOT:
        values = pd.to_numeric(frame[column].astype(str).str.strip(), errors="coerce").to_numpy(dtype=float)
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            row = first_row(bad)
            raise fail(
                source,
                f"row {row}, column {column}",
                f"expected 0 or 1, got {shown(frame[column].iloc[row - 1])}",
            )
        flags.append(values)
    total = flags[0] + flags[1] + flags[2]
    if np.any(total != 1):
        row = first_row(total != 1)
        raise fail(
            source,
            f"row {row}, columns {', '.join(ONE_HOT)}",
            f"expected exactly one 1, got {int(total[row - 1])}",
        )
    keep = anonymous_filter(frame, options, report, source)
    winner = np.where(flags[0] == 1, "model_a", np.where(flags[1] == 1, "model_b", "tie"))
    out = pd.DataFrame({"model_a": frame["model_a"], "model_b": frame["model_b"], "winner": winner})
    prompts = prompt_ids(frame, "prompt_id", "question_id", "prompt", "id")
    if prompts is not None:
        out["prompt_id"] = prompts.astype(str)
    carry_features(frame, out)
    return _kept(out, keep, report, source)


def plain_matches(
    frame: pd.DataFrame, options: ImportOptions, source: str
) -> tuple[pd.DataFrame, ImportReport]:
    """The match layout as it is; --both-bad exclude and --anonymous-only apply to it too."""
    report = ImportReport("matches", len(frame))
    keep = anonymous_filter(frame, options, report, source)
    if "winner" in frame.columns:
        winner = frame["winner"].astype(str).str.strip()
        both_bad = winner.isin(BOTH_BAD_WINNERS).to_numpy()
        if options.both_bad == "exclude":
            report.drop("both-bad ties (--both-bad exclude)", int((both_bad & keep).sum()))
            keep = keep & ~both_bad
        elif both_bad.any():  # lmarena's newer spelling, in a table without its other columns
            frame = frame.assign(winner=frame["winner"].where(~both_bad, "tie (bothbad)"))
    return _kept(frame, keep, report, source)


def _kept(
    frame: pd.DataFrame, keep: np.ndarray, report: ImportReport, source: str
) -> tuple[pd.DataFrame, ImportReport]:
    if not keep.any():
        raise fail(source, "all rows", f"no matches left ({report.summary().removesuffix('.')})")
    return frame[keep].reset_index(drop=True), report


# The formats each option means something for: given with another, it would be silently ignored.
APPLIES_TO = {
    "--both-bad": ("matches", "lmarena", "leaderbot"),
    "--anonymous-only": ("matches", "lmarena", "55k"),
    "--strong-weight": ("arena-hard",),
    "--arena-hard-baseline": ("arena-hard",),
}


def check_options_apply(options: ImportOptions, fmt: str, source: str) -> None:
    given = {
        "--both-bad": options.both_bad is not None,
        "--anonymous-only": options.anonymous_only,
        "--strong-weight": options.strong_weight is not None,
        "--arena-hard-baseline": options.baseline is not None,
    }
    for flag, formats in APPLIES_TO.items():
        if given[flag] and fmt not in formats:
            raise ArenaError(
                f"{source}: {flag} applies to --format {', '.join(formats)}; this file reads as {fmt}"
            )


TableImporter = Callable[[pd.DataFrame, ImportOptions, str], tuple[pd.DataFrame, ImportReport]]


def table_importers() -> dict[str, TableImporter]:
    from arena.ratings.judgments import alpaca_eval_annotations, arena_hard_judgments

    return {
        "matches": plain_matches,
        "lmarena": lmarena_battles,
        "55k": one_hot_battles,
        "alpaca-eval": alpaca_eval_annotations,
        "arena-hard": arena_hard_judgments,
    }


def import_table(
    frame: pd.DataFrame, fmt: str, options: ImportOptions, source: str
) -> tuple[pd.DataFrame, ImportReport]:
    """A table of any format (`auto`: detected from its columns) in the match layout, and the report."""
    if fmt not in FORMATS:
        raise ArenaError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "auto":
        fmt = detect_format([str(c) for c in frame.columns], source)
    if fmt == "leaderbot":
        raise fail(
            source, "header", f"--format leaderbot needs a JSON object with keys {', '.join(REQUIRED[fmt])}"
        )
    check_options_apply(options, fmt, source)
    if fmt != "matches":  # matches_from_frame names what a match table lacks, as it always has
        require_columns(frame, fmt, source)
    if len(frame) == 0:
        raise fail(source, "row 1", "no matches (the file has no rows)")
    return table_importers()[fmt](frame, options, source)
