"""KNOWN_ANSWERS.md section 1 through `arena train`: IPO and DPO on the games reach the paper's answers.

Every run drives the real LM code path: a tiny transformer whose action distribution is its softmax at
the response position, set exactly to the reference, then trained full-batch with Adam.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from arena.testing import run_arena
from tests.training.fixed_points import ipo_point

pytestmark = pytest.mark.slow

RECIPE = """\
kind: train
name: {name}
algorithm: {algorithm}
args: {args}
policy: {model}
task: {task}
training:
  steps: {steps}
  batch_size: {batch}
  learning_rate: 0.01
  schedule: constant
  max_grad_norm: null
  log_every: 50
"""


def train_game(
    tmp_path: Path, model: Path, name: str, algorithm: str, args: str, task: str, steps: int, batch: int
) -> dict:
    recipe = tmp_path / f"{name}.yaml"
    recipe.write_text(
        RECIPE.format(
            name=name, algorithm=algorithm, args=args, model=model, task=task, steps=steps, batch=batch
        )
    )
    result = run_arena(["train", str(recipe)], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "runs" / name / "summary.json").read_text())
    assert summary["steps"] == steps
    return summary["final"]


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_ipo_two_actions_converges_to_sigmoid_half_over_tau(
    tmp_path: Path, game_model_dir: Path, tau: float
) -> None:
    final = train_game(tmp_path, game_model_dir, "ipo-two", "ipo", f"{{tau: {tau}}}", "two-actions", 300, 1)
    expected = 1 / (1 + math.exp(-0.5 / tau))  # 0.9933, 0.7311, 0.6225
    assert final["action_probs"][0] == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(
    ("tau", "expected"),
    [(0.1, (0.9644, 0.0344, 0.0012)), (1.0, (0.4484, 0.3213, 0.2302))],
)
def test_ipo_on_d1_reaches_the_exact_minimiser(
    tmp_path: Path, game_model_dir: Path, tau: float, expected: tuple[float, ...]
) -> None:
    final = train_game(tmp_path, game_model_dir, "ipo-d1", "ipo", f"{{tau: {tau}}}", "order3", 200, 3)
    # Where the gradient of IPO's loss on D1 = {a > b, b > c, a > c} vanishes: the closed form
    # pi proportional to (e^{2/(3 tau)}, e^{1/(3 tau)}, 1) (tests/training/test_fixed_points.py).
    exact = ipo_point([(0, 1), (1, 2), (0, 2)], 3, tau)
    assert exact == pytest.approx(list(expected), abs=1e-4)
    assert final["action_probs"] == pytest.approx(list(exact), abs=1e-3)


def test_dpo_ignores_regularisation_with_deterministic_preferences(
    tmp_path: Path, game_model_dir: Path
) -> None:
    final = train_game(tmp_path, game_model_dir, "dpo-two", "dpo", "{beta: 1.0}", "two-actions", 300, 1)
    assert final["action_probs"][0] > 0.99  # IPO at tau = 1 would stop at 0.6225
