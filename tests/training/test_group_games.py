"""GRPO and RLOO reach their known answers on the games through `arena train` (docs/group.md): the tiny
transformer's action distribution starts exactly at mu, every step samples G actions for each of the batch's
prompts and asks the judge. The answers are solved in tests/training/group_points.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arena.testing import run_arena
from tests.training.group_points import (
    binary_grpo_point,
    kl_regularised_optimum,
    pairwise_rloo_point,
    reverse_kl_point,
)

pytestmark = pytest.mark.slow

DICE = np.array([[1 / 2, 5 / 9, 4 / 9], [4 / 9, 1 / 2, 5 / 9], [5 / 9, 4 / 9, 1 / 2]])
MU = np.array([0.6, 0.3, 0.1])
REWARDS = np.array([1.0, 0.0, 0.5])  # red, green, blue
REWARD_TABLE = "judge: {name: reward-table, args: {rewards: {red: 1.0, green: 0.0, blue: 0.5}}}"

RECIPE = """\
kind: train
name: run
algorithm: {algorithm}
args: {args}
policy: {model}
task: {task}
{judge}
training: {{steps: {steps}, batch_size: {batch}, learning_rate: {lr}, schedule: linear, max_grad_norm: null,
           log_every: {steps}}}
"""


def write(tmp_path: Path, model: Path, algorithm: str, args: str, **fields: object) -> None:
    values = {"task": "dice", "judge": "", "steps": 200, "batch": 256, "lr": 2e-3, **fields}
    text = RECIPE.format(algorithm=algorithm, args=args, model=model, **values)
    (tmp_path / "run.yaml").write_text(text)


def train(tmp_path: Path, model: Path, algorithm: str, args: str, **fields: object) -> dict:
    write(tmp_path, model, algorithm, args, **fields)
    result = run_arena(["train", "run.yaml"], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    return json.loads((tmp_path / "runs" / "run" / "summary.json").read_text())["final"]


def test_rloo_on_a_reward_table_reaches_the_kl_regularised_optimum(
    tmp_path: Path, game_model_dir: Path
) -> None:
    """KL in the reward, leave-one-out baseline: unbiased, pi proportional to mu exp(r / beta). At that
    point R_i = r_i - beta log(pi / mu)(y_i) = beta log Z for every action, so every advantage is 0 and the
    sampling noise vanishes with the distance: the run lands within 1e-3 (2e-5 measured)."""
    final = train(
        tmp_path, game_model_dir, "rloo", "{beta: 0.5, samples: 4}", judge=REWARD_TABLE, steps=150, batch=64
    )
    expected = kl_regularised_optimum(REWARDS, MU, 0.5)  # (0.8858, 0.0599, 0.0543)
    assert np.max(np.abs(np.array(final["action_probs"]) - expected)) < 1e-3
    assert final["reward_std"] > 0.05  # the rewards still differ within groups; their advantages do not


@pytest.mark.parametrize("estimator", ["k2", "k3"])
def test_dr_grpo_fixed_points_with_k2_and_k3(tmp_path: Path, game_model_dir: Path, estimator: str) -> None:
    """scale_rewards: none with G = 2: the group mean contains the sample, so the reward's gradient is
    scaled by c = (G - 1) / G = 1/2. k2 in the loss: pi proportional to mu exp(c r / beta); k3: its gradient
    is that of KL(mu || pi), and c pi_m (r_m - E_pi r) = beta (pi_m - mu_m)."""
    args = f"{{beta: 0.5, samples: 2, scale_rewards: none, kl_estimator: {estimator}}}"
    final = train(tmp_path, game_model_dir, "grpo", args, judge=REWARD_TABLE)
    if estimator == "k2":
        expected = kl_regularised_optimum(REWARDS, MU, 0.5, c=0.5)  # (0.7782, 0.1431, 0.0787)
    else:
        expected = reverse_kl_point(REWARDS, MU, 0.5, c=0.5)  # (0.7555, 0.1672, 0.0773)
    reached = np.array(final["action_probs"])
    assert np.max(np.abs(reached - expected)) < 0.03
    # not the unbiased optimum (0.8858, 0.0599, 0.0543): 0.08 and more away
    assert np.max(np.abs(reached - kl_regularised_optimum(REWARDS, MU, 0.5))) > 0.06


def test_grpo_standardised_binary_reward_ends_where_its_stationarity_equation_says(
    tmp_path: Path, game_model_dir: Path
) -> None:
    """two-actions with mu = (0.1, 0.9), a rule-based reward 1 for `yes`, G = 4, beta 0.5, k2: the root of
    g(p) = beta p (1 - p) log(p (1 - m) / ((1 - p) m)) is 0.6501; the unbiased optimum is 0.4509."""
    rules = 'judge: {name: rule-reward, args: {rules: [{pattern: "yes", reward: 1.0}], match: fullmatch}}'
    task = "{name: two-actions, args: {reference: [0.1, 0.9]}}"
    args = "{beta: 0.5, samples: 4, kl_estimator: k2, scale_rewards: group}"
    final = train(tmp_path, game_model_dir, "grpo", args, judge=rules, task=task)
    point = binary_grpo_point(0.1, 0.5, 4, "k2")
    assert abs(final["action_probs"][0] - point) < 0.03
    assert abs(final["action_probs"][0] - 0.1 * np.e**2 / (0.1 * np.e**2 + 0.9)) > 0.1
    assert final["clip_fraction"] == 0.0  # one epoch: the ratio is 1


def test_rloo_against_the_dice_oracle_reaches_the_regularised_nash_equilibrium(
    tmp_path: Path, game_model_dir: Path
) -> None:
    """Pairwise judge: each sample's reward is its win rate against the other G - 1, baseline 1/2; with
    the KL in the reward the fixed point is pi proportional to mu exp(P pi / beta), no G factor."""
    final = train(tmp_path, game_model_dir, "rloo", "{beta: 0.1, samples: 4}", steps=150, batch=128, lr=3e-3)
    expected = pairwise_rloo_point(DICE, MU, 0.1)  # (0.6437, 0.2285, 0.1278)
    assert np.max(np.abs(np.array(final["action_probs"]) - expected)) < 0.03
    assert final["reward"] == pytest.approx(0.5, abs=1e-6)  # win rates within a group average 1/2
    assert final["exploitability"] < 1e-4  # 4e-6 and 5e-6 measured (seeds 0, 1)


def test_bad_group_recipes_fail_in_one_line(tmp_path: Path, game_model_dir: Path) -> None:
    write(tmp_path, game_model_dir, "grpo", "{reward: score}")  # the dice oracle only compares
    result = run_arena(["train", "run.yaml"], cwd=tmp_path)
    expected = (
        "run.yaml: judge: expected a pointwise judge (one with score(), e.g. reward-model): grpo trains on "
        "rewards, and the oracle of task 'dice' only compares\n"
    )
    assert (result.returncode, result.stderr) == (2, expected)
    bad_rule = (
        'judge: {name: rule-reward, args: {rules: [{pattern: "y", reward: 1}, {pattern: "(", reward: 0}]}}'
    )
    write(tmp_path, game_model_dir, "rloo", "{}", judge=bad_rule)
    result = run_arena(["recipes", "validate", "run.yaml"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "run.yaml: judge.args.rules.1.pattern: expected a Python regular expression"
    )
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "runs").exists()
