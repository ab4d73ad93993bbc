"""`arena train` refuses bad recipes and bad data before training, with one line and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.testing import run_arena

RECIPE = """\
kind: train
name: run
algorithm: dpo
args: {{beta: {beta}}}
policy: {model}
data: {data}
training: {{steps: 1, batch_size: {batch}, gradient_accumulation: 2}}
"""


def write(
    tmp_path: Path, model: Path, *, beta: str = "0.1", data: str = "pairs.jsonl", batch: int = 2
) -> None:
    rows = [{"prompt": "The cat", "good": "sat.", "bad": "ran."}] * 2
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "recipe.yaml").write_text(RECIPE.format(beta=beta, model=model, data=data, batch=batch))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"beta": "-0.1"}, "args.beta: expected a value > 0, got -0.1"),
        (
            {"data": "missing.jsonl"},
            "data.path: no such data file or directory 'missing.jsonl' (nor a hub id)",
        ),
        (
            {},
            "data.columns.chosen: column 'chosen' not in 'pairs.jsonl' (columns: prompt, good, bad)",
        ),
        (
            {"batch": 3},
            "training.batch_size: expected a multiple of gradient_accumulation x processes = 2, got 3",
        ),
    ],
)
def test_bad_recipe_fails_before_training(
    tmp_path: Path, game_model_dir: Path, changes: dict, expected: str
) -> None:
    write(tmp_path, game_model_dir, **changes)
    result = run_arena(["train", "recipe.yaml"], cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, f"recipe.yaml: {expected}\n")
    assert not (tmp_path / "runs").exists()  # nothing written


def test_renamed_columns_are_read(tmp_path: Path, game_model_dir: Path) -> None:
    write(tmp_path, game_model_dir)
    result = run_arena(
        ["train", "recipe.yaml", "--set", "data.columns={chosen: good, rejected: bad}"], cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "runs" / "run" / "summary.json").read_text())
    assert summary["examples"] == 2 and summary["truncated_examples"] == 0
    # The first step starts at the reference: every margin is 0, so the DPO loss is log 2.
    first = json.loads((tmp_path / "runs" / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert first["loss"] == pytest.approx(0.6931471805599453, abs=1e-6)
