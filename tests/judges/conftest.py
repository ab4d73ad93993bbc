"""Judges trained once per session through `arena train`, as a user trains them.

The preference and reward models come from the shipped recipes (recipes/judges/, on the committed tiny
model recipes/games/model), so these tests also show that the recipes run from a clone. The LLM judge is
the same tiny model taught by SFT to answer "A" or "B" for whichever response says "yes".
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from arena.plugins import make_plugin_host
from arena.schema import convert
from arena.testing import run_arena
from arena_plugins.judges import DEFAULT_TEMPLATE

REPO = Path(__file__).resolve().parents[2]
THREADS = {"OMP_NUM_THREADS": "1"}


@dataclass(frozen=True)
class TrainedJudge:
    path: Path  # OUT/final
    summary: dict[str, Any]
    stdout: str


# Each judge takes a minute to train and is trained once per worker: under `pytest -n 2` every test that uses
# one joins that judge's xdist_group, so it runs on the worker that trained it (--dist loadgroup). The
# preference and reward models train on one worker, the LLM judge possibly on the other.
JUDGE_GROUPS = {
    "preference_model": "trained-judges",
    "reward_model": "trained-judges",
    "llm_judge_model": "llm-judge",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for group in sorted(
            {JUDGE_GROUPS[f] for f in getattr(item, "fixturenames", ()) if f in JUDGE_GROUPS}
        ):
            item.add_marker(pytest.mark.xdist_group(group))


def build_judge(name: str, **args: Any) -> Any:
    """A judge as a recipe's `judge: {name, args}` builds it: args checked by the plugin's config."""
    entry = make_plugin_host(warn=lambda message: None).judges.get(name)
    return entry.build(convert(args, entry.config, "judge.args"))


def train_recipe(recipe: str, out: Path, *overrides: str) -> TrainedJudge:
    sets = [item for override in (f"output={out}", *overrides) for item in ("--set", override)]
    result = run_arena(["train", recipe, *sets], cwd=REPO, env=THREADS)
    assert result.returncode == 0, result.stderr
    return TrainedJudge(out / "final", json.loads((out / "summary.json").read_text()), result.stdout)


@pytest.fixture(scope="session")
def preferences() -> ModuleType:
    """recipes/judges/make_preferences.py: the edges, prompt templates and phrasings of the shipped data."""
    spec = importlib.util.spec_from_file_location(
        "make_preferences", REPO / "recipes/judges/make_preferences.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def preference_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedJudge:
    out = tmp_path_factory.mktemp("judges") / "preference-model"
    return train_recipe("recipes/judges/preference-model.yaml", out)


@pytest.fixture(scope="session")
def reward_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedJudge:
    out = tmp_path_factory.mktemp("judges") / "reward-model"
    return train_recipe("recipes/judges/reward-model.yaml", out)


SFT_RECIPE = """\
kind: train
name: llm-judge
algorithm: sft
policy: {model}
data: {data}
output: {out}
training: {{steps: 150, batch_size: 16, learning_rate: 0.003, warmup_steps: 10, max_length: 128, log_every: 50}}
"""


@pytest.fixture(scope="session")
def llm_judge_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model taught to answer the default template with the letter of the response saying "yes"."""
    root = tmp_path_factory.mktemp("llm-judge")
    rows = []
    for n in range(1, 41):
        prompt = f"Question {n}: is it true?"
        for first, second, answer in (("yes", "no", "A"), ("no", "yes", "B")):
            question = DEFAULT_TEMPLATE.format(prompt=prompt, response_a=first, response_b=second)
            rows.append({"prompt": question, "completion": answer})
    (root / "sft.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    recipe = root / "sft.yaml"
    recipe.write_text(
        SFT_RECIPE.format(model=REPO / "recipes/games/model", data=root / "sft.jsonl", out=root / "run")
    )
    result = run_arena(["train", str(recipe)], cwd=root, env=THREADS)
    assert result.returncode == 0, result.stderr
    return root / "run" / "final"
