"""Every alignment algorithm side by side, trained from the same reference with the same budget: on two
matrix games (exploitability and distance to the regularised Nash equilibrium against steps) and on the
moves task (a tournament among the results and the reference, judged by the oracle, with Nash intervals).

    python benchmarks/algorithms.py [--out runs/algorithms] [--publish leaderboards/algorithms]
                                    [--only nash-md,sppo] [--quick] [--jobs 2] [--stages runs/quickstart]

Run from the repository root. It runs the algorithms of ALGORITHMS (benchmarks/algorithms_plans.py, each
with explicit args) that the plugin host has registered (`arena plugins`). A run whose recipe is unchanged
and that finished is reused. The moves runs start from the quickstart's reference and judges in --stages
(its sft, reward-model and preference-model), made with `arena quickstart --until preference-model` where
they are missing. The published board: leaderboards/algorithms/README.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from algorithms_board import (  # noqa: E402
    Curve,
    game_named,
    plot_game,
    read_curve,
    readme_text,
    summary_row,
    write_table,
)
from algorithms_plans import (  # noqa: E402
    ALGORITHMS,
    GAME_BUDGET,
    GAME_MODEL,
    GAME_TAUS,
    MOVES_BUDGET,
    MOVES_TASK,
    OFFLINE_GAME_BATCH,
    OFFLINE_PAIRS,
    OFFLINE_TASK_ARGS,
    PI_STAR,
    QUICK_GAME_BUDGET,
    QUICK_MOVES_BUDGET,
    Budget,
    Plan,
)

from arena.io import atomic_write_text  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # the workers inherit it: one thread per training run
RECIPE_COPY = "benchmark-recipe.yaml"  # beside each run: the recipe it ran, to tell when it can be reused
SECONDS_FILE = "benchmark-seconds.txt"
REUSED: list[str] = []  # the runs of this invocation that an earlier one had made (named on the board)
STAGES = ("sft", "reward-model", "preference-model")  # what the moves runs need from the quickstart
REFERENCE = "reference"  # the moves tournament's name for the SFT policy every run starts from


def train_in_process(path: str) -> float:
    """`arena train` on the recipe file in this (worker) process: seconds, the imports not counted."""
    from arena.plugins import make_plugin_host
    from arena.recipes import load_recipe
    from arena.training.loop import train as train_recipe

    started = time.perf_counter()
    host = make_plugin_host()
    train_recipe(load_recipe(path, registries=host.registries, expect="train"), path, host)
    return time.perf_counter() - started


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def run_all(jobs: list[tuple[str, dict[str, Any], Path]], workers: int) -> dict[str, float]:
    """Train every (label, recipe, directory) in `workers` processes that each keep torch and Arena
    imported (a fresh `arena train` pays about 15 s of imports here, more than a game run's training):
    seconds per label. A run whose directory holds the same recipe and a summary is reused (its seconds
    are those of the run that made it)."""
    seconds: dict[str, float] = {}
    pending = []
    for label, recipe, directory in jobs:
        text = yaml.safe_dump(recipe, sort_keys=False)
        copy = directory / RECIPE_COPY
        if (directory / "summary.json").is_file() and copy.is_file() and copy.read_text() == text:
            seconds[label] = read_seconds(directory)
            print(f"  {label}: reused ({seconds[label]:.1f} s)", flush=True)
            REUSED.append(label)
            continue
        if directory.exists():  # an earlier run of another recipe (or one cut short): this benchmark's own
            shutil.rmtree(directory)
        path = directory.parent / f"{directory.name}.yaml"
        atomic_write_text(path, text)
        pending.append((label, path, directory, text))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_one_thread) as pool:
        futures = {
            pool.submit(train_in_process, str(path)): (label, directory, text)
            for label, path, directory, text in pending
        }
        for future in as_completed(futures):
            label, directory, text = futures[future]
            try:
                spent = future.result()
            except Exception as error:  # noqa: BLE001 - one line naming the run, then stop
                raise SystemExit(f"{label}: training failed: {error}") from error
            atomic_write_text(directory / SECONDS_FILE, f"{spent:.1f}\n")
            atomic_write_text(directory / RECIPE_COPY, text)
            seconds[label] = spent
            print(f"  {label}: {spent:.1f} s", flush=True)
    return {label: seconds[label] for label, _, _ in jobs}


def read_seconds(directory: Path) -> float:
    try:
        return float((directory / SECONDS_FILE).read_text())
    except (OSError, ValueError):
        return float("nan")


def game_recipe(plan: Plan, game: str, budget: Budget, out: Path) -> dict[str, Any]:
    assert plan.game_args is not None
    recipe: dict[str, Any] = {
        "kind": "train",
        "name": f"{game}-{plan.algorithm}",
        "algorithm": plan.algorithm,
        "args": plan.game_args(GAME_TAUS[game]),
        "policy": GAME_MODEL,
        "task": {"name": game, "args": dict(OFFLINE_TASK_ARGS) if plan.offline else {}},
    }
    if plan.game_judge is not None:
        recipe["judge"] = plan.game_judge(game)
    recipe["training"] = {
        "steps": budget.steps,
        "batch_size": OFFLINE_GAME_BATCH if plan.offline else budget.batch,
        "learning_rate": plan.game_lr,
        # Online runs are sampled: a decaying rate lets them settle. Offline ones are full batch.
        "schedule": "constant" if plan.offline else "linear",
        "max_grad_norm": None,
        "log_every": budget.log_every,
    }
    recipe["output"] = str(out)
    return recipe


def moves_recipe(plan: Plan, stages: Path, budget: Budget, out: Path) -> dict[str, Any]:
    recipe: dict[str, Any] = {
        "kind": "train",
        "name": f"moves-{plan.algorithm}",
        "algorithm": plan.algorithm,
        "args": dict(plan.moves_args),
        "policy": str(stages / "sft" / "final"),
        "task": MOVES_TASK,
    }
    training: dict[str, Any] = {
        "steps": budget.steps,
        "batch_size": budget.batch,
        "learning_rate": plan.moves_lr,
        "schedule": "constant",
        "log_every": budget.log_every,
    }
    if plan.moves_judge is None:
        training["max_length"] = 64  # as the quickstart's offline recipes
    else:
        recipe["judge"] = {
            "name": plan.moves_judge,
            "args": {"path": str(stages / plan.moves_judge / "final")},
        }
        recipe["generation"] = {"max_new_tokens": 16, "temperature": 1.0}
    return {**recipe, "training": training, "output": str(out)}


def games_board(
    plans: list[Plan], budget: Budget, out: Path, publish: Path, workers: int
) -> dict[str, dict[str, Any]]:
    """Train every plan on every game, then write each game's table and plot into `publish`."""
    on_games = [plan for plan in plans if plan.game_args is not None]
    jobs = [
        (
            f"{game}/{plan.algorithm}",
            game_recipe(plan, game, budget, out / game / plan.algorithm),
            out / game / plan.algorithm,
        )
        for game in GAME_TAUS
        for plan in on_games
    ]
    seconds = run_all(jobs, workers)
    tables = {}
    for name, tau in GAME_TAUS.items():
        game = game_named(name, tau)
        curves: dict[str, Curve] = {}
        rows = []
        for plan in on_games:
            curve = read_curve(out / name / plan.algorithm / "metrics.jsonl")
            curves[plan.algorithm] = curve
            rows.append(
                summary_row(
                    plan.algorithm,
                    curve,
                    game,
                    plan.target,
                    seconds[f"{name}/{plan.algorithm}"],
                    plan.own_target(game)
                    if plan.own_target
                    else (game.equilibrium() if plan.target == PI_STAR else None),
                )
            )
        write_table(rows, game, publish)
        plot_game(curves, game, publish / f"{name}.png")
        tables[name] = {"game": game, "rows": rows}
    return tables


def ensure_stages(stages: Path, out: Path, quick: bool) -> Path:
    """The quickstart's reference and judges: reused where they are, else made by `arena quickstart`. A
    --quick run makes reduced ones under `out`, never in `stages`, where a full run would reuse them."""
    complete = lambda folder: all((folder / stage / "final").is_dir() for stage in STAGES)  # noqa: E731
    if complete(stages):
        return stages
    target = out / "quickstart-reduced" if quick else stages
    if complete(target):
        return target
    command = ["arena", "quickstart", "--out", str(target), "--until", STAGES[-1], "--seeds", "1"]
    command += ["--reduced"] if quick else []
    print("  " + shlex.join(command), flush=True)
    subprocess.run([sys.executable, "-m", *command], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return target


def tournament_recipe(
    runs: dict[str, Path], stages: Path, out: Path, publish: Path, quick: bool
) -> dict[str, Any]:
    return {
        "kind": "tournament",
        "name": "algorithms-moves",
        "entrants": [{"name": REFERENCE, "model": str(stages / "sft")}]
        + [{"name": name, "model": str(path)} for name, path in runs.items()],
        "task": MOVES_TASK,
        "judge": {"name": "moves-oracle", "args": dict(MOVES_TASK["args"])},
        "samples_per_prompt": 2 if quick else 8,
        "backend": "hf",  # tiny models: vLLM's engine start per entrant costs more than the generation
        "generation": {"max_new_tokens": 24, "temperature": 1.0, "seed": 0},
        "ratings": {"bootstrap": 20 if quick else 200},
        "output": str(out),
        "publish_to": str(publish),
    }


def moves_board(
    plans: list[Plan], budget: Budget, stages: Path, out: Path, publish: Path, workers: int, quick: bool
) -> dict[str, Any]:
    """Train every plan on moves from the quickstart's reference, then the oracle-judged tournament among
    them and the reference, published with the moves task's report (each entrant's moves, exploitability)."""
    stages = ensure_stages(stages, out, quick)
    jobs = [
        (
            f"moves/{plan.algorithm}",
            moves_recipe(plan, stages, budget, out / plan.algorithm),
            out / plan.algorithm,
        )
        for plan in plans
    ]
    seconds = run_all(jobs, workers)
    recipe_file = out / "tournament.yaml"
    atomic_write_text(
        recipe_file,
        yaml.safe_dump(
            tournament_recipe(
                {p.algorithm: out / p.algorithm for p in plans}, stages, out / "tournament", publish, quick
            ),
            sort_keys=False,
        ),
    )
    started = time.perf_counter()
    summary = publish_tournament(recipe_file)
    print(f"  moves tournament: {time.perf_counter() - started:.1f} s", flush=True)
    return {"seconds": seconds, "summary": summary, "recipe": str(recipe_file), "stages": str(stages)}


def publish_tournament(recipe_file: Path) -> dict[str, Any]:
    """`arena tournament` in this process, then the task's report beside the board (as the quickstart does)."""
    import pandas as pd

    from arena.api.reports import TournamentResult
    from arena.page import add_columns
    from arena.plugins import make_plugin_host
    from arena.recipes import load_recipe
    from arena.tournament.run import publish_dir, run_tournament

    host = make_plugin_host()
    recipe = load_recipe(recipe_file, registries=host.registries, expect="tournament")
    matches_file = recipe_file.parent / "tournament-matches.csv"
    summary = run_tournament(recipe, str(recipe_file), host, export=str(matches_file))
    task = host.build_task(recipe.task.name, recipe.task.args)
    target = publish_dir(recipe)
    report = task.tournament_report(
        TournamentResult(recipe, summary["published"], pd.read_csv(matches_file), summary["samples"], target)
    )
    for name, text in report.files.items():
        atomic_write_text(target / name, text)
    if (target / "index.html").is_file() and report.rows:
        add_columns(
            target / "index.html", [c.key for c in report.columns], {row["model"]: row for row in report.rows}
        )
    return {key: summary[key] for key in ("entrants", "matches", "prompts", "backend", "leaderboard")}


def machine() -> str:
    cores = os.cpu_count()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    python = platform.python_version()
    return f"{platform.machine()}, {cores} cores, Python {python}, 1-minute load {load:.1f} at the start"


def parse_only(text: str) -> list[str]:
    """--only's names, each one of the table's; otherwise one line on stderr and exit code 2."""
    planned = sorted(plan.algorithm for plan in ALGORITHMS)
    names = [name for name in text.split(",") if name]
    unknown = [name for name in names if name not in planned]
    if unknown:
        print(
            f"--only: unknown algorithm '{unknown[0]}' (the table has: {', '.join(planned)})", file=sys.stderr
        )
        raise SystemExit(2)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/algorithms"))
    parser.add_argument("--publish", type=Path, default=Path("leaderboards/algorithms"))
    parser.add_argument(
        "--only", default="", help="comma-separated algorithms (default: every registered one in the table)"
    )
    parser.add_argument("--quick", action="store_true", help="a few steps of everything: a smoke run")
    parser.add_argument("--jobs", type=int, default=2, help="training runs at a time (each one thread)")
    parser.add_argument(
        "--part",
        choices=["all", "games"],
        default="all",
        help="games: train and publish the games only (no README)",
    )
    parser.add_argument("--stages", type=Path, default=Path("runs/quickstart"), help="the quickstart's runs")
    options = parser.parse_args()

    planned = {plan.algorithm for plan in ALGORITHMS}
    only = parse_only(options.only)
    from arena.plugins import make_plugin_host

    registered = make_plugin_host().algorithms.names()
    plans = [p for p in ALGORITHMS if p.algorithm in registered and (not only or p.algorithm in only)]
    absent = [p.algorithm for p in ALGORITHMS if p.algorithm not in registered]
    unplanned = [name for name in registered if name not in planned and name != "sft"]
    command = shlex.join(["python", "benchmarks/algorithms.py", *sys.argv[1:]])
    started, at = time.perf_counter(), machine()
    print(f"{len(plans)} algorithms: {', '.join(p.algorithm for p in plans)}", flush=True)
    game_budget, moves_budget = (
        (QUICK_GAME_BUDGET, QUICK_MOVES_BUDGET) if options.quick else (GAME_BUDGET, MOVES_BUDGET)
    )
    print("games:", flush=True)
    games = games_board(plans, game_budget, options.out / "games", options.publish, options.jobs)
    if options.part == "games":
        return
    print("moves:", flush=True)
    moves = moves_board(
        plans,
        moves_budget,
        options.stages,
        options.out / "moves",
        options.publish / "moves",
        options.jobs,
        options.quick,
    )
    wall = time.perf_counter() - started
    text = readme_text(
        command=command,
        machine=at,
        wall_seconds=wall,
        plans=plans,
        taus=GAME_TAUS,
        games=games,
        game_budget=game_budget,
        offline_pairs=OFFLINE_PAIRS,
        moves_budget=moves_budget,
        moves_dir=options.publish / "moves",
        moves=moves,
        stages=moves["stages"],
        reused=REUSED,
        missing=absent,
        unplanned=unplanned,
    )
    atomic_write_text(options.publish / "README.md", text)
    atomic_write_text(
        options.publish / "run.json",
        json.dumps(
            {
                "command": command,
                "machine": at,
                "wall_seconds": round(wall, 1),
                "algorithms": [p.algorithm for p in plans],
                "not_registered": absent,
            },
            indent=2,
        )
        + "\n",
    )
    print(f"published {options.publish}/README.md ({wall:.0f} s)")


if __name__ == "__main__":
    main()
