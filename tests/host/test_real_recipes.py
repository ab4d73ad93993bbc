"""recipes/real/: real-model recipes (Qwen2.5-0.5B-Instruct, hub data) validate offline and state their GPU memory.

Nothing is downloaded: validation checks hub ids by their form. Stage 2 and 3 recipes read directories that
earlier stages write (runs/real/<stage>/final); validation requires local directories to exist, so the
test validates from a scratch directory where those outputs are stubbed, as after the earlier stages ran.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from arena.testing import run_arena

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "recipes" / "real"
RECIPES = sorted(p.name for p in REAL.glob("*.yaml"))
EXPECTED = {
    "sft.yaml": ("train", "real-sft"),
    "dpo.yaml": ("train", "real-dpo"),
    "ipo.yaml": ("train", "real-ipo"),
    "reward-model.yaml": ("judge", "real-reward-model"),
    "preference-model.yaml": ("judge", "real-preference-model"),
    "ppo.yaml": ("train", "real-ppo"),
    "nash-md.yaml": ("train", "real-nash-md"),
    "nash-md-7b.yaml": ("train", "real-nash-md-7b"),
    "online-ipo.yaml": ("train", "real-online-ipo"),
    "tournament.yaml": ("tournament", "real-cup"),
    "tournament-llm-judge.yaml": ("tournament", "real-cup-llm-judge"),
}
# Parameter counts from the models' safetensors (embeddings counted once: both tie or share them).
PARAMS = {"Qwen/Qwen2.5-0.5B-Instruct": 494_032_768, "Qwen/Qwen2.5-7B-Instruct": 7_615_616_512}
BASE = "Qwen/Qwen2.5-0.5B-Instruct"  # every runs/real/<stage>/final is trained from it
MEMORY = re.compile(r"^# Expected GPU memory: about (\d+(?:\.\d+)?) GB", re.MULTILINE)
GB = 1e9


def _header(name: str) -> str:
    lines = (REAL / name).read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines[: next(i for i, x in enumerate(lines) if not x.startswith("#"))])


def _recipe(name: str) -> dict:
    return yaml.safe_load((REAL / name).read_text(encoding="utf-8"))


def _produced() -> list[str]:
    """The directories stage 1 and 2 recipes write (`output`), each with the `final/` later stages read."""
    outputs = [_recipe(n)["output"] for n in RECIPES if _recipe(n)["kind"] in ("train", "judge")]
    return [f"{out}/final" for out in outputs]


def _models(recipe: dict) -> list[str]:
    """Every model a recipe loads: hub ids, or local paths (outputs of other real recipes)."""
    refs = [recipe.get(key) for key in ("policy", "reference", "backbone")]
    judge = recipe.get("judge")
    if isinstance(judge, dict):
        refs += [judge.get("args", {}).get("path"), judge.get("args", {}).get("model")]
    refs += [entrant["model"] for entrant in recipe.get("entrants", [])]
    return [ref for ref in refs if ref]


def _params(ref: str) -> int:
    if ref.startswith("runs/real/"):
        return PARAMS[BASE]
    return PARAMS[ref]


def test_the_real_recipes_are_the_expected_set() -> None:
    assert RECIPES == sorted(EXPECTED)
    for name, (kind, recipe_name) in EXPECTED.items():
        recipe = _recipe(name)
        assert (recipe["kind"], recipe["name"]) == (kind, recipe_name)


def test_every_real_recipe_validates_offline(tmp_path: Path) -> None:
    shutil.copytree(REAL, tmp_path / "recipes" / "real")
    for directory in _produced():
        (tmp_path / directory).mkdir(parents=True)
    files = [f"recipes/real/{name}" for name in RECIPES]
    result = run_arena(
        ["recipes", "validate", *files], cwd=tmp_path, env={"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(EXPECTED) == 11
    for name, (kind, recipe_name) in EXPECTED.items():
        assert f"recipes/real/{name}: ok ({kind} recipe '{recipe_name}')" in lines


def test_a_chained_recipe_alone_names_the_run_directory_it_misses(tmp_path: Path) -> None:
    """Validated together the chain passes (each later stage reads an earlier one's output); a later stage
    validated without the recipe that writes its input names the run directory it misses."""
    shutil.copytree(REAL, tmp_path / "recipes" / "real")
    env = {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    together = run_arena(
        ["recipes", "validate", *(f"recipes/real/{n}" for n in RECIPES)], cwd=tmp_path, env=env
    )
    assert together.returncode == 0, together.stderr
    chained = {
        "ppo.yaml",
        "nash-md.yaml",
        "nash-md-7b.yaml",
        "online-ipo.yaml",
        "tournament.yaml",
        "tournament-llm-judge.yaml",
    }
    for name in EXPECTED:
        alone = run_arena(["recipes", "validate", f"recipes/real/{name}"], cwd=tmp_path, env=env)
        if name in chained:
            assert alone.returncode == 2
            assert re.search(
                rf"recipes/real/{re.escape(name)}: .*no such .*'runs/real/[\w-]+/final'", alone.stderr
            )
        else:
            assert alone.returncode == 0, alone.stderr


def test_chained_paths_are_outputs_of_other_real_recipes() -> None:
    produced = set(_produced())
    for name in RECIPES:
        for ref in _models(_recipe(name)):
            assert ref in PARAMS or ref in produced, (
                f"{name}: {ref} is neither a known hub id nor a real output"
            )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_header_states_command_output_time_and_a_plausible_gpu_memory(name: str) -> None:
    header, recipe = _header(name), _recipe(name)
    command = "tournament" if recipe["kind"] == "tournament" else "train"
    assert f"#   arena {command} recipes/real/{name}\n" in header + "\n"
    assert "# Output: " in header and "Expected wall time (estimate)" in header
    match = MEMORY.search(header)
    assert match, f"{name}: no '# Expected GPU memory: about N GB' line"
    stated = float(match.group(1)) * GB
    largest = max(_params(ref) for ref in _models(recipe))
    if recipe["kind"] == "tournament":
        bound = 2 * largest  # bf16 weights of the largest model loaded (an entrant or the judge)
    elif recipe.get("lora"):
        # bf16 base weights (2 B/param; the reference is the same weights with the adapters off) and, with
        # generation.backend vllm, the engine's share of an 80 GB GPU.
        vllm = recipe.get("generation", {}).get("backend") == "vllm"
        engine = recipe["generation"].get("gpu_memory_utilization", 0.3) * 80 * GB if vllm else 0
        bound = 2 * _params(recipe["policy"]) + engine
    else:
        trained = _params(recipe.get("policy") or recipe["backbone"])
        # fp32 weights + gradients + AdamW's two moments: 16 B/param; a frozen fp32 reference adds 4.
        per_param = 16 + (4 if recipe.get("algorithm") not in (None, "sft") else 0)
        bound = per_param * trained
    assert bound <= stated <= 80 * GB, (
        f"{name}: {stated / GB} GB against a lower bound of {bound / GB:.1f} GB"
    )
    # The arithmetic is shown: the header names bytes per parameter.
    assert re.search(r"\d+ B/param", header), f"{name}: no bytes-per-parameter arithmetic"
