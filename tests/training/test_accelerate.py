"""`arena train --launcher accelerate`: real `accelerate launch` runs of two gloo processes on the CPU.

Two processes take the same steps as one process with the same global batch (offline DPO, and online IPO
whose rollouts each process samples for its own share of the batch), and a two-process run killed with
SIGKILL (every process of it) and resumed ends with the same weights as an uninterrupted one, replicated
(gradients summed in buckets during backward) and FSDP2 (sharded checkpoints, each process its own shard).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file

from arena.testing import kill_train_after_checkpoint, run_arena
from arena.training.metrics import read_metrics
from tests.training.test_resume_and_parallel import write_run

# The tests share the module fixture `dpo_runs`: one worker builds it once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("accelerate")]

CPU_CONFIG = str(Path(__file__).resolve().parents[2] / "recipes" / "accelerate" / "cpu-2proc.yaml")
LAUNCH = ["--launcher", "accelerate", "--accelerate-config", CPU_CONFIG]
FSDP2_LAUNCH = [
    "--launcher",
    "accelerate",
    "--accelerate-config",
    CPU_CONFIG.replace("cpu-2proc", "cpu-fsdp2"),
]
THREADS = {"OMP_NUM_THREADS": "1"}
STEPS, SAVE_EVERY = 40, 10

ONLINE = """\
kind: train
name: run
algorithm: online-ipo
args: {{tau: 0.1}}
policy: {model}
task: dice
training:
  steps: 8
  batch_size: 16
  gradient_accumulation: {accumulation}
  learning_rate: 0.01
  max_grad_norm: null
  log_every: 1
  seed: 5
"""


def losses(directory: Path) -> list[float]:
    return [row["loss"] for row in read_metrics(directory / "runs" / "run" / "metrics.jsonl")]


def summary(directory: Path) -> dict:
    return json.loads((directory / "runs" / "run" / "summary.json").read_text())


def final_weights(directory: Path) -> dict:
    return load_file(directory / "runs" / "run" / "final" / "model.safetensors")


@pytest.fixture(scope="module")
def dpo_runs(tmp_path_factory: pytest.TempPathFactory, game_model_dir: Path) -> tuple[Path, Path]:
    """The same DPO run, one process (accumulation 2) and two processes through accelerate."""
    root = tmp_path_factory.mktemp("accelerate-dpo")
    single = write_run(root / "single", game_model_dir, STEPS, SAVE_EVERY, accumulation=2).parent
    assert run_arena(["train", "recipe.yaml"], cwd=single, env=THREADS).returncode == 0
    double = write_run(root / "double", game_model_dir, STEPS, SAVE_EVERY).parent
    done = run_arena(["train", "recipe.yaml", *LAUNCH], cwd=double, env=THREADS)
    assert done.returncode == 0, done.stderr[-3000:]
    return single, double


def test_two_processes_take_the_same_dpo_steps_as_one(dpo_runs: tuple[Path, Path]) -> None:
    single, double = dpo_runs
    assert summary(double)["processes"] == 2
    assert summary(single)["processes"] == 1
    assert len(losses(double)) == STEPS
    assert losses(double) == pytest.approx(losses(single), abs=1e-4)
    assert losses(double)[-1] < 0.5 * losses(double)[0]  # it learned: the comparison is not of two flat lines


def test_two_processes_sample_their_own_rollouts_and_match_one(tmp_path: Path, game_model_dir: Path) -> None:
    runs = {}
    for processes, accumulation in ((1, 2), (2, 1)):
        directory = tmp_path / f"p{processes}"
        directory.mkdir()
        (directory / "run.yaml").write_text(ONLINE.format(model=game_model_dir, accumulation=accumulation))
        launch = LAUNCH if processes == 2 else []
        done = run_arena(["train", "run.yaml", *launch], cwd=directory, env=THREADS)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[processes] = read_metrics(directory / "runs" / "run" / "metrics.jsonl")
    # Each process samples its half of the batch with seeds of its own positions; had both drawn the
    # same actions (one seed for all processes), the losses and judge preferences would differ from one
    # process's, which samples both halves.
    for key in ("loss", "judge_preference", "kl"):
        assert [r[key] for r in runs[2]] == pytest.approx([r[key] for r in runs[1]], abs=1e-4), key
    probabilities = [r["action_probs"] for r in runs[2]]
    assert probabilities[-1] != pytest.approx(probabilities[0], abs=1e-3)  # the policy moved


def kill_after_checkpoint(directory: Path, launch: list[str], step: int) -> Path:
    """Start a two-process run and SIGKILL the launcher and every training process once checkpoint `step`
    exists, like a lost node; returns that checkpoint."""
    return kill_train_after_checkpoint(directory, step, args=launch, env=THREADS)


def assert_resumed_like(killed: Path, whole: Path, launch: list[str]) -> None:
    """`--resume` of the killed run ends with the uninterrupted run's weights and losses, bit for bit."""
    resumed = run_arena(["train", "recipe.yaml", "--resume", *launch], cwd=killed, env=THREADS)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert summary(killed)["resumed_from_step"] >= 2 * SAVE_EVERY
    assert summary(killed)["processes"] == 2
    expected, got = final_weights(whole), final_weights(killed)
    assert expected.keys() == got.keys()
    for name, tensor in expected.items():
        assert tensor.equal(got[name]), f"{name} differs after resume"
    assert losses(killed) == losses(whole)


def test_sigkill_of_a_two_process_run_then_resume_equals_an_uninterrupted_run(
    tmp_path: Path, game_model_dir: Path, dpo_runs: tuple[Path, Path]
) -> None:
    _, whole = dpo_runs
    killed = write_run(tmp_path / "killed", game_model_dir, STEPS, SAVE_EVERY).parent
    checkpoint = kill_after_checkpoint(killed, LAUNCH, 2 * SAVE_EVERY)
    assert json.loads((checkpoint / "trainer_state.json").read_text())["format"] == "full"
    assert_resumed_like(killed, whole, LAUNCH)


def test_launcher_mistakes_are_one_line(tmp_path: Path, game_model_dir: Path) -> None:
    write_run(tmp_path, game_model_dir, 2)
    missing = run_arena(
        ["train", "recipe.yaml", "--launcher", "accelerate", "--accelerate-config", "nope.yaml"], cwd=tmp_path
    )
    assert (missing.returncode, missing.stderr) == (
        2,
        "--accelerate-config: no such file 'nope.yaml' (see recipes/accelerate/ for examples)\n",
    )
    uneven = run_arena(
        ["train", "recipe.yaml", "--launcher", "accelerate", "--num-processes", "3"], cwd=tmp_path
    )
    assert (uneven.returncode, uneven.stderr) == (
        2,
        "recipe.yaml: training.batch_size: expected a multiple of gradient_accumulation x processes = 3, got 4\n",
    )
    without = run_arena(["train", "recipe.yaml", "--num-processes", "2"], cwd=tmp_path)
    assert (without.returncode, without.stderr) == (
        2,
        "--num-processes and --accelerate-config need --launcher accelerate\n",
    )


@pytest.fixture(scope="module")
def fsdp2_run(tmp_path_factory: pytest.TempPathFactory, game_model_dir: Path) -> Path:
    """The DPO run of `dpo_runs` under FSDP2 (fully_shard, gloo), uninterrupted."""
    sharded = write_run(tmp_path_factory.mktemp("fsdp2") / "whole", game_model_dir, STEPS, SAVE_EVERY).parent
    done = run_arena(["train", "recipe.yaml", *FSDP2_LAUNCH], cwd=sharded, env=THREADS)
    assert done.returncode == 0, done.stderr[-3000:]
    return sharded


def test_fsdp2_on_two_cpu_processes_takes_the_same_steps(
    dpo_runs: tuple[Path, Path], fsdp2_run: Path
) -> None:
    """FSDP2: the same loss curve and final weights as one unsharded process."""
    single, _ = dpo_runs
    assert summary(fsdp2_run)["parallelism"] == "fsdp2"
    assert losses(fsdp2_run) == pytest.approx(losses(single), abs=1e-4)
    expected, got = final_weights(single), final_weights(fsdp2_run)
    assert expected.keys() == got.keys()
    for name, tensor in expected.items():
        assert (tensor - got[name]).abs().max() < 1e-4, name


def test_sigkill_of_an_fsdp2_run_then_resume_from_its_shards_equals_an_uninterrupted_run(
    tmp_path: Path, game_model_dir: Path, fsdp2_run: Path
) -> None:
    killed = write_run(tmp_path / "killed", game_model_dir, STEPS, SAVE_EVERY).parent
    checkpoint = kill_after_checkpoint(killed, FSDP2_LAUNCH, 2 * SAVE_EVERY)

    # Each process wrote its own shard; no process gathered the model (no full weights file).
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert state == {"step": 2 * SAVE_EVERY, "format": "sharded", "processes": 2}
    assert sorted(path.name for path in checkpoint.iterdir()) == [
        "sharded",
        "trainer_state.json",
        "training.pt",
    ]
    shards = sorted((checkpoint / "sharded").glob("*.distcp"))
    assert [path.name for path in shards] == ["__0_0.distcp", "__1_0.distcp"]
    model = load_file(game_model_dir / "model.safetensors")
    # fp32 weights + AdamW's two moments: three copies of the model in all (plus DCP's per-tensor
    # headers), split between the two files about half and half: shards, not copies.
    whole_state = 3 * sum(tensor.numel() * tensor.element_size() for tensor in model.values())
    sizes = [path.stat().st_size for path in shards]
    assert whole_state <= sum(sizes) < 1.3 * whole_state
    assert max(sizes) < 0.6 * sum(sizes)

    # The same shards resumed by one process without FSDP (accumulation 2: the same global batch): DCP
    # reads every shard whole. Other kernels (whole tensors, not shards), so a tolerance, not equality.
    alone = tmp_path / "alone"
    shutil.copytree(killed, alone)

    assert_resumed_like(killed, fsdp2_run, FSDP2_LAUNCH)  # exact: the same kernels on the same shards

    resumed = run_arena(
        ["train", "recipe.yaml", "--resume", "--set", "training.gradient_accumulation=2"],
        cwd=alone,
        env=THREADS,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (summary(alone)["processes"], summary(alone)["resumed_from_step"]) == (1, 2 * SAVE_EVERY)
    expected, got = final_weights(fsdp2_run), final_weights(alone)
    for name, tensor in expected.items():
        assert (tensor - got[name]).abs().max() < 1e-5, name
    assert losses(alone) == pytest.approx(losses(fsdp2_run), abs=1e-5)
