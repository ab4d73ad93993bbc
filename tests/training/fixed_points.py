"""Reference points of the game tests, found by solving their defining equations (never by running an
optimiser for a fixed number of steps, whose answer depends on the step count and the step size).

A point is a distribution pi over K actions. Each defining equation is a residual R(pi) in R^K whose
components sum to zero on the simplex, so K - 1 of them are independent: `solve_on_simplex` writes
pi = softmax(0, z_1, ..., z_{K-1}) and finds the root z of the last K - 1 components with scipy, then
checks that the whole residual vanishes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import root
from scipy.special import expit, softmax

Residual = Callable[[np.ndarray], np.ndarray]


def solve_on_simplex(residual: Residual, start: np.ndarray, tolerance: float = 1e-12) -> np.ndarray:
    """The interior distribution pi with residual(pi) = 0, searched from `start` (a distribution)."""
    log_start = np.log(np.asarray(start, dtype=float))

    def reduced(z: np.ndarray) -> np.ndarray:
        return residual(softmax(np.concatenate([[0.0], z])))[1:]

    solution = root(reduced, log_start[1:] - log_start[0], method="hybr", options={"xtol": 1e-14})
    pi = softmax(np.concatenate([[0.0], solution.x]))
    left = float(np.max(np.abs(residual(pi))))
    if left > tolerance:
        raise AssertionError(f"no root found from {start}: residual {left:.2e} ({solution.message})")
    return pi


def geometric_mixture(pi: np.ndarray, mu: np.ndarray, beta: float) -> np.ndarray:
    """pi^(1 - beta) mu^beta, normalised: the distribution Nash-MD and IPO-MD draw their samples from."""
    return softmax((1 - beta) * np.log(pi) + beta * np.log(mu))


def regularised_nash(P: np.ndarray, mu: np.ndarray, tau: float, beta: float = 0.0) -> np.ndarray:
    """The pi with pi(y) proportional to mu(y) exp(P(y > pi_beta) / tau), pi_beta the geometric mixture.

    beta = 0 is the regularised Nash equilibrium pi*_tau (Munos et al. 2023). With beta > 0 it is where
    Nash-MD-PG's and IPO-MD's expected updates vanish: both fit log(pi / mu)(y) - log(pi / mu)(y') to
    (P(y > y') - 1/2) / tau in least squares (IPO-MD) or in expectation (the policy gradient), over
    samples from pi_beta, whose stationarity condition is log(pi / mu) = P pi_beta / tau + constant.
    """

    def residual(pi: np.ndarray) -> np.ndarray:
        return pi - softmax(np.log(mu) + P @ geometric_mixture(pi, mu, beta) / tau)

    return solve_on_simplex(residual, mu)


def online_dpo_stationarity(P: np.ndarray, mu: np.ndarray, beta: float) -> Residual:
    """G(pi): the expected gradient of online DPO's loss with respect to r = log(pi / mu), the sampling
    distribution held at pi. Derived in tests/training/test_online_games.py::online_dpo_fixed_point."""

    def gradient(pi: np.ndarray) -> np.ndarray:
        r = np.log(pi) - np.log(mu)
        margin = r[:, None] - r[None, :]  # margin[k, j] = r_k - r_j
        # G_k = beta pi_k sum_j pi_j [P_jk sigmoid(beta (r_k - r_j)) - P_kj sigmoid(beta (r_j - r_k))]
        return beta * pi * ((P.T * expit(beta * margin) - P * expit(-beta * margin)) @ pi)

    return gradient


def online_dpo_point(P: np.ndarray, mu: np.ndarray, beta: float) -> np.ndarray:
    """Where online DPO's expected gradient vanishes (not a Nash equilibrium)."""
    return solve_on_simplex(online_dpo_stationarity(P, mu, beta), mu)


def flow_jacobian_eigenvalues(residual: Residual, pi: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Eigenvalues of the linearised expected-gradient flow d theta / dt = -G(softmax(theta)) at pi, for
    a policy parameterised by its K logits theta, on the K - 1 directions that change pi: z_k = theta_k -
    theta_0 moves as -(G_k - G_0) (central differences). Negative real parts: a stable point; non-zero
    imaginary parts: the flow spirals into it instead of descending straight."""
    z = np.log(pi[1:]) - np.log(pi[0])

    def flow(z: np.ndarray) -> np.ndarray:
        gradient = residual(softmax(np.concatenate([[0.0], z])))
        return -(gradient[1:] - gradient[0])

    columns = [(flow(z + step * e) - flow(z - step * e)) / (2 * step) for e in np.eye(len(z))]
    return np.linalg.eigvals(np.array(columns).T)


def ipo_point(pairs: list[tuple[int, int]], actions: int, tau: float) -> np.ndarray:
    """The minimiser of IPO's loss sum over (chosen, rejected) pairs of (h - 1 / (2 tau))^2, uniform
    reference, h = r_chosen - r_rejected with r = log(pi / mu): where its gradient in r,
    sum 2 (h - 1 / (2 tau)) (e_chosen - e_rejected), vanishes."""
    uniform = np.full(actions, 1.0 / actions)

    def gradient(pi: np.ndarray) -> np.ndarray:
        r = np.log(pi) - np.log(uniform)
        result = np.zeros(actions)
        for chosen, rejected in pairs:
            pull = 2 * (r[chosen] - r[rejected] - 1 / (2 * tau))
            result[chosen] += pull
            result[rejected] -= pull
        return result

    return solve_on_simplex(gradient, uniform)
