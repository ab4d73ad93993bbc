"""Judged pairs per second for each judge type, and what pointwise scoring saves in a round robin.

    python benchmarks/judges.py                       # M = 8 models, P = 32 prompts (about a minute)
    python benchmarks/judges.py --models 4 --prompts 8 --repeats 1

A round robin of M models on P prompts judges P M (M - 1) / 2 pairs. A pairwise judge (preference
model, LLM judge) reads every pair, in both orders: P M (M - 1) forward rows. A pointwise judge (reward
model) needs only each response's reward, P M rows, if each response is scored once
(`arena.judging.pointwise_compare`); scoring the two responses of every pair instead takes
P M (M - 1) rows, M - 1 times as many. Every judge runs on the committed tiny model
(recipes/games/model, 0.1M parameters, CPU, one thread unless --threads), with fresh one-logit heads:
throughput does not depend on what a judge has learned. Responses are sentences of the tiny corpus.
Figures are the median of --repeats runs after a warm-up.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "recipes" / "games" / "model"


def round_robin(models: int, prompts: int, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """Every pair of models on every prompt: (prompts, responses of a, responses of b)."""
    from arena.tiny import SAMPLE_CORPUS

    rng = random.Random(seed)
    questions = [f"Question {p}: {rng.choice(SAMPLE_CORPUS)}" for p in range(prompts)]
    answers = {(m, p): " ".join(rng.sample(SAMPLE_CORPUS, 2)) for m in range(models) for p in range(prompts)}
    rows = [
        (questions[p], answers[(i, p)], answers[(j, p)])
        for p in range(prompts)
        for i in range(models)
        for j in range(i + 1, models)
    ]
    a, b, c = zip(*rows, strict=True)
    return list(a), list(b), list(c)


def timed(run: Callable[[], object], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def judges(batch_size: int) -> dict[str, Any]:
    import torch

    from arena_plugins.judges import LLMJudgeArgs
    from arena_plugins.judges.classifier import load_classifier
    from arena_plugins.judges.llm import LLMJudge
    from arena_plugins.judges.preference_model import PreferenceModel
    from arena_plugins.judges.reward_model import RewardModel

    built: dict[str, Any] = {}
    for name, cls in (("reward-model", RewardModel), ("preference-model", PreferenceModel)):
        torch.manual_seed(0)
        model, tokenizer = load_classifier(
            str(MODEL), name, device="cpu", dtype="fp32", trust_remote_code=False, training=True
        )
        built[name] = cls.wrap(model, tokenizer, 1024, batch_size)
    built["llm"] = LLMJudge(LLMJudgeArgs(model=str(MODEL), device="cpu", dtype="fp32", batch_size=batch_size))
    return built


def each_pair_scored(judge: Any, prompts: list[str], a: list[str], b: list[str]) -> list[float]:
    """A reward model used as if it were pairwise: both responses of every pair scored, none reused."""
    rewards_a, rewards_b = judge.score(prompts, a), judge.score(prompts, b)
    return [1 / (1 + math.exp(rb - ra)) for ra, rb in zip(rewards_a, rewards_b, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    prompts, a, b = round_robin(args.models, args.prompts)
    pairs = len(prompts)
    built = judges(args.batch_size)
    rm = built["reward-model"]
    cases: list[tuple[str, int, Callable[[], object]]] = [
        (
            "reward-model, each response scored once",
            args.models * args.prompts,
            lambda: rm.compare(prompts, a, b),
        ),
        (
            "reward-model, both responses of every pair scored",
            2 * pairs,
            lambda: each_pair_scored(rm, prompts, a, b),
        ),
        (
            "preference-model (both orders)",
            2 * pairs,
            lambda: built["preference-model"].compare(prompts, a, b),
        ),
        ("llm (both orders)", 2 * pairs, lambda: built["llm"].compare(prompts, a, b)),
    ]
    load = os.getloadavg()[0]
    print(
        f"M = {args.models} models, P = {args.prompts} prompts: {pairs} pairs. Load {load:.1f}, torch "
        f"{torch.__version__}, {args.threads} thread(s), {platform.machine()}, batch {args.batch_size}.\n"
    )
    print("| judge | forward rows | seconds | pairs / s |")
    print("|---|---:|---:|---:|")
    seconds = {}
    for name, rows, run in cases:
        seconds[name] = timed(run, args.repeats)
        print(f"| {name} | {rows} | {seconds[name]:.3f} | {pairs / seconds[name]:.0f} |", flush=True)
    once, every = seconds[cases[0][0]], seconds[cases[1][0]]
    saving = f"{every / once:.1f}x faster, {2 * pairs / (args.models * args.prompts):.0f}x fewer rows"
    print(f"\nPointwise saving (each response once vs both responses of every pair): {saving}")


if __name__ == "__main__":
    main()
