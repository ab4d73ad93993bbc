"""Online algorithms: rollout and update throughput (samples/s) per algorithm on a tiny language model,
and Nash-MD's mixture sampling with the KV cache against the no-cache baseline inside a training step.

    python benchmarks/online.py [--steps 5] [--batch 16] [--tokens 16] [--threads 1]

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


def timed_training(algorithm: str, steps: int, batch: int, tokens: int, out: Path) -> dict[str, float]:
    import arena.training.rollouts as rollouts
    from arena.plugins import make_plugin_host
    from arena.recipes import load_recipe
    from arena.training.loop import train

    spent = {"rollout": 0.0, "samples": 0}
    originals = (rollouts.TextRollouts.sample, rollouts.ActionRollouts.sample)

    def timing(original):  # noqa: ANN001, ANN202
        def sample(self, prompts, n, beta=0.0, opponent=None):  # noqa: ANN001, ANN202
            started = time.perf_counter()
            result = original(self, prompts, n, beta, opponent)
            spent["rollout"] += time.perf_counter() - started
            spent["samples"] += len(result)
            return result

        return sample

    rollouts.TextRollouts.sample = timing(originals[0])
    rollouts.ActionRollouts.sample = timing(originals[1])
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
        ]
        recipe = load_recipe(f"recipes/online/{algorithm}.yaml", overrides, registries=host.registries)
        started = time.perf_counter()
        train(recipe, f"recipes/online/{algorithm}.yaml", host)
        total = time.perf_counter() - started
    finally:
        rollouts.TextRollouts.sample, rollouts.ActionRollouts.sample = originals
        OnlineAlgorithm.evaluate = evaluate
    return {"total": total, "rollout": spent["rollout"], "samples": spent["samples"]}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    options = parser.parse_args()
    import torch

    torch.set_num_threads(options.threads)
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
                algorithm, options.steps, options.batch, options.tokens, Path(temp) / algorithm
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
