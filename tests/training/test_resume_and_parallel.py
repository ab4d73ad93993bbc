"""Resume after a real SIGKILL continues bit for bit; two gloo processes take the same steps as one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from arena.testing import OFFLINE_ENV, kill_train_after_checkpoint, run_arena
from arena.training.metrics import read_metrics

pytestmark = pytest.mark.slow

PAIRS = [
    ("The cat", "sat on the mat.", "ran away fast."),
    ("A dog", "barked at the moon.", "slept all day."),
    ("The sun", "rose over the hills.", "fell into the sea."),
    ("Birds", "sing in the morning.", "eat the seeds."),
    ("The river", "flows to the sea.", "stops at the dam."),
    ("A child", "plays in the park.", "reads a book."),
    ("The wind", "blows through trees.", "sleeps at night."),
    ("Rain", "falls on the roof.", "rises to the sky."),
]

RECIPE = """\
kind: train
name: run
algorithm: dpo
args: {{beta: 0.5}}
policy: {model}
data: pairs.jsonl
training:
  steps: {steps}
  batch_size: 4
  gradient_accumulation: {accumulation}
  learning_rate: 0.001
  warmup_steps: 5
  schedule: cosine
  save_every: {save_every}
  log_every: 1
  seed: 3
"""


def write_run(directory: Path, model: Path, steps: int, save_every: int = 0, accumulation: int = 1) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "pairs.jsonl").open("w") as stream:
        for prompt, chosen, rejected in PAIRS:
            stream.write(json.dumps({"prompt": prompt, "chosen": chosen, "rejected": rejected}) + "\n")
    recipe = directory / "recipe.yaml"
    recipe.write_text(
        RECIPE.format(model=model, steps=steps, save_every=save_every, accumulation=accumulation)
    )
    return recipe


def losses(directory: Path) -> list[float]:
    return [row["loss"] for row in read_metrics(directory / "runs" / "run" / "metrics.jsonl")]


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path: Path, game_model_dir: Path) -> None:
    steps = 120
    whole = tmp_path / "whole"
    write_run(whole, game_model_dir, steps, save_every=20)
    assert run_arena(["train", "recipe.yaml"], cwd=whole, env={"OMP_NUM_THREADS": "1"}).returncode == 0

    killed = tmp_path / "killed"
    write_run(killed, game_model_dir, steps, save_every=20)
    kill_train_after_checkpoint(killed, 40, env={"OMP_NUM_THREADS": "1"})

    resumed = run_arena(["train", "recipe.yaml", "--resume"], cwd=killed, env={"OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((killed / "runs" / "run" / "summary.json").read_text())
    assert summary["resumed_from_step"] >= 40

    final_whole = load_file(whole / "runs" / "run" / "final" / "model.safetensors")
    final_killed = load_file(killed / "runs" / "run" / "final" / "model.safetensors")
    assert final_whole.keys() == final_killed.keys()
    for name, tensor in final_whole.items():
        assert tensor.equal(final_killed[name]), f"{name} differs after resume"
    assert losses(killed) == losses(whole)  # every step logged once, the same numbers
    assert len(losses(whole)) == steps


def test_a_finished_output_is_not_overwritten_without_resume(tmp_path: Path, game_model_dir: Path) -> None:
    write_run(tmp_path, game_model_dir, 2)
    assert run_arena(["train", "recipe.yaml"], cwd=tmp_path).returncode == 0
    again = run_arena(["train", "recipe.yaml"], cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr == (
        "recipe.yaml: output: 'runs/run' already holds a run; pass --resume to continue it, "
        "or set another output (--set output=DIR)\n"
    )


def test_two_processes_take_the_same_steps_as_one(tmp_path: Path, game_model_dir: Path) -> None:
    """With gradient accumulation and small buckets: each process reduces its gradients in many buckets
    during the backward of its last micro-batch only."""
    steps = 6
    single = tmp_path / "single"
    write_run(single, game_model_dir, steps, accumulation=4)
    assert run_arena(["train", "recipe.yaml"], cwd=single, env={"OMP_NUM_THREADS": "1"}).returncode == 0

    double = tmp_path / "double"
    write_run(double, game_model_dir, steps, accumulation=2)
    env = {**os.environ, **OFFLINE_ENV, "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    env["ARENA_ALLREDUCE_BUCKET_MB"] = "0.02"  # ~20 KiB: about 20 buckets for this 0.6 MiB of gradients
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",  # rendezvous on a free port the OS picks: no fixed port for runs to collide on
            "--nproc_per_node",
            "2",
            "-m",
            "arena",
            "train",
            "recipe.yaml",
        ],
        cwd=double,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((double / "runs" / "run" / "summary.json").read_text())
    assert summary["processes"] == 2
    assert losses(double) == pytest.approx(losses(single), abs=1e-4)
    assert len(losses(double)) == steps


def test_resuming_a_checkpoint_another_strategy_wrote_is_one_line(
    tmp_path: Path, game_model_dir: Path
) -> None:
    """A DeepSpeed run's checkpoint (`accelerate` format) resumed without DeepSpeed: exit code 2, one line,
    and the checkpoint left as it was."""
    write_run(tmp_path, game_model_dir, 4, save_every=2)
    assert run_arena(["train", "recipe.yaml", "--set", "training.steps=2"], cwd=tmp_path).returncode == 0
    state_file = tmp_path / "runs" / "run" / "checkpoints" / "step-00000002" / "trainer_state.json"
    state_file.write_text(json.dumps({"step": 2, "format": "accelerate", "processes": 8}))
    resumed = run_arena(["train", "recipe.yaml", "--resume"], cwd=tmp_path)
    assert (resumed.returncode, resumed.stderr) == (
        2,
        f"{state_file.relative_to(tmp_path)}: format: expected a checkpoint that replicated runs resume, got "
        "'accelerate' (resume with the accelerate config that wrote it; docs/scale-out.md)\n",
    )
    assert json.loads(state_file.read_text())["format"] == "accelerate"
    assert len(losses(tmp_path)) == 2  # nothing appended


def test_a_bad_bucket_size_is_one_line_before_anything_loads(tmp_path: Path, game_model_dir: Path) -> None:
    write_run(tmp_path, game_model_dir, 2)
    done = run_arena(["train", "recipe.yaml"], cwd=tmp_path, env={"ARENA_ALLREDUCE_BUCKET_MB": "lots"})
    assert (done.returncode, done.stderr) == (
        2,
        "ARENA_ALLREDUCE_BUCKET_MB: expected a number of MiB >= 0 (0: one all-reduce per parameter), got 'lots'\n",
    )
    assert not (tmp_path / "runs").exists()
