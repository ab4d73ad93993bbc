"""`arena plot`: training curves from runs' metrics.jsonl, as PNGs.

What is drawn is computed first as plain data (`FigureSpec`: panels of lines, each the steps and values
read from metrics.jsonl), then rendered with matplotlib, so what a figure shows can be checked against
the log without reading pixels. Figures, each written only when some run logged its keys:

- loss.png: the training loss.
- kl.png: the KL to the reference (online algorithms log `kl`).
- reward.png: reward and preference against the reference: the judge's preference for the policy's
  samples over the reference's (`judge_preference`), PPO's `reward`, DPO/IPO's implicit rewards
  (`chosen_logratio`, `rejected_logratio`, `margin`), a trained judge's `reward_chosen`/`p_chosen`; and
  the held-out P(beats the reference) of summary.json as a point at the last step.
- learning_rate.png.
- action_probs.png (move_probs.png for the moves task): the policy's action probabilities against steps,
  with the known answer, the regularised Nash equilibrium pi*_tau the run logs as `equilibrium`, dashed.
- exploitability.png: the exact exploitability of the policy at the run's tau (and at the task's own
  tau, `exploitability_task_tau`, where they differ); 0 exactly at pi*_tau.

One run: its curves, beside its metrics.jsonl. Several runs: each figure compares them (one colour per
run), written to --out.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.errors import ArenaError

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
KL_KEYS = ("kl",)
REWARD_KEYS = (
    "judge_preference",
    "reward",
    "chosen_logratio",
    "rejected_logratio",
    "margin",
    "reward_chosen",
    "reward_rejected",
    "p_chosen",
)
DISTRIBUTION_KEYS = ("action_probs", "move_probs")  # lists over the record's `actions`
EXPLOITABILITY_KEYS = ("exploitability", "exploitability_task_tau")
HELD_OUT_PREFERENCE = "preference_vs_reference"  # summary.json: P(the final policy beats the reference)


@dataclass(frozen=True)
class Run:
    """One training run: its label on the figures, its folder and what it logged."""

    label: str
    directory: Path
    records: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)

    def has(self, key: str) -> bool:
        """Some record holds a value for the key."""
        return any(record.get(key) is not None for record in self.records)

    def logged(self, key: str) -> bool:
        """Some record names the key, maybe as null (e.g. no exploitability when every sample was malformed)."""
        return any(key in record for record in self.records)

    def series(self, key: str, index: int | None = None) -> tuple[list[int], list[float]]:
        """(steps, values) of a key over the records that logged it; `index` picks an entry of a list.
        A null (a value that was not finite) is NaN: the line breaks there."""
        steps, values = [], []
        for record in self.records:
            if key not in record:
                continue
            value = record[key]
            if index is not None:
                value = value[index] if isinstance(value, list) else None
            steps.append(int(record["step"]))
            values.append(float(value) if isinstance(value, (int, float)) else math.nan)
        return steps, values

    def actions(self, key: str) -> list[str]:
        """Names of a distribution's entries: the record's `actions`, else their positions."""
        for record in reversed(self.records):
            value = record.get(key)
            if isinstance(value, list):
                names = record.get("actions")
                if isinstance(names, list) and len(names) == len(value):
                    return [str(name) for name in names]
                return [f"action {i}" for i in range(len(value))]
        return []


@dataclass(frozen=True)
class Line:
    label: str
    steps: list[int]
    values: list[float]
    color: int  # index into matplotlib's colour cycle: one per run (or per action for one run)
    dashed: bool = False  # the known answer
    marker: bool = False  # a single point (summary.json's held-out preference)


@dataclass(frozen=True)
class Panel:
    title: str
    ylabel: str
    lines: list[Line]
    log_scale: bool = False


@dataclass(frozen=True)
class FigureSpec:
    name: str  # the PNG's file name without .png
    title: str
    panels: list[Panel]


def read_run(path: str | Path, label: str | None = None) -> Run:
    """A run folder (or its metrics.jsonl); one-line errors for a missing run, an empty or broken log."""
    given = Path(path)
    directory = given.parent if given.name == METRICS_FILE else given
    metrics = directory / METRICS_FILE
    if not metrics.is_file():
        what = "no such run folder" if not directory.exists() else f"no {METRICS_FILE} in it"
        raise ArenaError(f"{path}: {what} (expected a folder `arena train` wrote, e.g. runs/NAME)")
    records = []
    for number, line in enumerate(metrics.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise ArenaError(f"{metrics}: line {number}: expected a JSON object, got {line[:40]!r}") from None
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            raise ArenaError(f"{metrics}: line {number}: expected a JSON object with an integer step")
        records.append(record)
    if not records:
        raise ArenaError(f"{metrics}: expected at least one logged step, the log is empty")
    summary: dict[str, Any] = {}
    if (directory / SUMMARY_FILE).is_file():
        try:
            summary = json.loads((directory / SUMMARY_FILE).read_text())
        except ValueError:
            raise ArenaError(f"{directory / SUMMARY_FILE}: expected JSON (a run's summary)") from None
    return Run(label or directory.name, directory, records, summary)


def read_runs(paths: list[str]) -> list[Run]:
    """Each run labelled by its folder's name; by its path where two names are the same."""
    runs = [read_run(path) for path in paths]
    names = [run.label for run in runs]
    return [
        Run(str(run.directory), run.directory, run.records, run.summary)
        if names.count(run.label) > 1
        else run
        for run in runs
    ]


def run_figures(runs: list[Run]) -> list[FigureSpec]:
    """Every figure some run has data for, in a fixed order."""
    figures = [
        _keys_figure(runs, "loss", "loss", ("loss",)),
        _keys_figure(runs, "kl", "KL to the reference", KL_KEYS),
        _reward_figure(runs),
        _keys_figure(runs, "learning_rate", "learning rate", ("learning_rate",)),
        *(_distribution_figure(runs, key) for key in DISTRIBUTION_KEYS),
        _keys_figure(runs, "exploitability", "exploitability (0 at the known answer pi*_tau)",
                     EXPLOITABILITY_KEYS, log_scale=True),
    ]  # fmt: skip
    return [figure for figure in figures if figure is not None and figure.panels]


def _run_label(runs: list[Run], run: Run, what: str) -> str:
    return what if len(runs) == 1 else f"{run.label}: {what}" if what else run.label


def _keys_figure(
    runs: list[Run], name: str, title: str, keys: tuple[str, ...], log_scale: bool = False
) -> FigureSpec | None:
    """One panel per key that some run logged; one line per run."""
    panels = []
    for key in keys:
        lines = [
            Line(_run_label(runs, run, "" if len(runs) > 1 else key), *run.series(key), color=i)
            for i, run in enumerate(runs)
            if run.has(key)
        ]
        if lines:
            positive = all(v > 0 for line in lines for v in line.values if not math.isnan(v))
            panels.append(Panel(key, key, lines, log_scale=log_scale and positive))
    return FigureSpec(name, title, panels) if panels else None


def _reward_figure(runs: list[Run]) -> FigureSpec | None:
    figure = _keys_figure(runs, "reward", "reward and preference against the reference", REWARD_KEYS)
    held_out = [
        (i, run) for i, run in enumerate(runs) if isinstance(run.summary.get(HELD_OUT_PREFERENCE), float)
    ]
    if not held_out:
        return figure
    # The held-out P(beats the reference), after the last step: one point per run.
    points = [
        Line(_run_label(runs, run, "held out"), [int(run.records[-1]["step"])],
             [float(run.summary[HELD_OUT_PREFERENCE])], color=i, marker=True)
        for i, run in held_out
    ]  # fmt: skip
    panels = list(figure.panels) if figure is not None else []
    for position, panel in enumerate(panels):
        if panel.title == "judge_preference":  # the same quantity, on the training prompts
            panels[position] = Panel(panel.title, panel.ylabel, [*panel.lines, *points], panel.log_scale)
            break
    else:
        panels.append(Panel(HELD_OUT_PREFERENCE, "P(beats the reference)", points))
    return FigureSpec("reward", "reward and preference against the reference", panels)


def _distribution_figure(runs: list[Run], key: str) -> FigureSpec | None:
    """One run: one panel, a colour per action. Several: a panel per action, a colour per run. The known
    answer (`equilibrium`) dashed in the same colour."""
    logged = [(i, run) for i, run in enumerate(runs) if run.has(key)]
    if not logged:
        return None
    title = f"{key}; dashed: the known answer pi*_tau"
    if len(runs) == 1:
        run = runs[0]
        lines = []
        for a, action in enumerate(run.actions(key)):
            lines.append(Line(action, *run.series(key, a), color=a))
            if run.has("equilibrium"):
                lines.append(Line(f"{action} pi*_tau", *run.series("equilibrium", a), color=a, dashed=True))
        return FigureSpec(key, title, [Panel(key, "probability", lines)])
    actions = max((run.actions(key) for _, run in logged), key=len)
    panels = []
    for a, action in enumerate(actions):
        lines = []
        for i, run in logged:
            if a >= len(run.actions(key)):
                continue
            lines.append(Line(run.label, *run.series(key, a), color=i))
            if run.has("equilibrium"):
                lines.append(
                    Line(f"{run.label} pi*_tau", *run.series("equilibrium", a), color=i, dashed=True)
                )
        panels.append(Panel(f"P({action})", "probability", lines))
    return FigureSpec(key, title, panels)


def render(spec: FigureSpec) -> Any:
    """The matplotlib Figure of a spec (Agg: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(len(spec.panels), 3)
    rows = math.ceil(len(spec.panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(max(4.2 * columns, 6.4), 3.2 * rows), squeeze=False)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for panel, axis in zip(spec.panels, axes.flat, strict=False):
        for line in panel.lines:
            # A dot at each logged step: a run that logged one step still shows.
            style: dict[str, Any] = {"marker": "o", "markersize": 3}
            if line.dashed:
                style = {"linestyle": "--"}
            elif line.marker:
                style = {"marker": "o", "linestyle": "none"}
            axis.plot(
                line.steps, line.values, label=line.label, color=palette[line.color % len(palette)], **style
            )
        if panel.log_scale:
            axis.set_yscale("log")
        axis.set_title(panel.title, fontsize=10)
        axis.set_xlabel("step")
        axis.set_ylabel(panel.ylabel)
        axis.grid(alpha=0.3)
        if any(line.label for line in panel.lines):
            axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(spec.panels) :]:
        axis.set_visible(False)
    figure.suptitle(spec.title, fontsize=11)
    figure.tight_layout()
    return figure


def save_png(figure: Any, path: Path) -> Path:
    """Write a figure as PNG atomically (a temporary file, then a rename) and close it."""
    import io

    import matplotlib.pyplot as plt

    from arena.io import atomic_write_bytes

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)
    return atomic_write_bytes(path, buffer.getvalue())


def plot_runs(paths: list[str], out: str | None) -> list[Path]:
    """`arena plot`: read every run first (errors before anything is written), then write the PNGs."""
    runs = read_runs(paths)
    if out is None and len(runs) > 1:
        raise ArenaError("--out: expected a folder for the comparison of several runs (got none)")
    target = Path(out) if out is not None else runs[0].directory
    if target.exists() and not target.is_dir():
        raise ArenaError(f"{out}: --out must be a folder, and this is a file")
    target.mkdir(parents=True, exist_ok=True)
    return [save_png(render(spec), target / f"{spec.name}.png") for spec in run_figures(runs)]
