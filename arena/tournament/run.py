"""`arena tournament`: generate (once per model), judge (both orders), check the judge, rate and publish."""

from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena import console
from arena.errors import recipe_errors
from arena.generation.base import Sample, SamplingSettings
from arena.io import atomic_write_text
from arena.oracle import HOST_PLUGIN
from arena.recipes import TournamentRecipe, output_dir, save_resolved
from arena.schema import to_plain
from arena.tournament.endpoint import ENDPOINT_BACKEND, generate_block
from arena.tournament.executor import Executor, GenerationBlock, LocalExecutor, PluginSpec
from arena.tournament.fingerprint import judge_fingerprint, model_fingerprint
from arena.tournament.generate import entrant_samples, plan_blocks, settings_key, store_block
from arena.tournament.inputs import EntrantSource, load_entrants, load_prompts
from arena.tournament.judging import (
    check_unreadable,
    match_rows,
    pairwise_items,
    pointwise_items,
    run_judge,
)
from arena.tournament.outputs import OUTPUTS_SETTINGS
from arena.tournament.progress import StageReporter
from arena.tournament.store import TournamentStore


def default_backend(plugins: Any) -> str:
    """vLLM when it is installed (and registered), else transformers."""
    if "vllm" in plugins.backends and importlib.util.find_spec("vllm") is not None:
        return "vllm"
    return "hf"


@dataclass
class Played:
    """What the generation and judging stages leave for rating and the summary."""

    fingerprints: dict[str, str]
    samples: dict[str, dict[str, list[Sample]]]
    rows: list[dict[str, Any]]
    pointwise: bool = False
    generated: int = 0  # samples the backend (or an endpoint) returned this run
    stored: int = 0  # of them, the ones new to the store
    from_files: int = 0  # samples read from entrants' files of outputs (never generated)
    endpoint_counters: dict[str, dict[str, int]] = field(default_factory=dict)  # per endpoint entrant
    judged: int = 0  # items the judge was asked this run
    items: int = 0  # items behind the board (cached or judged this run)
    counters: dict[str, int] = field(default_factory=dict)  # over the judge calls behind the board
    timings: dict[str, float] = field(default_factory=dict)


def run_tournament(
    recipe: TournamentRecipe, recipe_file: str, plugins: Any, *, export: str | None = None
) -> dict[str, Any]:
    """Generate, judge, rate and publish. The boundary that knows the recipe's file: a problem with one
    of its keys found below is reported as `FILE: key: expected`."""
    with recipe_errors(recipe_file):
        return _run(recipe, plugins, export)


def plugin_spec(registry: Any, name: str, args: Any) -> PluginSpec:
    """What a worker needs to build the entry: its name, args, and the one plugin that registered it (the
    host's own entries, such as `oracle`, read other plugins' tasks: those workers load every plugin)."""
    plugin = registry.get(name).plugin
    return PluginSpec(name, args, None if plugin == HOST_PLUGIN else (plugin,))


def _run(recipe: TournamentRecipe, plugins: Any, export: str | None) -> dict[str, Any]:
    started = time.perf_counter()
    out = output_dir(recipe)
    prompts = load_prompts(recipe, plugins)  # before anything is written: bad input stops here
    sources = load_entrants(recipe, prompts)  # so does a file of outputs that lacks prompts
    backend_name = recipe.backend.name if recipe.backend else default_backend(plugins)
    plugins.backends.get(backend_name)  # an unknown default backend stops the run here, not in a worker
    executor = make_executor(recipe, plugins)
    try:
        # The judge is built (or starts building) before anything is written or generated: one that
        # cannot load stops the run before work is spent.
        executor.open_judge(plugins, plugin_spec(plugins.judges, recipe.judge.name, recipe.judge.args))
        store = TournamentStore(out / "tournament.sqlite")
        try:
            save_resolved(recipe, out)
            played = _play(recipe, plugins, store, executor, prompts, sources, backend_name)
            # Checked before anything is published; the judgments stay in the store, so a rerun with
            # another threshold judges nothing again.
            note = check_unreadable(
                recipe.judge.name,
                played.counters,
                played.items,
                recipe.judge.max_unreadable,
                str(out / "tournament.sqlite"),
            )
            if note:
                console.log_line(note)
        finally:
            store.close()
    finally:
        executor.close()

    stage = time.perf_counter()
    board, published = _publish(
        recipe,
        played.rows,
        played.samples,
        prompts,
        backend_name,
        played.fingerprints,
        export,
        played.counters,
        {source.name: source.kind for source in sources},
    )
    played.timings["rating"] = time.perf_counter() - stage
    summary = {
        "name": recipe.name,
        "entrants": [e.name for e in recipe.entrants],
        "prompts": len(prompts),
        "samples_per_prompt": recipe.samples_per_prompt,
        "backend": backend_name,
        "executor": recipe.executor.name if recipe.executor else "local",
        "judge": recipe.judge.name,
        "pointwise_judge": played.pointwise,
        # Samples the backend returned this run, and how many of them were new to the store (fewer only
        # when a block is regenerated for samples it lacked, e.g. after samples_per_prompt grew).
        "samples_generated": played.generated,
        "samples_stored": played.stored,
        # Only where entrants are files of outputs or endpoints, so other tournaments' summaries keep
        # their keys: samples read from files (not generated), and what each endpoint was asked.
        **({"samples_from_files": played.from_files} if any(s.kind == "outputs" for s in sources) else {}),
        **({"endpoints": played.endpoint_counters} if played.endpoint_counters else {}),
        "judge_items": played.judged,
        # What the judge counted in the calls behind this board, cached ones included (e.g. the LLM
        # judge's unreadable verdicts, checked against judge.max_unreadable)
        "judge_counters": played.counters,
        "matches": len(played.rows),
        "seconds": {**played.timings, "total": time.perf_counter() - started},
        "leaderboard": str(publish_dir(recipe)),
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    summary["board"] = board
    summary["published"] = published  # leaderboard.json's content, as written
    summary["samples"] = played.samples  # {entrant: {prompt: [Sample]}}, e.g. for a task's per-entrant report
    return summary


def _play(
    recipe: TournamentRecipe,
    plugins: Any,
    store: TournamentStore,
    executor: Executor,
    prompts: list[str],
    sources: list[EntrantSource],
    backend_name: str,
) -> Played:
    """Generate what the store lacks, then judge what it lacks; the executor computes, this stores."""
    entrants = [(s.name, s.model) for s in sources if s.kind == "model" and s.model is not None]
    names = [source.name for source in sources]
    sampling, n = SamplingSettings.of(recipe.generation), recipe.samples_per_prompt
    reporter = StageReporter()
    fingerprints = {s.name: s.fingerprint or model_fingerprint(str(s.model), store) for s in sources}
    stage = time.perf_counter()
    played = Played(fingerprints, {}, [])
    for source in sources:  # a file's outputs are stored like samples: the store holds the whole board
        if source.samples is not None:
            rows = [(i, sample) for prompt in prompts for i, sample in enumerate(source.samples[prompt])]
            store.add_samples(fingerprints[source.name], OUTPUTS_SETTINGS, rows)
            played.from_files += len(rows)
    _generate_endpoints(recipe, store, sources, fingerprints, prompts, sampling, reporter, played)
    blocks = plan_blocks(
        store, entrants, fingerprints, backend_name, prompts, n, sampling, recipe.commit_every
    )
    if blocks:
        backend = plugin_spec(plugins.backends, backend_name, recipe.backend.args if recipe.backend else None)
        with reporter.stage(_generating(blocks), sum(len(b.prompts) for b in blocks)) as advance:
            for block, results in executor.generate(plugins, backend, blocks, n):
                generated, stored = store_block(store, block, results, backend_name, sampling)
                played.generated += generated
                played.stored += stored
                advance(len(block.prompts))
    played.timings["generation"] = time.perf_counter() - stage

    stage = time.perf_counter()
    stored_as = {
        "model": settings_key(backend_name, sampling),
        "endpoint": settings_key(ENDPOINT_BACKEND, sampling),
        "outputs": OUTPUTS_SETTINGS,
    }
    played.samples = {
        s.name: entrant_samples(store, fingerprints[s.name], stored_as[s.kind], prompts, n) for s in sources
    }
    pointwise = played.pointwise = executor.pointwise()
    judge_fp = judge_fingerprint(recipe.judge.name, recipe.judge.args, store)
    items = (
        pointwise_items(names, prompts, played.samples)
        if pointwise
        else pairwise_items(names, prompts, played.samples)
    )
    with reporter.stage(f"judging ({recipe.judge.name})", len(items)) as advance:
        played.judged = run_judge(
            store, executor, recipe.judge.name, judge_fp, items, pointwise, recipe.commit_every, advance
        )
    played.items = len(items)
    played.counters = store.call_counters(judge_fp, pointwise, items)
    played.rows = match_rows(
        names,
        prompts,
        played.samples,
        store.judgments(judge_fp),
        store.scores(judge_fp),
        pointwise,
        recipe.judge.name,
    )
    played.timings["judging"] = time.perf_counter() - stage
    return played


def _generate_endpoints(
    recipe: TournamentRecipe,
    store: TournamentStore,
    sources: list[EntrantSource],
    fingerprints: dict[str, str],
    prompts: list[str],
    sampling: SamplingSettings,
    reporter: StageReporter,
    played: Played,
) -> None:
    """What endpoint entrants lack, asked from this process (the server does the work), block by block,
    each stored at once like a model's."""
    clients = {s.name: s.client for s in sources if s.client is not None}
    entrants = [(name, client.endpoint.url) for name, client in clients.items()]
    n = recipe.samples_per_prompt
    blocks = plan_blocks(
        store, entrants, fingerprints, ENDPOINT_BACKEND, prompts, n, sampling, recipe.commit_every
    )
    if blocks:
        with reporter.stage(_generating(blocks), sum(len(b.prompts) for b in blocks)) as advance:
            for block in blocks:
                results = generate_block(clients[block.entrant], block, n)
                generated, stored = store_block(store, block, results, ENDPOINT_BACKEND, sampling)
                played.generated += generated
                played.stored += stored
                advance(len(block.prompts))
    played.endpoint_counters = {name: client.counters() for name, client in clients.items()}


def make_executor(recipe: TournamentRecipe, plugins: Any) -> Executor:
    """The recipe's executor; without one, the local executor, which the host owns (no plugin needed)."""
    if recipe.executor is None:
        return LocalExecutor()
    return plugins.executors.get(recipe.executor.name).build(recipe.executor.args)


def _generating(blocks: list[GenerationBlock]) -> str:
    names = list(dict.fromkeys(block.entrant for block in blocks))
    return f"generating {', '.join(names)}" if len(names) <= 3 else f"generating {len(names)} entrants"


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
    judge_counters: dict[str, int],
    kinds: dict[str, str],
) -> tuple[Any, dict[str, Any]]:
    """Rate the matches and publish the board, with the tournament's details in leaderboard.json (written
    once); returns the board and that file's content."""
    import pandas as pd

    from arena.leaderboard import publish
    from arena.page.samples import sample_pairs
    from arena.ratings.matches import matches_from_frame
    from arena.ratings.table import build_leaderboard, leaderboard_json

    frame = pd.DataFrame(rows, columns=["model_a", "model_b", "p_a", "prompt_id", "judge"])
    if len(prompts) < 2:
        # Resampling one prompt would give zero-width intervals: bootstrap the matches instead.
        frame = frame.drop(columns="prompt_id")
    name = recipe.leaderboard or recipe.name
    source = f"tournament {recipe.name}"
    control = None
    if recipe.ratings.control != "none":
        from arena.ratings.style_control import control_from_frame

        texts = pd.DataFrame(rows, columns=["response_a", "response_b"])
        control = control_from_frame(pd.concat([frame, texts], axis=1), recipe.ratings.control, source)
    board = build_leaderboard(
        matches_from_frame(frame, source),
        name,
        bootstrap=recipe.ratings.bootstrap,
        seed=recipe.ratings.seed,
        nash_temperature=recipe.ratings.nash_temperature,
        judge_counters=judge_counters,
        control=control,
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
                **_source_details(entrant),
                "fingerprint": fingerprints[entrant.name],
                # Files and endpoints give texts, not this tokenizer's tokens: no token count for them.
                "mean_response_tokens": _mean(
                    [len(s.token_ids) for p in prompts for s in samples[entrant.name][p]]
                )
                if kinds[entrant.name] == "model"
                else None,
                "mean_response_chars": _mean(
                    [len(s.text) for p in prompts for s in samples[entrant.name][p]]
                ),
            }
            for entrant in recipe.entrants
        },
    }
    samples_shown = sample_pairs(rows, prompts)  # a few judged pairs per pair, for the page's panel
    for target in (output_dir(recipe) / "leaderboard", publish_dir(recipe)):
        publish(board, target, details, samples_shown)
    if export:
        atomic_write_text(export, frame.to_csv(index=False))
    return board, {**leaderboard_json(board), **details}


def _source_details(entrant: Any) -> dict[str, Any]:
    """The entrant's source as leaderboard.json names it (an endpoint by URL and model, never its key)."""
    if entrant.outputs is not None:
        return {"outputs": entrant.outputs}
    if entrant.endpoint is not None:
        return {"endpoint": {"base_url": entrant.endpoint.base_url, "model": entrant.endpoint.model}}
    return {"model": entrant.model}


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0
