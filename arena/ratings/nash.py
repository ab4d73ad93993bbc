"""Maximum-entropy Nash equilibrium of the symmetric zero-sum game A = W - 1/2 (Balduzzi et al. 2018).

For a skew-symmetric A the game value is 0, and p is an equilibrium exactly when (A p)_i <= 0 for every i:
p^T A q >= 0 for all q means (A^T p)_j = -(A p)_j >= 0. The equilibria form a polytope; an LP returns
an arbitrary vertex of it (a clone's mass lands on one copy), so we maximise entropy over the polytope,
which makes the answer unique and invariant to adding copies of a model.

Method, in three exact steps:

1. One LP over the cone {x >= 0 : A x <= 0} finds the union S of all equilibrium supports (the
   maximum-entropy point is positive on all of S, since entropy's gradient is infinite at p_k = 0), the
   constraints that are tight at every equilibrium (for k in S, (A p)_k = 0 always holds), and a point
   strictly inside every other constraint.
2. On S, entropy is maximised over the affine set {F p = b} (the always-tight rows plus sum(p) = 1) by
   Newton's method in an orthonormal basis of F's null space, which converges quadratically.
3. The remaining constraints (A p)_k <= 0 rarely bind at the maximum; when one would, a primal active-set
   loop keeps it as an equality and releases it again if its multiplier turns out negative.

The rank of F is taken with a tolerance, so win rates that differ from a degenerate matrix by rounding
noise are solved as that degenerate matrix instead of producing NaN or warnings.
"""

from __future__ import annotations

import numpy as np

# Win rates are probabilities; differences below this are treated as floating-point noise.
NOISE = 1e-10


def skew_part(W: np.ndarray) -> np.ndarray:
    """A = W - 1/2, checked to be a valid win-rate matrix (W + W^T = 1) and made exactly skew-symmetric."""
    W = np.asarray(W, dtype=float)
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] == 0:
        raise ValueError(f"W must be a non-empty square matrix, got shape {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError("W has missing (NaN) or infinite entries: impute unplayed pairs first")
    if np.max(np.abs(W + W.T - 1.0)) > 1e-9:
        raise ValueError("W must satisfy W[i][j] + W[j][i] = 1 (a tie counts 1/2 each way)")
    return (W - W.T) / 2.0


def nash_ratings(W: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(A p)_i per model: how model i fares against the equilibrium mix (<= 0, = 0 on the support)."""
    ratings = skew_part(W) @ np.asarray(p, dtype=float)
    # Exact zeros on the support, instead of +-1e-17 that would print as "-0.0000".
    ratings[np.abs(ratings) < NOISE] = 0.0
    return ratings


def max_entropy_nash(W: np.ndarray) -> np.ndarray:
    """The maximum-entropy Nash equilibrium of the symmetric zero-sum game A = W - 1/2 (unique)."""
    A = skew_part(W)
    n = A.shape[0]
    if n == 1 or np.max(np.abs(A)) <= NOISE:
        return np.full(n, 1.0 / n)  # every mix is an equilibrium: the uniform one has most entropy
    support, always_tight, start = _support_and_interior_point(A)
    S = np.flatnonzero(support)
    p = np.zeros(n)
    p[S] = start[S] if len(S) == 1 else _max_entropy_on_face(A, S, always_tight, start[S])
    p /= p.sum()
    # Never return a non-equilibrium: should rounding ever defeat the face search, the LP's point is an
    # equilibrium too (not of maximum entropy). No input we know of gets here.
    return p if np.max(A @ p) <= 1e-8 else start


def _support_and_interior_point(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One LP: which models some equilibrium plays, which constraints bind at every equilibrium.

    Over the cone {x >= 0 : A x <= 0} (every nonzero x is a scaled equilibrium, and sums of points stay
    in it), maximise sum(y) + sum(z) with y_k <= min(x_k, 1) and z_k <= min(-(A x)_k, 1). At the optimum
    y_k = 1 exactly for the models in some equilibrium's support and z_k = 1 exactly for the constraints
    that some equilibrium leaves slack; x / sum(x) is then a point inside every slack constraint.
    """
    from scipy.optimize import linprog  # here, not at the top: reading matches should not wait for it

    n = A.shape[0]
    identity = np.eye(n)
    zeros = np.zeros((n, n))
    # sum(x) <= 1e6 n keeps the LP well scaled; it only hides models whose every equilibrium mass is
    # below about 1e-6, far under the accuracy anyone reads a leaderboard at.
    upper = np.block([[-identity, identity, zeros], [A, zeros, identity]])
    upper = np.vstack([upper, np.concatenate([np.ones(n), np.zeros(2 * n)])])
    bounds_rhs = np.concatenate([np.zeros(2 * n), [1e6 * n]])
    cost = np.concatenate([np.zeros(n), -np.ones(2 * n)])
    bounds = [(0, None)] * n + [(0, 1)] * (2 * n)
    result = None
    for tolerance in (1e-9, 1e-7):  # HiGHS occasionally gives up at the tighter tolerance
        options = {"primal_feasibility_tolerance": tolerance, "dual_feasibility_tolerance": tolerance}
        result = linprog(cost, A_ub=upper, b_ub=bounds_rhs, bounds=bounds, method="highs", options=options)
        if result.status == 0:
            break
    if result is None or result.status != 0:
        raise RuntimeError(f"equilibrium LP failed: {result.message if result else ''}")
    x, y, z = result.x[:n], result.x[n : 2 * n], result.x[2 * n :]
    support = y > 0.5
    always_tight = z < 0.5
    if not support.any():  # unreachable in exact arithmetic (an equilibrium always exists)
        raise RuntimeError("equilibrium LP returned no support")
    start = np.where(support, np.maximum(x, 0.0), 0.0)
    return support, always_tight, start / start.sum()


def _max_entropy_on_face(
    A: np.ndarray, S: np.ndarray, always_tight: np.ndarray, start: np.ndarray
) -> np.ndarray:
    """Maximise entropy over {p > 0 on S, sum 1, (A p)_k = 0 where always tight, (A p)_k <= 0 elsewhere}."""
    A_S = A[:, S]
    tight_rows = list(np.flatnonzero(always_tight))
    slack_rows = [k for k in range(A.shape[0]) if not always_tight[k]]
    working: list[int] = []  # slack rows currently held as equalities (the active set)
    p = start
    for _ in range(4 * len(slack_rows) + 4):
        equalities = np.vstack([A_S[tight_rows + working], np.ones((1, len(S)))])
        p, blocked = _newton_on_affine_set(equalities, p, A_S[[k for k in slack_rows if k not in working]])
        if blocked is not None:
            working.append([k for k in slack_rows if k not in working][blocked])
            continue
        # At the constrained maximum, release a held constraint whose multiplier has the wrong sign.
        if not working:
            return p
        gradient = -np.log(p) - 1.0
        multipliers = np.linalg.lstsq(equalities.T, gradient, rcond=None)[0]
        held = multipliers[len(tight_rows) : len(tight_rows) + len(working)]
        if held.min() >= -1e-9:
            return p
        working.pop(int(np.argmin(held)))
    return p


def _newton_on_affine_set(
    equalities: np.ndarray, start: np.ndarray, inequalities: np.ndarray
) -> tuple[np.ndarray, int | None]:
    """Newton's method for max entropy on {F p = (0, ..., 0, 1)}, keeping p > 0 and G p <= 0.

    Returns the maximiser, or the point where a step was blocked by row `blocked` of G.
    """
    target = np.zeros(equalities.shape[0])
    target[-1] = 1.0
    # Null space of F with a tolerance: noise-sized singular values count as zero, so near-degenerate
    # input is solved as the degenerate matrix it rounds to.
    u, singular, vt = np.linalg.svd(equalities)
    rank = int(np.sum(singular > NOISE * max(1.0, singular[0])))
    basis = vt[rank:].T
    # Put the start exactly on the affine set (the LP solution satisfies it up to its tolerance), with
    # the pseudo-inverse from the same decomposition.
    residual = equalities @ start - target
    p = start - vt[:rank].T @ ((u[:, :rank].T @ residual) / singular[:rank])
    if p.min() <= 0:
        p = np.maximum(start, 1e-300)
        p /= p.sum()
    if basis.shape[1] == 0:
        return p, None
    for _ in range(100):
        gradient = basis.T @ (-np.log(p) - 1.0)
        hessian = (basis.T * (1.0 / p)) @ basis  # minus entropy's Hessian, in the null space
        newton = np.linalg.solve(hessian, gradient)
        direction = basis @ newton
        decrement = float(gradient @ newton)
        step = 1.0
        # Stay strictly positive (entropy's domain) and inside the inequalities not yet held.
        shrinking = direction < 0
        if shrinking.any():
            step = min(step, 0.99 * float(np.min(p[shrinking] / -direction[shrinking])))
        blocked = None
        if inequalities.shape[0]:
            rising = inequalities @ direction
            slack = -(inequalities @ p)
            limits = np.where(
                rising > 1e-15, np.maximum(slack, 0.0) / np.where(rising > 1e-15, rising, 1.0), np.inf
            )
            if limits.min() < step:
                step, blocked = float(limits.min()), int(np.argmin(limits))
        # Backtrack on the (concave) entropy so every step is an ascent step.
        entropy = -float(p @ np.log(p))
        while step > 1e-12:
            candidate = p + step * direction
            if candidate.min() > 0 and -float(candidate @ np.log(candidate)) >= entropy - 1e-15:
                break
            step /= 2
            blocked = None
        p = np.maximum(p + step * direction, 1e-300)
        if blocked is not None:
            return p, blocked
        if decrement < 1e-26:
            break
    return p, None
