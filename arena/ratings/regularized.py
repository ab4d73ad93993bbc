"""The KL-regularised Nash equilibrium of a preference game (Munos et al. 2023, "Nash Learning from Human
Feedback") and its exploitability: the known answers that alignment algorithms are checked against."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp, softmax


def _check_game(P: np.ndarray, mu: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
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


def regularized_nash(P: np.ndarray, mu: np.ndarray, tau: float) -> np.ndarray:
    """The unique pi with pi(y) proportional to mu(y) exp(P(y > pi) / tau), where P(y > pi) = (P pi)_y.

    Newton's method on pi - softmax(log mu + P pi / tau) = 0. Its Jacobian I - (D - t t^T) P / tau is
    never singular (the second term has imaginary eigenvalues: P - 1/2 is skew-symmetric), but from
    far away Newton can wander for small tau, so tau is lowered gradually from 10, each solve starting
    from the previous one (a homotopy).
    """
    P, mu = _check_game(P, mu, tau)
    log_mu = np.log(mu)
    pi = mu.copy()
    schedule = [float(t) for t in np.geomspace(10.0, tau, 24)] if tau < 10.0 else [float(tau)]
    for current_tau in schedule:
        pi = _newton_fixed_point(P, log_mu, current_tau, pi)
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
        jacobian = identity - (np.diag(target) - np.outer(target, target)) @ P / tau
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


def exploitability(P: np.ndarray, pi: np.ndarray, mu: np.ndarray, tau: float) -> float:
    """Regularised exploitability, zero exactly at regularized_nash(P, mu, tau) and positive elsewhere:

    tau * log sum_y mu(y) exp(P(y > pi) / tau) + tau * KL(pi || mu) - 1/2.
    """
    P, mu = _check_game(P, mu, tau)
    pi = np.asarray(pi, dtype=float)
    best_response_value = tau * float(logsumexp(np.log(mu) + P @ pi / tau))
    played = pi > 0  # 0 log 0 = 0
    kl = float(np.sum(pi[played] * (np.log(pi[played]) - np.log(mu[played]))))
    return best_response_value + tau * kl - 0.5
