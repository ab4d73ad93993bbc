"""End-to-end tournament time, vLLM against hf, and vLLM against a bare `LLM.generate` loop.

4 tiny entrants x 64 prompts x 2 samples, judged pairwise in both orders by a length judge registered
in-process. Prints the time of each stage and the ratio of the tournament's generation time to a bare
loop that loads each entrant in vLLM, generates the same requests and tears the engine down.
Target: the vLLM tournament spends at most 10% more time generating than the bare loop.

    python benchmarks/tournament.py [--prompts 64] [--samples 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


class LengthJudge:
    """Prefers the shorter response (a stand-in whose cost is negligible next to generation)."""

    def compare(self, prompts: list[str], a: list[str], b: list[str]) -> list[float]:
        return [min(1.0, max(0.0, 0.5 + 0.02 * (len(y) - len(x)))) for x, y in zip(a, b, strict=True)]


def bench_plugin() -> SimpleNamespace:
    from arena import hookimpl

    @hookimpl
    def register_judges(register):  # noqa: ANN001, ANN202
        register("bench-length", LengthJudge)

    return SimpleNamespace(register_judges=register_judges)


def make_entrants(root: Path, count: int) -> list[Path]:
    from arena.tiny import SAMPLE_CORPUS, build_tiny_model

    return [build_tiny_model(root / f"m{seed}", SAMPLE_CORPUS, seed=seed) for seed in range(count)]


def run(backend: str, workdir: Path, entrants: list[Path], prompts: int, samples: int, threads: int) -> dict:
    from arena.plugins import make_plugin_host
    from arena.recipes import parse_recipe
    from arena.tournament.run import run_tournament

    with (workdir / "prompts.txt").open("w") as stream:
        stream.writelines(f"Prompt number {i}: tell me about the sea\n" for i in range(prompts))
    args = {"threads": threads} if backend == "vllm" else {"batch_size": 64}
    raw = {
        "kind": "tournament",
        "name": f"bench-{backend}",
        "entrants": [{"name": f"e{i}", "model": str(path)} for i, path in enumerate(entrants)],
        "prompts": str(workdir / "prompts.txt"),
        "samples_per_prompt": samples,
        "generation": {"max_new_tokens": 32, "temperature": 1.0, "seed": 0},
        "backend": {"name": backend, "args": args},
        "judge": "bench-length",
        "bootstrap": 100,
        "output": str(workdir / f"run-{backend}"),
        "publish_to": str(workdir / f"board-{backend}"),
    }
    host = make_plugin_host(extra_plugins=[("bench", bench_plugin())])
    recipe = parse_recipe("benchmark", raw, registries=host.registries)
    return run_tournament(recipe, "benchmark", host)["seconds"]


def bare_vllm_loop(entrants: list[Path], prompts: int, samples: int, threads: int) -> float:
    """Load each entrant, generate the same requests with `LLM.generate`, tear down: the floor to beat."""
    import gc

    import torch
    from vllm import LLM, SamplingParams

    torch.set_num_threads(threads)
    texts = [f"Prompt number {i}: tell me about the sea" for i in range(prompts)]
    started = time.perf_counter()
    for path in entrants:
        engine = LLM(model=str(path), dtype="float32", enforce_eager=True, kv_cache_memory_bytes=1 << 30)
        params = [SamplingParams(n=samples, max_tokens=32, temperature=1.0, seed=i) for i in range(prompts)]
        engine.generate(texts, params, use_tqdm=False)
        del engine
        gc.collect()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--entrants", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    options = parser.parse_args()
    import importlib

    import torch

    importlib.import_module("vllm")  # before any timing: both sides below pay engine starts, not the import

    torch.set_num_threads(options.threads)
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        entrants = make_entrants(root / "models", options.entrants)
        # The bare loop first: any warm-up that vLLM's first engine pays falls on the baseline, not on Arena.
        bare = bare_vllm_loop(entrants, options.prompts, options.samples, options.threads)
        results = {}
        for backend in ("hf", "vllm"):
            workdir = root / backend
            workdir.mkdir()
            results[backend] = run(
                backend, workdir, entrants, options.prompts, options.samples, options.threads
            )

    print(
        f"{options.entrants} entrants x {options.prompts} prompts x {options.samples} samples, 32 new tokens, "
        f"{options.threads} threads; python {sys.version.split()[0]}"
    )
    print(f"{'stage':<12}{'hf s':>10}{'vllm s':>10}{'hf/vllm':>10}")
    for stage in ("generation", "judging", "rating", "total"):
        hf, vllm = results["hf"][stage], results["vllm"][stage]
        print(f"{stage:<12}{hf:>10.2f}{vllm:>10.2f}{hf / vllm:>10.2f}")
    for backend in ("hf", "vllm"):
        total = results[backend]["total"]
        shares = ", ".join(
            f"{s} {100 * results[backend][s] / total:.0f}%" for s in ("generation", "judging", "rating")
        )
        print(f"{backend} time shares: {shares}")
    generation = results["vllm"]["generation"]
    print(
        f"bare LLM.generate loop: {bare:.2f} s; tournament generation / bare = {generation / bare:.3f} "
        f"(target <= 1.10)"
    )


if __name__ == "__main__":
    main()
