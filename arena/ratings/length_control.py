"""Length-controlled win rates against a baseline, as AlpacaEval 2 defines them (Dubois et al. 2024,
"Length-Controlled AlpacaEval"), fitted here with our own GLM (arena.ratings.glm).

Per evaluated model m, over its matches against the baseline on instructions x:

    P(m beats baseline | x) = sigmoid(theta_m + phi_m * tanh(delta_len / std(delta_len)) + psi_m * gamma_x)

delta_len = len(m's response) - len(baseline's), std over m's matches (ddof 1, as AlpacaEval), and gamma_x
the instruction's difficulty. The length-controlled win rate is the model's predicted win rate with the
length term set to zero, averaged over its instructions: mean_x sigmoid(theta_m + psi_m * gamma_x).

Instruction difficulty: AlpacaEval ships gamma_x fitted once on its own leaderboard. Here it is fitted on
the data at hand, jointly over every evaluated model: logit P = theta_m + phi * tanh(...) - gamma_x, one
shared length slope, gamma with a unit ridge (a standard normal prior: an instruction seen once must not
get an infinite difficulty), then centred. A column `difficulty` in the table overrides it.

Differences from AlpacaEval's code, on purpose: no L1 cross-validation and no "gamed baseline" rows (the
published fits use precomputed verbose/concise baseline annotations that are not in any user's data);
a tiny ridge (GLM_RIDGE) in their place keeps a model that won or lost everything finite. So numbers agree
with AlpacaEval's method on the same inputs up to that regularisation, not digit for digit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from arena.errors import ArenaError
from arena.ratings.glm import GLM_RIDGE, fit_logistic
from arena.ratings.style_features import MatchFeatures

DIFFICULTY_RIDGE = 1.0


def length_term(delta: np.ndarray, centred_scale: bool = True) -> np.ndarray:
    """tanh(delta / scale): AlpacaEval's bounded length covariate. scale is the standard deviation
    (ddof 1) against one baseline, or the root mean square when rows have no common orientation (a
    round robin: flipping a row's sides must flip its covariate exactly)."""
    if len(delta) < 2:
        return np.zeros_like(delta, dtype=float)
    scale = float(np.std(delta, ddof=1)) if centred_scale else float(np.sqrt(np.mean(delta**2)))
    return np.tanh(delta / scale) if scale > 0 else np.zeros_like(delta, dtype=float)


def _against_baseline(features: MatchFeatures, baseline: str) -> pd.DataFrame:
    """Every match with the baseline, from the evaluated model's side (matches without it left out)."""
    if baseline not in features.models:
        raise ArenaError(f"{features.source}: baseline {baseline!r} is not among the models")
    base = features.models.index(baseline)
    len_a, len_b = features.feature("length")
    a_is_base = (features.a == base) & (features.b != base)
    b_is_base = (features.b == base) & (features.a != base)
    keep = a_is_base | b_is_base
    return pd.DataFrame(
        {
            "model": np.where(a_is_base, features.b, features.a)[keep],
            "y": np.where(a_is_base, 1.0 - features.outcome, features.outcome)[keep],
            "delta": np.where(a_is_base, len_b - len_a, len_a - len_b)[keep],
            "prompt": features.prompt_ids[keep],
        }
    )


def _length_terms(table: pd.DataFrame) -> np.ndarray:
    """Each row's tanh(delta / std), std over its own model's matches (as in the per-model fit)."""
    length = np.zeros(len(table))
    model = table["model"].to_numpy()
    for code in np.unique(model):
        mine = model == code
        length[mine] = length_term(table["delta"].to_numpy(dtype=float)[mine])
    return length


def joint_fit(table: pd.DataFrame, difficulty: bool = True) -> tuple[pd.Series, float]:
    """(gamma_x per prompt id, centred; the length slope shared by all models) from the joint fit over
    every evaluated model: logit P = theta_m + phi * tanh(...) - gamma_x (higher gamma: harder to beat
    the baseline on). Rows: model, y, delta, prompt (as `_against_baseline` gives them). Without
    `difficulty`, no gamma (an empty Series)."""
    models, model_code = np.unique(table["model"].to_numpy(), return_inverse=True)
    prompts, prompt_code = np.unique(table["prompt"].to_numpy(), return_inverse=True)
    n, m, q = len(table), len(models), len(prompts) if difficulty else 0
    rows = np.repeat(np.arange(n), 2 if difficulty else 1)
    if difficulty:
        cols = np.column_stack([model_code, m + prompt_code]).ravel()
        values = np.tile([1.0, -1.0], n)
    else:
        cols, values = model_code, np.ones(n)
    S = csr_matrix((values, (rows, cols)), shape=(n, m + q))
    # The unit ridge is meant for gamma; theta and the slope get it too, harmlessly (they are O(1) and
    # fitted on hundreds of rows each).
    coefficients = fit_logistic(S, _length_terms(table)[:, None], table["y"].to_numpy(dtype=float),
                                np.ones((1, n)), ridge=DIFFICULTY_RIDGE)[0]  # fmt: skip
    gamma = coefficients[m : m + q]
    return pd.Series(gamma - gamma.mean() if q else gamma, index=prompts[:q]), float(coefficients[-1])


def instruction_difficulty(table: pd.DataFrame) -> pd.Series:
    """gamma_x per prompt id (joint_fit's)."""
    return joint_fit(table)[0]


def length_controlled_win_rates(
    features: MatchFeatures, baseline: str, difficulty: bool = True, shared_slope: bool = False
) -> pd.DataFrame:
    """Per evaluated model: matches, win_rate (raw, mean preference x 100), lc_win_rate (x 100) and the
    fitted theta, phi (length slope), psi (difficulty slope). Sorted by lc_win_rate, highest first.

    `shared_slope`: phi is the joint fit's, one for every model, held fixed in each model's fit. Use it
    when a model's length barely varies (one constant answer): its own phi then cannot be told apart
    from its theta (AlpacaEval leans on its "gamed baseline" rows there; this is the alternative)."""
    table = _against_baseline(features, baseline)
    if table.empty:
        raise ArenaError(f"{features.source}: no matches against the baseline {baseline!r}")
    if difficulty and (table["prompt"] == "").any():
        raise ArenaError(f"{features.source}: header: instruction difficulty needs a prompt_id on every row")
    gamma = np.zeros(len(table))
    shared = 0.0
    if difficulty or shared_slope:
        difficulties, shared = joint_fit(table, difficulty)
        if difficulty:
            gamma = difficulties.reindex(table["prompt"]).to_numpy()
    length = _length_terms(table)
    records = []
    for code in np.unique(table["model"].to_numpy()):
        mine = table["model"].to_numpy() == code
        y, n = table["y"].to_numpy(dtype=float)[mine], int(mine.sum())
        intercept = csr_matrix(np.ones((n, 1)))
        if shared_slope:
            theta, psi = fit_logistic(intercept, gamma[mine][:, None], y, np.ones((1, n)), GLM_RIDGE,
                                      offset=shared * length[mine])[0]  # fmt: skip
            phi = shared
        else:
            covariates = np.column_stack([length[mine], gamma[mine]])
            theta, phi, psi = fit_logistic(intercept, covariates, y, np.ones((1, n)), GLM_RIDGE)[0]
        controlled = 1.0 / (1.0 + np.exp(-(theta + psi * gamma[mine])))
        records.append(
            {
                "model": features.models[code],
                "matches": n,
                "win_rate": 100.0 * float(y.mean()),
                "lc_win_rate": 100.0 * float(controlled.mean()),
                "theta": float(theta),
                "phi": float(phi),
                "psi": float(psi),
            }
        )
    frame = pd.DataFrame.from_records(records)
    return frame.sort_values(["lc_win_rate", "model"], ascending=[False, True], ignore_index=True)
