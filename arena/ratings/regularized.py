"""The KL-regularised Nash equilibrium of a preference game (Munos et al. 2023, "Nash Learning from Human
Feedback") and its exploitability: the known answers that alignment algorithms are checked against."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp, softmax

# A fixed point whose residual max|pi - softmax(...)| is below this is solved (Newton reaches about 1e-16).
CONVERGED = 1e-12
# The smallest step along the path between two games before falling back to the homotopy in tau.
MIN_PATH_STEP = 1.0 / 64


def _check_game(P: ArrayLike, mu: ArrayLike, tau: float) -> tuple[np.ndarray, np.ndarray]:
    P = np.asarray(P, dtype=float)
    mu = np.asarray(mu, dtype=float)
    if P.ndim != 2 or P.shape[0] != P.shape[1] or P.shape[0] != mu.shape[0]:
        raise ValueError(f"P must be K x K and mu of length K, got {P.shape} and {mu.shape}")
    if not np.all(np.isfinite(P)) or np.max(np.abs(P + P.T - 1.0)) > 1e-9:
        raise ValueError("P must be a preference matrix: P[i][j] + P[j][i] = 1")
    if np.any(mu <= 0) or abs(mu.sum() - 1.0) > 1e-9:
        raise ValueError("mu must be positive probabilities summing to 1")
    if not tau > 0:
        raise ValueError(f"tau must be positive, got {tau}")
    return P, mu / mu.sum()


def regularized_nash(
    P: ArrayLike,
    mu: ArrayLike,
    tau: float,
    start: ArrayLike | None = None,
    start_P: ArrayLike | None = None,
) -> np.ndarray:
    """The unique pi with pi(y) proportional to mu(y) exp(P(y > pi) / tau), where P(y > pi) = (P pi)_y.

    Newton's method on pi - softmax(log mu + P pi / tau) = 0. Its Jacobian I - (D - t t^T) P / tau is
    never singular (the second term has imaginary eigenvalues: P - 1/2 is skew-symmetric), but from
    far away Newton can wander for small tau, so tau is lowered gradually from 10, each solve starting
    from the previous one (a homotopy).

    `start`, the solution for the game `start_P` (default: P itself) with the same mu and tau, is
    followed to P instead along the straight path between the two games: the solution moves smoothly
    with the game, so Newton converges from one point of the path to the next, and a step that does not
    converge is halved. The homotopy in tau runs only when that fails. A bootstrap round starts from the
    point estimate this way.
    """
    P, mu = _check_game(P, mu, tau)
    log_mu = np.log(mu)
    if start is not None:
        origin = P if start_P is None else _check_game(start_P, mu, tau)[0]
        pi = _continued(origin, P, log_mu, tau, np.asarray(start, dtype=float))
        if pi is not None:
            return pi
    pi = mu.copy()
    schedule = [float(t) for t in np.geomspace(10.0, tau, 24)] if tau < 10.0 else [float(tau)]
    for current_tau in schedule:
        pi = _newton_fixed_point(P, log_mu, current_tau, pi)
    return pi


def _continued(
    origin: np.ndarray, P: np.ndarray, log_mu: np.ndarray, tau: float, pi: np.ndarray
) -> np.ndarray | None:
    """Follow the solution from the game `origin` (solved by pi) to P; None where steps get too small."""
    done, step = 0.0, 1.0
    while done < 1.0:
        step = min(step, 1.0 - done)  # sums of powers of 1/2: the last step lands on 1.0 exactly
        game = P if done + step == 1.0 else origin + (done + step) * (P - origin)
        candidate = _newton_fixed_point(game, log_mu, tau, pi)
        if np.max(np.abs(candidate - softmax(log_mu + game @ candidate / tau))) < CONVERGED:
            pi, done, step = candidate, done + step, 2.0 * step
        elif step > MIN_PATH_STEP:
            step /= 2.0
        else:
            return None
    return pi


def _newton_fixed_point(P: np.ndarray, log_mu: np.ndarray, tau: float, pi: np.ndarray) -> np.ndarray:
    identity = np.eye(len(pi))

    def residual(x: np.ndarray) -> np.ndarray:
        return x - softmax(log_mu + P @ x / tau)

    current = residual(pi)
    for _ in range(100):
        norm = float(np.max(np.abs(current)))
        if norm < 1e-15:
            break
        target = softmax(log_mu + P @ pi / tau)
        # (diag(t) - t t^T) P without forming the diagonal matrix: O(K^2), not a K^3 product.
        jacobian = identity - (target[:, None] * P - np.outer(target, target @ P)) / tau
        step = np.linalg.solve(jacobian, -current)
        # Stay inside the simplex (the step keeps sum(pi) = 1) and accept only a smaller residual.
        scale = 1.0
        shrinking = step < 0
        if shrinking.any():
            scale = min(1.0, 0.9 * float(np.min(pi[shrinking] / -step[shrinking])))
        while scale > 1e-12:
            candidate = pi + scale * step
            candidate_residual = residual(candidate)
            if np.max(np.abs(candidate_residual)) < norm:
                break
            scale /= 2
        else:
            break  # at machine precision: no step reduces the residual further
        pi, current = candidate, candidate_residual
    return pi


def exploitability(P: ArrayLike, pi: ArrayLike, mu: ArrayLike, tau: float) -> float:
    """Regularised exploitability, zero exactly at regularized_nash(P, mu, tau) and positive elsewhere:

    tau * log sum_y mu(y) exp(P(y > pi) / tau) + tau * KL(pi || mu) - 1/2.

    The one implementation: tasks that report an exploitability (the games, the moves task) call this
    (through `arena.api`). Plain lists are read as float arrays, so callers need no conversion.
    """
    P, mu = _check_game(P, mu, tau)
    pi = np.asarray(pi, dtype=float)
    best_response_value = tau * float(logsumexp(np.log(mu) + P @ pi / tau))
    played = pi > 0  # 0 log 0 = 0
    kl = float(np.sum(pi[played] * (np.log(pi[played]) - np.log(mu[played]))))
    return best_response_value + tau * kl - 0.5


def quantal_response_nash(
    W: np.ndarray, temperature: float, start: np.ndarray | None = None, start_W: np.ndarray | None = None
) -> np.ndarray:
    """The quantal-response (entropy-regularised) equilibrium of the symmetric zero-sum game A = W - 1/2:
    the unique p = softmax(A p / temperature).

    It is regularized_nash with a uniform reference: (W p)_y = (A p)_y + 1/2 since sum(p) = 1, and a
    constant shift leaves the softmax unchanged. Unlike the maximum-entropy Nash equilibrium it is a
    smooth function of W (its Jacobian is never singular), so a small change of one win rate moves it by
    a small amount; as temperature -> 0 it tends to the equilibrium when that is unique.
    """
    W = np.asarray(W, dtype=float)
    uniform = np.full(W.shape[0], 1.0 / W.shape[0])
    return regularized_nash(W, uniform, temperature, start=start, start_P=start_W)
