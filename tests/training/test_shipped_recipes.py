"""The recipes in recipes/ validate, and a shipped game recipe reaches its known answer from the repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.testing import run_arena

REPO = Path(__file__).resolve().parents[2]
# recipes/accelerate/ holds accelerate config files, not recipes. recipes/quickstart/ starts from a model
# that `arena quickstart` builds: its chain is validated by `arena quickstart --dry-run` (tests/quickstart).
# recipes/served/ starts from a model `arena init-model` builds and a running `vllm serve`:
# tests/tournament/test_served_example.py runs it exactly as its README says.
NOT_RECIPES = ("accelerate", "quickstart", "served")
RECIPES = sorted(
    str(p.relative_to(REPO))
    for p in (REPO / "recipes").rglob("*.yaml")
    if p.relative_to(REPO / "recipes").parts[0] not in NOT_RECIPES
)


def test_every_shipped_recipe_validates() -> None:
    """All at once, as a chain: a recipe may read a model that another one given with it writes."""
    assert RECIPES, "no recipes found"
    result = run_arena(["recipes", "validate", *RECIPES], cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(RECIPES)


@pytest.mark.slow
def test_shipped_order3_ipo_recipe_reaches_the_exact_minimiser(tmp_path: Path) -> None:
    out = tmp_path / "order3"
    result = run_arena(
        ["train", "recipes/games/order3-ipo.yaml", "--set", f"output={out}"],
        cwd=REPO,
        env={"OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    final = json.loads((out / "summary.json").read_text())["final"]
    assert final["action_probs"] == pytest.approx([0.9644, 0.0344, 0.0012], abs=1e-3)


@pytest.mark.slow
def test_shipped_rps_tournament_reproduces_the_published_leaderboard(tmp_path: Path) -> None:
    """Generation is seeded and the oracle exact: a rerun equals the committed leaderboards/rps-cup files.

    On any CPU, not only the one that published them: the win rates count 256 one-token draws, and a draw
    changes only where another CPU's float32 rounding (1e-7 relative) changes which token the same random
    numbers pick, odds of about 3e-5 for the whole tournament (it passes with vectorised kernels off too:
    `make test-isa`). The Nash weights are float64 solves of the same win rates: equal to 1e-9."""
    result = run_arena(
        [
            "tournament",
            "recipes/tournament/rps-cup.yaml",
            "--set",
            f"output={tmp_path / 'run'}",
            "--set",
            f"publish_to={tmp_path / 'board'}",
        ],
        cwd=REPO,
        env={"OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    fresh = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    published = json.loads((REPO / "leaderboards" / "rps-cup" / "leaderboard.json").read_text())
    assert fresh["winrates"] == published["winrates"]
    weights = {row["model"]: row["nash_weight"] for row in fresh["models"]}
    assert weights == pytest.approx(
        {row["model"]: row["nash_weight"] for row in published["models"]}, abs=1e-9
    )
    # The copy of rock splits rock's Nash weight; Elo ranks paper (who beats both rocks) first, while the
    # Nash equilibrium gives scissors the largest weight.
    assert weights["rock"] == pytest.approx(weights["rock-copy"], abs=1e-9)
    elo = {row["model"]: row["elo"] for row in fresh["models"]}
    assert max(elo, key=elo.get) == "paper" and max(weights, key=weights.get) == "scissors"
