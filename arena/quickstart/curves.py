"""The quickstart board's training curves: one compact figure of every trained entrant's run.

Two panels over training steps, one colour per algorithm, every replicate (seed) a line:

- the exploitability of the policy at the task's own tau (`exploitability_task_tau` where the algorithm's
  KL coefficient differs from it, else `exploitability`): 0 exactly at the known answer pi*_tau, so the
  algorithms are compared on one scale whatever their own tau;
- the policy's share of the task's first action (Rock for the moves task), with the known answer pi*_tau
  at the task's tau dashed (from a run whose tau is the task's: its logged `equilibrium`).

Drawn from each entrant's metrics.jsonl (an entrant's model is a run folder, or its `final/`) with
`arena.plots`; `arena plot RUN` draws every curve of one run.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

from arena.plots import FigureSpec, Line, Panel, Run, read_run, render, save_png
from arena.quickstart.algorithms import algorithm_of

CURVES_PNG = "training-curves.png"
DISTRIBUTION_KEYS = ("move_probs", "action_probs")


def entrant_runs(recipe: Any) -> list[Run]:
    """The training run of each entrant that has one (labelled with the entrant's name)."""
    runs = []
    for entrant in recipe.entrants:
        if entrant.model is None:
            continue
        folder = Path(entrant.model)
        folder = folder.parent if folder.name == "final" else folder
        if (folder / "metrics.jsonl").is_file():
            runs.append(read_run(folder, label=entrant.name))
    return runs


def curves_spec(runs: list[Run]) -> FigureSpec | None:
    """The figure's data (None when no run logged a distribution and its exploitability)."""
    runs = [run for run in runs if run.logged("exploitability") and _distribution(run) is not None]
    if not runs:
        return None
    algorithms = list(dict.fromkeys(algorithm_of(run.label) for run in runs))
    exploitability, shares, known = [], [], None
    for run in runs:
        color = algorithms.index(algorithm_of(run.label))
        key = "exploitability_task_tau" if run.logged("exploitability_task_tau") else "exploitability"
        # One legend entry per algorithm: matplotlib leaves out labels that start with "_".
        label = algorithm_of(run.label) if run.label == algorithm_of(run.label) else f"_{run.label}"
        exploitability.append(Line(label, *run.series(key), color=color))
        distribution = _distribution(run)
        assert distribution is not None
        shares.append(Line(label, *run.series(distribution, 0), color=color))
        if known is None and not run.logged("exploitability_task_tau") and run.has("equilibrium"):
            known = run  # its tau is the task's: its equilibrium is the task's pi*_tau
    first = _first_action(runs)
    share_lines = list(shares)
    if known is not None:
        steps = sorted({step for line in shares for step in line.steps})
        value = known.series("equilibrium", 0)[1][-1]
        share_lines.append(
            Line(f"pi*_tau ({first})", [steps[0], steps[-1]], [value, value], color=7, dashed=True)
        )
    positive = all(v > 0 for line in exploitability for v in line.values if not math.isnan(v))
    return FigureSpec(
        CURVES_PNG.removesuffix(".png"),
        "training runs of every algorithm (each seed a line)",
        [
            Panel(
                "exploitability at the task's tau (0 at pi*_tau)", "exploitability", exploitability, positive
            ),
            Panel(f"P({first}) among well-formed answers", "share", share_lines),
        ],
    )


def publish_curves(recipe: Any, target: Path) -> str | None:
    """Write training-curves.png into the published board and show it in its index.html; the file's name,
    or None when no entrant has a training run to draw."""
    spec = curves_spec(entrant_runs(recipe))
    if spec is None:
        return None
    path = save_png(render(spec), target / CURVES_PNG)
    page = target / "index.html"
    if page.is_file():
        from arena.io import atomic_write_text

        image = base64.b64encode(path.read_bytes()).decode("ascii")
        section = (
            f"<h2>Training curves</h2>\n<p>{html.escape(CURVES_NOTE)}</p>\n"
            f'<img alt="training curves" src="data:image/png;base64,{image}">\n'
        )
        text = page.read_text()
        atomic_write_text(page, text.replace("</body>", section + "</body>", 1))
    return CURVES_PNG


CURVES_NOTE = (
    "Each algorithm's training runs (every seed a line): the exploitability of the policy at the task's tau "
    "after each logged step (0 exactly at the known answer pi*_tau), and its share of the task's first action "
    "against pi*_tau (dashed). `arena plot runs/quickstart/NAME` draws every curve of one run."
)


def _distribution(run: Run) -> str | None:
    return next((key for key in DISTRIBUTION_KEYS if run.logged(key)), None)


def _first_action(runs: list[Run]) -> str:
    for run in runs:
        distribution = _distribution(run)
        names = run.actions(distribution) if distribution else []
        if names and not names[0].startswith("action "):
            return names[0]
    return "the first action"
