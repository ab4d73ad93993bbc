"""training.report_to: TensorBoard, W&B (offline) and trackio (local store) receive exactly the records of
metrics.jsonl at their steps, the resolved recipe as the run's config, and a resumed run continues them.
Nothing leaves the machine: WANDB_MODE=offline, TRACKIO_DIR in the test's folder."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from arena.errors import RecipeError
from arena.recipes import parse_recipe
from arena.testing import run_arena
from arena.training import tracking
from arena.training.checkpoint import latest_checkpoint
from arena.training.metrics import read_metrics
from arena.training.tracking import flat_config, tracker_values

REPO = Path(__file__).resolve().parents[2]
STEPS, LOG_EVERY, SAVE_EVERY = 6, 2, 2
TRAIN = {
    "kind": "train",
    "name": "tracked",
    "algorithm": "ipo",
    "args": {"tau": 0.1},
    "policy": str(REPO / "recipes" / "games" / "model"),
    "task": "cycle3",
    "training": {"steps": STEPS, "batch_size": 3, "learning_rate": 0.05, "schedule": "constant",
                 "log_every": LOG_EVERY, "save_every": SAVE_EVERY, "device": "cpu", "precision": "fp32"},
}  # fmt: skip


def test_tracker_values_flatten_lists_by_action_and_leave_out_text_and_nulls() -> None:
    record = {"step": 4, "loss": 0.5, "margin": None, "accuracy": 1, "actions": ["rock", "paper"],
              "action_probs": [0.25, 0.75], "equilibrium": [0.5, 0.5], "note": "x", "kl": float("nan")}  # fmt: skip
    assert tracker_values(record) == {
        "loss": 0.5,
        "accuracy": 1.0,
        "action_probs/rock": 0.25,
        "action_probs/paper": 0.75,
        "equilibrium/rock": 0.5,
        "equilibrium/paper": 0.5,
    }
    assert tracker_values({"step": 1, "move_probs": [0.1, 0.9]}) == {"move_probs/0": 0.1, "move_probs/1": 0.9}
    assert flat_config({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": 1, "a.c": "[1, 2]", "d": None}


def test_an_unknown_tracker_is_one_line_before_anything_is_written(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(json.dumps({**TRAIN, "output": str(tmp_path / "run")}))
    result = run_arena(["train", str(recipe), "--set", "training.report_to=[tensorbord]"], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"{recipe}: training.report_to: expected trackers among tensorboard, wandb, trackio, got 'tensorbord'"
    )
    assert not (tmp_path / "run").exists()


def test_a_tracker_whose_package_is_missing_is_refused_on_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from arena.plugins import make_plugin_host

    host = make_plugin_host(environ={}, warn=lambda message: None)
    real = tracking.importlib.util.find_spec
    monkeypatch.setattr(
        tracking.importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    raw = {**TRAIN, "training": {**TRAIN["training"], "report_to": ["tensorboard", "wandb"]}}
    with pytest.raises(RecipeError) as caught:
        parse_recipe("recipe.yaml", raw, registries=host.registries)
    assert caught.value.key == "training.report_to"
    assert "'wandb' needs the wandb package (pip install wandb" in str(caught.value)
    raw["training"]["report_to"] = ["tensorboard", "tensorboard"]
    with pytest.raises(RecipeError, match="expected each tracker once"):
        parse_recipe("recipe.yaml", raw, registries=host.registries)


def test_a_tracker_that_cannot_start_is_one_line(tmp_path: Path) -> None:
    """W&B online without a login: its refusal is one line on the key, not wandb's traceback."""
    recipe = tmp_path / "recipe.yaml"
    raw = {**TRAIN, "output": str(tmp_path / "run")}
    raw["training"] = {**TRAIN["training"], "steps": 1, "report_to": ["wandb"]}
    recipe.write_text(json.dumps(raw))
    env = {
        "WANDB_MODE": "online",
        "WANDB_API_KEY": "",
        "HOME": str(tmp_path),
        "WANDB_CONFIG_DIR": str(tmp_path),
    }
    result = run_arena(["train", str(recipe)], cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"{recipe}: training.report_to: expected trackers that start; wandb: No API key configured. "
        "Use `wandb login` to log in. (offline: WANDB_MODE=offline)"
    )
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run logged to all three trackers, its final checkpoint removed and resumed from step 4: the
    resumed run logs step 6 again."""
    root = tmp_path_factory.mktemp("tracked")
    out, store = root / "run", root / "trackio"
    recipe = root / "recipe.yaml"
    raw = {**TRAIN, "output": str(out)}
    raw["training"] = {**TRAIN["training"], "report_to": ["tensorboard", "wandb", "trackio"]}
    recipe.write_text(json.dumps(raw))
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "TRACKIO_DIR": str(store),
           "TRACKIO_PROJECT": "arena-test", "WANDB_PROJECT": "arena-test"}  # fmt: skip
    first = run_arena(["train", str(recipe)], cwd=root, env=env)
    assert first.returncode == 0, first.stderr
    checkpoint = latest_checkpoint(out)
    assert checkpoint is not None and checkpoint.step == STEPS
    shutil.rmtree(checkpoint.path)
    resumed = run_arena(["train", str(recipe), "--resume"], cwd=root, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "summary.json").read_text())["resumed_from_step"] == STEPS - SAVE_EVERY
    return out, store


def test_tensorboard_holds_the_records_of_metrics_jsonl(tracked_run: tuple[Path, Path]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, _ = tracked_run
    records = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in records] == [2, 4, 6]
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    expected = {step["step"]: tracker_values(step) for step in records}
    tags = set(events.Tags()["scalars"])
    assert tags == set(expected[2]) and "action_probs/rock" in tags and "equilibrium/paper" in tags
    for tag in tags:
        # The resumed run purged the step-6 values of the first run: one value per step, the resumed one.
        logged = [(event.step, event.value) for event in events.Scalars(tag)]
        assert logged == [(step, np.float32(values[tag])) for step, values in expected.items()], tag


def _wandb_records(path: Path) -> list[Any]:
    """The protobuf records of a .wandb file: LevelDB's log format (32 KiB blocks of chunks, each a 7-byte
    header: CRC, length, type) after the 7-byte W&B header. wandb offers no reader of offline runs."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, pending, position, block = [], b"", 7, 32768
    while position + 7 <= len(data):
        if block - position % block < 7:  # a block's tail too short for a header is padding
            position += block - position % block
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        chunk = data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (2, 3):  # first, middle
            pending += chunk
            continue
        payload, pending = (pending + chunk if kind == 4 else chunk), b""
        if kind in (1, 4):  # full, last
            record = wandb_internal_pb2.Record()
            record.ParseFromString(payload)
            records.append(record)
    return records


def test_wandb_offline_runs_hold_the_config_and_every_record(tracked_run: tuple[Path, Path]) -> None:
    out, _ = tracked_run
    run_id = json.loads((out / "tracking.json").read_text())["wandb"]
    files = sorted((out / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
    assert len(files) == 2  # the first run and the resumed one, the same W&B run id
    history: dict[int, dict[str, float]] = {}
    for file in files:  # in time order: the resumed run's step 6 replaces the first run's
        for record in _wandb_records(file):
            kind = record.WhichOneof("record_type")
            if kind == "history":
                items = {
                    "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item
                }
                history[record.history.step.num] = {k: v for k, v in items.items() if not k.startswith("_")}
            elif kind == "config":
                config = {item.key: json.loads(item.value_json) for item in record.config.update}
                assert config["training.learning_rate"] == 0.05 and config["task.name"] == "cycle3"
                assert config["training.report_to"] == '["tensorboard", "wandb", "trackio"]'
    records = read_metrics(out / "metrics.jsonl")
    assert history == {record["step"]: tracker_values(record) for record in records}


def test_trackio_local_store_holds_every_record(tracked_run: tuple[Path, Path]) -> None:
    out, store = tracked_run
    assert (store / "arena-test.db").is_file()
    found = _trackio_logs(store)
    records = read_metrics(out / "metrics.jsonl")
    # Each step's values as last logged (the resumed run logs step 6 again, in the same trackio run).
    last: dict[int, dict[str, Any]] = {}
    for log in found:
        last.setdefault(log["step"], {}).update(log)
    assert sorted(last) == [2, 4, 6]
    for record in records:
        values = tracker_values(record)
        assert {k: last[record["step"]][k] for k in values} == values


def _trackio_logs(store: Path) -> list[dict[str, Any]]:
    """trackio's own reader of its store, in a subprocess: trackio reads TRACKIO_DIR once, at import."""
    import os
    import subprocess
    import sys

    code = (
        "import json; from trackio.sqlite_storage import SQLiteStorage as S; "
        "print(json.dumps(S.get_logs('arena-test', 'tracked'), default=str))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "TRACKIO_DIR": str(store)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_two_processes_log_once_from_the_main_process(tmp_path: Path) -> None:
    """Under `accelerate launch` (two gloo processes) only the main process writes: one TensorBoard event
    file and one W&B run, holding metrics.jsonl's records."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = str(REPO / "recipes" / "accelerate" / "cpu-2proc.yaml")
    recipe = tmp_path / "recipe.yaml"
    raw = {**TRAIN, "output": str(tmp_path / "run")}
    raw["training"] = {**TRAIN["training"], "steps": 4, "batch_size": 4, "save_every": 0,
                       "report_to": ["tensorboard", "wandb"]}  # fmt: skip
    recipe.write_text(json.dumps(raw))
    env = {"OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    launch = ["--launcher", "accelerate", "--accelerate-config", config]
    result = run_arena(["train", str(recipe), *launch], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "run"
    assert json.loads((out / "summary.json").read_text())["processes"] == 2
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 1
    assert len(list((out / "wandb").glob("offline-run-*"))) == 1
    records = read_metrics(out / "metrics.jsonl")
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    logged = [(event.step, event.value) for event in events.Scalars("loss")]
    assert logged == [(r["step"], np.float32(r["loss"])) for r in records] and len(records) == 2
