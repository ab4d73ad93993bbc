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


def instruction_difficulty(table: pd.DataFrame) -> pd.Series:
    """gamma_x per prompt id, from the joint fit over every evaluated model (higher: harder to beat the
    baseline on). Rows: model, y, delta, prompt (as `_against_baseline` gives them)."""
    models = np.unique(table["model"].to_numpy())
    prompts, prompt_code = np.unique(table["prompt"].to_numpy(), return_inverse=True)
    model_code = np.searchsorted(models, table["model"].to_numpy())
    n, m, q = len(table), len(models), len(prompts)
    rows = np.repeat(np.arange(n), 2)
    cols = np.column_stack([model_code, m + prompt_code]).ravel()
    values = np.tile([1.0, -1.0], n)
    S = csr_matrix((values, (rows, cols)), shape=(n, m + q))
    length = np.zeros(n)
    for code in range(m):  # each model's own length scale, as in its per-model fit
        mine = model_code == code
        length[mine] = length_term(table["delta"].to_numpy(dtype=float)[mine])
    # The unit ridge is meant for gamma; theta and the slope get it too, harmlessly (they are O(1) and
    # fitted on hundreds of rows each).
    coefficients = fit_logistic(S, length[:, None], table["y"].to_numpy(dtype=float), np.ones((1, n)),
                                ridge=DIFFICULTY_RIDGE)[0]  # fmt: skip
    gamma = coefficients[m : m + q]
    return pd.Series(gamma - gamma.mean(), index=prompts)


def length_controlled_win_rates(
    features: MatchFeatures, baseline: str, difficulty: bool = True
) -> pd.DataFrame:
    """Per evaluated model: matches, win_rate (raw, mean preference x 100), lc_win_rate (x 100) and the
    fitted theta, phi (length slope), psi (difficulty slope). Sorted by lc_win_rate, highest first."""
    table = _against_baseline(features, baseline)
    if table.empty:
        raise ArenaError(f"{features.source}: no matches against the baseline {baseline!r}")
    gamma = np.zeros(len(table))
    if difficulty:
        if (table["prompt"] == "").any():
            raise ArenaError(
                f"{features.source}: header: instruction difficulty needs a prompt_id on every row"
            )
        gamma = instruction_difficulty(table).reindex(table["prompt"]).to_numpy()
    records = []
    for code in np.unique(table["model"].to_numpy()):
        mine = table["model"].to_numpy() == code
        y, n = table["y"].to_numpy(dtype=float)[mine], int(mine.sum())
        covariates = np.column_stack([length_term(table["delta"].to_numpy(dtype=float)[mine]), gamma[mine]])
        theta, phi, psi = fit_logistic(
            csr_matrix(np.ones((n, 1))), covariates, y, np.ones((1, n)), GLM_RIDGE
        )[0]
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
