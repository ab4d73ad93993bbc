"""benchmarks/algorithms.py's pure parts, without training: curves read from hand-written metrics.jsonl,
the game table against pi*_tau solved here from its defining equation, the files and plot written, the
README's numbers from the files beside it, and every planned recipe valid for `arena train`."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# algorithms.py imports its helpers by their plain names from its folder; the folder leaves sys.path
# again afterwards, so that benchmarks/*.py never shadow a module of the same name in other tests.
_PATH = list(sys.path)
sys.path.insert(0, str(BENCHMARKS))
try:
    board = _load("algorithms_board")
    plans = _load("algorithms_plans")
    script = _load("algorithms")
finally:
    sys.path[:] = _PATH

# raters3 (plugins/arena_plugins/games): P(red > green) = w1 + w3, P(green > blue) = w1 + w2,
# P(blue > red) = w2 + w3 with w = (0.40, 0.35, 0.25); uniform mu; its Nash equilibrium (0.5, 0.2, 0.3).
P = np.array([[0.5, 0.65, 0.4], [0.35, 0.5, 0.75], [0.6, 0.25, 0.5]])
MU = np.full(3, 1 / 3)
TAU = 0.1


def pi_star() -> np.ndarray:
    """pi = softmax(log mu + P pi / tau), solved here by damped fixed-point steps (the test below checks
    that the equation holds)."""
    pi = MU.copy()
    for _ in range(20000):
        logits = np.log(MU) + P @ pi / TAU
        new = np.exp(logits - logits.max())
        new /= new.sum()
        pi = 0.9 * pi + 0.1 * new
    return pi


def exploitability(pi: np.ndarray) -> float:
    """tau log sum_y mu(y) exp((P pi)_y / tau) + tau KL(pi || mu) - 1/2, from its definition."""
    return float(TAU * np.log(np.sum(MU * np.exp(P @ pi / TAU))) + TAU * np.sum(pi * np.log(pi / MU)) - 0.5)


def circling_records(star: np.ndarray, radius: float) -> list[dict[str, Any]]:
    """Logged iterates circling `star` in the simplex's plane, one turn per 4 logs, plus lines without a
    distribution (as a training log has) and out of order."""
    u = np.array([1.0, -1.0, 0.0]) / np.sqrt(2)
    v = np.array([1.0, 1.0, -2.0]) / np.sqrt(6)
    rows: list[dict[str, Any]] = []
    for k in range(1, 17):
        angle = np.pi / 2 * k
        probs = star + radius * (np.cos(angle) * u + np.sin(angle) * v)
        rows.append({"step": 10 * k, "loss": 0.1, "action_probs": probs.tolist(), "actions": ["r", "g", "b"]})
    rows.insert(3, {"step": 35, "loss": 0.2})  # a step logged without a distribution
    rows[5], rows[6] = rows[6], rows[5]
    return rows


def write_metrics(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_pi_star_here_is_the_fixed_point() -> None:
    star = pi_star()
    logits = np.log(MU) + P @ star / TAU
    assert np.allclose(star, np.exp(logits) / np.exp(logits).sum(), atol=1e-12)
    game = board.game_named("raters3", TAU)
    assert np.allclose(game.preferences, P) and np.allclose(game.reference, MU)
    assert np.max(np.abs(game.equilibrium() - star)) < 1e-9
    assert np.allclose(game.nash(), [0.5, 0.2, 0.3], atol=1e-9)


def test_own_targets_are_the_published_points() -> None:
    """KNOWN_ANSWERS.md section 2 on the dice at tau 0.1: IPO-MD's mixture point at beta 0.5 and offline
    IPO's limit on pairs sampled from mu."""
    dice = board.game_named("dice", 0.1)
    assert board.mixture_point(dice, 0.5) == pytest.approx([0.6522, 0.2252, 0.1226], abs=1e-4)
    assert board.population_ipo_limit(dice) == pytest.approx([0.6600, 0.2237, 0.1163], abs=1e-4)
    raters3 = board.game_named("raters3", TAU)
    weights = MU * np.exp(P @ MU / TAU)
    assert np.allclose(board.population_ipo_limit(raters3), weights / weights.sum(), atol=1e-12)


def test_read_curve_keeps_the_logged_distributions_in_step_order(tmp_path: Path) -> None:
    star = pi_star()
    curve = board.read_curve(write_metrics(tmp_path / "m.jsonl", circling_records(star, 0.02)))
    assert curve.steps.tolist() == list(range(10, 170, 10))
    assert curve.probs.shape == (16, 3)
    assert np.allclose(curve.probs.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="action_probs: expected at least one"):
        board.read_curve(write_metrics(tmp_path / "none.jsonl", [{"step": 1, "loss": 0.0}]))


def test_summary_row_exposes_a_circling_last_iterate(tmp_path: Path) -> None:
    star, radius = pi_star(), 0.02
    curve = board.read_curve(write_metrics(tmp_path / "m.jsonl", circling_records(star, radius)))
    row = board.summary_row("sppo", curve, board.game_named("raters3", TAU), "none", 12.34)
    last = np.array(curve.probs[-1])
    assert row["final_distance"] == pytest.approx(np.max(np.abs(last - star)), abs=1e-12)
    assert row["final_distance"] > 0.01
    assert row["final_exploitability"] == pytest.approx(exploitability(last), abs=1e-10)
    # the last quarter (steps > 120: 130..160) is one whole turn: its mean is the centre
    assert row["tail_mean_distance"] < 1e-9
    assert row["tail_mean_exploitability"] == pytest.approx(exploitability(star), abs=1e-10)
    tail = curve.probs[curve.steps > 120]
    assert len(tail) == 4
    assert row["tail_spread"] == pytest.approx(np.max(np.abs(tail - star)), abs=1e-12)
    assert row["final_distance_to_nash_of_P"] == pytest.approx(
        np.max(np.abs(last - [0.5, 0.2, 0.3])), abs=1e-12
    )
    assert row["seconds"] == 12.3 and row["steps"] == 160
    assert row["final_distance_to_own_target"] is None
    own = board.summary_row("inpo", curve, board.game_named("raters3", TAU), "pi*_tau", None, star)
    assert own["final_distance_to_own_target"] == pytest.approx(row["final_distance"], abs=1e-12)


def test_tables_and_plot_are_written(tmp_path: Path) -> None:
    star = pi_star()
    game = board.game_named("raters3", TAU)
    settled = board.read_curve(write_metrics(tmp_path / "a.jsonl", circling_records(star, 0.0)))
    circling = board.read_curve(write_metrics(tmp_path / "b.jsonl", circling_records(star, 0.05)))
    rows = [
        board.summary_row("inpo", settled, game, "pi*_tau", 1.0),
        board.summary_row("sppo", circling, game, "none: not a regularised Nash method", 2.0),
    ]
    board.write_table(rows, game, tmp_path / "pub")
    with (tmp_path / "pub" / "raters3.csv").open() as stream:
        read = list(csv.DictReader(stream))
    assert [r["algorithm"] for r in read] == ["inpo", "sppo"]
    assert float(read[1]["final_distance"]) == pytest.approx(rows[1]["final_distance"])
    document = json.loads((tmp_path / "pub" / "raters3.json").read_text())
    assert document["equilibrium"] == pytest.approx(star.tolist(), abs=1e-9)
    assert document["nash_of_P"] == pytest.approx([0.5, 0.2, 0.3], abs=1e-9)
    markdown = (tmp_path / "pub" / "raters3.md").read_text().splitlines()
    assert len(markdown) == 4 and markdown[2].startswith("| inpo | pi*_tau |  | (0.439, 0.322, 0.238) |")
    reading = board.game_reading(rows)
    assert reading[0].startswith(
        "Of the 1 methods whose target is pi*_tau, 1 end within 0.03 of it: inpo 0.0000"
    )
    assert f"sppo {rows[1]['tail_spread']:.4f}" in reading[2]
    board.plot_game({"inpo": settled, "sppo": circling}, game, tmp_path / "pub" / "raters3.png")
    image = (tmp_path / "pub" / "raters3.png").read_bytes()
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(image[16:20], "big"), int.from_bytes(image[20:24], "big")
    assert (width, height) == (1500, 500)


def test_readme_reads_its_numbers_from_the_files_beside_it(tmp_path: Path) -> None:
    star = pi_star()
    game = board.game_named("raters3", TAU)
    curve = board.read_curve(write_metrics(tmp_path / "a.jsonl", circling_records(star, 0.01)))
    rows = [board.summary_row("nash-md", curve, game, "pi*_tau", 5.0)]
    moves_dir = tmp_path / "moves"
    moves_dir.mkdir()
    models = [
        {"rank": 1, "model": "nash-md", "nash_rating": 0.0, "nash_rating_ci_low": -0.01, "nash_rating_ci_high": 0.0,
         "elo": 1050.0, "elo_ci_low": 1040.0, "elo_ci_high": 1060.0, "win_rate": 0.62, "tied_for_top": True},
        {"rank": 2, "model": "reference", "nash_rating": -0.2, "nash_rating_ci_low": -0.3, "nash_rating_ci_high": -0.1,
         "elo": 950.0, "elo_ci_low": 940.0, "elo_ci_high": 960.0, "win_rate": 0.38, "tied_for_top": False},
    ]  # fmt: skip
    (moves_dir / "leaderboard.json").write_text(json.dumps({"models": models}))
    entrants = [
        {
            "model": "reference",
            "malformed": 0.25,
            "rock": 0.6,
            "scissors": 0.3,
            "paper": 0.1,
            "exploitability": 0.2,
        },
        {
            "model": "nash-md",
            "malformed": 0.05,
            "rock": 0.4,
            "scissors": 0.25,
            "paper": 0.35,
            "exploitability": 0.03,
        },
    ]
    (moves_dir / "moves.json").write_text(
        json.dumps({"moves": ["Rock", "Scissors", "Paper"], "entrants": entrants})
    )
    nash_md = next(plan for plan in plans.ALGORITHMS if plan.algorithm == "nash-md")
    text = board.readme_text(
        command="python benchmarks/algorithms.py",
        machine="x86_64, 2 cores",
        wall_seconds=600.0,
        plans=[nash_md],
        taus={"raters3": TAU},
        games={"raters3": {"game": game, "rows": rows}},
        game_budget=plans.GAME_BUDGET,
        offline_pairs="pairs: population",
        moves_budget=plans.MOVES_BUDGET,
        moves_dir=moves_dir,
        moves={
            "seconds": {"moves/nash-md": 30.0},
            "summary": {"entrants": ["reference", "nash-md"], "matches": 512, "prompts": 32, "backend": "hf"},
            "recipe": "runs/algorithms/moves/tournament.yaml",
        },  # fmt: skip
        stages="runs/quickstart",
        missing=["egpo"],
        unplanned=[],
    )
    assert (
        "- Wall time: 600 s (10.0 min) for the whole command; runs reused from an earlier invocation" in text
    )
    assert "made them): none\n" in text
    assert "not registered in this checkout, so not run: egpo" in text
    assert "pi*_tau = (0.439, 0.322, 0.238), Nash equilibrium of P = (0.500, 0.200, 0.300)" in text
    assert board.markdown_table(rows) in text
    ratings = "| 1 | nash-md | 0.0000 [-0.0100, 0.0000] | 1050.0 [1040.0, 1060.0] | yes | 0.620 |"
    assert (
        f"{ratings} 0.400 | 0.250 | 0.350 | 0.050 | 0.030 |" in text
    )  # moves.json's numbers beside the ratings
    assert "1 of 1 trained policies have an Elo interval wholly above its" in text
    assert "lowest nash-md 0.0300, highest reference 0.2000" in text
    assert "most reference 0.250, fewest nash-md 0.050; the reference 0.250." in text
    assert (
        "| nash-md | {tau: 0.1, beta: 0.0} | 0.0006 | pi*_tau | {tau: 0.1, beta: 0.125} | preference-model |"
        in text
    )


def test_every_plan_targets_the_games_tau_and_makes_a_valid_recipe(tmp_path: Path) -> None:
    from arena.plugins import make_plugin_host
    from arena.recipes import load_recipe

    host = make_plugin_host()
    registered = set(host.algorithms.names())
    stages = tmp_path / "quickstart"
    for stage in script.STAGES:  # any model directory passes the recipe's checks: the game model
        (stages / stage).mkdir(parents=True)
        (stages / stage / "final").symlink_to(REPO / plans.GAME_MODEL)
    checked = 0
    for plan in plans.ALGORITHMS:
        if plan.algorithm not in registered:
            continue
        recipes = [script.moves_recipe(plan, stages, plans.MOVES_BUDGET, tmp_path / "moves" / plan.algorithm)]
        for game, tau in plans.GAME_TAUS.items():
            if plan.game_args is None:
                continue
            recipe = script.game_recipe(plan, game, plans.GAME_BUDGET, tmp_path / game / plan.algorithm)
            if plan.target == plans.PI_STAR:  # the same pi*_tau for every method that has one
                assert recipe["args"].get("tau", recipe["args"].get("beta")) == tau, plan.algorithm
            recipes.append(recipe)
        for number, recipe in enumerate(recipes):
            path = tmp_path / f"{plan.algorithm}-{number}.yaml"
            path.write_text(json.dumps(recipe))  # YAML reads JSON
            load_recipe(path, registries=host.registries, expect="train")
            checked += 1
    assert checked >= 22  # seven algorithms Arena had before issue 19 on moves and both games, ppo on moves


def test_unknown_algorithm_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert script.parse_only("nash-md,sppo") == ["nash-md", "sppo"]
    with pytest.raises(SystemExit) as stopped:
        script.parse_only("nash-md,nope")
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("--only: unknown algorithm 'nope' (the table has: dpo, egpo, grpo,")
    assert captured.err.count("\n") == 1 and captured.out == ""
