"""Elo on another board's scale: shift every Elo so that one model reads a given rating (`--anchor`).

Only differences of Elo carry meaning (the fit centres them at 1000), so adding one constant to every
rating, interval bound and bootstrap round changes nothing but the scale's origin: win probabilities,
ranks, ties and the Nash columns are untouched. lmarena reads mixtral-8x7b-instruct-v0.1 at about 1114;
`--anchor mixtral-8x7b-instruct-v0.1=1114` puts a board of the same battles on that scale.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from arena.errors import ArenaError

if TYPE_CHECKING:  # the CLI parses --anchor before scipy is imported
    from arena.ratings.table import Leaderboard

ELO_ROW_COLUMNS = ("elo", "elo_ci_low", "elo_ci_high")


def parse_anchor(text: str) -> tuple[str, float]:
    """`MODEL=RATING` (the model name may itself contain '='; the rating is after the last one)."""
    model, sep, rating = text.rpartition("=")
    try:
        value = float(rating)
    except ValueError:
        value = math.nan
    if not sep or not model.strip() or not math.isfinite(value):
        raise ArenaError(
            f"--anchor: expected MODEL=RATING with a finite number, e.g. gpt-4-0314=1186, got {text!r}"
        )
    return model.strip(), value


def check_anchor_model(model: str, models: Sequence[str], source: str) -> None:
    """One line naming the closest model names when `model` is not on the board."""
    if model in models:
        return
    # A shortened name ("mixtral") is a typical slip, and too short for difflib's ratio alone.
    containing = [m for m in models if model.lower() in m.lower()]
    close = list(dict.fromkeys(containing + difflib.get_close_matches(model, list(models), n=3, cutoff=0.5)))[
        :3
    ]
    hint = f"did you mean {', '.join(close)}?" if close else f"the board has {len(models)} models"
    raise ArenaError(f"--anchor: model {model!r} is not in {source} ({hint})")


def anchor_elo(board: Leaderboard, model: str, rating: float) -> Leaderboard:
    """The same board with every Elo (point, interval bounds, bootstrap rounds) shifted so `model` reads
    `rating`."""
    check_anchor_model(model, board.models, board.source)
    fit = board.fit
    shift = rating - float(fit.elo[list(fit.models).index(model)])
    shifted_fit = dataclasses.replace(
        fit,
        elo=fit.elo + shift,
        elo_ci_low=fit.elo_ci_low + shift,  # NaN (no bootstrap) stays NaN
        elo_ci_high=fit.elo_ci_high + shift,
        bootstrap_elo=fit.bootstrap_elo + shift,
    )
    rows = [{**row, **{c: row[c] + shift for c in ELO_ROW_COLUMNS}} for row in board.rows]
    return dataclasses.replace(board, fit=shifted_fit, rows=rows, elo_anchor=(model, rating))
