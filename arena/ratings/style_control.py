"""Length and style control for a whole board: both rating columns, from one set of covariates.

Covariates per match (a's side minus b's, arena.ratings.style_features):
- control "length": AlpacaEval's tanh(delta_len / scale), words, scale the root mean square;
- control "style": lmarena's normalised differences of length, markdown headers, list items and bold.

Elo column (lmarena's style control): Bradley-Terry with the covariates, logit P(a beats b) =
s_a - s_b + beta . f_ab; the controlled ratings are the strengths s on the Elo scale.

Nash column: the controlled win-rate matrix. Per played pair {i, j} an intercept theta_ij and, shared by
all pairs, the covariate slopes beta: logit P(a beats b) = +-theta_ab + beta . f_ab. With the covariates
set to 0, W[i][j] = sigmoid(theta_ij): the pair's win rate had both answers been alike in length (style).
With no covariate effect (beta = 0) theta_ij is the pair's log-odds and W the observed win rate.

Intervals: each bootstrap round resamples prompts (matches without a prompt id are units of their own),
refits both models on the round's draw, and hands the Nash bootstrap the same round (controlled pair rates
and controlled strengths), so the controlled Elo and Nash intervals describe the same uncertainty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from arena.ratings.bootstrap import HESSIAN_BUDGET
from arena.ratings.bradley_terry import CONFIDENCE, ELO_MEAN, ELO_PER_NAT, BootstrapChunk, BradleyTerryFit
from arena.ratings.glm import fit_logistic, logistic_objective
from arena.ratings.length_control import length_term
from arena.ratings.matches import NO_PROMPT
from arena.ratings.style_features import FEATURES, MatchFeatures, match_features, normalised_differences

CONTROLS: dict[str, tuple[str, ...]] = {"length": ("length",), "style": FEATURES}
# Bootstrap rounds fitted together: bounds the (rounds, matches) weight arrays to about 32 MB each.
ROUND_BUDGET = 4_000_000


def covariates(features: MatchFeatures, control: str) -> tuple[tuple[str, ...], np.ndarray]:
    """(names, (n, k) covariates) of a control."""
    if control == "length":
        len_a, len_b = features.feature("length")
        return ("length",), length_term(len_a - len_b, centred_scale=False)[:, None]
    if control == "style":
        return FEATURES, normalised_differences(features, FEATURES)
    raise ValueError(f"unknown control {control!r} (expected {', '.join(CONTROLS)})")


@dataclass(frozen=True)
class StyleControl:
    """The covariates and both designs of a controlled board; `bradley_terry` has the signature of
    arena.ratings.bradley_terry.bradley_terry, so build_leaderboard can use either."""

    control: str
    features: MatchFeatures
    names: tuple[str, ...]
    F: np.ndarray  # (n, k) covariates of the matches between different models
    y: np.ndarray
    units: np.ndarray  # bootstrap unit of each row
    models_design: csr_matrix  # +1 at a, -1 at b
    pairs_design: csr_matrix  # +1 (a is the pair's first, lower-index model) or -1 at the pair
    first: np.ndarray  # pair -> lower model index (sorted, as bradley_terry.pair_totals)
    second: np.ndarray

    @property
    def n_models(self) -> int:
        return len(self.features.models)

    def bt_coefficients(self, weights: np.ndarray) -> np.ndarray:
        """(R, models + k): Bradley-Terry strengths (mean 0) and the covariate slopes, per round."""
        x = fit_logistic(self.models_design, self.F, self.y, weights)
        x[:, : self.n_models] -= x[:, : self.n_models].mean(axis=1, keepdims=True)
        return x

    def pair_coefficients(self, weights: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
        """(R, pairs + k): per-pair log-odds of the first model with the covariates at 0, and the slopes."""
        return fit_logistic(self.pairs_design, self.F, self.y, weights, start=start)

    def win_rates(self) -> np.ndarray:
        """The controlled W: W[i][j] = sigmoid(theta_ij) for played pairs, NaN where never played."""
        theta = self.pair_coefficients(np.ones((1, len(self.y))))[0, : len(self.first)]
        W = np.full((self.n_models, self.n_models), np.nan)
        W[self.first, self.second] = 1.0 / (1.0 + np.exp(-theta))
        W[self.second, self.first] = 1.0 - W[self.first, self.second]
        np.fill_diagonal(W, 0.5)
        return W

    def slopes(self) -> dict[str, dict[str, float]]:
        """The fitted covariate slopes of both models (log-odds per unit of covariate)."""
        ones = np.ones((1, len(self.y)))
        bt = self.bt_coefficients(ones)[0, self.n_models :]
        pairs = self.pair_coefficients(ones)[0, len(self.first) :]
        return {
            "bradley_terry": dict(zip(self.names, map(float, bt), strict=True)),
            "win_rates": dict(zip(self.names, map(float, pairs), strict=True)),
        }

    def bradley_terry(
        self,
        matches: Any = None,
        bootstrap: int = 1000,
        seed: int = 0,
        each_chunk: Callable[[BootstrapChunk], None] | None = None,
    ) -> BradleyTerryFit:
        """The style-controlled Bradley-Terry fit (`matches` is ignored: the rows are this control's)."""
        ones = np.ones((1, len(self.y)))
        point = self.bt_coefficients(ones)
        strength = point[0, : self.n_models]
        nll = float(logistic_objective(self.models_design, self.F, self.y, ones, point, 0.0)[0]) / len(self.y)
        elo = ELO_MEAN + ELO_PER_NAT * strength
        samples = np.empty((0, self.n_models))
        low = high = np.full(self.n_models, np.nan)
        if bootstrap > 0:
            samples = ELO_MEAN + ELO_PER_NAT * self._bootstrap(bootstrap, seed, point, each_chunk)
            tail = (1.0 - CONFIDENCE) / 2 * 100
            low, high = np.percentile(samples, [tail, 100 - tail], axis=0)
            rank = 1 + np.sum(low[None, :] > high[:, None], axis=1)
        else:
            rank = 1 + np.sum(elo[None, :] > elo[:, None], axis=1)
        return BradleyTerryFit(
            models=self.features.models,
            strength=strength,
            elo=elo,
            elo_ci_low=low,
            elo_ci_high=high,
            rank_by_ci=rank.astype(np.int64),
            nll_per_match=nll,
            n_matches=len(self.y),
            bootstrap=int(bootstrap),
            resampled_by="prompt" if np.any(self.features.prompt != NO_PROMPT) else "match",
            bootstrap_elo=samples,
        )

    def _bootstrap(
        self, rounds: int, seed: int, point: np.ndarray, each_chunk: Callable[[BootstrapChunk], None] | None
    ) -> np.ndarray:
        """Controlled strengths per round (R, models); each round's pair rates go to `each_chunk`."""
        rng = np.random.default_rng(seed)
        # Every round starts from the full data's fit: a few Newton steps instead of a dozen.
        pair_point = self.pair_coefficients(np.ones((1, len(self.y))))[0]
        n_units = int(self.units.max()) + 1
        pair_of_row = csr_matrix(abs(self.pairs_design))  # (rows, pairs) 0/1
        width = len(self.first) + len(self.names)  # the pair fit's Hessian is the larger one
        chunk = max(1, min(rounds, ROUND_BUDGET // max(len(self.y), 1), HESSIAN_BUDGET // width**2))
        strengths = []
        for done in range(0, rounds, chunk):
            draws = rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=min(chunk, rounds - done))
            weights = draws[:, self.units].astype(float)
            bt = fit_logistic(self.models_design, self.F, self.y, weights, start=point[0])
            strength = bt[:, : self.n_models] - bt[:, : self.n_models].mean(axis=1, keepdims=True)
            strengths.append(strength)
            if each_chunk is not None:
                theta = self.pair_coefficients(weights, pair_point)[:, : len(self.first)]
                n = np.asarray((pair_of_row.T @ weights.T).T)
                each_chunk(BootstrapChunk(self.first, self.second, n, n / (1.0 + np.exp(-theta)), strength))
        return np.vstack(strengths)


def style_control(features: MatchFeatures, control: str) -> StyleControl:
    """The control of a board: `control` is "length" or "style"."""
    names, F = covariates(features, control)
    others = features.a != features.b  # a match against itself says nothing about either rating
    a, b, F, y = features.a[others], features.b[others], F[others], features.outcome[others]
    prompt = features.prompt[others]
    rows = np.arange(len(a))
    m = len(features.models)
    models_design = csr_matrix(
        (
            np.concatenate([np.ones(len(a)), -np.ones(len(a))]),
            (np.concatenate([rows, rows]), np.concatenate([a, b])),
        ),
        shape=(len(a), m),
    )
    low, high = np.minimum(a, b), np.maximum(a, b)
    keys, pair = np.unique(low * m + high, return_inverse=True)
    pairs_design = csr_matrix((np.where(a == low, 1.0, -1.0), (rows, pair)), shape=(len(a), len(keys)))
    # Units: one per prompt id; each match without one is a unit of its own.
    no_prompt = prompt == NO_PROMPT
    _, prompt_unit = np.unique(prompt[~no_prompt], return_inverse=True)
    units = np.empty(len(a), dtype=np.int64)
    units[~no_prompt] = prompt_unit
    units[no_prompt] = prompt_unit.max(initial=-1) + 1 + np.arange(int(no_prompt.sum()))
    return StyleControl(
        control=control,
        features=features,
        names=names,
        F=F,
        y=y,
        units=units,
        models_design=models_design,
        pairs_design=pairs_design,
        first=(keys // m).astype(np.int64),
        second=(keys % m).astype(np.int64),
    )


def control_summary(control: StyleControl) -> dict[str, Any]:
    """What a controlled board says about its control (leaderboard.json "control")."""
    return {
        "kind": control.control,
        "covariates": list(control.names),
        "covariate": "tanh(delta_len / rms(delta_len)), words, a's side minus b's (AlpacaEval's length term)"
        if control.control == "length"
        else "per feature (a - b) / (a + b) divided by its root mean square (lmarena's style control)",
        "elo": "Bradley-Terry with the covariates: logit P(a beats b) = s_a - s_b + beta . f; Elo from s "
        "(bradley_terry.nll_per_match is this fit's)",
        "nash": "the game W[i][j] = sigmoid(theta_ij) of the fit logit P = +-theta_pair + beta . f "
        "(covariates at 0); win_rate is the mean of that W over the opponents played",
        "pairs": "the pair tests stay on the observed outcomes",
        "slopes": control.slopes(),
        "matches": len(control.y),
    }


def control_from_frame(frame: pd.DataFrame, control: str, source: str = "matches") -> StyleControl:
    """The control of a board from a match table with one row per match (winner or p_a) and the two
    responses (response_a, response_b) or their precomputed features; what a tournament passes to
    build_leaderboard(..., control=...). Raises ArenaError naming missing columns."""
    if control not in CONTROLS:
        raise ValueError(f"unknown control {control!r} (expected {', '.join(CONTROLS)})")
    return style_control(match_features(frame, source, CONTROLS[control]), control)
