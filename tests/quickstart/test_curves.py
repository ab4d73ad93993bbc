"""The quickstart board's training curves from hand-written logs: which exploitability each run shows (the
task's tau), one legend entry per algorithm, the known answer from a run at the task's tau, and the page
and figure written (in seconds, without the reduced quickstart)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from arena.plots import render
from arena.quickstart.curves import CURVES_PNG, curves_spec, entrant_runs, publish_curves

MOVES = ["Rock", "Scissors", "Paper"]
PI_STAR = [0.4, 0.3, 0.3]  # what the runs at the task's tau log as their known answer


def _write_run(folder: Path, records: list[dict[str, Any]]) -> str:
    folder.mkdir(parents=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(folder / "final")  # an entrant's model: the run's final/ (its metrics are one folder up)


def _records(rock: list[float | None], own: list[float | None], task: list[float | None] | None) -> list[Any]:
    rows = []
    for i, (share, exploitability) in enumerate(zip(rock, own, strict=True)):
        probs = None if share is None else [share, (1 - share) / 2, (1 - share) / 2]
        known = PI_STAR if task is None else [0.5, 0.25, 0.25]  # pi*_tau at the algorithm's own tau
        row = {"step": 10 * (i + 1), "loss": 1.0, "move_probs": probs, "actions": MOVES,
               "exploitability": exploitability, "equilibrium": known}  # fmt: skip
        if task is not None:  # the algorithm's tau is not the task's
            row["exploitability_task_tau"] = task[i]
        rows.append(row)
    return rows


@pytest.fixture
def board(tmp_path: Path) -> SimpleNamespace:
    runs = {
        "reference": _records([0.6, 0.6], [0.2, 0.2], None),
        "ipo": _records([0.55, 0.5], [0.05, 0.04], [0.15, 0.12]),
        "nash-md": _records([0.5, 0.45], [0.1, 0.05], None),
        "nash-md-s1": _records([None, 0.4], [None, 0.03], None),  # every sample malformed at step 10
    }
    entrants = [
        SimpleNamespace(name=name, model=_write_run(tmp_path / name, rows)) for name, rows in runs.items()
    ]
    entrants.append(SimpleNamespace(name="served", model=None))  # no training run: not drawn
    return SimpleNamespace(entrants=entrants)


def test_each_run_at_the_tasks_tau_one_legend_entry_per_algorithm(board: SimpleNamespace) -> None:
    spec = curves_spec(entrant_runs(board))
    assert spec is not None
    exploitability, shares = spec.panels
    drawn = {line.label: (line.values, line.color) for line in exploitability.lines}
    nan = float("nan")
    np.testing.assert_array_equal(
        [values for values, _ in drawn.values()], [[0.2, 0.2], [0.15, 0.12], [0.1, 0.05], [nan, 0.03]]
    )
    # Seeds share their algorithm's colour; only seed 0 names it in the legend ("_" hides a label).
    assert [(label, color) for label, (_, color) in drawn.items()] == [
        ("reference", 0),
        ("ipo", 1),
        ("nash-md", 2),
        ("_nash-md-s1", 2),
    ]
    assert exploitability.log_scale
    known = [line for line in shares.lines if line.dashed]
    assert [(line.label, line.steps, line.values) for line in known] == [
        ("pi*_tau (Rock)", [10, 20], [0.4, 0.4])
    ]
    np.testing.assert_array_equal(shares.lines[3].values, [nan, 0.4])
    assert shares.title == "P(Rock) among well-formed answers"
    figure = render(spec)
    assert [len(axis.get_lines()) for axis in figure.axes] == [4, 5]
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend == ["reference", "ipo", "nash-md"]


def test_publish_writes_the_figure_and_embeds_it_in_the_page(board: SimpleNamespace, tmp_path: Path) -> None:
    target = tmp_path / "board"
    target.mkdir()
    (target / "index.html").write_text("<html><body>\n<h1>board</h1>\n</body>\n</html>\n")
    assert publish_curves(board, target) == CURVES_PNG
    png = (target / CURVES_PNG).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    page = (target / "index.html").read_text()
    assert page.index("<h1>board</h1>") < page.index("<h2>Training curves</h2>") < page.index("</body>")
    assert page.count("<img") == 1
    assert publish_curves(SimpleNamespace(entrants=[SimpleNamespace(name="x", model=None)]), target) is None
