"""`arena tournament`: generate (once per entrant), judge (both orders), rate and publish."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Any

from arena.generation.base import SamplingSettings
from arena.io import atomic_write_text
from arena.judging import PointwiseJudge
from arena.recipes import TournamentRecipe, output_dir, save_resolved
from arena.schema import to_plain
from arena.tournament.fingerprint import judge_fingerprint, model_fingerprint
from arena.tournament.generate import entrant_samples, generate_entrant
from arena.tournament.inputs import entrant_model, load_prompts
from arena.tournament.judging import match_rows, pairwise_items, pointwise_items, run_judge
from arena.tournament.progress import StageReporter
from arena.tournament.store import TournamentStore


def default_backend(plugins: Any) -> str:
    """vLLM when it is installed (and registered), else transformers."""
    if "vllm" in plugins.backends and importlib.util.find_spec("vllm") is not None:
        return "vllm"
    return "hf"


def run_tournament(
    recipe: TournamentRecipe, recipe_file: str, plugins: Any, *, export: str | None = None
) -> dict[str, Any]:
    started = time.perf_counter()
    out = output_dir(recipe)
    prompts = load_prompts(recipe, recipe_file, plugins)  # before anything is written: bad input stops here
    entrants = [(e.name, entrant_model(e.model)) for e in recipe.entrants]
    backend_name = recipe.backend.name if recipe.backend else default_backend(plugins)
    backend_entry = plugins.backends.get(backend_name)
    backend_args = recipe.backend.args if recipe.backend else None
    judge = plugins.judges.get(recipe.judge.name).build(recipe.judge.args)
    pointwise = isinstance(judge, PointwiseJudge)
    sampling = SamplingSettings.of(recipe.generation)
    n = recipe.samples_per_prompt

    store = TournamentStore(out / "tournament.sqlite")
    save_resolved(recipe, out)
    reporter = StageReporter()
    timings: dict[str, float] = {}
    try:
        fingerprints = {name: model_fingerprint(model, store) for name, model in entrants}
        stage = time.perf_counter()
        generated, backend = 0, None
        for name, model in entrants:
            with reporter.stage(f"generating {name}", len(prompts)) as advance:
                backend = backend or backend_entry.build(backend_args)
                generated += generate_entrant(
                    store,
                    backend,
                    model,
                    fingerprints[name],
                    backend_name,
                    prompts,
                    n,
                    sampling,
                    recipe.commit_every,
                    advance,
                )
        timings["generation"] = time.perf_counter() - stage

        stage = time.perf_counter()
        samples = {
            name: entrant_samples(store, fingerprints[name], backend_name, sampling, prompts, n)
            for name, _ in entrants
        }
        names = [name for name, _ in entrants]
        judge_fp = judge_fingerprint(recipe.judge.name, recipe.judge.args, store)
        items = (
            pointwise_items(names, prompts, samples) if pointwise else pairwise_items(names, prompts, samples)
        )
        with reporter.stage(f"judging ({recipe.judge.name})", len(items)) as advance:
            judged = run_judge(
                store, judge, recipe.judge.name, judge_fp, items, pointwise, recipe.commit_every, advance
            )
        rows = match_rows(
            names,
            prompts,
            samples,
            store.judgments(judge_fp),
            store.scores(judge_fp),
            pointwise,
            recipe.judge.name,
        )
        timings["judging"] = time.perf_counter() - stage
    finally:
        store.close()

    stage = time.perf_counter()
    board = _publish(recipe, rows, samples, prompts, backend_name, fingerprints, export)
    timings["rating"] = time.perf_counter() - stage
    summary = {
        "name": recipe.name,
        "entrants": names,
        "prompts": len(prompts),
        "samples_per_prompt": n,
        "backend": backend_name,
        "judge": recipe.judge.name,
        "pointwise_judge": pointwise,
        "samples_generated": generated,
        "judge_items": judged,
        # e.g. the LLM judge's unreadable verdicts in this run (counted and reported, never given to a side)
        "judge_counters": judge.counters() if callable(getattr(judge, "counters", None)) else None,
        "matches": len(rows),
        "seconds": {**timings, "total": time.perf_counter() - started},
        "leaderboard": str(publish_dir(recipe)),
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    summary["board"] = board
    summary["samples"] = samples  # {entrant: {prompt: [Sample]}}, e.g. for a task's per-entrant report
    return summary


def publish_dir(recipe: TournamentRecipe) -> Path:
    return (
        Path(recipe.publish_to)
        if recipe.publish_to
        else Path("leaderboards") / (recipe.leaderboard or recipe.name)
    )


def _publish(
    recipe: TournamentRecipe,
    rows: list[dict[str, Any]],
    samples: dict[str, dict[str, list[Any]]],
    prompts: list[str],
    backend_name: str,
    fingerprints: dict[str, str],
    export: str | None,
) -> Any:
    import pandas as pd

    from arena.leaderboard import publish
    from arena.ratings.matches import matches_from_frame
    from arena.ratings.table import build_leaderboard

    frame = pd.DataFrame(rows, columns=["model_a", "model_b", "p_a", "prompt_id", "judge"])
    if len(prompts) < 2:
        # Resampling one prompt would give zero-width intervals: bootstrap the matches instead.
        frame = frame.drop(columns="prompt_id")
    name = recipe.leaderboard or recipe.name
    board = build_leaderboard(
        matches_from_frame(frame, f"tournament {recipe.name}"),
        name,
        bootstrap=recipe.bootstrap,
        seed=recipe.generation.seed,
    )
    details = {
        "tournament": {
            "name": recipe.name,
            "judge": to_plain(recipe.judge),
            "prompts": to_plain(recipe.prompts) if recipe.prompts else {"task": to_plain(recipe.task)},
            "prompt_count": len(prompts),
            "samples_per_prompt": recipe.samples_per_prompt,
            "generation": to_plain(recipe.generation),
            "backend": backend_name,
        },
        "entrants": {
            entrant.name: {
                "model": entrant.model,
                "fingerprint": fingerprints[entrant.name],
                "mean_response_tokens": _mean(
                    [len(s.token_ids) for p in prompts for s in samples[entrant.name][p]]
                ),
                "mean_response_chars": _mean(
                    [len(s.text) for p in prompts for s in samples[entrant.name][p]]
                ),
            }
            for entrant in recipe.entrants
        },
    }
    for target in (output_dir(recipe) / "leaderboard", publish_dir(recipe)):
        publish(board, target)
        board_file = target / "leaderboard.json"
        content = json.loads(board_file.read_text())
        atomic_write_text(board_file, json.dumps({**content, **details}, indent=2) + "\n")
    if export:
        atomic_write_text(export, frame.to_csv(index=False))
    return board


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0
