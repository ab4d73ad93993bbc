"""Algorithms that keep state between steps resume exactly: SPPO's frozen pi_t and Nash-MD's EMA opponent
are saved in every checkpoint (`algorithm.pt`) and handed back on `--resume`.

Killed after a checkpoint taken mid-iteration (SPPO takes pi_t every 25 steps; the checkpoint is at step
10), a resumed run that re-took the snapshot at its restart would judge against another opponent from
there on, and its weights would differ from the uninterrupted run's. Bit-equality is what torch gives for
the same operations in the same order on one machine.
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
training:
  steps: 60
  batch_size: 32
  learning_rate: 0.003
  schedule: constant
  save_every: 10
  log_every: 10
  seed: 5
"""

CASES = {
    "sppo": "{eta: 1.0, samples: 2, iteration_steps: 25}",
    "nash-md": "{tau: 0.1, beta: 0.25, opponent: ema, ema_decay: 0.9}",
}


def write_run(directory: Path, model: Path, algorithm: str) -> None:
    directory.mkdir(parents=True)
    (directory / "recipe.yaml").write_text(
        RECIPE.format(algorithm=algorithm, args=CASES[algorithm], model=model)
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

    checkpoint = kill_train_after_checkpoint(killed, 10, env=env)
    state = torch.load(checkpoint / ALGORITHM_FILE, weights_only=True)
    assert set(state) == {"previous" if algorithm == "sppo" else "ema"}
    resumed = run_arena(["train", "recipe.yaml", "--resume"], cwd=killed, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((killed / "runs" / "run" / "summary.json").read_text())["resumed_from_step"] >= 10

    final_whole = load_file(whole / "runs" / "run" / "final" / "model.safetensors")
    final_killed = load_file(killed / "runs" / "run" / "final" / "model.safetensors")
    for name, tensor in final_whole.items():
        assert tensor.equal(final_killed[name]), f"{name} differs after resume"
