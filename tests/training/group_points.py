"""Known answers of GRPO and RLOO on the games, solved from their stationarity conditions with numpy/scipy
(derived in docs/group.md), never by running the plugin. A tabular Monte-Carlo of GRPO's update on two
actions, written here from the paper's definitions, checks the binary-reward fixed point independently.

Notation: pi, mu distributions over K actions, r a reward per action, beta the KL coefficient, G the group
size. In the logits theta of pi, d log pi(y) / d theta_m = [y = m] - pi_m.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import softmax
from scipy.stats import binom

from tests.training.fixed_points import solve_on_simplex

STD_EPS = 1e-4  # added to the group's std in GRPO's standardised advantage (TRL's value)


def kl_regularised_optimum(r: np.ndarray, mu: np.ndarray, beta: float, c: float = 1.0) -> np.ndarray:
    """argmax of c E_pi[r] - beta KL(pi || mu): pi proportional to mu exp(c r / beta).

    RLOO's fixed point (c = 1) and GRPO's with `scale_rewards: none` and `kl_estimator: k2` in the loss
    (c = (G - 1) / G: the group mean contains the sample itself)."""
    return softmax(np.log(mu) + c * r / beta)


def reverse_kl_point(r: np.ndarray, mu: np.ndarray, beta: float, c: float) -> np.ndarray:
    """GRPO with `scale_rewards: none` and k3 in the loss: the expected gradient in theta_m vanishes where
    c pi_m (r_m - E_pi r) = beta (pi_m - mu_m) for every m (k3's gradient is that of KL(mu || pi))."""

    def residual(pi: np.ndarray) -> np.ndarray:
        return c * pi * (r - pi @ r) - beta * (pi - mu)

    return solve_on_simplex(residual, mu)


def standardised_gradient(p: float, size: int, eps: float = STD_EPS) -> float:
    """g(p): the expected ascent direction in the logit of `yes` of GRPO's standardised advantage, binary
    reward r(yes) = 1, r(no) = 0, p = pi(yes), loss averaged over the group's G one-token responses.

    With k ~ Binomial(G, p) successes the group std (ddof 1) is s_k = sqrt(k (G - k) / (G (G - 1))), the
    advantages are (G - k) / (G (s_k + eps)) for yes and -k / (G (s_k + eps)) for no, and the group's
    gradient (1 / G) [k A_yes (1 - p) + (G - k) A_no (-p)] = k (G - k) / (G^2 (s_k + eps)), whatever p."""
    k = np.arange(1, size)  # k = 0 and k = G: every advantage is 0
    s = np.sqrt(k * (size - k) / (size * (size - 1)))
    return float(np.sum(binom.pmf(k, size, p) * k * (size - k) / (size**2 * (s + eps))))


def kl_gradient(p: float, m: float, estimator: str) -> float:
    """The expected gradient in the logit of `yes` of the per-token KL estimate, y ~ pi, mu = (m, 1 - m).

    k3: E_pi[(1 - mu / pi) grad log pi] = p - m. k2: E_pi[log(pi / mu) grad log pi] = grad KL(pi || mu)
    = p (1 - p) (log(p / m) - log((1 - p) / (1 - m)))."""
    if estimator == "k3":
        return p - m
    if estimator == "k2":
        return p * (1 - p) * (np.log(p / m) - np.log((1 - p) / (1 - m)))
    raise ValueError(f"no fixed point for estimator {estimator}")


def binary_grpo_point(m: float, beta: float, size: int, estimator: str) -> float:
    """pi(yes) where g(p) = beta * KL gradient (brentq over the exact binomial sum), checked to be the one
    root on (m, 1): to the left of m both terms push p up, near 1 the KL term wins."""

    def residual(p: float) -> float:
        return standardised_gradient(p, size) - beta * kl_gradient(p, m, estimator)

    grid = np.linspace(m, 1 - 1e-6, 2001)
    signs = np.sign([residual(p) for p in grid])
    assert np.count_nonzero(np.diff(signs)) == 1, "expected exactly one root"
    return float(brentq(residual, m, 1 - 1e-9, xtol=1e-14))


def simulate_binary_grpo(
    m: float,
    beta: float,
    size: int,
    estimator: str,
    *,
    steps: int = 4000,
    groups: int = 256,
    lr: float = 0.5,
    seed: int = 0,
) -> float:
    """Tabular GRPO on two actions (logits theta, r(yes) = 1, r(no) = 0): each step draws `groups` groups
    of G actions, standardises the rewards in each group, and takes a gradient step on the loss
    mean_groups mean_G [-A_i log pi(y_i) + beta KL_est(y_i)] (on-policy: the ratio is 1). Returns the mean
    of pi(yes) over the second half of the iterates (the step size is constant: they scatter around the
    point)."""
    rng = np.random.default_rng(seed)
    theta = np.log(np.array([m, 1 - m]))
    mu = np.array([m, 1 - m])
    iterates = []
    for _ in range(steps):
        pi = softmax(theta)
        yes = rng.random((groups, size)) < pi[0]  # True: the action `yes`
        rewards = yes.astype(float)
        centred = rewards - rewards.mean(1, keepdims=True)
        advantages = centred / (rewards.std(1, ddof=1, keepdims=True) + STD_EPS)
        # d log pi(y) / d theta_yes = [y = yes] - pi_yes (theta_no gets the opposite)
        score = yes - pi[0]
        log_ratio = np.where(yes, np.log(pi[0] / mu[0]), np.log(pi[1] / mu[1]))  # log pi / mu at y
        if estimator == "k2":
            kl_weight = log_ratio  # d (log(pi/mu)^2 / 2) = log(pi/mu) d log pi
        else:
            kl_weight = 1 - np.exp(-log_ratio)  # d (mu/pi - log(mu/pi) - 1) = (1 - mu/pi) d log pi
        gradient_yes = np.mean((-advantages + beta * kl_weight) * score)
        theta = theta - lr * np.array([gradient_yes, -gradient_yes])
        iterates.append(softmax(theta)[0])
    return float(np.mean(iterates[steps // 2 :]))


def pairwise_rloo_point(P: np.ndarray, mu: np.ndarray, beta: float) -> np.ndarray:
    """RLOO (and GRPO `none` with k2) on win rates against the group with baseline 1/2: E[r_i | y_i] =
    (P pi)(y_i), so the expected gradient in theta_m is pi_m ((P pi)_m - 1/2) - beta pi_m (log(pi_m / mu_m)
    - KL), zero where pi is proportional to mu exp(P pi / beta): the regularised Nash equilibrium."""

    def residual(pi: np.ndarray) -> np.ndarray:
        return pi - softmax(np.log(mu) + P @ pi / beta)

    return solve_on_simplex(residual, mu)
