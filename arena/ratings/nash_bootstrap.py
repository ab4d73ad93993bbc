"""The maximum-entropy Nash equilibrium (and, optionally, the quantal-response one) of every bootstrap round.

The rounds are the Bradley-Terry bootstrap's own (`bradley_terry(..., each_chunk=...)`): the same
resampled prompts (or matches), so Elo and Nash intervals describe the same uncertainty. A round's win
rate for a pair is points / matches over what the round drew; a pair the round did not draw, or never
played at all, is imputed from that round's Bradley-Terry strengths, exactly as the point estimate does.

Speed: solving a 129-model game from scratch takes an LP (about 0.1-0.3 s), so 1000 rounds would take
minutes. Complementary slackness gives a certificate instead. Let p be the maximum-entropy equilibrium of
the game restricted to a candidate support S (p = 0 outside S). If (A p)_k < -MARGIN for every k outside
S, then p is an equilibrium of the whole game, and every equilibrium q of the whole game lives on S:
q^T A p >= 0 because p^T A q <= 0 and A is skew-symmetric, while q^T A p = sum_k q_k (A p)_k <= 0, so
q_k = 0 wherever (A p)_k < 0. The equilibria of the whole game are then among those of the restricted
game, p is the one of maximum entropy among the latter and is itself one of the former, so it is the
whole game's maximum-entropy equilibrium. Each round starts from the point estimate's support, adds the
models that violate the certificate, and falls back to the full solver when that does not settle it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.ratings.bradley_terry import BootstrapChunk
from arena.ratings.nash import NOISE, max_entropy_nash
from arena.ratings.regularized import quantal_response_nash

# (A p)_k below -MARGIN certifies that no equilibrium plays k; closer to 0, k joins the candidate support.
MARGIN = 1e-9
# Grow the candidate support at most this many times before solving the whole game.
GROWTH_STEPS = 4


@dataclass(frozen=True)
class NashBootstrapSamples:
    """Per bootstrap round (rows) and model (columns, in the order of Matches.models)."""

    weight: np.ndarray  # maximum-entropy Nash weights
    rating: np.ndarray  # (A p)_i, <= 0
    qre_weight: np.ndarray | None  # quantal-response weights (None without a temperature)
    qre_rating: np.ndarray | None
    full_solves: int  # rounds the certificate did not settle, solved on the whole game

    @property
    def rounds(self) -> int:
        return int(self.weight.shape[0])


class RoundGames:
    """The win-rate matrices of one chunk of rounds, built column by column on demand."""

    def __init__(self, chunk: BootstrapChunk, n_models: int) -> None:
        self.chunk = chunk
        self.n_models = n_models
        # pair_at[i, j]: index of the pair {i, j} in chunk.first/second; -1 where never played (and i = j).
        self.pair_at = np.full((n_models, n_models), -1, dtype=np.int64)
        pairs = np.arange(len(chunk.first))
        self.pair_at[chunk.first, chunk.second] = pairs
        self.pair_at[chunk.second, chunk.first] = pairs
        with np.errstate(invalid="ignore", divide="ignore"):
            self.rate = chunk.points / chunk.n  # NaN where a round did not draw the pair

    def columns(self, rounds: np.ndarray | slice, S: np.ndarray) -> np.ndarray:
        """W[:, S] for the given rounds: (rounds, models, |S|)."""
        strength = self.chunk.strength[rounds]
        index = self.pair_at[:, S]
        # The pair's first model is the lower index: from row i's side the rate is as stored when i < j.
        forward = np.arange(self.n_models)[:, None] < S[None, :]
        rate = self.rate[rounds][:, np.maximum(index, 0)]
        oriented = np.where(forward[None], rate, 1.0 - rate)
        fitted = 1.0 / (1.0 + np.exp(strength[:, S][:, None, :] - strength[:, :, None]))
        W = np.where((index >= 0)[None] & np.isfinite(rate), oriented, fitted)
        W[:, S, np.arange(len(S))] = 0.5
        return W

    def full(self, round_index: int) -> np.ndarray:
        everyone = np.arange(self.n_models)
        return self.columns(slice(round_index, round_index + 1), everyone)[0]


def certified_max_entropy_nash(
    W_columns: np.ndarray, S: np.ndarray, whole: RoundGames, round_index: int
) -> tuple[np.ndarray, bool]:
    """The whole game's maximum-entropy equilibrium from the restricted games on growing supports.

    W_columns is W[:, S] of this round. Returns (p over all models, whether the full solver was needed).
    """
    n = W_columns.shape[0]
    for _ in range(GROWTH_STEPS):
        p_S = max_entropy_nash(W_columns[S])
        value = (W_columns - 0.5) @ p_S
        outside = np.ones(n, dtype=bool)
        outside[S] = False
        violators = np.flatnonzero(outside & (value >= -MARGIN))
        if violators.size == 0:
            p = np.zeros(n)
            p[S] = p_S
            return p, False
        S = np.union1d(S, violators)
        if 2 * len(S) > n:
            break
        W_columns = whole.columns(slice(round_index, round_index + 1), S)[0]
    return max_entropy_nash(whole.full(round_index)), True


class NashBootstrap:
    """Collects the Nash equilibrium of every bootstrap round; pass `consume` as bradley_terry's each_chunk."""

    def __init__(
        self,
        W_point: np.ndarray,
        support: np.ndarray,
        temperature: float | None = None,
        qre_point: np.ndarray | None = None,
    ) -> None:
        """W_point: the point estimate's game; support: its equilibrium's support (where rounds start);
        qre_point: its quantal-response equilibrium at `temperature` (each round follows it from there)."""
        self.W_point = W_point
        self.n_models = len(W_point)
        self.support = np.sort(np.asarray(support, dtype=np.int64))
        self.temperature = temperature
        self.qre_point = qre_point
        self.weights: list[np.ndarray] = []
        self.ratings: list[np.ndarray] = []
        self.qre_weights: list[np.ndarray] = []
        self.qre_ratings: list[np.ndarray] = []
        self.full_solves = 0

    def consume(self, chunk: BootstrapChunk) -> None:
        games = RoundGames(chunk, self.n_models)
        S = self.support
        starting_columns = games.columns(slice(None), S)
        for r in range(chunk.n.shape[0]):
            p, full = certified_max_entropy_nash(starting_columns[r], S, games, r)
            self.full_solves += int(full)
            self.weights.append(p)
            if self.temperature is None:
                # (A p) needs only the columns on p's support.
                played = np.flatnonzero(p > 0)
                rating = (games.columns(slice(r, r + 1), played)[0] - 0.5) @ p[played]
            else:
                W = games.full(r)
                rating = (W - 0.5) @ p
                qre = quantal_response_nash(W, self.temperature, start=self.qre_point, start_W=self.W_point)
                self.qre_weights.append(qre)
                self.qre_ratings.append((W - 0.5) @ qre)
            rating[np.abs(rating) < NOISE] = 0.0  # exact zeros on the support, as nash_ratings gives
            self.ratings.append(rating)

    def samples(self) -> NashBootstrapSamples:
        empty = np.empty((0, self.n_models))
        qre = self.temperature is not None
        return NashBootstrapSamples(
            weight=np.array(self.weights) if self.weights else empty,
            rating=np.array(self.ratings) if self.ratings else empty,
            qre_weight=(np.array(self.qre_weights) if self.qre_weights else empty) if qre else None,
            qre_rating=(np.array(self.qre_ratings) if self.qre_ratings else empty) if qre else None,
            full_solves=self.full_solves,
        )
