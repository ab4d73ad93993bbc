"""Per-match style features for length and style control, from the two responses' texts or from
precomputed columns.

A match table gives them one of two ways (per feature, the first that is present wins):
- texts: `response_a`, `response_b` (the 55k human-preference layout, a tournament's samples);
- precomputed: `len_a`/`len_b` (length), `headers_a`/`headers_b`, `lists_a`/`lists_b`, `bold_a`/`bold_b`.

From a text: length = words (whitespace-separated; a tokenizer-free stand-in for tokens that counts the
same for every model), headers = markdown header lines (`#` to `######`), lists = list-item lines
(`-`, `*`, `+` or `1.` / `1)`), bold = `**...**` or `__...__` spans. Code blocks are left out of the
markdown counts, as lmarena does, so a `#` comment in code is not a header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from arena.errors import ArenaError
from arena.ratings.matches import NO_PROMPT, WINNER_OUTCOMES, matches_from_frame

if TYPE_CHECKING:
    from arena.ratings.importers import ImportOptions

FEATURES = ("length", "headers", "lists", "bold")
COLUMNS = {"length": "len", "headers": "headers", "lists": "lists", "bold": "bold"}

_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)
_HEADER = re.compile(r"^#{1,6}\s+\S", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def text_features(text: str) -> tuple[float, float, float, float]:
    """(length in words, markdown headers, list items, bold spans) of one response."""
    prose = _CODE_BLOCK.sub("", text)
    return (
        float(len(text.split())),
        float(len(_HEADER.findall(prose))),
        float(len(_LIST_ITEM.findall(prose))),
        float(len(_BOLD.findall(prose))),
    )


@dataclass(frozen=True)
class MatchFeatures:
    """One row per match (no deduplication: each keeps its own features). a, b index `models`, which is
    in the order of arena.ratings.matches (sorted names), so controlled ratings line up with the board."""

    models: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray  # P(a beats b): 1, 0, 1/2 or a judge's probability
    prompt: np.ndarray  # prompt group, NO_PROMPT where unknown
    prompt_ids: np.ndarray  # the prompt id as text ('' where unknown), for instruction difficulty
    side_a: np.ndarray  # (n, len(FEATURES)) raw feature values of a's response
    side_b: np.ndarray
    source: str = "matches"

    def feature(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        column = FEATURES.index(name)
        return self.side_a[:, column], self.side_b[:, column]


def match_features(
    frame: pd.DataFrame, source: str = "matches", needed: tuple[str, ...] = FEATURES
) -> MatchFeatures:
    """The matches of a table with one row per match (winner or p_a layout) and the `needed` features of
    both responses. Raises ArenaError naming the file and the missing columns."""
    matches = matches_from_frame(frame, source)  # every validation of a match table, with its messages
    if "winner" in frame.columns:
        outcome = frame["winner"].astype(str).str.strip().map(WINNER_OUTCOMES).to_numpy(dtype=float)
    elif "p_a" in frame.columns:
        outcome = pd.to_numeric(frame["p_a"]).to_numpy(dtype=float)
    else:
        raise ArenaError(
            f"{source}: header: length and style control need one row per match (winner or p_a), "
            "not aggregated counts"
        )
    side_a, side_b = (_side(frame, side, needed, source) for side in ("a", "b"))
    index = {model: i for i, model in enumerate(matches.models)}
    names_a = frame["model_a"].astype(str).str.strip()
    names_b = frame["model_b"].astype(str).str.strip()
    if "prompt_id" in frame.columns:
        ids = frame["prompt_id"].astype(str).str.strip().replace({"nan": "", "None": ""})
        codes = np.where(ids == "", NO_PROMPT, pd.factorize(ids)[0])
    else:
        ids, codes = pd.Series([""] * len(frame)), np.full(len(frame), NO_PROMPT)
    return MatchFeatures(
        models=matches.models,
        a=names_a.map(index).to_numpy(dtype=np.int64),
        b=names_b.map(index).to_numpy(dtype=np.int64),
        outcome=outcome,
        prompt=codes.astype(np.int64),
        prompt_ids=ids.to_numpy(dtype=str),
        side_a=side_a,
        side_b=side_b,
        source=source,
    )


def _side(frame: pd.DataFrame, side: str, needed: tuple[str, ...], source: str) -> np.ndarray:
    """(n, len(FEATURES)) for one side; features not needed stay NaN."""
    values = np.full((len(frame), len(FEATURES)), np.nan)
    text_column = f"response_{side}"
    from_text = None
    for name in needed:
        column = FEATURES.index(name)
        precomputed = f"{COLUMNS[name]}_{side}"
        if precomputed in frame.columns:
            numbers = pd.to_numeric(frame[precomputed], errors="coerce").to_numpy(dtype=float)
            bad = ~np.isfinite(numbers) | (numbers < 0)
            if bad.any():
                row = int(np.flatnonzero(bad)[0]) + 1
                raise ArenaError(f"{source}: row {row}, column {precomputed}: expected a count >= 0")
            values[:, column] = numbers
        elif text_column in frame.columns:
            if from_text is None:
                texts = frame[text_column].fillna("").astype(str)
                from_text = np.array([text_features(t) for t in texts]).reshape(len(frame), len(FEATURES))
            values[:, column] = from_text[:, column]
        else:
            raise ArenaError(
                f"{source}: header: missing columns response_a and response_b (texts), or {COLUMNS[name]}_a "
                f"and {COLUMNS[name]}_b (the {name} feature of length and style control)"
            )
    return values


def normalised_differences(features: MatchFeatures, names: tuple[str, ...]) -> np.ndarray:
    """lmarena's style covariates: per feature (a - b) / (a + b) (0 where both are 0), divided by its
    root mean square over the matches. Not centred: swapping a and b flips the sign of a row's covariates
    exactly as it flips its outcome, so the fit does not depend on which side a model was shown on."""
    columns = []
    for name in names:
        a, b = features.feature(name)
        total = a + b
        ratio = np.divide(a - b, total, out=np.zeros_like(total), where=total > 0)
        scale = np.sqrt(np.mean(ratio**2))
        columns.append(ratio / scale if scale > 0 else ratio)
    return np.column_stack(columns) if columns else np.zeros((len(features.a), 0))


def read_match_features(
    path: str, format: str, options: ImportOptions, split: str, control: str
) -> MatchFeatures:
    """The features a control needs, from the same rows `arena leaderboard` rates (the importer's table,
    after its filters)."""
    from arena.ratings.importers import import_table
    from arena.ratings.readers import _read_table

    table = _read_table(Path(path), str(path), split)
    if isinstance(table, dict):
        raise ArenaError(f"{path}: header: {control} control needs one row per match, not aggregated counts")
    frame, _ = import_table(table, format, options, str(path))
    return match_features(frame, str(path), ("length",) if control == "length" else FEATURES)
