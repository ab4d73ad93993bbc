"""`arena quickstart --reduced`: the same stages and code as the full run, small enough for CI.

One reduced run (module fixture) is checked stage by stage; a rerun reuses every stage; a changed
recipe redoes only what reads it; bad input stops before anything is written. The committed
`leaderboards/quickstart/` is checked for consistency with its own numbers and with the recipes.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import yaml

from arena.leaderboard import FILES
from arena.plots import render
from arena.quickstart.algorithms import algorithm_of
from arena.quickstart.curves import CURVES_PNG, curves_spec, entrant_runs
from arena.quickstart.plan import (
    REDUCED_DEFAULT_STEPS,
    REDUCED_SEEDS,
    REDUCED_STEPS,
    REDUCED_TASK_ARGS,
    SEEDS,
    STAGES,
    quickstart_stages,
)
from arena.testing import run_arena
from arena_plugins.moves.publish import readme_text, report_claims, report_columns

# The tests share the module fixture `reduced` (one reduced run and its rerun): one worker builds it once.
pytestmark = pytest.mark.xdist_group("quickstart")

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "leaderboards" / "quickstart"
MOVES = ("rock", "scissors", "paper")
# Hard rock-paper-scissors over (rock, scissors, paper): each beats the next. Written out here rather than
# read from the task, so the exploitability below is checked against an independent computation.
BEATS = {"rock": "scissors", "scissors": "paper", "paper": "rock"}
QUICKSTART_FILES = (*FILES, "moves.csv", "moves.json", "README.md")
REDUCED_STAGES = quickstart_stages(REDUCED_SEEDS)  # a reduced run trains each aligned algorithm twice
TRAIN_STAGES = [s.name for s in REDUCED_STAGES if s.kind == "train"]


def edge(shares: dict[str, float]) -> float:
    """How much more than 1/2 the best single move wins against a move mix."""
    return max(shares[BEATS[m]] + 0.5 * shares[m] for m in MOVES) - 0.5


@pytest.fixture(scope="module")
def reduced(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("quickstart")
    args = [
        "quickstart",
        "--reduced",
        "--backend",
        "hf",
        "--out",
        str(root / "out"),
        "--publish-to",
        str(root / "board"),
    ]
    first = run_arena(args, cwd=REPO)
    assert first.returncode == 0, first.stderr[-3000:]
    board_bytes = (root / "board" / "leaderboard.json").read_bytes()
    second = run_arena(args, cwd=REPO)
    assert second.returncode == 0, second.stderr[-3000:]
    return {"root": root, "args": args, "first": first, "second": second, "board_bytes": board_bytes}


@pytest.mark.slow
def test_every_stage_finished_with_its_outputs(reduced: dict[str, Any]) -> None:
    out = reduced["root"] / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert [s["name"] for s in summary["stages"]] == [s.name for s in REDUCED_STAGES]
    for stage in REDUCED_STAGES:
        state = json.loads((out / stage.name / "quickstart-stage.json").read_text())
        assert state["finished"] is True, stage.name
    assert (out / "base" / "config.json").is_file() and (out / "base" / "tokenizer.json").is_file()
    for name in TRAIN_STAGES:
        run = json.loads((out / name / "summary.json").read_text())
        assert run["steps"] == REDUCED_STEPS.get(name, REDUCED_DEFAULT_STEPS), name
        assert (out / name / "final" / "config.json").is_file(), name
    for judge in ("reward-model", "preference-model"):
        held_out = json.loads((out / judge / "summary.json").read_text())["eval"]
        assert held_out["pairs"] == REDUCED_TASK_ARGS["eval_pairs"]
        assert 0.0 <= held_out["accuracy"] <= 1.0
    for online in ("ppo", "nash-md", "online-ipo"):
        value = json.loads((out / online / "summary.json").read_text())["preference_vs_reference"]
        assert 0.0 <= value <= 1.0
    # Replicate 1 is the same recipe with training seed 1, reading replicate 1's reference and judges.
    for name in ("dpo", "nash-md"):
        base = yaml.safe_load((out / name / "recipe.yaml").read_text())
        seeded = yaml.safe_load((out / f"{name}-s1" / "recipe.yaml").read_text())
        assert seeded["training"]["seed"] == 1 and base["training"]["seed"] == 0
        text = json.dumps({k: v for k, v in base.items() if k not in ("name", "training")})
        for stage in ("sft", "reward-model", "preference-model", name):
            text = text.replace(f'{out}/{stage}"', f'{out}/{stage}-s1"').replace(
                f"{out}/{stage}/", f"{out}/{stage}-s1/"
            )
        assert {k: v for k, v in seeded.items() if k not in ("name", "training")} == json.loads(text)
        weights = [(out / run / "final" / "model.safetensors").read_bytes() for run in (name, f"{name}-s1")]
        assert weights[0] != weights[1]
    # The terminal summary names every stage and the leaderboard's entrants.
    for stage in REDUCED_STAGES:
        assert stage.name in reduced["first"].stdout


@pytest.mark.slow
@pytest.mark.parametrize("board", ["", "clones"])
def test_published_leaderboards_are_well_formed(reduced: dict[str, Any], board: str) -> None:
    target = reduced["root"] / "board" / board
    extra = ("without-copy.json",) if board else ("algorithms.json", "algorithms.csv")
    for name in (*QUICKSTART_FILES, *extra):
        assert (target / name).is_file() and (target / name).stat().st_size > 0, name
    recipe = REPO / "recipes" / "quickstart" / ("tournament-clones.yaml" if board else "tournament.yaml")
    check_board(target, recipe, REDUCED_SEEDS)
    moves = json.loads((target / "moves.json").read_text())
    per_entrant = 2 * REDUCED_TASK_ARGS["eval_prompts"]  # samples_per_prompt 2 in a reduced run
    assert {row["samples"] for row in moves["entrants"]} == {per_entrant}


@pytest.mark.slow
def test_published_board_shows_the_training_curves(reduced: dict[str, Any]) -> None:
    """training-curves.png: every trained entrant's run, the lines its metrics.jsonl; README and index.html
    show it."""
    board = reduced["root"] / "board"
    check_curves(board)
    recipe = yaml.safe_load((reduced["root"] / "out" / "tournament" / "recipe.yaml").read_text())
    entrants = SimpleNamespace(entrants=[SimpleNamespace(**e) for e in recipe["entrants"]])
    spec = curves_spec(entrant_runs(entrants))
    assert spec is not None
    exploitability, shares = spec.panels
    assert len(exploitability.lines) == len(recipe["entrants"])  # the reference (SFT) too: every entrant
    for entrant, line in zip(recipe["entrants"], exploitability.lines, strict=True):
        records = [
            json.loads(row) for row in (Path(entrant["model"]) / "metrics.jsonl").read_text().splitlines()
        ]
        # At the task's tau (0.1): the algorithm's own exploitability only where its tau is the task's.
        expected = [r.get("exploitability_task_tau", r["exploitability"]) for r in records]
        assert line.steps == [r["step"] for r in records], entrant["name"]
        # A step whose samples were all malformed has no exploitability (null): the line breaks (NaN).
        np.testing.assert_array_equal(line.values, np.array(expected, dtype=float), err_msg=entrant["name"])
        tau = recipe_tau(entrant["name"])
        assert ("exploitability_task_tau" in records[-1]) == (tau is not None and tau != 0.1), entrant["name"]
    rock = [line for line in shares.lines if line.dashed]
    assert [line.label for line in rock] == ["pi*_tau (Rock)"]
    assert rock[0].values[0] == pytest.approx(cycle_task().equilibrium(0.1)[0], abs=1e-12)
    drawn = render(spec).axes[1].get_lines()
    assert len(drawn) == len(shares.lines)
    for line, data in zip(drawn, shares.lines, strict=True):
        np.testing.assert_array_equal(line.get_ydata(), data.values)


@pytest.mark.slow
def test_clone_changes_elo_but_not_nash(reduced: dict[str, Any]) -> None:
    # The field without the copy: the same matches with the copy's left out (the main board has every
    # replicate in it, a different field).
    alone = ratings(reduced["root"] / "board" / "clones", "without-copy.json")
    cloned = ratings(reduced["root"] / "board" / "clones")
    assert cloned["nash-md-copy"]["nash_rating"] == pytest.approx(cloned["nash-md"]["nash_rating"], abs=1e-9)
    for name, row in alone.items():
        assert cloned[name]["nash_rating"] == pytest.approx(row["nash_rating"], abs=1e-6), name
    pair = cloned["nash-md"]["nash_weight"] + cloned["nash-md-copy"]["nash_weight"]
    assert pair == pytest.approx(alone["nash-md"]["nash_weight"], abs=1e-6)
    # The copy and its original are the same player: they split the weight evenly.
    assert cloned["nash-md"]["nash_weight"] == pytest.approx(cloned["nash-md-copy"]["nash_weight"], abs=1e-6)


@pytest.mark.slow
def test_rerun_reuses_every_stage(reduced: dict[str, Any]) -> None:
    summary = json.loads((reduced["root"] / "out" / "summary.json").read_text())
    assert all(stage["reused"] for stage in summary["stages"])
    assert (reduced["root"] / "board" / "leaderboard.json").read_bytes() == reduced["board_bytes"]
    assert "reused" in reduced["second"].stdout


@pytest.mark.slow
def test_a_changed_recipe_redoes_only_what_reads_it(reduced: dict[str, Any], tmp_path: Path) -> None:
    recipes = tmp_path / "recipes"
    shutil.copytree(REPO / "recipes" / "quickstart", recipes)
    dpo = yaml.safe_load((recipes / "dpo.yaml").read_text())
    dpo["args"]["beta"] = 0.2
    (recipes / "dpo.yaml").write_text(yaml.safe_dump(dpo))
    result = run_arena([*reduced["args"], "--recipes", str(recipes), "--dry-run"], cwd=REPO)
    assert result.returncode == 0, result.stderr
    actions = plan_actions(result.stdout)
    # Both of dpo's training runs, and the tournaments, which read their models.
    redo = {"dpo", "dpo-s1", "tournament", "tournament-clones"}
    assert actions == {s.name: ("run" if s.name in redo else "reuse") for s in REDUCED_STAGES}


def test_bad_recipe_stops_before_anything_is_written(tmp_path: Path) -> None:
    recipes = tmp_path / "recipes"
    shutil.copytree(REPO / "recipes" / "quickstart", recipes)
    text = (recipes / "ppo.yaml").read_text().replace("steps: 40", "steps: -3")
    (recipes / "ppo.yaml").write_text(text)
    out = tmp_path / "out"
    result = run_arena(["quickstart", "--recipes", str(recipes), "--out", str(out)], cwd=REPO)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"{recipes / 'ppo.yaml'}: training.steps: expected a value > 0, got -3"
    ]
    assert not out.exists()


def test_missing_recipes_directory_is_one_line(tmp_path: Path) -> None:
    result = run_arena(
        ["quickstart", "--recipes", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")], cwd=tmp_path
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "nowhere" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("board", ["", "clones"])
def test_committed_leaderboard_is_consistent(board: str) -> None:
    target = PUBLISHED / board
    recipe = REPO / "recipes" / "quickstart" / ("tournament-clones.yaml" if board else "tournament.yaml")
    check_board(target, recipe, SEEDS)
    # The README is generated from the files beside it: regenerating it gives the committed text.
    from arena.quickstart import report

    board_json = json.loads((target / "leaderboard.json").read_text())
    if board:
        without = json.loads((target / "without-copy.json").read_text())
        expected = report.clones_readme(board_json, without, "nash-md", "nash-md-copy")
    else:
        table = json.loads((target / "algorithms.json").read_text())
        task = cycle_task()
        expected = report.leaderboard_readme(
            board_json, table, "moves", report_columns(task), readme_text(task), report_claims, CURVES_PNG
        )
        check_curves(target)
    assert (target / "README.md").read_text() == expected


# -- helpers ------------------------------------------------------------------------------------------------


def check_curves(board: Path) -> None:
    """The training curves' PNG decodes and is drawn on; the README shows it and index.html embeds it."""
    from PIL import Image

    png = board / CURVES_PNG
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width >= 600 and image.height >= 250
        pixels = np.asarray(image.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # curves, text and axes: not a blank canvas
    assert f"![training curves]({CURVES_PNG})" in (board / "README.md").read_text()
    embedded = base64.b64encode(png.read_bytes()).decode("ascii")
    assert (
        f'<img alt="training curves" src="data:image/png;base64,{embedded}">'
        in (board / "index.html").read_text()
    )


def recipe_tau(entrant: str) -> float | None:
    """The KL coefficient (tau, or DPO's beta) the entrant's recipe trains with; None for SFT."""
    name = {"reference": "sft"}.get(algorithm_of(entrant), algorithm_of(entrant))
    args = yaml.safe_load((REPO / "recipes" / "quickstart" / f"{name}.yaml").read_text()).get("args") or {}
    return args.get("tau", args.get("beta"))


def cycle_task() -> Any:
    """The quickstart's task as recipes/quickstart/quickstart.yaml names it."""
    from arena_plugins.moves import MovesArgs
    from arena_plugins.moves.task import MovesTask

    spec = yaml.safe_load((REPO / "recipes" / "quickstart" / "quickstart.yaml").read_text())["task"]
    assert spec["name"] == "moves"
    return MovesTask(MovesArgs(**spec["args"]))


def ratings(target: Path, file: str = "leaderboard.json") -> dict[str, dict[str, float]]:
    return {row["model"]: row for row in json.loads((target / file).read_text())["models"]}


def plan_actions(stdout: str) -> dict[str, str]:
    actions = {}
    names = {s.name for s in STAGES}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("│┃").split("│")]
        if cells and cells[0] in names:
            actions[cells[0]] = cells[-1]
    return actions


def check_board(target: Path, recipe_file: Path, seeds: int) -> None:
    """Entrants as in the recipe (the main tournament: with `seeds` training runs of every aligned
    algorithm); win rates antisymmetric; Nash weights a distribution; the moves' shares and exploitability
    agree with each other and with an independent computation."""
    recipe = yaml.safe_load(recipe_file.read_text())
    entrants = [e["name"] for e in recipe["entrants"]]
    if recipe["name"] == "quickstart":  # the quickstart enters every replicate of the trained pipeline
        entrants = [name + (f"-s{k}" if k else "") for name in entrants for k in range(seeds)]
    board = json.loads((target / "leaderboard.json").read_text())
    assert sorted(m["model"] for m in board["models"]) == sorted(entrants)
    assert sum(m["nash_weight"] for m in board["models"]) == pytest.approx(1.0, abs=1e-9)
    assert all(m["nash_rating"] <= 1e-9 for m in board["models"])  # max-entropy Nash: 0 on the support
    pairs = {(p["model"], p["opponent"]): p["win_rate"] for p in board["pairs"]}
    for (a, b), rate in pairs.items():
        assert rate + pairs[(b, a)] == pytest.approx(1.0, abs=1e-12)
    moves = json.loads((target / "moves.json").read_text())
    assert [row["model"] for row in moves["entrants"]] == entrants
    for row in moves["entrants"]:
        assert 0.0 <= row["malformed"] <= 1.0
        if row["exploitability"] is None:
            assert row["malformed"] == 1.0
            continue
        shares = {m: row[m] for m in MOVES}
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-9)
        assert row["exploitability"] == pytest.approx(edge(shares), abs=1e-12)


def test_dry_run_validates_the_whole_chain_before_any_stage_ran(tmp_path: Path) -> None:
    """The stages read each other's outputs: the chain validates as a whole, and nothing is written."""
    result = run_arena(["quickstart", "--dry-run", "--out", str(tmp_path / "out")], cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert plan_actions(result.stdout) == {s.name: "run" for s in STAGES}
    assert not (tmp_path / "out").exists()


def test_readme_shows_the_committed_quickstart_table_and_claims() -> None:
    """The main README's quickstart table and every claim under it are generated from the committed board."""
    from arena.quickstart.narrative import combined_table, what_it_shows

    table = json.loads((PUBLISHED / "algorithms.json").read_text())
    task = cycle_task()
    assert list(task.moves) == json.loads((PUBLISHED / "moves.json").read_text())["moves"]
    readme = (REPO / "README.md").read_text()
    assert combined_table(table, table["models"], report_columns(task)) in readme
    for claim in what_it_shows(table, table["models"], readme_text(task).no_cycle, report_claims):
        assert claim in readme


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("task: moves\n", "task: expected {name: TASK, args: {...}} (the task every stage shares)"),
        ("task: {name: moves}\nseed: 1\n", "seed: unknown key (expected only task)"),
        ("task: {name: moves, args: {matrix: square}}\n", "task.args.matrix: expected one of"),
    ],
)
def test_bad_quickstart_task_is_one_line_before_anything_is_written(
    tmp_path: Path, text: str, expected: str
) -> None:
    """recipes/quickstart/quickstart.yaml names the task every stage shares: bad input names that file."""
    recipes = tmp_path / "recipes"
    shutil.copytree(REPO / "recipes" / "quickstart", recipes)
    (recipes / "quickstart.yaml").write_text(text)
    out = tmp_path / "out"
    result = run_arena(["quickstart", "--recipes", str(recipes), "--out", str(out)], cwd=REPO)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{recipes / 'quickstart.yaml'}: {expected}"), lines
    assert not out.exists()
