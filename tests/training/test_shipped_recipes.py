"""The recipes in recipes/ validate, and a shipped game recipe reaches its known answer from the repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.testing import run_arena

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted(str(p.relative_to(REPO)) for p in (REPO / "recipes").rglob("*.yaml"))


def test_every_shipped_recipe_validates() -> None:
    assert RECIPES, "no recipes found"
    result = run_arena(["recipes", "validate", *RECIPES], cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(RECIPES)


@pytest.mark.slow
def test_shipped_order3_ipo_recipe_reaches_the_exact_minimiser(tmp_path: Path) -> None:
    out = tmp_path / "order3"
    result = run_arena(
        ["train", "recipes/games/order3-ipo.yaml", "--set", f"output={out}"], cwd=REPO, env={"OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stderr
    final = json.loads((out / "summary.json").read_text())["final"]
    assert final["action_probs"] == pytest.approx([0.9644, 0.0344, 0.0012], abs=1e-3)
