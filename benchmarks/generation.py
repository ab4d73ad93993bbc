"""Tokens per second of the `hf` and `vllm` backends on the same tiny model and prompts, side by side.

    python benchmarks/generation.py                     # batch 64, n = 4, 32 new tokens, hidden 512
    python benchmarks/generation.py --hidden-size 64    # the tests' tiny shape: overhead-bound

Both backends run in this process with the same torch thread count, on a tiny Llama built from
`arena.tiny.SAMPLE_CORPUS` (random weights: completions rarely end early, so nearly every sample is
max-new-tokens long). Each backend does one warm-up call (vLLM: the engine start), then --repeats timed
calls of the whole batch, alternating between backends; figures are medians. CPU time (this process,
all threads) is printed beside wall-clock time: on a machine shared with other work it is the steadier.
Issue 4's target on the project's CPU: vllm/hf >= 2.5. At the tests' width (hidden 64) both backends
spend each step in Python bookkeeping, not arithmetic, and the ratio falls towards 1; see
benchmarks/RESULTS.md for the sweep.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

# Before torch or vLLM are imported: the in-process engine starts in ~2 s instead of ~20 s.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=64, help="prompts in the batch")
    parser.add_argument("--n", type=int, default=4, help="samples per prompt")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, the same for both backends")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden-size", type=int, default=512, help="head_dim is 32: heads = hidden / 32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="hf,vllm", help="comma-separated: hf, vllm")
    parser.add_argument(
        "--vllm-compile", action="store_true", help="let vLLM compile the model (minutes to start on a CPU)"
    )
    return parser.parse_args()


def prompts(count: int) -> list[str]:
    from arena.tiny import SAMPLE_CORPUS

    # Prompts of varied lengths (left padding and ragged batches are part of the cost).
    return [" ".join(SAMPLE_CORPUS[i % len(SAMPLE_CORPUS)].split()[: 3 + i % 9]) for i in range(count)]


def build_backend(name: str, batch_size: int, threads: int, compile: bool) -> Any:
    from arena.generation import HFBackendConfig, VLLMBackendConfig

    if name == "hf":
        from arena.generation.hf import HFBackend

        return HFBackend(HFBackendConfig(batch_size=batch_size))
    from arena.generation.vllm import VLLMBackend

    return VLLMBackend(VLLMBackendConfig(kv_cache_gb=1, threads=threads, enforce_eager=not compile))


def main() -> None:
    args = arguments()
    import torch

    from arena.generation import SamplingSettings
    from arena.tiny import SAMPLE_CORPUS, TinyModelSpec, build_tiny_model

    torch.set_num_threads(args.threads)
    spec = TinyModelSpec(hidden_size=args.hidden_size, heads=args.hidden_size // 32, layers=args.layers)
    batch = prompts(args.prompts)
    names = args.backends.split(",")
    sampling = SamplingSettings(max_new_tokens=args.new_tokens, temperature=1.0, seed=0)
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu_times: dict[str, list[float]] = {name: [] for name in names}
    tokens: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as scratch:
        model = str(build_tiny_model(Path(scratch) / "tiny", SAMPLE_CORPUS, seed=0, spec=spec))
        backends = {
            name: build_backend(name, args.prompts, args.threads, args.vllm_compile) for name in names
        }
        for backend in backends.values():  # warm-up: load, engine start, first kernels
            backend.generate(model, batch[:4], args.n, sampling)
        # Timed calls alternate between the backends, so that load from other processes on a shared
        # machine falls on both alike; the ratio is the median of the paired ratios.
        for repeat in range(args.repeats):
            for name, backend in backends.items():
                start, cpu_start = time.perf_counter(), time.process_time()
                results = backend.generate(model, batch, args.n, replace(sampling, seed=repeat))
                times[name].append(time.perf_counter() - start)
                cpu_times[name].append(time.process_time() - cpu_start)
                tokens[name] = sum(len(sample.token_ids) for samples in results for sample in samples)
        for backend in backends.values():
            backend.close()

    print(
        f"generation: {args.prompts} prompts x n={args.n}, {args.new_tokens} new tokens, tiny Llama "
        f"({args.layers} layers, hidden {args.hidden_size}), {args.threads} threads, {platform.processor() or 'cpu'}"
    )
    print(f"{'backend':<8} {'seconds':>8} {'cpu s':>7} {'tokens':>7} {'tokens/s':>9} {'tokens/cpu s':>13}")
    for name in names:
        seconds, cpu = statistics.median(times[name]), statistics.median(cpu_times[name])
        print(
            f"{name:<8} {seconds:>8.2f} {cpu:>7.2f} {tokens[name]:>7} {tokens[name] / seconds:>9.0f} "
            f"{tokens[name] / cpu:>13.0f}"
        )
    if {"hf", "vllm"} <= set(names):
        for label, clock in (("wall clock", times), ("cpu time", cpu_times)):
            ratios = [
                (tokens["vllm"] / vllm_seconds) / (tokens["hf"] / hf_seconds)
                for hf_seconds, vllm_seconds in zip(clock["hf"], clock["vllm"], strict=True)
            ]
            print(f"vllm/hf ({label}): {statistics.median(ratios):.2f}x (target >= 2.5)")


if __name__ == "__main__":
    main()
