"""The KV-cached geometric-mixture sampler against the no-cache baseline, side by side.

    python benchmarks/mixture.py                    # 16 prompts x n = 4, 64 and 128 new tokens
    python benchmarks/mixture.py --hidden-size 64 --threads 2

The baseline is what the last public implementation did: both full models re-run on the whole
sequence for every new token (`use_cache=False`, two full forward passes per token). Both paths draw
the same tokens for the same seed (tests/generation/test_mixture.py checks it), so they do the same
work but for the cache. Policy and reference are tiny Llamas with the same tokenizer and different
seeds. Each figure is the median of --repeats timed runs after a short warm-up. Issue 4's target on
the project's CPU: >= 5x the baseline at 128 new tokens.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--n", type=int, default=4, help="samples per prompt")
    parser.add_argument("--new-tokens", default="64,128", help="comma-separated lengths to time")
    parser.add_argument("--beta", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args()


def main() -> None:
    args = arguments()
    import torch

    from arena.generation import SamplingSettings
    from arena.generation.mixture import sample_geometric_mixture
    from arena.policy import load_policy
    from arena.tiny import SAMPLE_CORPUS, TinyModelSpec, build_tiny_model

    torch.set_num_threads(args.threads)
    spec = TinyModelSpec(hidden_size=args.hidden_size, heads=args.hidden_size // 32, layers=args.layers)
    prompts = [
        " ".join(SAMPLE_CORPUS[i % len(SAMPLE_CORPUS)].split()[: 3 + i % 9]) for i in range(args.prompts)
    ]
    with tempfile.TemporaryDirectory() as scratch:
        policy = load_policy(build_tiny_model(Path(scratch) / "policy", SAMPLE_CORPUS, seed=0, spec=spec))
        reference = load_policy(
            build_tiny_model(Path(scratch) / "reference", SAMPLE_CORPUS, seed=1, spec=spec)
        )

    def seconds(new_tokens: int, use_cache: bool) -> tuple[float, int]:
        def run(max_new_tokens: int = new_tokens) -> int:
            sampling = SamplingSettings(max_new_tokens=max_new_tokens, seed=0)
            results = sample_geometric_mixture(
                policy,
                reference,
                prompts,
                beta=args.beta,
                n=args.n,
                sampling=sampling,
                batch_size=args.prompts,
                use_cache=use_cache,
            )
            return sum(len(sample.token_ids) for samples in results for sample in samples)

        run(4)  # warm-up: first kernels, allocator
        times, tokens = [], 0
        for _ in range(args.repeats):
            start = time.perf_counter()
            tokens = run()
            times.append(time.perf_counter() - start)
        return statistics.median(times), tokens

    print(
        f"mixture sampler: {args.prompts} prompts x n={args.n}, beta {args.beta}, two tiny Llamas "
        f"({args.layers} layers, hidden {args.hidden_size}), {args.threads} threads, {platform.processor() or 'cpu'}"
    )
    print(
        f"{'new tokens':>10} {'no cache s':>11} {'KV cache s':>11} {'tokens':>7} {'cached tok/s':>13} {'speed-up':>9}"
    )
    for new_tokens in (int(value) for value in args.new_tokens.split(",")):
        baseline, tokens = seconds(new_tokens, use_cache=False)
        cached, _ = seconds(new_tokens, use_cache=True)
        print(
            f"{new_tokens:>10} {baseline:>11.2f} {cached:>11.2f} {tokens:>7} {tokens / cached:>13.0f} "
            f"{baseline / cached:>8.1f}x"
        )
    print("target: >= 5x at 128 new tokens")


if __name__ == "__main__":
    main()
