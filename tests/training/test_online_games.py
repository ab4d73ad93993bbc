"""Online algorithms on the non-transitive dice (KNOWN_ANSWERS.md section 2), through `arena train`.

The policy is a tiny transformer whose action distribution starts exactly at mu = (0.6, 0.3, 0.1); every
step samples 256 prompts' worth of actions (pairs, opponents) and asks the dice oracle.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from arena.ratings import exploitability, regularized_nash
from arena.testing import run_arena

pytestmark = pytest.mark.slow

P = np.array([[1 / 2, 5 / 9, 4 / 9], [4 / 9, 1 / 2, 5 / 9], [5 / 9, 4 / 9, 1 / 2]])
MU = np.array([0.6, 0.3, 0.1])

RECIPE = """\
kind: train
name: run
algorithm: {algorithm}
args: {args}
policy: {model}
task: dice
{judge}
training:
  steps: {steps}
  batch_size: 256
  learning_rate: {lr}
  schedule: linear
  max_grad_norm: null
  log_every: 100
"""


def train(
    tmp_path: Path,
    model: Path,
    algorithm: str,
    args: str,
    *,
    steps: int = 500,
    lr: float = 6e-4,
    judge: str = "",
) -> dict:
    (tmp_path / "run.yaml").write_text(
        RECIPE.format(algorithm=algorithm, args=args, model=model, judge=judge, steps=steps, lr=lr)
    )
    result = run_arena(["train", "run.yaml"], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    return json.loads((tmp_path / "runs" / "run" / "summary.json").read_text())


@pytest.mark.parametrize(
    ("algorithm", "tau"),
    [("online-ipo", 0.1), ("online-ipo", 0.05), ("nash-md", 0.1), ("nash-md", 0.05)],
)
def test_self_play_reaches_the_regularised_nash_equilibrium(
    tmp_path: Path, game_model_dir: Path, algorithm: str, tau: float
) -> None:
    args = f"{{tau: {tau}}}" if algorithm == "online-ipo" else f"{{tau: {tau}, beta: 0.0}}"
    final = train(tmp_path, game_model_dir, algorithm, args)["final"]
    target = regularized_nash(P, MU, tau)
    assert np.max(np.abs(np.array(final["action_probs"]) - target)) < 0.03
    if tau == 0.05:  # the reference's own exploitability is 0.0030 here
        assert exploitability(P, MU, MU, tau) == pytest.approx(0.0030, abs=5e-5)
        assert final["exploitability"] < 0.2 * exploitability(P, MU, MU, tau)


@pytest.mark.parametrize("algorithm", ["ipo-md", "nash-md"])
def test_mixture_opponents_reach_the_mixture_fixed_point(
    tmp_path: Path, game_model_dir: Path, algorithm: str
) -> None:
    final = train(tmp_path, game_model_dir, algorithm, "{tau: 0.1, beta: 0.5}")["final"]
    assert final["action_probs"] == pytest.approx([0.6522, 0.2252, 0.1226], abs=0.03)


def online_dpo_fixed_point(beta: float) -> np.ndarray:
    """Where online DPO's expected gradient vanishes: pairs from pi (held fixed), the first chosen with
    probability P, loss -log sigmoid(beta h). Solved independently by full-batch Adam in float64."""
    P_t, mu = torch.tensor(P), torch.tensor(MU)
    theta = mu.log().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([theta], lr=0.01)
    for _ in range(6000):
        pi = torch.softmax(theta, 0)
        ratio = torch.log(pi) - mu.log()
        weights = (pi[:, None] * pi[None, :]).detach()
        loss = (
            weights * P_t * -torch.nn.functional.logsigmoid(beta * (ratio[:, None] - ratio[None, :]))
        ).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return torch.softmax(theta, 0).detach().numpy()


def test_online_dpo_ends_at_its_own_fixed_point_not_at_nash(tmp_path: Path, game_model_dir: Path) -> None:
    final = train(tmp_path, game_model_dir, "online-dpo", "{beta: 0.1}", steps=600)["final"]
    expected = online_dpo_fixed_point(0.1)  # about (0.590, 0.175, 0.234)
    probs = np.array(final["action_probs"])
    assert np.max(np.abs(probs - expected)) < 0.03
    nash = regularized_nash(P, MU, 0.1)
    assert np.max(np.abs(probs - nash)) > 0.05  # not the Nash equilibrium
    assert final["exploitability"] > 0.001  # Nash-MD and online IPO end below 1e-4


def test_ppo_on_a_fixed_reward_reaches_the_kl_regularised_optimum(
    tmp_path: Path, game_model_dir: Path
) -> None:
    judge = "judge: {name: reward-table, args: {rewards: {red: 1.0, green: 0.0, blue: 0.5}}}"
    summary = train(tmp_path, game_model_dir, "ppo", "{tau: 0.5, epochs: 2}", steps=150, lr=1e-3, judge=judge)
    weights = MU * np.exp(np.array([1.0, 0.0, 0.5]) / 0.5)
    assert summary["final"]["action_probs"] == pytest.approx(list(weights / weights.sum()), abs=0.03)
    assert summary["final"]["reward"] > 0.8  # the reference's mean reward is 0.65


def test_one_sppo_iteration_is_a_multiplicative_weights_step(tmp_path: Path, game_model_dir: Path) -> None:
    """SPPO regresses log(pi / pi_t) on eta (P(y > pi_t) - 1/2): one iteration gives pi_t exp(eta (P pi_t - 1/2))."""
    final = train(
        tmp_path, game_model_dir, "sppo", "{eta: 10, samples: 4, iteration_steps: 10000}", steps=200, lr=1e-3
    )["final"]
    weights = MU * np.exp(10 * (P @ MU - 0.5))  # (0.660, 0.224, 0.116)
    assert final["action_probs"] == pytest.approx(list(weights / weights.sum()), abs=0.02)
    assert not math.isclose(final["action_probs"][0], 0.6, abs_tol=0.03)  # it moved away from mu
