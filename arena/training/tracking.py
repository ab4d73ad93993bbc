"""`training.report_to`: the records of metrics.jsonl, sent also to TensorBoard, W&B or trackio.

Through accelerate's own trackers (`Accelerator(log_with=...)`, `init_trackers`, `log`), on the main
process only. Each logged record of metrics.jsonl goes to every tracker at the same step, flattened to
scalars (a game's `action_probs` list becomes `action_probs/rock`, ...; text and missing values are left
out); the resolved recipe, flattened to dotted keys, is the run's config.

Where each tracker writes (docs/tracking.md):

- tensorboard: OUT/tensorboard/ (event files). A resumed run purges the steps after its checkpoint
  (SummaryWriter's `purge_step`), so TensorBoard shows what metrics.jsonl holds.
- wandb: OUT/wandb/ (unless WANDB_DIR is set), project `WANDB_PROJECT` or "arena", run named after the
  recipe; its id is kept in OUT/tracking.json so that `--resume` continues the same run. WANDB_MODE=offline
  keeps everything on the machine (`wandb sync` uploads it later).
- trackio: trackio's local store (TRACKIO_DIR, default ~/.cache/huggingface/trackio), project
  `TRACKIO_PROJECT` or "arena", run named after the recipe; `--resume` continues that run.

This module imports nothing heavy at import time: recipes validate `report_to` through `TrackerNames`.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena.errors import RecipeKeyError
from arena.io import atomic_write_text
from arena.schema import Check, Context, FieldError

# name -> the module its accelerate tracker imports (the package that must be installed).
TRACKERS: dict[str, str] = {"tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio"}
PROJECT = "arena"  # the W&B / trackio project unless WANDB_PROJECT / TRACKIO_PROJECT name another
STATE_FILE = "tracking.json"  # OUT/tracking.json: the ids a resumed run continues


@dataclass(frozen=True)
class TrackerNames(Check):
    """`training.report_to`: known tracker names whose packages are installed, checked when the recipe is
    read, so a missing package stops the run before any model loads."""

    def description(self) -> str:
        return f"a list of trackers ({', '.join(TRACKERS)})"

    def check(self, value: Any, key: str, context: Context) -> None:
        for name in value:
            if name not in TRACKERS:
                raise FieldError(key, f"expected trackers among {', '.join(TRACKERS)}, got '{name}'")
            if importlib.util.find_spec(TRACKERS[name]) is None:
                raise FieldError(
                    key,
                    f"expected installed trackers: '{name}' needs the {TRACKERS[name]} package "
                    f"(pip install {TRACKERS[name]}, or pip install 'arena[track]')",
                )
        if len(set(value)) != len(value):
            raise FieldError(key, f"expected each tracker once, got {list(value)}")


def make_trackers(names: list[str], run_name: str, out_dir: Path, resume: bool) -> list[Any]:
    """accelerate tracker objects for `Accelerator(log_with=...)`; none started yet (`start_tracking`)."""
    if not names:
        return []
    from accelerate.tracking import TensorBoardTracker, TrackioTracker, WandBTracker

    state = _read_state(out_dir) if resume else {}
    trackers: list[Any] = []
    for name in names:
        if name == "tensorboard":
            # The tracker writes to logging_dir/run_name: OUT/tensorboard.
            trackers.append(TensorBoardTracker("tensorboard", out_dir))
        elif name == "wandb":
            run_id = state.get("wandb") or secrets.token_hex(4)
            options = {"name": run_name, "id": run_id, "resume": "allow"}
            if not os.environ.get("WANDB_DIR"):
                options["dir"] = str(out_dir)
            trackers.append(WandBTracker(os.environ.get("WANDB_PROJECT", PROJECT), **options))
        elif name == "trackio":
            resume_mode = "allow" if "trackio" in state else "never"
            trackers.append(
                TrackioTracker(
                    os.environ.get("TRACKIO_PROJECT", PROJECT), name=run_name, resume=resume_mode, embed=False
                )
            )
    return trackers


def start_tracking(accelerator: Any, out_dir: Path, config: Mapping[str, Any], start_step: int) -> None:
    """On the main process: start the trackers given to the Accelerator, store the run's config, and keep
    the ids a resumed run continues in OUT/tracking.json. `start_step` is the checkpoint a resumed run
    starts from (0 for a new run): TensorBoard hides what was logged after it."""
    if not accelerator.log_with:
        return
    state: dict[str, str] = {}
    for tracker in accelerator.log_with:
        if tracker.name == "tensorboard" and start_step > 0:
            # The killed run may have logged steps after its checkpoint; they are logged again now.
            tracker.init_kwargs["purge_step"] = start_step + 1
        elif tracker.name == "wandb":
            state["wandb"] = tracker.init_kwargs["id"]
        elif tracker.name == "trackio":
            state["trackio"] = tracker.init_kwargs["name"]
    if state:
        atomic_write_text(out_dir / STATE_FILE, json.dumps(state, indent=2) + "\n")
    try:
        accelerator.init_trackers(PROJECT, config=flat_config(config))
    except Exception as exc:  # a tracker's own refusal (no W&B login, ...): one line, not its traceback
        package = type(exc).__module__.split(".")[0]
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        hint = " (offline: WANDB_MODE=offline)" if package == "wandb" else ""
        raise RecipeKeyError(
            "training.report_to", f"expected trackers that start; {package}: {reason}{hint}"
        ) from exc


def log_record(accelerator: Any, record: Mapping[str, Any]) -> None:
    """One record of metrics.jsonl, at its step, to every tracker (the main process only)."""
    if accelerator.trackers:
        accelerator.log(tracker_values(record), step=int(record["step"]))


def finish_tracking(accelerator: Any) -> None:
    """Close every tracker (flush and end the run). Not `accelerator.end_training()`: that also destroys
    the process group, which the loop still needs for its last barrier (`arena train` closes it after)."""
    for tracker in accelerator.trackers:
        tracker.finish()
    accelerator.trackers = []


def tracker_values(record: Mapping[str, Any]) -> dict[str, float]:
    """The scalars of a record: numbers as they are, lists of numbers one scalar each (named after the
    record's `actions` when it names them), text, nulls and non-finite numbers left out."""
    names = record.get("actions")
    values: dict[str, float] = {}
    for key, value in record.items():
        if key == "step":
            continue
        if isinstance(value, list):
            labels = names if isinstance(names, list) and len(names) == len(value) else range(len(value))
            for label, item in zip(labels, value, strict=True):
                if _is_number(item):
                    values[f"{key}/{label}"] = float(item)
        elif _is_number(value):
            values[key] = float(value)
    return values


def flat_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The resolved recipe as dotted keys with scalar values (what every tracker's config accepts)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_config(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = json.dumps(list(value))
        else:
            flat[name] = value
    return flat


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _read_state(out_dir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((out_dir / STATE_FILE).read_text()))
    except (OSError, ValueError):
        return {}
