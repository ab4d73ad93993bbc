"""Algorithms that keep state between steps resume exactly: SPPO's frozen pi_t, Nash-MD's EMA opponent,
EGPO's anchor and half step, PPO's rollout with an epoch left are saved in every checkpoint
(`algorithm.pt`) and handed back on `--resume`.

Killed after the checkpoint of step 5 (mid-iteration for SPPO, in EGPO's full phase, between PPO's two
epochs of one rollout), a resumed run that re-took its snapshots or drew a new rollout at its restart would
train on other opponents or samples from there on, and its weights would differ from the uninterrupted
run's. Bit-equality is what torch gives for the same operations in the same order on one machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from arena.testing import kill_train_after_checkpoint, run_arena
from arena.training.checkpoint import ALGORITHM_FILE

pytestmark = pytest.mark.slow

RECIPE = """\
kind: train
name: run
algorithm: {algorithm}
args: {args}
policy: {model}
task: dice
{judge}
training:
  steps: 30
  batch_size: 32
  learning_rate: 0.003
  schedule: constant
  save_every: 5
  log_every: 10
  seed: 5
"""

CASES = {
    "sppo": "{eta: 1.0, samples: 2, iteration_steps: 25}",
    "nash-md": "{tau: 0.1, beta: 0.25, opponent: ema, ema_decay: 0.9}",
    "egpo": "{tau: 0.1, eta: 5.0, iteration_steps: 4}",
    "ppo": "{tau: 0.1, epochs: 2}",
}
SAVED = {"sppo": {"previous"}, "nash-md": {"ema"}, "egpo": {"anchor", "opponent"}, "ppo": {"rollout_buffers"}}
REWARDS = "judge: {name: reward-table, args: {rewards: {red: 1.0, green: 0.0, blue: 0.5}}}"


def write_run(directory: Path, model: Path, algorithm: str) -> None:
    directory.mkdir(parents=True)
    (directory / "recipe.yaml").write_text(
        RECIPE.format(
            algorithm=algorithm,
            args=CASES[algorithm],
            model=model,
            judge=REWARDS if algorithm == "ppo" else "",
        )
    )


@pytest.mark.parametrize("algorithm", sorted(CASES))
def test_a_run_killed_mid_iteration_resumes_with_the_algorithm_state(
    tmp_path: Path, game_model_dir: Path, algorithm: str
) -> None:
    env = {"OMP_NUM_THREADS": "1"}
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    write_run(whole, game_model_dir, algorithm)
    write_run(killed, game_model_dir, algorithm)
    assert run_arena(["train", "recipe.yaml"], cwd=whole, env=env).returncode == 0

    checkpoint = kill_train_after_checkpoint(killed, 5, env=env)
    state = torch.load(checkpoint / ALGORITHM_FILE, weights_only=True)
    assert set(state) == SAVED[algorithm]
    resumed = run_arena(["train", "recipe.yaml", "--resume"], cwd=killed, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((killed / "runs" / "run" / "summary.json").read_text())["resumed_from_step"] >= 5

    final_whole = load_file(whole / "runs" / "run" / "final" / "model.safetensors")
    final_killed = load_file(killed / "runs" / "run" / "final" / "model.safetensors")
    for name, tensor in final_whole.items():
        assert tensor.equal(final_killed[name]), f"{name} differs after resume"
