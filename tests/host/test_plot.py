"""`arena plot`: the PNGs decode and are not blank, and the lines matplotlib received are metrics.jsonl's
numbers; a game's dashed known answer is pi*_tau solved here from the game's matrix; several runs share
one figure; a missing run or an empty log is one line, exit 2, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from arena.plots import read_runs, render, run_figures
from arena.testing import run_arena
from arena.training.metrics import read_metrics

REPO = Path(__file__).resolve().parents[2]


def _train(root: Path, name: str, tau: float) -> Path:
    recipe = root / f"{name}.yaml"
    recipe.write_text(json.dumps({
        "kind": "train", "name": name, "algorithm": "ipo", "args": {"tau": tau},
        "policy": str(REPO / "recipes" / "games" / "model"), "task": "order3", "output": str(root / name),
        "training": {"steps": 8, "batch_size": 3, "learning_rate": 0.05, "schedule": "constant",
                     "log_every": 2, "device": "cpu", "precision": "fp32"},
    }))  # fmt: skip
    result = run_arena(["train", str(recipe)], cwd=root)
    assert result.returncode == 0, result.stderr
    return root / name


@pytest.fixture(scope="module")
def game_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two short IPO runs on the game order3 at two taus: two known answers pi*_tau."""
    root = tmp_path_factory.mktemp("plot")
    return [_train(root, "order3-a", 0.5), _train(root, "order3-b", 1.0)]


def _known_answer(tau: float) -> list[float]:
    """pi*_tau of order3, solved here from the game's defining matrix and reference."""
    from arena.api import regularized_nash
    from arena_plugins.games import GAMES

    game = GAMES["order3"]
    return list(regularized_nash(np.array(game.preferences), np.array(game.reference), tau))


def _decoded(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def test_one_run_draws_its_figures_beside_metrics_jsonl(game_runs: list[Path]) -> None:
    run = game_runs[0]
    result = run_arena(["plot", str(run)])
    assert result.returncode == 0, result.stderr
    names = ["loss", "reward", "learning_rate", "action_probs", "exploitability"]
    assert result.stdout.strip() == f"Wrote 5 figures to {run}/: " + ", ".join(f"{n}.png" for n in names)
    assert not (run / "kl.png").exists()  # offline IPO logs no KL
    for name in names:
        pixels = _decoded(run / f"{name}.png")
        assert pixels.shape[0] >= 300 and pixels.shape[1] >= 600
        colours = np.unique(pixels.reshape(-1, 3), axis=0)
        assert len(colours) > 50, name  # lines, text and axes, not a blank canvas
        # Curves in matplotlib's first colours were drawn (not only black axes and text).
        blue = np.all(np.abs(pixels.astype(int) - [31, 119, 180]) < 8, axis=2).sum()
        assert blue > 100, name


def test_the_lines_drawn_are_the_logged_numbers_and_the_known_answer(game_runs: list[Path]) -> None:
    run = game_runs[0]
    records = read_metrics(run / "metrics.jsonl")
    steps = [r["step"] for r in records]
    assert steps == [2, 4, 6, 8]
    figures = {spec.name: render(spec) for spec in run_figures(read_runs([str(run)]))}

    def lines(name: str) -> dict[str, tuple[list[float], list[float]]]:
        (axis,) = [a for a in figures[name].axes if a.get_visible()]
        return {
            line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in axis.get_lines()
        }

    assert lines("loss") == {"loss": (steps, [r["loss"] for r in records])}
    assert lines("learning_rate") == {"learning_rate": (steps, [0.05] * 4)}
    assert lines("exploitability")["exploitability"] == (steps, [r["exploitability"] for r in records])
    drawn = lines("action_probs")
    pi_star = _known_answer(0.5)
    for index, action in enumerate(["red", "green", "blue"]):
        assert drawn[action] == (steps, [r["action_probs"][index] for r in records])
        x, y = drawn[f"{action} pi*_tau"]
        assert x == steps and y == pytest.approx([pi_star[index]] * 4, abs=1e-12)
    dashed = [line for line in figures["action_probs"].axes[0].get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 3
    reward_axes = [a for a in figures["reward"].axes if a.get_visible()]
    assert [a.get_title() for a in reward_axes] == ["chosen_logratio", "rejected_logratio", "margin"]
    assert list(reward_axes[2].get_lines()[0].get_ydata()) == [r["margin"] for r in records]


def test_several_runs_share_each_figure(game_runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "compare"
    result = run_arena(["plot", *map(str, game_runs), "--out", str(out)])
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["loss.png", "reward.png", "learning_rate.png", "action_probs.png", "exploitability.png"]
    )
    for png in out.iterdir():
        assert len(np.unique(_decoded(png).reshape(-1, 3), axis=0)) > 50
    specs = {spec.name: spec for spec in run_figures(read_runs([str(p) for p in game_runs]))}
    panels = specs["action_probs"].panels
    assert [panel.title for panel in panels] == ["P(red)", "P(green)", "P(blue)"]
    for index, panel in enumerate(panels):
        by_label = {line.label: line for line in panel.lines}
        assert set(by_label) == {"order3-a", "order3-a pi*_tau", "order3-b", "order3-b pi*_tau"}
        for run, tau in zip(game_runs, (0.5, 1.0), strict=True):
            records = read_metrics(run / "metrics.jsonl")
            assert by_label[run.name].values == [r["action_probs"][index] for r in records]
            assert by_label[f"{run.name} pi*_tau"].dashed
            assert by_label[f"{run.name} pi*_tau"].values == pytest.approx([_known_answer(tau)[index]] * 4)
    loss = specs["loss"].panels[0]
    assert [line.label for line in loss.lines] == ["order3-a", "order3-b"]
    assert [line.color for line in loss.lines] == [0, 1]


def test_bad_runs_are_one_line_and_nothing_is_written(game_runs: list[Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "metrics.jsonl").write_text("")
    out = tmp_path / "out"
    cases = [
        ([str(tmp_path / "missing"), "--out", str(out)],
         f"{tmp_path / 'missing'}: no such run folder (expected a folder `arena train` wrote, e.g. runs/NAME)"),
        ([str(game_runs[0]), str(empty), "--out", str(out)],
         f"{empty / 'metrics.jsonl'}: expected at least one logged step, the log is empty"),
        ([str(tmp_path), "--out", str(out)],
         f"{tmp_path}: no metrics.jsonl in it (expected a folder `arena train` wrote, e.g. runs/NAME)"),
        ([str(game_runs[0]), str(game_runs[1])],
         "--out: expected a folder for the comparison of several runs (got none)"),
    ]  # fmt: skip
    for args, message in cases:
        result = run_arena(["plot", *args])
        assert (result.returncode, result.stderr.strip()) == (2, message)
        assert not out.exists()


def test_help_imports_neither_matplotlib_nor_torch() -> None:
    code = (
        "import sys\nfrom arena.cli import cli\n"
        "try:\n    cli(['plot', '--help'], prog_name='arena')\nexcept SystemExit as exit:\n    assert exit.code == 0\n"
        "print('matplotlib' in sys.modules, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "False False"
    assert "RUN..." in done.stdout and "--out DIR" in done.stdout
