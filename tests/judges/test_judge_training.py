"""`arena train` on judge recipes: a task's pairs, and `--resume` on the shared loop, bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from arena.testing import run_arena
from tests.judges.conftest import REPO, THREADS, build_judge

pytestmark = pytest.mark.slow  # trains judges through `arena train`

MODEL = REPO / "recipes/games/model"


def test_judge_recipe_trains_on_a_tasks_pairs(tmp_path: Path) -> None:
    recipe = (
        f"kind: judge\nname: pm\njudge: preference-model\nbackbone: {MODEL}\ntask: order3\n"
        "training: {steps: 3, batch_size: 3, log_every: 1}\n"
    )
    (tmp_path / "recipe.yaml").write_text(recipe)
    result = run_arena(["train", "recipe.yaml"], cwd=tmp_path, env=THREADS)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "runs" / "pm"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["examples"] == 3 and summary["eval"] is None  # the game's 3 pairs; no held-out split
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [
        1,
        2,
        3,
    ]
    config = json.loads((out / "final" / "config.json").read_text())
    assert config["architectures"] == ["LlamaForSequenceClassification"] and config["id2label"] == {
        "0": "LABEL_0"
    }
    assert config["arena_judge"]["judge"] == "preference-model"
    judge = build_judge("preference-model", path=str(out / "final"))
    assert judge.compare(["Pick one:"], [" red"], [" red"]) == [0.5]


def test_resumed_judge_training_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    """Steps 1-2, then --resume to step 4, against 4 steps at once (warm-up spans all 4 steps, so the
    learning rate does not depend on training.steps)."""

    def train(out: str, steps: int, *extra: str) -> None:
        sets = [
            f"output={tmp_path / out}",
            f"training.steps={steps}",
            "training.save_every=2",
            "data.limit=40",
        ]
        args = [item for s in sets for item in ("--set", s)]
        result = run_arena(
            ["train", "recipes/judges/reward-model.yaml", *args, *extra], cwd=REPO, env=THREADS
        )
        assert result.returncode == 0, result.stderr

    train("whole", 4)
    train("parts", 2)
    train("parts", 4, "--resume")
    whole = load_file(tmp_path / "whole" / "final" / "model.safetensors")
    parts = load_file(tmp_path / "parts" / "final" / "model.safetensors")
    assert set(whole) == set(parts) and all((whole[k] == parts[k]).all() for k in whole)
    summary = json.loads((tmp_path / "parts" / "summary.json").read_text())
    assert summary["resumed_from_step"] == 2
    assert summary["eval"] == json.loads((tmp_path / "whole" / "summary.json").read_text())["eval"]
    assert summary["examples"] + summary["eval"]["pairs"] == 40
