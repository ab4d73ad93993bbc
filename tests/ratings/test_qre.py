"""Quantal-response (entropy-regularised) Nash: the fixed point, its limit as the temperature goes to 0
against an LP solved by scipy, and its continuity where maximum-entropy Nash jumps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.special import softmax

from arena.ratings import max_entropy_nash, quantal_response_nash, regularized_nash


def game_with_interior_equilibrium(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(W, p*): a random skew-symmetric A = Q^T B Q with Q = I - p* 1^T, so A p* = 0 with p* > 0. With n
    odd, A's null space is generically p* alone, so p* is the game's unique equilibrium."""
    rng = np.random.default_rng(seed)
    p_star = rng.dirichlet(np.full(n, 3.0))
    upper = np.triu(rng.normal(size=(n, n)), 1)
    Q = np.eye(n) - np.outer(p_star, np.ones(n))
    A = Q.T @ (upper - upper.T) @ Q
    A *= 0.4 / np.max(np.abs(A))
    return 0.5 + A, p_star


def lp_equilibrium(W: np.ndarray) -> np.ndarray:
    """The row player's maximin strategy of the zero-sum game A = W - 1/2, by scipy's LP:
    maximise v subject to (A^T x)_j >= v for every column j, sum(x) = 1, x >= 0."""
    A = W - 0.5
    n = len(A)
    cost = np.concatenate([np.zeros(n), [-1.0]])
    upper = np.hstack([-A.T, np.ones((n, 1))])
    equal = np.concatenate([np.ones(n), [0.0]])[None]
    result = linprog(cost, A_ub=upper, b_ub=np.zeros(n), A_eq=equal, b_eq=[1.0],
                     bounds=[(0, None)] * n + [(None, None)], method="highs")  # fmt: skip
    assert result.status == 0
    return result.x[:n]


@pytest.mark.parametrize("n, seed", [(3, 0), (5, 1), (7, 2)])
def test_tends_to_the_unique_interior_equilibrium_as_the_temperature_goes_to_zero(n: int, seed: int) -> None:
    W, p_star = game_with_interior_equilibrium(n, seed)
    solved = lp_equilibrium(W)
    np.testing.assert_allclose(solved, p_star, atol=1e-7)  # the construction and the LP agree
    errors = []
    for temperature in (1e-1, 1e-2, 1e-3, 1e-4):
        p = quantal_response_nash(W, temperature)
        # The defining fixed point, to machine precision.
        np.testing.assert_allclose(p, softmax((W - 0.5) @ p / temperature), atol=1e-13)
        errors.append(float(np.max(np.abs(p - solved))))
    # First order in the temperature: ten times smaller each decade once T is small.
    assert errors[-1] < 1e-3
    assert errors[3] / errors[2] == pytest.approx(0.1, rel=0.2)


def test_is_regularized_nash_with_a_uniform_reference() -> None:
    W, _ = game_with_interior_equilibrium(5, 4)
    for temperature in (0.5, 0.05):
        expected = regularized_nash(W, np.full(5, 0.2), temperature)
        np.testing.assert_allclose(quantal_response_nash(W, temperature), expected, atol=1e-14)


def test_continuous_where_maximum_entropy_nash_jumps() -> None:
    """a and b beat c and d alike; a tiny change of W[a][b] across 1/2 moves all of maximum-entropy
    Nash's weight from a to b, and the quantal-response weights by about that change / temperature."""

    def game(edge: float) -> np.ndarray:
        W = np.array(
            [
                [0.5, 0.5 + edge, 0.7, 0.8],
                [0.5 - edge, 0.5, 0.7, 0.8],
                [0.3, 0.3, 0.5, 0.6],
                [0.2, 0.2, 0.4, 0.5],
            ]
        )
        return W

    epsilon = 1e-6
    above, below = game(epsilon), game(-epsilon)
    assert max_entropy_nash(above) == pytest.approx([1, 0, 0, 0], abs=1e-9)
    assert max_entropy_nash(below) == pytest.approx([0, 1, 0, 0], abs=1e-9)
    temperature = 0.05
    moved = np.max(
        np.abs(quantal_response_nash(above, temperature) - quantal_response_nash(below, temperature))
    )
    assert 0 < moved < 2 * epsilon / temperature  # smooth, with slope of order 1 / temperature


def test_following_a_nearby_solution_gives_the_cold_answer() -> None:
    """The bootstrap starts each round from the point estimate's solution and follows the straight path
    between the two games: the answer is the one a cold start gives, even for a far game."""
    W, _ = game_with_interior_equilibrium(7, 9)
    far, _ = game_with_interior_equilibrium(7, 10)
    for temperature in (0.2, 0.01):
        start = quantal_response_nash(W, temperature)
        followed = quantal_response_nash(far, temperature, start=start, start_W=W)
        np.testing.assert_allclose(followed, quantal_response_nash(far, temperature), atol=1e-12)
