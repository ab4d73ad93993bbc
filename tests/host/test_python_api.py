"""The Python API (arena/python_api.py): docs/python.md executed as written, its numbers checked against the
files the runs wrote; errors equal to the CLI's lines; `import arena` cheap and the API names unshadowed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import arena
from arena.errors import ArenaError, RecipeError
from arena.leaderboard import FILES
from arena.recipes import load_recipe
from arena.testing import run_arena

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "python.md"
DPO_RECIPE = "recipes/games/two-actions-dpo.yaml"
BATTLES = "tests/data/importers/lmarena_battles.jsonl"


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", markdown, flags=re.DOTALL | re.MULTILINE)


@pytest.fixture
def repository_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory that reads like the repository root (recipes/, tests/data/) and writes elsewhere."""
    (tmp_path / "recipes").symlink_to(REPO / "recipes")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "data").symlink_to(REPO / "tests" / "data")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_the_walk_through_runs_and_prints_the_numbers_its_files_hold(
    repository_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) == 6, "docs/python.md's walk-through changed: update this test with it"
    names: dict[str, object] = {"__name__": "__walkthrough__"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"docs/python.md block {index + 1}", "exec"), names)
    printed = capsys.readouterr().out
    root = repository_copy / "runs" / "python"

    # 1. Training: what was printed and returned is summary.json and metrics.jsonl.
    summary = json.loads((root / "dpo" / "summary.json").read_text())
    final = summary["final"]
    assert summary["steps"] == 100
    assert f"two-actions-dpo: 100 steps, loss {final['loss']:.6g}" in printed
    assert f"P(yes), P(no): {[round(p, 6) for p in final['action_probs']]}" in printed
    assert f"exploitability {final['exploitability']:.6g}" in printed
    logged = [json.loads(line)["step"] for line in (root / "dpo" / "metrics.jsonl").read_text().splitlines()]
    assert logged == [25, 50, 75, 100]  # log_every 25 in the recipe
    assert f"logged steps: {logged}" in printed
    run = names["run"]
    assert isinstance(run, arena.TrainRun) and run.summary == summary and run.kind == "train"
    assert (run.model_dir / "config.json").is_file() and run.model_dir == Path("runs/python/dpo/final")
    assert final["action_probs"][0] > 0.99  # DPO pushed the preferred answer, as the page says

    # 2. The tournament: the printed counts are summary.json's; the table is leaderboard.csv; the win rates
    # are the committed rps-cup board's (seeded generation, exact oracle: tests/training/test_shipped_recipes).
    cup_summary = json.loads((root / "rps-cup" / "summary.json").read_text())
    counts = (cup_summary["matches"], cup_summary["samples_generated"], cup_summary["judge_items"])
    assert f"{counts[0]} matches, {counts[1]} samples generated, {counts[2]} judged" in printed
    cup = names["cup"]
    assert isinstance(cup, arena.TournamentRun) and cup.summary == cup_summary
    board_dir = root / "rps-cup-board"
    pd.testing.assert_frame_equal(pd.read_csv(board_dir / "leaderboard.csv"), cup.table, check_dtype=False)
    board_json = json.loads((board_dir / "leaderboard.json").read_text())
    assert cup.published == board_json and board_json["nash_bootstrap"]["rounds"] == 100
    assert f"Nash support: {board_json['nash']['support']}" in printed
    shipped = json.loads((REPO / "leaderboards" / "rps-cup" / "leaderboard.json").read_text())
    assert board_json["winrates"] == shipped["winrates"]
    assert "Elo's first: paper" in printed and "Nash's largest weight: scissors" in printed
    exported = pd.read_csv(root / "rps-cup-matches.csv")
    assert len(exported) == cup_summary["matches"]

    # 3. The DataFrame board: its files hold its table, and its win rates are the exported p_a averaged
    # per pair, computed here with pandas alone.
    board = names["board"]
    assert isinstance(board, arena.LeaderboardRun)
    assert sorted(p.name for p in board.files) == sorted(FILES)
    no_copy_dir = root / "no-copy"
    pd.testing.assert_frame_equal(
        pd.read_csv(no_copy_dir / "leaderboard.csv"), board.table, check_dtype=False
    )
    assert set(board.table["model"]) == {"rock", "paper", "scissors"}
    with_copy = cup.table.set_index("model")["nash_weight"]
    without = board.table.set_index("model")["nash_weight"]
    assert without["rock"] == pytest.approx(with_copy["rock"] + with_copy["rock-copy"], abs=1e-9)
    assert without[["paper", "scissors"]].tolist() == pytest.approx(
        with_copy[["paper", "scissors"]].tolist(), abs=1e-9
    )
    kept = exported[(exported["model_a"] != "rock-copy") & (exported["model_b"] != "rock-copy")]
    order = board.board.models
    for (first, second), p_a in kept.groupby(["model_a", "model_b"])["p_a"].mean().items():
        assert board.board.W[order.index(first), order.index(second)] == pytest.approx(p_a, abs=1e-12)
    fit = json.loads((no_copy_dir / "leaderboard.json").read_text())["bradley_terry"]
    assert f"Bradley-Terry NLL per match {fit['nll_per_match']:.4f}" in printed

    # The file board: nothing written, and the table equals what `arena leaderboard` writes for that file.
    battles = names["battles"]
    assert isinstance(battles, arena.LeaderboardRun) and battles.out is None and battles.files == []
    assert battles.import_note and battles.import_note in printed
    cli = run_arena(["leaderboard", BATTLES, "--out", "cli-board", "--bootstrap", "0"], cwd=repository_copy)
    assert cli.returncode == 0, cli.stderr
    assert battles.import_note in cli.stdout
    pd.testing.assert_frame_equal(
        pd.read_csv(repository_copy / "cli-board" / "leaderboard.csv"), battles.table, check_dtype=False
    )


def test_a_bad_override_raises_the_line_the_cli_prints(repository_copy: Path) -> None:
    with pytest.raises(RecipeError) as raised:
        arena.train(DPO_RECIPE, training__stepz=3)
    cli = run_arena(["train", DPO_RECIPE, "--set", "training.stepz=3"], cwd=repository_copy)
    assert cli.returncode == 2
    assert cli.stderr.strip().splitlines()[-1].endswith(str(raised.value))
    assert str(raised.value) == f"{DPO_RECIPE}: training.stepz: unknown key (did you mean 'steps'?)"
    assert not (repository_copy / "runs").exists()


def test_overrides_given_as_a_mapping_and_recipes_given_as_data_are_checked_like_files(
    repository_copy: Path,
) -> None:
    with pytest.raises(
        RecipeError, match=r"^recipes/games/two-actions-dpo.yaml: training.steps: expected a "
    ):
        arena.train(DPO_RECIPE, {"training.steps": 0})
    raw = {"kind": "train", "name": "x", "algorithm": "dpo", "policy": "recipes/games/model"}
    with pytest.raises(RecipeError, match=r"^<recipe>: training.batch_size: expected a value > 0, got -2$"):
        arena.train(raw, training__batch_size=-2)
    assert "training" not in raw  # the caller's mapping is left as it was
    parsed = load_recipe(DPO_RECIPE)
    with pytest.raises(RecipeError, match=r"^<recipe>: algorithm: unknown algorithm 'dpx'"):
        arena.train(parsed, algorithm="dpx")
    with pytest.raises(RecipeError, match="arena.train runs train and judge recipes; this is a tournament"):
        arena.train("recipes/tournament/rps-cup.yaml")
    with pytest.raises(RecipeError, match="kind: expected a tournament recipe here, got a train recipe"):
        arena.tournament(DPO_RECIPE)
    with pytest.raises(ArenaError, match="^recipe: expected a path to a YAML recipe"):
        arena.train(42)  # type: ignore[arg-type]


def test_leaderboard_arguments_and_match_rows_are_checked(tmp_path: Path) -> None:
    rows = pd.DataFrame({"model_a": ["a", "b"], "model_b": ["b", "a"], "winner": ["model_a", "model_c"]})
    with pytest.raises(ArenaError, match=r"^DataFrame: row 2, column winner: unknown value 'model_c'"):
        arena.leaderboard(rows)
    with pytest.raises(ArenaError, match=r"^bootstrap: expected a whole number >= 0, got -1$"):
        arena.leaderboard(rows, bootstrap=-1)
    with pytest.raises(ArenaError, match=r"^--anchor: model 'c' is not in DataFrame"):
        arena.leaderboard(rows.assign(winner="tie"), anchor=("c", 1000))
    (tmp_path / "file").write_text("")
    with pytest.raises(ArenaError, match="out must be a folder"):
        arena.leaderboard(rows.assign(winner="tie"), tmp_path / "file")
    assert (tmp_path / "file").read_text() == ""


def test_import_arena_loads_no_api_and_submodule_imports_leave_the_functions_in_place() -> None:
    probe = (
        "import sys, arena\n"
        "assert 'arena.python_api' not in sys.modules and 'torch' not in sys.modules\n"
        "import arena.leaderboard, arena.tournament.run\n"
        "from arena.leaderboard import publish\n"
        "from arena import leaderboard, tournament, train\n"
        "assert leaderboard is arena.leaderboard and leaderboard.__module__ == 'arena.python_api'\n"
        "assert tournament.__module__ == train.__module__ == 'arena.python_api'\n"
        "assert sys.modules['arena.leaderboard'].publish is publish\n"
        "assert 'torch' not in sys.modules\n"
        "print(sorted(arena.__all__))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "'leaderboard', 'tournament', 'train'" in done.stdout


@pytest.mark.slow
def test_a_second_run_into_the_same_folder_is_refused_and_resume_continues_it(repository_copy: Path) -> None:
    first = arena.train(DPO_RECIPE, training__steps=2, training__log_every=1, output="runs/short")
    assert first.steps == 2 and first.summary["resumed_from_step"] is None
    written = first.summary_file.read_text()
    with pytest.raises(ArenaError, match=r"output: 'runs/short' already holds a run; pass --resume"):
        arena.train(DPO_RECIPE, training__steps=2, output="runs/short")
    assert first.summary_file.read_text() == written  # the refused run wrote nothing
    resumed = arena.train(
        DPO_RECIPE, {"training.steps": 4, "training.log_every": 1, "output": "runs/short"}, resume=True
    )
    assert resumed.summary["resumed_from_step"] == 2 and resumed.steps == 4
    assert json.loads(resumed.summary_file.read_text()) == resumed.summary
    logged = [json.loads(line)["step"] for line in resumed.metrics_file.read_text().splitlines()]
    assert logged == [1, 2, 3, 4]
