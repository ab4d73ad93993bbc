"""Judge verdicts against a baseline as match tables: AlpacaEval annotations and Arena-Hard judgments.

Both benchmarks judge every model against one baseline on a fixed set of instructions, so each verdict
becomes a match of the model against the baseline with the instruction as its prompt id (the bootstrap
and the paired tests then resample instructions, as AlpacaEval's and Arena-Hard's own intervals do).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from arena.ratings.importers import (
    ImportOptions,
    ImportReport,
    carry_features,
    check_names,
    fail,
    first_row,
    prompt_ids,
    shown,
)

# Arena-Hard v0.1's show_result.py compares every model with this baseline; its judgment files do not
# name it, so it is the default here too (--arena-hard-baseline or a `baseline` field overrides it).
ARENA_HARD_BASELINE = "gpt-4-0314"
ARENA_HARD_STRONG_WEIGHT = 3  # show_result.py --weight: matches a strong verdict counts for
# A verdict read from the first model's side (position A): +1 A wins, -1 B wins, 0 a tie; `strong` marks
# the verdicts Arena-Hard counts `--weight` times (3 by default).
VERDICTS: dict[str, tuple[int, bool]] = {
    "A>>B": (1, True),
    "A>B": (1, False),
    "A=B": (0, False),
    "B>A": (-1, False),
    "B>>A": (-1, True),
}


def alpaca_eval_annotations(
    frame: pd.DataFrame, options: ImportOptions, source: str
) -> tuple[pd.DataFrame, ImportReport]:
    """AlpacaEval's annotations.json: preference 1 = generator_1 wins, 2 = generator_2 wins, values in
    between a judge's probability (AlpacaEval 2's weighted annotator), 0 a draw (AlpacaEval counts it as
    1.5), null an unreadable verdict (left out and counted). The instruction is the prompt id."""
    del options  # no convention of AlpacaEval's is optional
    report = ImportReport("AlpacaEval annotations", len(frame))
    check_names(frame, ("generator_1", "generator_2"), source)
    raw = frame["preference"]
    absent = raw.isna().to_numpy() | raw.astype(str).str.strip().isin(["", "None", "null"]).to_numpy()
    preference = pd.to_numeric(raw.where(~absent), errors="coerce").to_numpy(dtype=float)
    readable = ~absent
    bad = readable & ~(
        np.isfinite(preference) & (((preference >= 1) & (preference <= 2)) | (preference == 0))
    )
    if bad.any():
        row = first_row(bad)
        raise fail(
            source,
            f"row {row}, column preference",
            f"expected a number in [1, 2], 0 (a draw) or null, got {shown(raw.iloc[row - 1])}",
        )
    report.drop("null preferences (unreadable verdicts)", int(absent.sum()))
    preference = np.where(preference == 0, 1.5, preference)
    out = pd.DataFrame(
        {
            "model_a": frame["generator_1"],
            "model_b": frame["generator_2"],
            "p_a": 2.0 - preference,  # the probability that generator_1 (position 1) wins
        }
    )
    prompts = prompt_ids(frame, "prompt_id", "instruction", "question_id")
    if prompts is not None:
        out["prompt_id"] = prompts
    if "annotator" in frame.columns:
        out["judge"] = frame["annotator"]
    carry_features(frame, out, texts=("output_1", "output_2"))  # for length control
    if not readable.any():
        raise fail(source, "all rows", "no matches left (every preference is null)")
    return out[readable].reset_index(drop=True), report


def arena_hard_judgments(
    frame: pd.DataFrame, options: ImportOptions, source: str
) -> tuple[pd.DataFrame, ImportReport]:
    """Arena-Hard judgments: per question and model, two games against the baseline, the baseline in
    position A in the first and in position B in the second. Each game is a match of the model against
    the baseline; a strong verdict (A>>B, B>>A) counts `options.strong_weight` matches (Arena-Hard's
    default 3), a null or unreadable score none (both counted in the report)."""
    report = ImportReport("Arena-Hard judgments", len(frame))
    check_names(frame, ("model",), source)
    default_baseline = options.baseline or ARENA_HARD_BASELINE
    strong_weight = options.strong_weight or ARENA_HARD_STRONG_WEIGHT
    question = prompt_ids(frame, "question_id", "uid")
    assert question is not None  # require_columns checked it
    rows: list[dict[str, Any]] = []
    null = unreadable = 0
    for number, (record_model, games, prompt) in enumerate(
        zip(frame["model"], frame["games"], question, strict=True), start=1
    ):
        games = _games(games, number, source)
        baseline = _baseline(frame, number - 1, default_baseline)
        judge = str(frame["judge"].iloc[number - 1]) if "judge" in frame.columns else ""
        for position, game in enumerate(games):
            score = game.get("score")
            if _absent(score):
                null += 1
                continue
            if str(score).strip() not in VERDICTS:
                unreadable += 1
                continue
            sign, strong = VERDICTS[str(score).strip()]
            # Game 1 has the baseline in position A, game 2 the model: read the verdict from the model's side.
            model_side = -sign if position == 0 else sign
            weight = strong_weight if strong else 1
            rows.append(
                {
                    "model_a": str(record_model).strip(),
                    "model_b": baseline,
                    "wins_a": weight if model_side > 0 else 0,
                    "wins_b": weight if model_side < 0 else 0,
                    "ties": 1 if model_side == 0 else 0,
                    "prompt_id": str(prompt),
                    "judge": judge,
                }
            )
    report.drop("null scores", null)
    report.drop("unreadable scores", unreadable)
    report.notes.append(
        f"strong verdicts (A>>B, B>>A) count {strong_weight} matches; baseline {default_baseline}"
    )
    if not rows:
        raise fail(source, "all rows", "no matches left (no game has a readable score)")
    return pd.DataFrame.from_records(rows), report


def _games(games: Any, number: int, source: str) -> list[dict[str, Any]]:
    """One record's games as a list of dicts (a CSV or a datasets table may hold them as text or arrays)."""
    if isinstance(games, str):
        try:
            games = json.loads(games)
        except json.JSONDecodeError:
            games = None
    if isinstance(games, np.ndarray):
        games = list(games)
    if (
        not isinstance(games, list)
        or not 1 <= len(games) <= 2
        or not all(isinstance(g, dict) and "score" in g for g in games)
    ):
        raise fail(
            source,
            f"row {number}, column games",
            "expected a list of one or two games, each with a score (A>>B, A>B, A=B, B>A, B>>A or null)",
        )
    return games


def _baseline(frame: pd.DataFrame, index: int, default: str) -> str:
    """Arena-Hard v2 records name their baseline; v0.1 records do not."""
    if "baseline" in frame.columns and not _absent(frame["baseline"].iloc[index]):
        return str(frame["baseline"].iloc[index]).strip()
    return default


def _absent(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() in ("", "null", "None")
