"""Maximum-entropy Nash averaging against KNOWN_ANSWERS.md section 3 and independent computations."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from scipy.optimize import linprog

from arena.ratings import bradley_terry, max_entropy_nash, nash_ratings, win_rate_matrix
from arena.ratings.winrates import mean_win_rate

# Rock-paper-scissors among three models (each beats the next 70% of the time) plus a fourth that all
# three beat 90% of the time: mean win rates 0.633 for the first three (KNOWN_ANSWERS.md section 3).
RPS_PLUS_ONE = np.array(
    [
        [0.5, 0.7, 0.3, 0.9],
        [0.3, 0.5, 0.7, 0.9],
        [0.7, 0.3, 0.5, 0.9],
        [0.1, 0.1, 0.1, 0.5],
    ]
)
WITH_COPY_OF_FIRST = [0, 1, 2, 3, 0]


def copies(W: np.ndarray, index: list[int]) -> np.ndarray:
    return W[np.ix_(index, index)]


def unique_equilibrium_by_lp(W: np.ndarray) -> np.ndarray:
    """Independent check for generic matrices (unique equilibrium): min v s.t. A p <= v, p in simplex."""
    A = W - 0.5
    n = len(W)
    result = linprog(
        np.r_[np.zeros(n), 1.0],
        A_ub=np.hstack([A, -np.ones((n, 1))]),
        b_ub=np.zeros(n),
        A_eq=np.r_[np.ones(n), 0.0][None],
        b_eq=[1.0],
        bounds=[(0, None)] * n + [(None, None)],
        method="highs",
    )
    return result.x[:n]


def test_rock_paper_scissors_plus_a_loser() -> None:
    p = max_entropy_nash(RPS_PLUS_ONE)
    np.testing.assert_allclose(p, [1 / 3, 1 / 3, 1 / 3, 0], atol=1e-9)
    np.testing.assert_allclose(nash_ratings(RPS_PLUS_ONE, p), [0, 0, 0, -0.4], atol=1e-12)
    np.testing.assert_allclose(mean_win_rate(RPS_PLUS_ONE), [1.9 / 3, 1.9 / 3, 1.9 / 3, 0.1], atol=1e-12)


def test_a_copy_splits_its_mass_and_leaves_every_nash_rating_unchanged() -> None:
    W = copies(RPS_PLUS_ONE, WITH_COPY_OF_FIRST)
    p = max_entropy_nash(W)
    np.testing.assert_allclose(p, [1 / 6, 1 / 3, 1 / 3, 0, 1 / 6], atol=1e-9)
    before = nash_ratings(RPS_PLUS_ONE, max_entropy_nash(RPS_PLUS_ONE))
    np.testing.assert_allclose(nash_ratings(W, p), before[WITH_COPY_OF_FIRST], atol=1e-12)
    # Mean win rate is not invariant: the second model drops from 0.633 to 0.55.
    assert mean_win_rate(RPS_PLUS_ONE)[1] == pytest.approx(0.6333333333333333, abs=1e-12)
    assert mean_win_rate(W)[1] == pytest.approx(0.55, abs=1e-12)


def test_copies_move_elo_but_not_nash() -> None:
    def matches(W: np.ndarray) -> list[tuple[str, str, float]]:
        names = [f"m{i}" for i in range(len(W))]
        return [(names[i], names[j], float(W[i, j])) for i in range(len(W)) for j in range(i + 1, len(W))]

    original = bradley_terry(matches(RPS_PLUS_ONE), bootstrap=0)
    cloned = bradley_terry(matches(copies(RPS_PLUS_ONE, WITH_COPY_OF_FIRST)), bootstrap=0)
    # The second model (m1) loses to the copied one 70%: the copy pulls its Elo down against the mean.
    assert cloned.elo[1] < original.elo[1] - 5
    _, W, _ = win_rate_matrix(matches(copies(RPS_PLUS_ONE, WITH_COPY_OF_FIRST)))
    np.testing.assert_allclose(nash_ratings(W, max_entropy_nash(W))[:4], [0, 0, 0, -0.4], atol=1e-12)


@pytest.mark.parametrize("n_copies", [1, 2, 5])
def test_many_copies_of_several_models(n_copies: int) -> None:
    index = [0, 1, 2, 3] + [0] * n_copies + [2] * n_copies
    W = copies(RPS_PLUS_ONE, index)
    p = max_entropy_nash(W)
    share = 1 / 3 / (n_copies + 1)
    expected = np.array([share, 1 / 3, share, 0] + [share] * (2 * n_copies))
    np.testing.assert_allclose(p, expected, atol=1e-9)
    np.testing.assert_allclose(nash_ratings(W, p), [0, 0, 0, -0.4] + [0] * (2 * n_copies), atol=1e-12)


def test_a_binding_constraint_outside_the_support() -> None:
    """K plays like the first model but beats it by 5 points and loses to its copy by 5. No equilibrium
    plays K (hand derivation: K's mass would need p_S < p_P and p_S >= p_P at once), and K's constraint
    (A p)_K = 0.05 (p_R - p_R') <= 0 holds with equality at the maximum-entropy point, which is the
    clone answer."""
    W = copies(RPS_PLUS_ONE[:3, :3], [0, 0, 1, 2, 0])
    W[4, 0], W[0, 4], W[4, 1], W[1, 4] = 0.55, 0.45, 0.45, 0.55
    p = max_entropy_nash(W)
    np.testing.assert_allclose(p, [1 / 6, 1 / 6, 1 / 3, 1 / 3, 0], atol=1e-9)
    np.testing.assert_allclose(nash_ratings(W, p), 0, atol=1e-12)


@pytest.mark.parametrize("n", [3, 10, 50])
def test_generic_matrices_match_the_unique_lp_equilibrium(
    n: int, random_W: Callable[..., np.ndarray]
) -> None:
    for seed in range(5):
        W = random_W(n, seed)
        p = max_entropy_nash(W)
        np.testing.assert_allclose(p, unique_equilibrium_by_lp(W), atol=1e-8)
        assert nash_ratings(W, p).max() <= 0


@pytest.mark.parametrize(
    "W, expected",
    [
        (np.full((4, 4), 0.5), [0.25] * 4),  # ties only: every mix is an equilibrium
        (np.array([[0.5, 0.6], [0.4, 0.5]]), [1.0, 0.0]),  # two models
        (np.array([[0.5, 0.5], [0.5, 0.5]]), [0.5, 0.5]),
        (np.array([[0.5, 0.5 + 1e-13], [0.5 - 1e-13, 0.5]]), [0.5, 0.5]),  # noise on a tie
        (np.array([[0.5, 0.5 + 1e-6], [0.5 - 1e-6, 0.5]]), [1.0, 0.0]),  # a real (tiny) edge
        (np.array([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]]), [1 / 3] * 3),  # deterministic cycle
        (np.array([[0.5]]), [1.0]),
    ],
)
def test_degenerate_inputs_give_exact_answers_without_warnings(W: np.ndarray, expected: list[float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = max_entropy_nash(W)
        ratings = nash_ratings(W, p)
    np.testing.assert_allclose(p, expected, atol=1e-9)
    assert np.all(np.isfinite(ratings)) and ratings.max() <= 0


def test_rounded_win_rates_with_many_ties_are_valid_equilibria() -> None:
    """Win rates in steps of 1/4 among duplicated models: massively degenerate, never NaN or a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for seed in range(60):
            rng = np.random.default_rng(seed)
            base = np.triu(rng.integers(0, 5, (4, 4)) / 4, 1)
            base = base + np.tril(1 - base.T, -1)
            np.fill_diagonal(base, 0.5)
            index = list(range(4)) + list(rng.integers(0, 4, 4))
            W = copies(base, index)
            p = max_entropy_nash(W)
            assert abs(p.sum() - 1) < 1e-12 and p.min() >= 0
            assert nash_ratings(W, p).max() <= 1e-10
            # Copies of one model always share its mass equally (that is what maximum entropy buys).
            for model in range(4):
                shares = p[[k for k, m in enumerate(index) if m == index[model]]]
                assert np.ptp(shares) < 1e-9


def test_two_hundred_models_in_under_two_seconds(random_W: Callable[..., np.ndarray]) -> None:
    W = random_W(200, 7)
    max_entropy_nash(random_W(20, 1))  # first call pays for HiGHS' start-up
    start = time.perf_counter()
    p = max_entropy_nash(W)
    elapsed = time.perf_counter() - start
    np.testing.assert_allclose(p, unique_equilibrium_by_lp(W), atol=1e-8)
    assert elapsed < 2.0, f"200 models took {elapsed:.2f} s"


def test_rejects_matrices_that_are_not_win_rates() -> None:
    with pytest.raises(ValueError, match="impute"):
        max_entropy_nash(np.array([[0.5, np.nan], [np.nan, 0.5]]))
    with pytest.raises(ValueError, match=r"W\[i\]\[j\] \+ W\[j\]\[i\] = 1"):
        max_entropy_nash(np.array([[0.5, 0.7], [0.7, 0.5]]))
