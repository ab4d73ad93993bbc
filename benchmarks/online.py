"""Online algorithms: rollout and update throughput (samples/s) per algorithm on a tiny language model,
and Nash-MD's mixture sampling with the KV cache against the no-cache baseline inside a training step.

    python benchmarks/online.py [--steps 5] [--batch 16] [--tokens 16] [--threads 1] [--backend hf|vllm]
    python benchmarks/online.py --compare-backends   # online IPO's rollouts: vllm against hf


Each algorithm runs the shipped recipe (recipes/online/<name>.yaml) in-process for a few steps; the time of
a step is split into rollout (sampling and judging, no gradient) and update (scoring with gradients,
backward, optimizer step, and the run's fixed costs: loading the models, saving the result). Run from the
repository root.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ALGORITHMS = ["nash-md", "online-ipo", "ipo-md", "sppo", "online-dpo", "ppo"]


def timed_training(
    algorithm: str, steps: int, batch: int, tokens: int, out: Path, backend: str = "hf"
) -> dict[str, float]:
    import arena.training.rollouts as rollouts
    import arena.training.vllm_rollouts as vllm_rollouts
    from arena.plugins import make_plugin_host
    from arena.recipes import load_recipe
    from arena.training.loop import train

    spent = {"rollout": 0.0, "rollout_cpu": 0.0, "samples": 0, "depth": 0}
    classes = (rollouts.TextRollouts, vllm_rollouts.VLLMTextRollouts)
    originals = [cls.sample for cls in classes]
    start_step = vllm_rollouts.RolloutEngine.start_step

    def timed(call, *args):  # noqa: ANN001, ANN002, ANN202
        spent["depth"] += 1  # VLLMTextRollouts hands a mixture to TextRollouts.sample: time it once
        started, cpu = time.perf_counter(), time.process_time()
        try:
            result = call(*args)
        finally:
            spent["depth"] -= 1
        if spent["depth"] == 0:
            spent["rollout"] += time.perf_counter() - started
            spent["rollout_cpu"] += time.process_time() - cpu
        return result

    def timing(original):  # noqa: ANN001, ANN202
        def sample(self, prompts, n, beta=0.0, opponent=None):  # noqa: ANN001, ANN202
            result = timed(original, self, prompts, n, beta, opponent)
            if spent["depth"] == 0:
                spent["samples"] += len(result)
            return result

        return sample

    for cls, original in zip(classes, originals, strict=True):
        cls.sample = timing(original)
    # vLLM's weight syncs (at the start of each step) are part of what its rollouts cost; the engine's
    # start (once per run, inside the first sync) is not throughput: timed apart and left out.
    vllm_rollouts.RolloutEngine.start_step = lambda self, step: timed(start_step, self, step)
    import arena.generation.vllm as vllm_backend

    engine_for = vllm_backend.engine_for

    def timed_start(*args):  # noqa: ANN002, ANN202
        started, cpu = time.perf_counter(), time.process_time()
        engine = engine_for(*args)
        spent["rollout"] -= time.perf_counter() - started
        spent["rollout_cpu"] -= time.process_time() - cpu
        return engine

    vllm_backend.engine_for = timed_start
    from arena.training.online import OnlineAlgorithm

    evaluate = OnlineAlgorithm.evaluate
    OnlineAlgorithm.evaluate = lambda self: {}  # the final 256-pair evaluation is not training throughput
    try:
        host = make_plugin_host()
        overrides = [
            f"training.steps={steps}",
            f"training.batch_size={batch}",
            f"generation.max_new_tokens={tokens}",
            f"output={out}",
            "training.log_every=1000",
            f"generation.backend={backend}",
        ]
        recipe = load_recipe(f"recipes/online/{algorithm}.yaml", overrides, registries=host.registries)
        started = time.perf_counter()
        train(recipe, f"recipes/online/{algorithm}.yaml", host)
        total = time.perf_counter() - started
    finally:
        for cls, original in zip(classes, originals, strict=True):
            cls.sample = original
        vllm_rollouts.RolloutEngine.start_step = start_step
        vllm_backend.engine_for = engine_for
        OnlineAlgorithm.evaluate = evaluate
    return {"total": total, **spent}


def mixture_step(tokens: int, batch: int) -> tuple[float, float]:
    """Seconds to draw a Nash-MD opponent batch from the mixture, with and without the KV cache."""
    from arena.generation.base import SamplingSettings
    from arena.generation.mixture import sample_geometric_mixture
    from arena.policy import load_policy

    # The untrained base model rarely draws EOS, so every response runs the full budget: the per-token cost
    # a Nash-MD step pays when responses are long.
    policy = load_policy("recipes/moves/base")
    reference = load_policy("recipes/moves/sft")
    prompts = ["Your move, Anna."] * batch
    sampling = SamplingSettings(max_new_tokens=tokens, seed=0)
    times = []
    for use_cache in (True, False):
        started = time.perf_counter()
        sample_geometric_mixture(
            policy, reference, prompts, beta=0.125, sampling=sampling, use_cache=use_cache
        )
        times.append(time.perf_counter() - started)
    return times[0], times[1]


def compare_backends(steps: int, batch: int, tokens: int, repeats: int = 3) -> None:
    """Online IPO's rollout samples/s (sampling, and vLLM's weight syncs) with `generation.backend` hf and
    vllm: `repeats` runs of each, alternating, after a warm-up of each (the engine's start, about 5 s on a
    CPU, is paid once per run and is not throughput). Medians; CPU time beside wall time (a busy machine)."""
    import statistics

    print(f"online-ipo rollouts: {steps} steps x {batch} prompts x 2 samples, up to {tokens} new tokens")
    rates: dict[str, list[float]] = {"hf": [], "vllm": []}
    cpu_rates: dict[str, list[float]] = {"hf": [], "vllm": []}
    with tempfile.TemporaryDirectory() as temp:
        for backend in rates:
            timed_training("online-ipo", 1, batch, tokens, Path(temp) / f"warm-{backend}", backend)
        for repeat in range(repeats):
            for backend in rates:
                out = Path(temp) / f"{backend}-{repeat}"
                result = timed_training("online-ipo", steps, batch, tokens, out, backend)
                rates[backend].append(result["samples"] / result["rollout"])
                cpu_rates[backend].append(result["samples"] / result["rollout_cpu"])
    for backend in rates:
        walls = ", ".join(f"{rate:.0f}" for rate in rates[backend])
        print(
            f"{backend:<6} samples/s {statistics.median(rates[backend]):>7.1f} (runs: {walls}), "
            f"per CPU second {statistics.median(cpu_rates[backend]):>7.1f}"
        )
    wall = statistics.median(rates["vllm"]) / statistics.median(rates["hf"])
    cpu = statistics.median(cpu_rates["vllm"]) / statistics.median(cpu_rates["hf"])
    print(f"vllm / hf: {wall:.2f}x wall, {cpu:.2f}x cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backend", choices=["hf", "vllm"], default="hf", help="generation.backend")
    parser.add_argument(
        "--compare-backends", action="store_true", help="only online IPO's rollouts, hf against vllm"
    )
    options = parser.parse_args()
    import torch

    torch.set_num_threads(options.threads)
    if options.compare_backends:
        compare_backends(options.steps, options.batch, options.tokens)
        return
    print(
        f"{options.steps} steps x {options.batch} prompts, up to {options.tokens} new tokens, "
        f"{options.threads} thread(s)"
    )
    print(
        f"{'algorithm':<12}{'samples':>9}{'rollout s':>11}{'update s':>10}{'rollout/s':>11}{'update/s':>10}"
    )
    with tempfile.TemporaryDirectory() as temp:
        # Warm-up: the first run pays the imports and the first model load; it is not reported.
        timed_training("online-dpo", 1, options.batch, options.tokens, Path(temp) / "warm-up")
        for algorithm in ALGORITHMS:
            result = timed_training(
                algorithm,
                options.steps,
                options.batch,
                options.tokens,
                Path(temp) / algorithm,
                options.backend,
            )
            update = result["total"] - result["rollout"]
            samples = result["samples"]
            print(
                f"{algorithm:<12}{samples:>9}{result['rollout']:>11.2f}{update:>10.2f}"
                f"{samples / result['rollout']:>11.1f}{options.steps * options.batch / update:>10.1f}"
            )
    cached, uncached = mixture_step(128, options.batch)
    print(
        f"Nash-MD opponent batch (mixture, up to 128 tokens): KV cache {cached:.2f} s, no cache {uncached:.2f} s, "
        f"speed-up {uncached / cached:.1f}x"
    )


if __name__ == "__main__":
    main()
