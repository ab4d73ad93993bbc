"""Logistic regression (a binomial GLM with soft outcomes), fitted by Newton's method for many bootstrap
rounds at once: the engine of length and style control.

The design has two blocks: S (sparse, n x m), the indicators of whom a row is about (+1/-1 per model for
Bradley-Terry, one 1 per pair or per model for per-pair intercepts), and F (dense, n x k), the covariates
(normalised style or length differences). Per round r the objective is

    sum_n w[r, n] * (softplus(eta_n) - y_n * eta_n) + ridge / 2 * |x|^2,   eta = S theta + F beta,

with y in [0, 1] (a tie is 1/2, a judge's probability stays a probability) and w the row's count in that
round (a bootstrap draw). The Hessian's S-block is assembled from the products S_ni * S_nj through one
sparse matrix, so a round costs O(n * (k + nnz per row)^2) plus a dense solve of size m + k.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

# Keeps coefficients finite when a model (or pair) won or lost everything, and makes Bradley-Terry
# strengths identifiable (they are only defined up to a shift); the same value as the plain fit's.
GLM_RIDGE = 1e-4
STEP_TOLERANCE = 1e-10


def _pair_products(S: csr_matrix) -> csr_matrix:
    """(n x m^2) sparse: row n holds S_ni * S_nj at column i * m + j (every ordered pair of a row's
    entries, built without a loop over rows)."""
    S = S.tocsr()
    m = S.shape[1]
    per_row = np.diff(S.indptr)
    row_of_entry = np.repeat(np.arange(S.shape[0]), per_row)
    times = per_row[row_of_entry]  # each entry pairs with every entry of its row
    first = np.repeat(np.arange(S.nnz), times)
    position = np.arange(len(first)) - np.repeat(np.cumsum(times) - times, times)
    second = S.indptr[row_of_entry[first]] + position
    return csr_matrix(
        (S.data[first] * S.data[second], (row_of_entry[first], S.indices[first] * m + S.indices[second])),
        shape=(S.shape[0], m * m),
    )


def logistic_objective(
    S: csr_matrix,
    F: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    x: np.ndarray,
    ridge: float,
    offset: np.ndarray | float = 0.0,
) -> np.ndarray:
    """The penalised negative log-likelihood per round: weights (R, n), x (R, m + k); `offset` (n,) is a
    fixed part of every row's log-odds."""
    m = S.shape[1]
    eta = np.asarray(S @ x[:, :m].T).T + x[:, m:] @ F.T + offset
    return np.sum(weights * (np.logaddexp(0.0, eta) - y * eta), axis=1) + ridge / 2 * np.sum(x**2, axis=1)


def fit_logistic(
    S: csr_matrix,
    F: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    ridge: float = GLM_RIDGE,
    start: np.ndarray | None = None,
    offset: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Coefficients [theta (m), beta (k)] per round, (R, m + k), for weights (R, n); `offset` (n,) is a
    fixed part of the log-odds (a slope fitted elsewhere); Newton with backtracking, to a step below
    STEP_TOLERANCE."""
    S = csr_matrix(S, dtype=float)
    F = np.asarray(F, dtype=float).reshape(S.shape[0], -1)
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    rounds, (_, m), k = weights.shape[0], S.shape, F.shape[1]
    products = _pair_products(S)
    x = np.zeros((rounds, m + k)) if start is None else np.array(np.broadcast_to(start, (rounds, m + k)))
    objective = logistic_objective(S, F, y, weights, x, ridge, offset)
    active = np.ones(rounds, dtype=bool)
    for _ in range(200):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        theta, w = x[idx], weights[idx]
        eta = np.asarray(S @ theta[:, :m].T).T + theta[:, m:] @ F.T + offset
        p = 1.0 / (1.0 + np.exp(-eta))
        residual = w * (p - y)
        gradient = np.hstack([np.asarray((S.T @ residual.T).T), residual @ F]) + ridge * theta
        v = w * p * (1.0 - p)
        hessian = np.empty((idx.size, m + k, m + k))
        hessian[:, :m, :m] = np.asarray((products.T @ v.T).T).reshape(idx.size, m, m)
        for j in range(k):
            cross = np.asarray((S.T @ (v * F[:, j]).T).T)
            hessian[:, :m, m + j] = cross
            hessian[:, m + j, :m] = cross
        hessian[:, m:, m:] = np.einsum("rn,nk,nl->rkl", v, F, F)
        hessian[:, np.arange(m + k), np.arange(m + k)] += ridge
        step = -np.linalg.solve(hessian, gradient[..., None])[..., 0]
        scale = np.ones(idx.size)
        for _ in range(40):  # halve the step of the rounds whose objective did not decrease
            candidate = theta + scale[:, None] * step
            value = logistic_objective(S, F, y, w, candidate, ridge, offset)
            worse = value > objective[idx] + 1e-12 * np.abs(objective[idx])
            if not worse.any():
                break
            scale[worse] /= 2
        x[idx] = candidate
        objective[idx] = np.minimum(value, objective[idx])
        active[idx] = np.max(np.abs(scale[:, None] * step), axis=1) > STEP_TOLERANCE
    return x
