"""Run the quickstart's stages in order; a stage whose inputs and recipe are unchanged is reused.

Each stage records `quickstart-stage.json` in its directory: the stage's key (a hash of its recipe as
run, the model spec for the first stage, and the keys of the stages it reads) and whether it finished.
A rerun skips finished stages with the same key, resumes a training stage that was stopped with the same
key (from its last checkpoint), and redoes anything whose inputs changed. Tournaments keep their SQLite
store, so even a redone tournament generates and judges only what is new.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from arena import console
from arena.errors import ArenaError, RecipeError
from arena.io import atomic_write_text
from arena.quickstart.plan import (
    QUICKSTART_FILE,
    QuickstartOptions,
    QuickstartTask,
    Stage,
    depends_on,
    prepare_raw,
    produced_dirs,
    read_quickstart_task,
    task_args,
)
from arena.recipes import output_dir, parse_recipe, read_yaml_mapping, resolved_yaml
from arena.schema import FieldError, assume_produced, convert
from arena.tiny import TinyModelSpec

STATE_FILE = "quickstart-stage.json"
MATCHES_FILE = "matches.csv"  # every match of a tournament stage, for the algorithm table's bootstrap
MODEL_SEED = 0


@dataclass
class StageResult:
    stage: Stage
    reused: bool
    seconds: float  # this run's; for a reused stage, the run that made it
    outcome: str  # one line: what the stage produced
    # A tournament's ranking for the terminal: (title, headings, rows of cells)
    ranking: tuple[str, list[str], list[list[str]]] | None = None


@dataclass
class _Prepared:
    stage: Stage
    file: str
    recipe: Any  # a parsed recipe; for the model stage, the task whose corpus it trains the tokenizer on
    key: str


def plan_quickstart(options: QuickstartOptions, host: Any) -> list[tuple[Stage, str, str]]:
    """Validate every stage's recipe (the chain as a whole) and say what a run would do with each:
    (stage, recipe file, "reuse" | "resume" | "run")."""
    plan = []
    for item in _prepare_all(_selected(options), options, host):
        state = _read_state(options.stage_dir(item.stage))
        same = state.get("key") == item.key
        action = "reuse" if same and state.get("finished") else "resume" if same else "run"
        plan.append((item.stage, item.file, action))
    return plan


def run_quickstart(options: QuickstartOptions, host: Any) -> dict[str, Any]:
    """Run every stage (or reuse it); publish the leaderboards; return the summary also saved as JSON."""
    started = time.perf_counter()
    stages = _selected(options)
    prepared = _prepare_all(stages, options, host)  # bad input stops here, before anything is written
    options.out.mkdir(parents=True, exist_ok=True)
    results: list[StageResult] = []
    for number, item in enumerate(prepared, start=1):
        console.stderr().rule(f"[{number}/{len(prepared)}] {item.stage.name}: {item.stage.title}")
        results.append(_run_stage(item, options, host))
    summary = {
        "reduced": options.reduced,
        "out": str(options.out),
        "leaderboard": str(options.publish_to),
        "stages": [
            {"name": r.stage.name, "reused": r.reused, "seconds": round(r.seconds, 2), "outcome": r.outcome}
            for r in results
        ],
        "seconds": round(time.perf_counter() - started, 2),
    }
    atomic_write_text(options.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return {**summary, "results": results}


def _selected(options: QuickstartOptions) -> list[Stage]:
    stages = options.stages
    if not options.until:
        return list(stages)
    names = [stage.name for stage in stages]
    unknown = [name for name in options.until if name not in names]
    if unknown:
        raise ArenaError(f"--until: unknown stage '{unknown[0]}' (stages: {', '.join(names)})")
    last = max(names.index(name) for name in options.until)
    return list(stages[: last + 1])


def _prepare_all(stages: list[Stage], options: QuickstartOptions, host: Any) -> list[_Prepared]:
    if not options.recipes.is_dir():
        raise ArenaError(
            f"--recipes: '{options.recipes}' is not a directory (expected the quickstart's recipes)"
        )
    task = read_quickstart_task(options.recipes)
    prepared: list[_Prepared] = []
    keys: dict[str, str] = {}
    with assume_produced(produced_dirs(options)):
        for stage in stages:
            if stage.recipe is None:
                # The key names the args only (as it always has): a key that changed would rebuild the
                # model, and with it every stage.
                model = {
                    "spec": asdict(TinyModelSpec()),
                    "seed": MODEL_SEED,
                    "task": task_args(options, task),
                }
                corpus_task = _corpus_task(task, options, host)
                item = _Prepared(stage, "", corpus_task, _digest(json.dumps(model, sort_keys=True)))
            else:
                file = str(options.recipes / stage.recipe)
                raw = prepare_raw(stage, read_yaml_mapping(file), options, task)
                recipe = parse_recipe(file, raw, registries=host.registries)
                if stage.kind == "tournament":
                    _check_report(recipe, file, host)
                inputs = [keys[s.name] for s in stages if s.name in keys and depends_on(raw, s, options)]
                item = _Prepared(stage, file, recipe, _digest(resolved_yaml(recipe), *inputs))
            keys[stage.name] = item.key
            prepared.append(item)
    return prepared


def _corpus_task(task: QuickstartTask, options: QuickstartOptions, host: Any) -> Any:
    """The shared task, built from its args, which must provide the tiny model's corpus."""
    file = str(options.recipes / QUICKSTART_FILE)
    entry = host.registries["tasks"].get(task.name)
    try:
        config = convert(task_args(options, task), entry.config, "task.args")
    except FieldError as error:
        raise RecipeError(file, error.key, error.expected) from None
    built = host.build_task(task.name, config)
    if not built.provides_corpus:
        raise RecipeError(file, "task", f"task '{task.name}' does not provide a corpus (provides_corpus)")
    return built


def _check_report(recipe: Any, file: str, host: Any) -> None:
    """The quickstart publishes its tournaments with their task's report: a task that has none stops the
    run before anything is written."""
    if recipe.task is None:
        raise RecipeError(file, "task", "expected the quickstart's task (its report is published)")
    if not host.build_task(recipe.task.name, recipe.task.args).provides_report:
        raise RecipeError(
            file, "task", f"task '{recipe.task.name}' does not provide a report (provides_report)"
        )


def _run_stage(item: _Prepared, options: QuickstartOptions, host: Any) -> StageResult:
    directory = options.stage_dir(item.stage)
    state = _read_state(directory)
    same = state.get("key") == item.key
    # A tournament always runs: its store makes a rerun generate and judge nothing, and publishing again
    # keeps the leaderboard's README and moves in step with the code that writes them.
    if same and state.get("finished") and item.stage.kind != "tournament":
        console.log_line(f"{item.stage.name}: reused (finished before, inputs unchanged)")
        return StageResult(item.stage, True, float(state.get("seconds", 0.0)), str(state.get("outcome", "")))
    resume = same and (directory / "checkpoints").is_dir()
    if directory.exists() and not resume and item.stage.kind != "tournament":
        shutil.rmtree(directory)  # made from other inputs: start it again
    directory.mkdir(parents=True, exist_ok=True)
    _write_state(directory, {"key": item.key, "finished": False})
    started = time.perf_counter()
    reused = False
    ranking = None
    if item.stage.kind == "model":
        outcome = _build_model(directory, item.recipe)
    elif item.stage.kind == "train":
        outcome = _train(item, host, resume)
    else:
        outcome, reused, ranking = _tournament(item, host)
    seconds = time.perf_counter() - started
    _write_state(directory, {"key": item.key, "finished": True, "seconds": seconds, "outcome": outcome})
    return StageResult(item.stage, reused, seconds, outcome, ranking)


def _build_model(directory: Path, task: Any) -> str:
    from arena.tiny import build_tiny_model

    lines = task.corpus()
    build_tiny_model(directory, lines, seed=MODEL_SEED, spec=TinyModelSpec(), overwrite=True)
    return f"tokenizer trained on {len(lines)} lines; random Llama, seed {MODEL_SEED}"


def _train(item: _Prepared, host: Any, resume: bool) -> str:
    from arena.training.loop import train

    summary = train(item.recipe, item.file, host, resume=resume)
    final = summary.get("final", {})
    parts = [f"{summary['steps']} steps", f"loss {final.get('loss', float('nan')):.4f}"]
    if "eval" in summary and summary["eval"]:
        parts.append(f"held-out accuracy {summary['eval']['accuracy']:.3f}")
    if "preference_vs_reference" in summary:
        parts.append(f"P(beats reference) {summary['preference_vs_reference']:.3f}")
    return ", ".join(parts)


def _tournament(item: _Prepared, host: Any) -> tuple[str, bool, tuple[str, list[str], list[list[str]]]]:
    """Run (or continue) the tournament and publish it with its task's report; reused when nothing had to
    be generated or judged."""
    from arena.quickstart.narrative import ranking_rows
    from arena.quickstart.report import publish_report
    from arena.tournament.run import run_tournament

    task = host.build_task(item.recipe.task.name, item.recipe.task.args)
    matches_file = output_dir(item.recipe) / MATCHES_FILE
    summary = run_tournament(item.recipe, item.file, host, export=str(matches_file))
    report, table = publish_report(task, item.recipe, summary, matches_file)
    board = summary["published"]
    if table is not None:  # the algorithm table: each algorithm's training runs pooled
        ranking = (f"algorithms ({board['name']})", *ranking_rows(table, table["models"], report.columns))
    else:
        ranking = (f"leaderboard {board['name']}", *ranking_rows(board, report.rows, report.columns))
    outcome = (
        f"{len(summary['entrants'])} entrants, {summary['matches']} matches on {summary['prompts']} prompts "
        f"({summary['backend']}); published to {summary['leaderboard']}/"
    )
    return outcome, summary["samples_generated"] == 0 and summary["judge_items"] == 0, ranking


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def _read_state(directory: Path) -> dict[str, Any]:
    try:
        return json.loads((directory / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _write_state(directory: Path, state: dict[str, Any]) -> None:
    atomic_write_text(directory / STATE_FILE, json.dumps(state, indent=2) + "\n")
