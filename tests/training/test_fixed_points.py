"""The reference points of the game tests (tests/training/fixed_points.py) against KNOWN_ANSWERS.md, the
closed forms where there are some, and autograd: the solvers are checked before anything is checked
against them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from arena.ratings import regularized_nash
from tests.training.fixed_points import (
    flow_jacobian_eigenvalues,
    ipo_point,
    online_dpo_point,
    online_dpo_stationarity,
    regularised_nash,
    solve_on_simplex,
)

P = np.array([[1 / 2, 5 / 9, 4 / 9], [4 / 9, 1 / 2, 5 / 9], [5 / 9, 4 / 9, 1 / 2]])
MU = np.array([0.6, 0.3, 0.1])

# KNOWN_ANSWERS.md section 2, printed to 4 decimals.
NASH = {
    1.0: (0.6065, 0.2918, 0.1018),
    0.5: (0.6125, 0.2837, 0.1038),
    0.1: (0.6437, 0.2285, 0.1278),
    0.05: (0.6393, 0.1875, 0.1733),
    0.01: (0.4207, 0.2385, 0.3409),
}


@pytest.mark.parametrize("tau", sorted(NASH))
def test_regularised_nash_is_the_known_answer_and_arenas_own(tau: float) -> None:
    pi = regularised_nash(P, MU, tau)
    assert pi == pytest.approx(NASH[tau], abs=5e-5)
    # Arena's solver (Newton with a homotopy in tau) finds the same point as this independent one.
    assert regularized_nash(P, MU, tau) == pytest.approx(pi, abs=1e-9)


def test_mixture_fixed_point_of_nash_md_and_ipo_md() -> None:
    pi = regularised_nash(P, MU, 0.1, beta=0.5)
    assert pi == pytest.approx((0.6522, 0.2252, 0.1226), abs=5e-5)
    assert np.max(np.abs(pi - regularised_nash(P, MU, 0.1))) > 0.008  # a biased point, not pi*_tau


def expected_online_dpo_loss(theta: torch.Tensor, beta: float) -> torch.Tensor:
    """sum_{y, y'} pi(y) pi(y') P(y > y') l(r_y - r_y'), pi detached where it is the sampling distribution."""
    pi = torch.softmax(theta, 0)
    r = torch.log(pi) - torch.tensor(MU).log()
    weights = (pi[:, None] * pi[None, :]).detach()
    losses = -torch.nn.functional.logsigmoid(beta * (r[:, None] - r[None, :]))
    return (weights * torch.tensor(P) * losses).sum()


def test_online_dpo_stationarity_is_the_gradient_of_its_expected_loss() -> None:
    """The derived G(pi) equals autograd's gradient of the expected loss in the logits, at random points
    (in the logits the gradient is G - pi sum G = G: the components of G sum to zero)."""
    generator = np.random.default_rng(0)
    for _ in range(5):
        theta = torch.tensor(generator.normal(size=3), dtype=torch.float64, requires_grad=True)
        expected_online_dpo_loss(theta, 0.1).backward()
        pi = torch.softmax(theta, 0).detach().numpy()
        derived = online_dpo_stationarity(P, MU, 0.1)(pi)
        assert derived.sum() == pytest.approx(0.0, abs=1e-15)
        assert derived == pytest.approx(theta.grad.numpy(), abs=1e-14)


def test_online_dpo_fixed_point_is_a_stable_spiral_away_from_nash() -> None:
    pi = online_dpo_point(P, MU, 0.1)
    assert pi == pytest.approx((0.5585, 0.1767, 0.2648), abs=5e-5)  # KNOWN_ANSWERS.md
    assert np.max(np.abs(pi - regularised_nash(P, MU, 0.1))) > 0.08  # not the Nash equilibrium
    # The expected-gradient flow turns as fast as it contracts (eigenvalues -7.3e-4 +- 7.2e-4 i in the
    # logits): a step of constant size (Adam's is about the learning rate, however small the gradient)
    # circles the point instead of settling on it.
    eigenvalues = flow_jacobian_eigenvalues(online_dpo_stationarity(P, MU, 0.1), pi)
    assert np.all(eigenvalues.real < 0)
    assert np.all(np.abs(eigenvalues.imag) > 0.9 * np.abs(eigenvalues.real))


@pytest.mark.parametrize("tau", [0.1, 1.0])
def test_ipo_minimiser_on_d1_is_the_closed_form(tau: float) -> None:
    """IPO's D1 = {a > b, b > c, a > c}, uniform reference: pi proportional to (e^{2/(3 tau)}, e^{1/(3 tau)}, 1)."""
    pi = ipo_point([(0, 1), (1, 2), (0, 2)], 3, tau)
    weights = np.array([math.exp(2 / (3 * tau)), math.exp(1 / (3 * tau)), 1.0])
    assert pi == pytest.approx(weights / weights.sum(), abs=1e-12)


def test_solver_reports_a_residual_it_cannot_clear() -> None:
    with pytest.raises(AssertionError, match="no root found"):
        solve_on_simplex(lambda pi: pi - np.array([1.5, -0.25, -0.25]), MU)  # its root is off the simplex
