"""Checkpoints: model, optimizer, scheduler, RNG states and the step, so `--resume` continues bit for bit.

A checkpoint directory is written under a temporary name (`checkpoints/.step-N.tmp`, the same in every
process, so that all of them can write into it) and renamed to `step-N` by the main process once every
process has written its part and `trainer_state.json` is in: a run killed while saving leaves the previous
checkpoint as the latest, never a half-written one. What is inside depends on how the model was spread
(`format` in trainer_state.json; `arena.training.parallel` writes and reads them):

- `full` (one process, or replicated data parallel): `model.safetensors` and, in `training.pt`, the
  optimizer's state, written by the main process alone.
- `sharded` (FSDP2): `sharded/`, a `torch.distributed.checkpoint` directory into which every process writes
  its own shard of the parameters and optimizer state (no process gathers the whole model); DCP reshards
  on load, so a run may resume on another number of processes.
- `accelerate` (DeepSpeed): `accelerate/`, written by `Accelerator.save_state`: the DeepSpeed engine's
  checkpoint (weights, ZeRO-partitioned optimizer state, one file per process) and accelerate's
  per-process RNG states.

Every format has `training.pt` with the scheduler and the main process's RNG states, and
`trainer_state.json` with the step; an algorithm that keeps state between steps (a frozen snapshot of the
policy, an EMA, the phase of an extragradient step: `Algorithm.state_dict`) has it in `algorithm.pt`.
"""

from __future__ import annotations

import json
import random
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from arena.io import atomic_write_text

STATE_FILE = "trainer_state.json"
FULL, SHARDED, ACCELERATE = "full", "sharded", "accelerate"  # trainer_state.json's `format`
SHARDED_DIR = "sharded"  # torch.distributed.checkpoint files, one per process plus .metadata
ACCELERATE_DIR = "accelerate"  # Accelerator.save_state's directory (DeepSpeed)
ALGORITHM_FILE = "algorithm.pt"  # Algorithm.state_dict(), where it is not empty


@dataclass(frozen=True)
class Checkpoint:
    step: int
    path: Path


def checkpoint_dir(out_dir: Path) -> Path:
    return out_dir / "checkpoints"


def latest_checkpoint(out_dir: Path) -> Checkpoint | None:
    found = []
    for path in checkpoint_dir(out_dir).glob("step-*"):
        if (path / STATE_FILE).is_file():
            found.append(Checkpoint(int(path.name.removeprefix("step-")), path))
    return max(found, key=lambda c: c.step) if found else None


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def staging_path(out_dir: Path, step: int) -> Path:
    """Where step N's checkpoint is written before it is renamed: the same name in every process."""
    return checkpoint_dir(out_dir) / f".step-{step:08d}.tmp"


def begin_checkpoint(out_dir: Path, step: int) -> Path:
    """(Main process) An empty staging directory for step N; a stale one from a killed save is removed."""
    staging = staging_path(out_dir, step)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def commit_checkpoint(
    out_dir: Path,
    staging: Path,
    step: int,
    scheduler: Any,
    extra: dict[str, Any],
    keep: int,
    optimizer_state: dict[str, Any] | None = None,
    algorithm_state: dict[str, Any] | None = None,
) -> Path:
    """(Main process, after every process wrote its part into `staging`) Add the scheduler, the RNG states,
    the algorithm's state and trainer_state.json, rename to checkpoints/step-N, keep only the newest `keep`
    checkpoints."""
    target = checkpoint_dir(out_dir) / f"step-{step:08d}"
    try:
        state = {"scheduler": scheduler.state_dict(), "rng": rng_state()}
        if optimizer_state is not None:
            state["optimizer"] = optimizer_state
        torch.save(state, staging / "training.pt")
        if algorithm_state:
            torch.save(_on_cpu(algorithm_state), staging / ALGORITHM_FILE)
        # Written last: a directory without it is never taken for a checkpoint.
        atomic_write_text(staging / STATE_FILE, json.dumps({"step": step, **extra}, indent=2))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    root = checkpoint_dir(out_dir)
    for old in sorted(root.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".step-*.tmp"):  # left by a run killed while saving
        shutil.rmtree(stale, ignore_errors=True)
    return target


def save_checkpoint(
    out_dir: Path,
    step: int,
    model_state: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    scheduler: Any,
    extra: dict[str, Any],
    keep: int,
    algorithm_state: dict[str, Any] | None = None,
) -> Path:
    """(Main process) Write a `full` checkpoints/step-N atomically: the whole model and optimizer state."""
    staging = begin_checkpoint(out_dir, step)
    try:
        from safetensors.torch import save_file

        weights = {name: tensor.detach().contiguous().cpu() for name, tensor in model_state.items()}
        save_file(_untie(weights), staging / "model.safetensors")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return commit_checkpoint(
        out_dir,
        staging,
        step,
        scheduler,
        {"format": FULL, **extra},
        keep,
        optimizer_state=optimizer_state,
        algorithm_state=algorithm_state,
    )


def read_trainer_state(checkpoint: Checkpoint) -> dict[str, Any]:
    """trainer_state.json; checkpoints written before formats existed are `full` ones."""
    state = json.loads((checkpoint.path / STATE_FILE).read_text())
    return {"format": FULL, **state}


def read_weights(checkpoint: Checkpoint) -> dict[str, torch.Tensor]:
    """A `full` checkpoint's weights (tied ones stored once)."""
    from safetensors.torch import load_file

    return load_file(checkpoint.path / "model.safetensors")


def load_weights(checkpoint: Checkpoint, model: torch.nn.Module) -> None:
    """Load a `full` checkpoint's weights into an unsharded model."""
    weights = read_weights(checkpoint)
    result = model.load_state_dict(weights, strict=False)  # tied weights are stored once
    loaded = {tensor.data_ptr() for name, tensor in model.state_dict().items() if name in weights}
    untied = [name for name in result.missing_keys if model.state_dict()[name].data_ptr() not in loaded]
    if result.unexpected_keys or untied:
        raise RuntimeError(
            f"checkpoint {checkpoint.path} does not match the model: {untied or result.unexpected_keys}"
        )


def load_training_state(
    checkpoint: Checkpoint, scheduler: Any
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Restore the scheduler and the RNG states; returns (the optimizer's saved state, None where the format
    keeps it elsewhere; trainer_state.json with `step` and `format`)."""
    # Our own file, written by this code; weights_only=False is needed for the Python RNG tuple.
    state = torch.load(checkpoint.path / "training.pt", weights_only=False)
    scheduler.load_state_dict(state["scheduler"])
    restore_rng_state(state["rng"])
    return state.get("optimizer"), read_trainer_state(checkpoint)


def read_algorithm_state(checkpoint: Checkpoint, device: torch.device) -> dict[str, Any]:
    """The algorithm's state the checkpoint holds ({} where it kept none), its tensors on `device`."""
    path = checkpoint.path / ALGORITHM_FILE
    if not path.is_file():
        return {}
    return torch.load(path, map_location=device, weights_only=True)  # tensors and plain numbers only


def _on_cpu(state: Any) -> Any:
    """A copy of a nested state with every tensor detached on the CPU (what torch.save should write)."""
    if isinstance(state, torch.Tensor):
        return state.detach().cpu()
    if isinstance(state, dict):
        return {key: _on_cpu(value) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_on_cpu(value) for value in state)
    return state


def save_sharded_state(directory: Path, module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """(Every process) Its own shard of the model and optimizer state, through torch.distributed.checkpoint."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_state, optimizer_state = get_state_dict(module, optimizer)  # DTensors: this process's shards
    with _one_process_is_meant():
        dcp.save({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=directory)


def load_sharded_state(directory: Path, module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """(Every process) Read into the model's and optimizer's current layout (sharded or not): DCP reads
    each process's part of every tensor from whichever files hold it."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    model_state, optimizer_state = get_state_dict(module, optimizer)
    state = {"model": model_state, "optimizer": optimizer_state}
    with _one_process_is_meant():
        dcp.load(state, checkpoint_id=directory)
    set_state_dict(module, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])


@contextmanager
def _one_process_is_meant() -> Iterator[None]:
    """Without a process group DCP reads and writes as one process, and warns that it assumes so."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled, unavailable or uninit")
        yield


def _untie(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors that share memory (tied embeddings): store each storage once."""
    seen: dict[int, str] = {}
    result = {}
    for name, tensor in weights.items():
        pointer = tensor.data_ptr()
        if pointer in seen:
            continue
        seen[pointer] = name
        result[name] = tensor
    return result
