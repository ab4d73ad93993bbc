"""The tabular iterations of the last-iterate methods and the equilibria they should reach, in numpy/scipy
from their defining equations (independent of the plugin's torch code).

F(pi)(y) = P(y > pi) = (P pi)(y); mu the reference; tau (Nash-MP: beta) the regularisation. Every step is
log pi_new = (1 - a) log anchor + a log magnet + b F(opponent) + const, normalised:

- INPO: pi_{t+1} proportional to pi_t^(1 - eta tau) mu^(eta tau) exp(eta F(pi_t))
- MPO (magnetic mirror descent): pi_{t+1} proportional to [pi_t m^(eta tau) exp(eta F(pi_t))]^(1 / (1 + eta tau))
- EGPO: INPO's step twice, the second from pi_t with F(pi_{t+1/2})
- Nash-MP: MPO's step twice, the second from pi_k with F(pi_{k+1/2})
- SPPO: pi_{t+1} proportional to pi_t exp(eta F(pi_t)) (multiplicative weights, no regularisation)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import linprog
from scipy.special import softmax

Step = Callable[[np.ndarray], np.ndarray]  # pi_t -> pi_{t+1}


def multiplicative(
    anchor: np.ndarray, magnet: np.ndarray, opponent: np.ndarray, P: np.ndarray, a: float, b: float
):
    """anchor^(1 - a) magnet^a exp(b P opponent), normalised."""
    return softmax((1 - a) * np.log(anchor) + a * np.log(magnet) + b * (P @ opponent))


def inpo_step(P: np.ndarray, mu: np.ndarray, tau: float, eta: float) -> Step:
    return lambda pi: multiplicative(pi, mu, pi, P, eta * tau, eta)


def mmd_step(P: np.ndarray, magnet: np.ndarray, tau: float, eta: float) -> Step:
    """Magnetic mirror descent: the minimiser of -eta <F(pi_t), pi> + eta tau KL(pi, m) + KL(pi, pi_t)."""
    return lambda pi: multiplicative(pi, magnet, pi, P, eta * tau / (1 + eta * tau), eta / (1 + eta * tau))


def egpo_step(P: np.ndarray, mu: np.ndarray, tau: float, eta: float) -> Step:
    def step(pi: np.ndarray) -> np.ndarray:
        half = multiplicative(pi, mu, pi, P, eta * tau, eta)
        return multiplicative(pi, mu, half, P, eta * tau, eta)

    return step


def nash_mp_step(P: np.ndarray, mu: np.ndarray, beta: float, eta: float) -> Step:
    a, b = eta * beta / (1 + eta * beta), eta / (1 + eta * beta)

    def step(pi: np.ndarray) -> np.ndarray:
        half = multiplicative(pi, mu, pi, P, a, b)
        return multiplicative(pi, mu, half, P, a, b)

    return step


def sppo_step(P: np.ndarray, eta: float) -> Step:
    return lambda pi: softmax(np.log(pi) + eta * (P @ pi))


def iterates(step: Step, start: np.ndarray, count: int) -> np.ndarray:
    """(count + 1, K): start and the count iterates after it."""
    rows = [np.asarray(start, dtype=float)]
    for _ in range(count):
        rows.append(step(rows[-1]))
    return np.array(rows)


def mpo_with_magnet_refresh(
    P: np.ndarray, mu: np.ndarray, tau: float, eta: float, magnet_every: int, count: int
) -> np.ndarray:
    """MPO's iterates from mu when the magnet becomes pi_t at every iteration t that is a positive multiple
    of magnet_every (the plugin's schedule)."""
    rows, magnet = [np.asarray(mu, dtype=float)], np.asarray(mu, dtype=float)
    for t in range(count):
        if t > 0 and t % magnet_every == 0:
            magnet = rows[-1]
        rows.append(mmd_step(P, magnet, tau, eta)(rows[-1]))
    return np.array(rows)


def kl(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum(p * (np.log(p) - np.log(q))))


def lp_nash(P: np.ndarray) -> tuple[np.ndarray, float]:
    """A Nash equilibrium of the symmetric game P and its value (1/2): the pi minimising v subject to
    (P pi)(y) <= v for every y, by scipy's linprog. A vertex: unique only where the equilibrium is."""
    k = len(P)
    cost = np.concatenate([np.zeros(k), [1.0]])
    upper = np.hstack([P, -np.ones((k, 1))])  # P pi - v <= 0
    equal = np.concatenate([np.ones(k), [0.0]])[None, :]
    result = linprog(
        cost, A_ub=upper, b_ub=np.zeros(k), A_eq=equal, b_eq=[1.0], bounds=[(0, None)] * k + [(None, None)]
    )
    assert result.success, result.message
    return result.x[:k], float(result.x[k])


def random_preferences(actions: int, seed: int) -> np.ndarray:
    """P(i > j) uniform in [0, 1] above the diagonal, 1 - that below, 1/2 on it."""
    upper = np.triu(np.random.default_rng(seed).uniform(size=(actions, actions)), 1)
    return upper + np.tril(1 - upper.T, -1) + np.eye(actions) / 2
