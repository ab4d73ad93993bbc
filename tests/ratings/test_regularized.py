"""The regularised Nash equilibrium of non-transitive dice: KNOWN_ANSWERS.md section 2."""

from __future__ import annotations

import numpy as np
import pytest

from arena.ratings import exploitability, regularized_nash

DICE = np.array([[1 / 2, 5 / 9, 4 / 9], [4 / 9, 1 / 2, 5 / 9], [5 / 9, 4 / 9, 1 / 2]])
MU = np.array([0.6, 0.3, 0.1])
TABLE = {  # tau -> pi*_tau, as published (4 decimals)
    1.0: (0.6065, 0.2918, 0.1018),
    0.5: (0.6125, 0.2837, 0.1038),
    0.1: (0.6437, 0.2285, 0.1278),
    0.05: (0.6393, 0.1875, 0.1733),
    0.01: (0.4207, 0.2385, 0.3409),
}
REFERENCE_EXPLOITABILITY = {0.1: 0.0016, 0.05: 0.0030, 0.01: 0.0086}


@pytest.mark.parametrize("tau", sorted(TABLE))
def test_reproduces_the_table(tau: float) -> None:
    pi = regularized_nash(DICE, MU, tau)
    np.testing.assert_allclose(pi, TABLE[tau], atol=5e-5)
    # The defining fixed point pi = mu exp(P pi / tau) / Z, to machine precision.
    target = MU * np.exp(DICE @ pi / tau)
    np.testing.assert_allclose(pi, target / target.sum(), atol=1e-13)
    assert abs(exploitability(DICE, pi, MU, tau)) < 1e-13


@pytest.mark.parametrize("tau", sorted(REFERENCE_EXPLOITABILITY))
def test_exploitability_of_the_reference_policy(tau: float) -> None:
    assert exploitability(DICE, MU, MU, tau) == pytest.approx(REFERENCE_EXPLOITABILITY[tau], abs=5e-5)


@pytest.mark.parametrize("tau", sorted(REFERENCE_EXPLOITABILITY))
def test_near_the_equilibrium_exploitability_is_small_and_positive(tau: float) -> None:
    """KNOWN_ANSWERS: a policy within 0.03 (max abs) of pi*_tau has exploitability below 0.0006 (a rounded
    figure: the worst of these directions reaches 0.000601 at tau = 0.1)."""
    pi = regularized_nash(DICE, MU, tau)
    for direction in ([1, -1, 0], [0, 1, -1], [-1, 0, 1], [0.5, 0.5, -1]):
        nearby = pi + 0.03 * np.array(direction) / np.max(np.abs(direction))
        assert 0 < exploitability(DICE, nearby, MU, tau) < 6.5e-4


def test_without_regularisation_the_limit_is_uniform() -> None:
    np.testing.assert_allclose(regularized_nash(DICE, MU, 1e-5), [1 / 3] * 3, atol=2e-4)


def test_rejects_invalid_games() -> None:
    with pytest.raises(ValueError, match="preference matrix"):
        regularized_nash(np.full((3, 3), 0.7), MU, 0.1)
    with pytest.raises(ValueError, match="mu"):
        regularized_nash(DICE, [0.5, 0.5, 0.0], 0.1)
    with pytest.raises(ValueError, match="tau"):
        regularized_nash(DICE, MU, 0.0)


def test_tasks_report_this_one_implementation_bit_for_bit() -> None:
    """The moves task's exploitability is `arena.ratings.exploitability` itself (the games' diagnostics call
    it the same way, tests/plugins/test_games.py): the same float, whether given lists or arrays."""
    from arena_plugins.moves.task import MovesTask

    task = MovesTask()
    for probs in ([0.5, 0.2, 0.3], [1.0, 0.0, 0.0], list(MU)):
        for tau in sorted(REFERENCE_EXPLOITABILITY):
            direct = exploitability(
                np.array(task.preferences), np.array(probs), np.array(task.reference), tau
            )
            assert exploitability(task.preferences, probs, task.reference, tau) == direct
            assert task.exploitability(probs, tau) == direct
