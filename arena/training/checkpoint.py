"""Checkpoints: model, optimizer, scheduler, RNG states and the step, so `--resume` continues bit for bit.

A checkpoint directory is written under a temporary name and renamed when complete: a run killed while
saving leaves the previous checkpoint as the latest, never a half-written one.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from arena.io import atomic_write_text

STATE_FILE = "trainer_state.json"


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


def save_checkpoint(
    out_dir: Path,
    step: int,
    model_state: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    scheduler: Any,
    extra: dict[str, Any],
    keep: int,
) -> Path:
    """Write checkpoints/step-N atomically and keep only the newest `keep` checkpoints.

    The states are full (unsharded) ones: under FSDP the caller gathers them first (`arena.training.parallel`).
    """
    root = checkpoint_dir(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"step-{step:08d}"
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=root))
    try:
        from safetensors.torch import save_file

        weights = {name: tensor.detach().contiguous().cpu() for name, tensor in model_state.items()}
        save_file(_untie(weights), staging / "model.safetensors")
        torch.save(
            {"optimizer": optimizer_state, "scheduler": scheduler.state_dict(), "rng": rng_state()},
            staging / "training.pt",
        )
        atomic_write_text(staging / STATE_FILE, json.dumps({"step": step, **extra}, indent=2))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for old in sorted(root.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def load_weights(checkpoint: Checkpoint, model: torch.nn.Module) -> None:
    """Load a checkpoint's weights into an unsharded model (before any FSDP sharding)."""
    from safetensors.torch import load_file

    weights = load_file(checkpoint.path / "model.safetensors")
    result = model.load_state_dict(weights, strict=False)  # tied weights are stored once
    loaded = {tensor.data_ptr() for name, tensor in model.state_dict().items() if name in weights}
    untied = [name for name in result.missing_keys if model.state_dict()[name].data_ptr() not in loaded]
    if result.unexpected_keys or untied:
        raise RuntimeError(
            f"checkpoint {checkpoint.path} does not match the model: {untied or result.unexpected_keys}"
        )


def load_training_state(checkpoint: Checkpoint, scheduler: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Restore the scheduler and the RNG states; returns (the optimizer's saved state, the extra state
    with `step`). The optimizer state is loaded by the caller, which knows whether it is sharded."""
    # Our own file, written by this code; weights_only=False is needed for the Python RNG tuple.
    state = torch.load(checkpoint.path / "training.pt", weights_only=False)
    scheduler.load_state_dict(state["scheduler"])
    restore_rng_state(state["rng"])
    return state["optimizer"], json.loads((checkpoint.path / STATE_FILE).read_text())


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
