"""Ratings from match results: win rates, Bradley-Terry Elo with bootstrap intervals, maximum-entropy Nash
averaging with bootstrap intervals, the quantal-response equilibrium, paired tests of head-to-head win
rates, and the regularised Nash equilibrium of a preference game. numpy, scipy and pandas only."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from arena.ratings.bradley_terry import BradleyTerryFit, bradley_terry
from arena.ratings.matches import Matches, as_matches
from arena.ratings.nash import max_entropy_nash, nash_ratings
from arena.ratings.readers import read_matches
from arena.ratings.regularized import exploitability, quantal_response_nash, regularized_nash

if TYPE_CHECKING:
    from arena.ratings.winrates import pair_statistics, win_rate_matrix

# The win-rate tables load on first use: they import scipy.stats (for the paired tests), about 0.6 s of
# every `arena train` on a game, whose diagnostics need only `exploitability`. (`bradley_terry` stays eager:
# it is also the name of its module, which a later import of that module would put here in its place.)
_LAZY = {"pair_statistics": "winrates", "win_rate_matrix": "winrates"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'arena.ratings' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"arena.ratings.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BradleyTerryFit",
    "Matches",
    "as_matches",
    "bradley_terry",
    "exploitability",
    "max_entropy_nash",
    "nash_ratings",
    "pair_statistics",
    "quantal_response_nash",
    "read_matches",
    "regularized_nash",
    "win_rate_matrix",
]
