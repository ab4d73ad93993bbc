"""Ratings from match results: win rates, Bradley-Terry Elo with bootstrap intervals, maximum-entropy Nash
averaging with bootstrap intervals, the quantal-response equilibrium, paired tests of head-to-head win
rates, and the regularised Nash equilibrium of a preference game. numpy, scipy and pandas only."""

from __future__ import annotations

from arena.ratings.bradley_terry import BradleyTerryFit, bradley_terry
from arena.ratings.matches import Matches, as_matches
from arena.ratings.nash import max_entropy_nash, nash_ratings
from arena.ratings.readers import read_matches
from arena.ratings.regularized import exploitability, quantal_response_nash, regularized_nash
from arena.ratings.winrates import pair_statistics, win_rate_matrix

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
