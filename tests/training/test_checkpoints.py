"""Checkpoint files (`arena.training.checkpoint`) and the `accelerate` checkpoints of DeepSpeed runs.

DeepSpeed needs CUDA and is not installed here: `AcceleratorCheckpoints` is checked with a CPU
`Accelerator` making the same `save_state`/`load_state` calls. What that leaves untested is DeepSpeed's
own part: the engine's `save_checkpoint`/`load_checkpoint` behind those calls (docs/scale-out.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from arena.errors import ArenaError
from arena.training.checkpoint import (
    ACCELERATE_DIR,
    Checkpoint,
    begin_checkpoint,
    latest_checkpoint,
    load_sharded_state,
    read_trainer_state,
    save_checkpoint,
    save_sharded_state,
)
from arena.training.parallel import AcceleratorCheckpoints, FullyShardedV2, Replicated


def tiny_training() -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1 + step))
    return model, optimizer, scheduler


def train_steps(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: object, steps: int
) -> None:
    """Steps whose data comes from torch's global generator: a resume that lost the RNG state would differ."""
    for _ in range(steps):
        inputs, targets = torch.randn(5, 6), torch.randn(5, 3)
        loss = torch.nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        scheduler.step()  # type: ignore[attr-defined]


def prepared(accelerator: object) -> tuple[torch.nn.Module, object, object]:
    model, optimizer, scheduler = accelerator.prepare(*tiny_training())  # type: ignore[attr-defined]
    return model, optimizer, scheduler.scheduler  # Arena steps the schedule itself (DeepSpeedZeRO does too)


def test_accelerate_checkpoints_resume_the_same_run(tmp_path: Path) -> None:
    from accelerate import Accelerator

    first = Accelerator(cpu=True)
    model, optimizer, scheduler = prepared(first)
    train_steps(model, optimizer, scheduler, 3)
    AcceleratorCheckpoints(first).save(tmp_path, 3, scheduler, keep=2, main=True)
    train_steps(model, optimizer, scheduler, 4)
    expected = {name: tensor.clone() for name, tensor in model.state_dict().items()}

    checkpoint = latest_checkpoint(tmp_path)
    assert checkpoint is not None and checkpoint.step == 3
    assert read_trainer_state(checkpoint) == {"step": 3, "format": "accelerate", "processes": 1}
    saved = {path.name for path in (checkpoint.path / ACCELERATE_DIR).iterdir()}
    assert {"model.safetensors", "optimizer.bin", "scheduler.bin", "random_states_0.pkl"} <= saved
    assert not list((tmp_path / "checkpoints").glob(".step-*"))  # staging renamed away

    torch.manual_seed(12345)  # a fresh process's generator: the checkpoint must put it back
    second = Accelerator(cpu=True)
    model, optimizer, scheduler = prepared(second)
    assert AcceleratorCheckpoints(second).load(checkpoint) == 3
    assert scheduler.last_epoch == 3  # type: ignore[attr-defined]
    train_steps(model, optimizer, scheduler, 4)
    for name, tensor in model.state_dict().items():
        assert tensor.equal(expected[name]), name


def test_a_checkpoint_of_another_strategy_is_refused_in_one_line(tmp_path: Path) -> None:
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    model, optimizer, scheduler = prepared(accelerator)
    AcceleratorCheckpoints(accelerator).save(tmp_path, 2, scheduler, keep=1, main=True)
    checkpoint = latest_checkpoint(tmp_path)
    assert checkpoint is not None
    strategy = Replicated(world=1)
    strategy.prepare(model)
    with pytest.raises(ArenaError) as error:
        strategy.load_checkpoint(checkpoint, optimizer, scheduler)  # type: ignore[arg-type]
    assert str(error.value) == (
        f"{checkpoint.path}/trainer_state.json: format: expected a checkpoint that replicated runs resume, "
        "got 'accelerate' (resume with the accelerate config that wrote it; docs/scale-out.md)"
    )
    # A replicated run's optimizer state is keyed by position: FSDP2 cannot map it to its shards.
    full = save_checkpoint(tmp_path, 4, model.state_dict(), optimizer.state_dict(), scheduler, {}, keep=1)
    with pytest.raises(ArenaError) as error:
        FullyShardedV2(world=2).check_resumable(Checkpoint(4, full))
    assert str(error.value) == (
        f"{full}/trainer_state.json: format: expected a checkpoint that fsdp2 runs resume, "
        "got 'full' of a replicated run (resume it without FSDP; docs/scale-out.md)"
    )


def test_a_save_killed_half_way_leaves_the_previous_checkpoint_latest(tmp_path: Path) -> None:
    model, optimizer, scheduler = tiny_training()
    save_checkpoint(tmp_path, 10, model.state_dict(), optimizer.state_dict(), scheduler, {}, keep=3)
    staging = begin_checkpoint(tmp_path, 20)  # every process writes here; then the process dies
    (staging / "model.safetensors").write_bytes(b"half")
    assert latest_checkpoint(tmp_path) == Checkpoint(10, tmp_path / "checkpoints" / "step-00000010")
    assert read_trainer_state(Checkpoint(10, tmp_path / "checkpoints" / "step-00000010"))["format"] == "full"

    save_checkpoint(tmp_path, 30, model.state_dict(), optimizer.state_dict(), scheduler, {}, keep=3)
    names = sorted(path.name for path in (tmp_path / "checkpoints").iterdir())
    assert names == ["step-00000010", "step-00000030"]  # the stale staging directory is gone


def test_a_checkpoint_without_a_format_is_a_full_one(tmp_path: Path) -> None:
    (tmp_path / "trainer_state.json").write_text(json.dumps({"step": 7}))  # written before formats existed
    assert read_trainer_state(Checkpoint(7, tmp_path)) == {"step": 7, "format": "full"}


def test_sharded_state_round_trips_in_one_process(tmp_path: Path) -> None:
    """torch.distributed.checkpoint without a process group: what a sharded checkpoint resumed in one
    process reads (each tensor whole)."""
    model, optimizer, scheduler = tiny_training()
    train_steps(model, optimizer, scheduler, 3)
    save_sharded_state(tmp_path / "sharded", model, optimizer)

    fresh_model, fresh_optimizer, _ = tiny_training()  # no optimizer state yet
    torch.nn.init.zeros_(fresh_model[0].weight)
    load_sharded_state(tmp_path / "sharded", fresh_model, fresh_optimizer)
    for (name, tensor), loaded in zip(
        model.state_dict().items(), fresh_model.state_dict().values(), strict=True
    ):
        assert tensor.equal(loaded), name
    saved, restored = optimizer.state_dict(), fresh_optimizer.state_dict()
    assert saved["param_groups"] == restored["param_groups"]
    for index, state in saved["state"].items():
        for key, value in state.items():
            assert torch.as_tensor(value).equal(torch.as_tensor(restored["state"][index][key])), (index, key)
