"""A tiny model built on the task's corpus learns the form by SFT through `arena train`, as the quickstart's
reference policy will: from no well-formed response at all to most of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.testing import run_arena
from arena.tiny import build_tiny_model
from arena_plugins.moves.task import MovesTask

RECIPE = """\
kind: train
name: moves-sft
algorithm: sft
policy: {model}
task: {{name: moves, args: {{sft_rows: 2000}}}}
training: {{steps: 150, batch_size: 16, learning_rate: 0.003, schedule: constant, log_every: 150}}
output: {output}
"""


@pytest.mark.slow
def test_sft_on_the_task_corpus_makes_the_policy_well_formed(tmp_path: Path) -> None:
    task = MovesTask()
    model = build_tiny_model(tmp_path / "model", task.corpus(2000), seed=0)
    before = task.report(task.sample(model, samples=128))
    recipe = tmp_path / "sft.yaml"
    recipe.write_text(RECIPE.format(model=model, output=tmp_path / "sft"))
    result = run_arena(["train", str(recipe)], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    after = task.report(task.sample(tmp_path / "sft" / "final", samples=128))
    print(f"well-formed share: random {before.well_formed:.3f}, after SFT {after.well_formed:.3f}; {after}")
    assert before.well_formed == 0.0 and before.exploitability is None
    assert after.well_formed >= 0.5  # the corpus has 0.7; 150 steps of 16 rows get most of the way
    # The SFT'd policy plays the reference's skew: Rock (mu = 0.6) most.
    probs = after.move_probs
    assert probs is not None and probs[0] > 0.45 and probs[0] > max(probs[1], probs[2])
    assert after.exploitability is not None and 0 < after.exploitability < 0.05
    # The Trainer logged the task's diagnostics (at tau = args.tau: SFT has no KL coefficient).
    final = json.loads((tmp_path / "sft" / "summary.json").read_text())["final"]
    assert set(final) >= {"move_probs", "malformed", "exploitability"}
    assert 0 <= final["malformed"] <= 0.5 and len(final["move_probs"]) == 3
