"""The tabular iterations of MPO, INPO, EGPO and Nash Mirror Prox (tests/training/last_iterate_points.py):
their fixed point, last-iterate convergence, MPO's magnet refresh, Nash-MP's contraction, and SPPO's
multiplicative weights, whose last iterate does not converge while its average does.

Known answers: KNOWN_ANSWERS.md section 2's table for the dice, the closed form (0.5, 0.2, 0.3) for raters3,
scipy's linprog for random games, and pi*_tau solved from its defining equation (fixed_points.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from arena_plugins.games import GAMES
from tests.training.fixed_points import regularised_nash
from tests.training.last_iterate_points import (
    Step,
    egpo_step,
    inpo_step,
    iterates,
    kl,
    lp_nash,
    mmd_step,
    mpo_with_magnet_refresh,
    nash_mp_step,
    random_preferences,
    sppo_step,
)

DICE_P = np.array([[1 / 2, 5 / 9, 4 / 9], [4 / 9, 1 / 2, 5 / 9], [5 / 9, 4 / 9, 1 / 2]])
DICE_MU = np.array([0.6, 0.3, 0.1])
# raters3: w = (0.40, 0.35, 0.25); P(red > green) = w1 + w3, P(green > blue) = w1 + w2, P(blue > red) = w2 + w3.
RATERS3_P = np.array([[0.5, 0.65, 0.4], [0.35, 0.5, 0.75], [0.6, 0.25, 0.5]])
UNIFORM3 = np.full(3, 1 / 3)
RATERS3_NASH = np.array([0.5, 0.2, 0.3])
# KNOWN_ANSWERS.md section 2: pi*_tau of the dice.
DICE_TABLE = {0.1: (0.6437, 0.2285, 0.1278), 0.05: (0.6393, 0.1875, 0.1733)}
# Random 5-action games (random_preferences) whose LP equilibrium is interior, so unique (checked below);
# 4-action ones generically have no interior equilibrium (an even-order skew-symmetric matrix is invertible).
INTERIOR_SEEDS = (2, 13, 15, 41, 47)

GAMES_AT = [("dice", DICE_P, DICE_MU, 0.1), ("dice", DICE_P, DICE_MU, 0.05)]
GAMES_AT += [("raters3", RATERS3_P, UNIFORM3, 0.1), ("raters3", RATERS3_P, UNIFORM3, 0.05)]


def methods(P: np.ndarray, mu: np.ndarray, tau: float) -> dict[str, Step]:
    """Each method with eta tau between 0.25 and 0.5: a = 0.2-0.5 of the step goes to the magnet."""
    return {
        "inpo": inpo_step(P, mu, tau, eta=0.25 / tau),
        "mpo": mmd_step(P, mu, tau, eta=0.5 / tau),
        "egpo": egpo_step(P, mu, tau, eta=0.45 / tau),
        "nash-mp": nash_mp_step(P, mu, tau, eta=0.5 / tau),
    }


def test_the_matrices_are_the_shipped_games() -> None:
    assert np.array_equal(np.array(GAMES["dice"].preferences), DICE_P)
    assert np.allclose(np.array(GAMES["raters3"].preferences), RATERS3_P, atol=1e-15)
    assert np.allclose(lp_nash(RATERS3_P)[0], RATERS3_NASH, atol=1e-9)


@pytest.mark.parametrize(("game", "P", "mu", "tau"), GAMES_AT)
def test_every_iteration_has_the_regularised_equilibrium_as_fixed_point(
    game: str, P: np.ndarray, mu: np.ndarray, tau: float
) -> None:
    star = regularised_nash(P, mu, tau)
    if game == "dice":
        assert star == pytest.approx(DICE_TABLE[tau], abs=1e-4)
    for name, step in methods(P, mu, tau).items():
        assert np.max(np.abs(step(star) - star)) < 1e-12, name
        assert np.max(np.abs(step(mu) - mu)) > 1e-3, name  # and mu is not one: the check has teeth


@pytest.mark.parametrize(("game", "P", "mu", "tau"), GAMES_AT)
def test_the_last_iterate_converges_to_the_regularised_equilibrium(
    game: str, P: np.ndarray, mu: np.ndarray, tau: float
) -> None:
    star = regularised_nash(P, mu, tau)
    for name, step in methods(P, mu, tau).items():
        path = iterates(step, mu, 200)
        assert np.max(np.abs(path[-1] - star)) < 1e-9, name
        assert np.max(np.abs(path[1] - star)) > 1e-3, name  # it starts away from it


def test_inpo_with_eta_tau_one_or_more_does_not_keep_the_anchor() -> None:
    """eta tau = 1 drops pi_t from INPO's step: one best-response-like jump, pi proportional to mu exp(eta F)."""
    step = inpo_step(RATERS3_P, UNIFORM3, 0.1, eta=10.0)
    pi = np.array([0.2, 0.5, 0.3])
    other = np.array([0.6, 0.1, 0.3])
    assert not np.allclose(step(pi), step(other))  # the opponent still differs, but pi_t itself is gone
    weights = UNIFORM3 * np.exp(10 * RATERS3_P @ pi)
    assert step(pi) == pytest.approx(weights / weights.sum(), abs=1e-12)


def test_mpo_with_magnet_refresh_reaches_the_nash_equilibrium_of_raters3() -> None:
    """With the magnet refreshed every 10 iterations the last iterate goes to the Nash equilibrium of P
    (0.5, 0.2, 0.3), not to pi*_tau of the fixed magnet mu."""
    path = mpo_with_magnet_refresh(RATERS3_P, UNIFORM3, tau=0.1, eta=5.0, magnet_every=10, count=1500)
    assert np.max(np.abs(path[-1] - RATERS3_NASH)) < 1e-8
    fixed = iterates(mmd_step(RATERS3_P, UNIFORM3, 0.1, 5.0), UNIFORM3, 1500)[-1]
    assert np.max(np.abs(fixed - regularised_nash(RATERS3_P, UNIFORM3, 0.1))) < 1e-9
    assert np.max(np.abs(fixed - RATERS3_NASH)) > 0.05  # the fixed magnet stops short of Nash


@pytest.mark.parametrize("seed", INTERIOR_SEEDS)
def test_mpo_with_magnet_refresh_reaches_the_lp_equilibrium_of_random_games(seed: int) -> None:
    P = random_preferences(5, seed)
    nash, value = lp_nash(P)
    assert value == pytest.approx(0.5, abs=1e-9)  # a symmetric constant-sum game: its value is 1/2
    assert nash.min() > 0.05  # interior, hence the unique equilibrium of a skew-symmetric game
    mu = np.full(5, 0.2)
    path = mpo_with_magnet_refresh(P, mu, tau=0.1, eta=5.0, magnet_every=10, count=4000)
    assert np.max(np.abs(path[-1] - nash)) < 1e-6
    assert np.max(P @ path[-1]) - 0.5 < 1e-6  # no action beats it: exploitability, the LP's own measure


@pytest.mark.parametrize("eta", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("beta", [0.01, 0.05, 0.1, 0.5, 1.0])
def test_nash_mirror_prox_contracts_the_kl_to_the_equilibrium(eta: float, beta: float) -> None:
    """KL(pi*_beta || pi_{k+1}) <= KL(pi*_beta || pi_k) / (1 + eta beta) at every iteration k; eta = 2 gives
    the abstract's (1 + 2 beta)^(-N/2) over N = 2k preference queries. Measured: it holds for eta up to 4
    on these games and fails at eta = 10 for beta <= 0.1 (the game tests' eta 10 is past the guarantee)."""
    games = [(DICE_P, DICE_MU), (RATERS3_P, UNIFORM3)]
    games += [(random_preferences(5, seed), np.full(5, 0.2)) for seed in INTERIOR_SEEDS[:3]]
    for P, mu in games:
        star = regularised_nash(P, mu, beta)
        path = iterates(nash_mp_step(P, mu, beta, eta), mu, 300)
        distances = np.array([kl(star, pi) for pi in path])
        resolved = distances[:-1] > 1e-13  # below, rounding decides
        assert resolved.sum() >= 10
        ratios = distances[1:][resolved] / distances[:-1][resolved]
        assert np.all(ratios <= 1 / (1 + eta * beta))


@pytest.mark.parametrize(
    ("P", "start", "nash"),
    [(DICE_P, DICE_MU, UNIFORM3), (RATERS3_P, UNIFORM3, RATERS3_NASH)],
    ids=["dice", "raters3"],
)
@pytest.mark.parametrize("eta", [0.5, 1.0, 2.0])
def test_sppo_cycles_in_its_last_iterate_while_its_average_converges(
    P: np.ndarray, start: np.ndarray, nash: np.ndarray, eta: float
) -> None:
    """SPPO's step pi_{t+1} proportional to pi_t exp(eta F(pi_t)) is multiplicative weights on the
    unregularised game: KL(Nash || pi_t) never decreases (it spirals outwards) and the last iterate stays
    at least 0.19 (max abs) from Nash over the second half of 3000 iterations (measured 0.19-0.33),
    while the average of the iterates is within 0.014 (measured 0.003-0.014)."""
    path = iterates(sppo_step(P, eta), start, 3000)
    distances = np.array([kl(nash, pi) for pi in path])
    assert np.all(np.diff(distances) >= -1e-12)
    assert np.abs(path[1500:] - nash).max(axis=1).min() > 0.15
    assert np.max(np.abs(path[1:].mean(axis=0) - nash)) < 0.02
    # MPO with its magnet refreshed, from the same start, reaches Nash in its last iterate
    mpo = mpo_with_magnet_refresh(P, start, tau=0.1, eta=5.0, magnet_every=10, count=4000)
    assert np.max(np.abs(mpo[-1] - nash)) < 1e-6
