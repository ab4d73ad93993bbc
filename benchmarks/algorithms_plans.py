"""What `benchmarks/algorithms.py` runs: the budgets, the games and each algorithm's explicit arguments.

On a game every algorithm with a regularised Nash target gets the game's tau, so that its target is the
same pi*_tau for all of them; `target` names each algorithm's own fixed point where it is not pi*_tau.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from algorithms_board import Game, mixture_point, population_ipo_limit

GAME_MODEL = "recipes/games/model"  # the tiny model whose tokenizer spells every action as one token
# The games and the tau each is measured at: the dice at 0.05 (its pi*_tau is 0.10 from mu; at 0.1 only
# 0.04), raters3 at 0.1 (uniform mu; pi*_tau = (0.439, 0.322, 0.238), on the way to its Nash (0.5, 0.2, 0.3)).
GAME_TAUS = {"dice": 0.05, "raters3": 0.1}
MOVES_TASK = {"name": "moves", "args": {"matrix": "cycle"}}  # the quickstart's task (recipes/quickstart)
PI_STAR = "pi*_tau"
NO_TARGET = "none: not a regularised Nash method"


@dataclass(frozen=True)
class Budget:
    steps: int
    batch: int
    log_every: int


# The common budgets. Online game runs sample `batch` one-token actions per step; offline game runs see
# every pair of their data each step (full batch). Moves: the quickstart's online budget for everyone.
GAME_BUDGET = Budget(steps=300, batch=512, log_every=10)
MOVES_BUDGET = Budget(steps=120, batch=32, log_every=20)
QUICK_GAME_BUDGET = Budget(steps=30, batch=64, log_every=10)
QUICK_MOVES_BUDGET = Budget(steps=4, batch=8, log_every=2)


@dataclass(frozen=True)
class Plan:
    """One algorithm's settings. `game_args(tau)` (None: not run on the games) gives its arguments at the
    game's tau; `moves_judge` is the quickstart judge it trains against on moves (None: offline, on the
    task's oracle-labelled pairs)."""

    algorithm: str
    game_args: Callable[[float], dict[str, Any]] | None
    target: str
    moves_args: dict[str, Any]
    moves_judge: str | None  # "preference-model" or "reward-model"; None: offline
    game_lr: float = 6e-4
    moves_lr: float = 3e-4
    offline: bool = False
    game_judge: Callable[[str], dict[str, Any]] | None = None  # None: the game's own oracle
    # its own fixed point on a game where that is not pi*_tau and is known (the board's distance to it)
    own_target: Callable[[Game], np.ndarray] | None = None
    note: str = ""


OFFLINE_GAME_LR = 0.01  # as the shipped game recipes (recipes/games): full batch, deterministic
ITERATED_GAME_LR = 2e-3  # methods that fit one iteration in `iteration_steps` steps (as their game tests)


# Offline runs on a game: `pairs: population`, every ordered pair of distinct actions weighted mu(i) mu(j)
# (pairs sampled from mu, as in IPO's paper), all six each step.
OFFLINE_TASK_ARGS = {"pairs": "population"}
OFFLINE_GAME_BATCH = 6
OFFLINE_PAIRS = "pairs: population (all 6 ordered pairs of distinct actions, weighted mu(i) mu(j))"


ALGORITHMS: tuple[Plan, ...] = (
    Plan(
        "nash-md",
        lambda tau: {"tau": tau, "beta": 0.0},
        PI_STAR,
        {"tau": 0.1, "beta": 0.125},
        "preference-model",
        note="games: beta 0 (opponents from pi itself: fixed point pi*_tau); moves: the quickstart's beta 0.125",
    ),
    Plan("online-ipo", lambda tau: {"tau": tau}, PI_STAR, {"tau": 0.1}, "preference-model"),
    Plan(
        "ipo-md",
        lambda tau: {"tau": tau, "beta": 0.5},
        "mixture point (beta 0.5)",
        {"tau": 0.1, "beta": 0.5},
        "preference-model",
        own_target=lambda game: mixture_point(game, 0.5),
        note="both samples from pi^0.5 mu^0.5: its fixed point pi ~ mu exp(P pi_beta / tau) is not pi*_tau",
    ),
    Plan(
        "sppo",
        lambda tau: {"eta": 2.0, "samples": 4, "iteration_steps": 10},
        NO_TARGET,
        {"eta": 1.0, "samples": 4, "iteration_steps": 20},
        "preference-model",
        game_lr=ITERATED_GAME_LR,
        note="games: multiplicative weights, step 2 on P every 10 steps (no tau; its average heads for Nash of P)",
    ),
    Plan(
        "online-dpo",
        lambda tau: {"beta": tau},
        NO_TARGET,
        {"beta": 0.1},
        "preference-model",
        note="beta = tau; its fixed point is neither pi*_tau nor a Nash equilibrium (docs/training.md)",
    ),
    Plan(
        "ppo",
        None,
        "",
        {"tau": 0.5, "epochs": 2},
        "reward-model",
        moves_lr=1e-4,
        note="moves only (a game has no pointwise reward); the quickstart's args and learning rate",
    ),
    Plan(
        "dpo",
        lambda tau: {"beta": tau},
        NO_TARGET,
        {"beta": 0.1, "rpo_alpha": 1.0},
        None,
        game_lr=OFFLINE_GAME_LR,
        offline=True,
        note="offline; moves: the quickstart's args (RPO term)",
    ),
    Plan(
        "ipo",
        lambda tau: {"tau": tau},
        "offline IPO limit mu exp(P mu / tau)",
        {"tau": 1.0, "rpo_alpha": 1.0},
        None,
        game_lr=OFFLINE_GAME_LR,
        offline=True,
        own_target=population_ipo_limit,
        note="offline; moves: the quickstart's args (RPO term)",
    ),
    # issue 19: the group methods, the oracle (or the preference model) as a pairwise judge: a sample's
    # reward is its win rate against the other samples of its group.
    Plan(
        "rloo",
        lambda tau: {"samples": 4, "beta": tau, "reward": "pairwise"},
        PI_STAR,
        {"samples": 4, "beta": 0.5},
        "reward-model",
        game_lr=ITERATED_GAME_LR,
        note="games: unbiased, fixed point mu exp(P pi / beta) = pi*_tau; moves: beta 0.5 as PPO's tau",
    ),
    Plan(
        "grpo",
        lambda tau: {"samples": 4, "beta": tau, "reward": "pairwise"},
        "none: GRPO's standardised advantage moves its fixed point",
        {"samples": 4, "beta": 0.5},
        "reward-model",
        game_lr=ITERATED_GAME_LR,
        note="the paper's std-scaled group advantages and k3 KL in the loss; games: beta = tau; moves: 0.5",
    ),
    # issue 19: the last-iterate methods, eta tau = 0.5, 10 steps per iteration (docs/last-iterate.md)
    Plan(
        "mpo",
        lambda tau: {"tau": tau, "eta": 0.5 / tau, "iteration_steps": 10},
        PI_STAR,
        {"tau": 0.1, "eta": 5.0, "iteration_steps": 20},
        "preference-model",
        game_lr=ITERATED_GAME_LR,
        # With the magnet fixed at mu, MPO's step [pi_t mu^(eta tau) exp(eta P pi_t)]^(1 / (1 + eta tau)) is
        # INPO's with step eta / (1 + eta tau): at eta tau = 1/2 here, INPO's at eta tau = 1/3.
        note="magnet fixed at mu (magnet_every 0), target pi*_tau; its step is INPO's at eta / (1 + eta tau)",
    ),
    Plan(
        "inpo",
        lambda tau: {"tau": tau, "eta": 0.5 / tau, "iteration_steps": 10},
        PI_STAR,
        {"tau": 0.1, "eta": 5.0, "iteration_steps": 20},
        "preference-model",
        game_lr=ITERATED_GAME_LR,
    ),
    Plan(
        "egpo",
        lambda tau: {"tau": tau, "eta": 0.5 / tau, "iteration_steps": 10},
        PI_STAR,
        {"tau": 0.1, "eta": 5.0, "iteration_steps": 20},
        "preference-model",
        game_lr=ITERATED_GAME_LR,
        note="an iteration is two halves of iteration_steps each",
    ),
    Plan(
        "nash-mp",
        lambda tau: {"beta": tau, "eta": 0.5 / tau, "iteration_steps": 10},
        PI_STAR,
        {"beta": 0.1, "eta": 5.0, "iteration_steps": 20},
        "preference-model",
        game_lr=ITERATED_GAME_LR,
        note="beta is its tau; an iteration is two halves of iteration_steps each",
    ),
)
