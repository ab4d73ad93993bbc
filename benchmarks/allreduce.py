"""Bucketed all-reduce against one all-reduce per parameter, two gloo processes on this machine's CPU.

    python benchmarks/allreduce.py                      # tiny and larger shape, 3 warm-up + 10 timed steps
    python benchmarks/allreduce.py --steps 20 --shapes larger

Each process runs Arena's real `Replicated` strategy (`arena.training.parallel`) on a random Llama of the
given shape: the loss is the chunked log-probs of a batch (`arena.generation.logprobs`, the decoder and
the LM head called apart, as every algorithm does), then `backward` (armed: this is the last micro-batch),
`finish_gradients` (clipping included) and an AdamW step. The two modes differ only in
`ARENA_ALLREDUCE_BUCKET_MB`: `0` (one all-reduce per parameter after backward, Arena's old way) or `25`
(buckets of 25 MiB reduced during backward). Modes alternate step-block by step-block on the same
process group, so a slow moment of a shared machine hits both.

Per step, on each process: `backward` is forward + backward (the bucketed mode's all-reduces are
launched inside it), `exposed all-reduce` is the time `finish_gradients` waits for gradients to be summed
after backward (the communication not hidden behind compute), `step` is the whole step. Figures are
medians over the timed steps of the slower process. One torch thread per process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SHAPES: dict[str, dict[str, int]] = {
    # hidden, layers, intermediate, vocab, batch rows, tokens per row
    "tiny": {"hidden": 64, "layers": 2, "intermediate": 128, "vocab": 512, "rows": 4, "tokens": 64},
    "larger": {"hidden": 512, "layers": 8, "intermediate": 1408, "vocab": 8000, "rows": 2, "tokens": 64},
}
MODES = {"per-parameter": "0", "bucketed": "25"}


def build_model(shape: dict[str, int]) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=shape["vocab"],
        hidden_size=shape["hidden"],
        intermediate_size=shape["intermediate"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=max(1, shape["hidden"] // 64),
        num_key_value_heads=max(1, shape["hidden"] // 64),
        max_position_embeddings=max(128, shape["tokens"]),
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config)


def loss_of(model: Any, shape: dict[str, int], rank: int, step: int) -> Any:
    import torch

    from arena.generation.logprobs import token_logprobs

    generator = torch.Generator().manual_seed(10_000 * rank + step)
    ids = torch.randint(0, shape["vocab"], (shape["rows"], shape["tokens"]), generator=generator)
    completion = torch.zeros_like(ids)
    completion[:, shape["tokens"] // 2 :] = 1
    return -token_logprobs(model, ids, torch.ones_like(ids), completion).sum() / shape["rows"]


def time_mode(rank: int, shape: dict[str, int], mode: str, warmup: int, steps: int) -> dict[str, list[float]]:
    import torch
    import torch.distributed as dist

    from arena.training.parallel import Replicated

    os.environ["ARENA_ALLREDUCE_BUCKET_MB"] = MODES[mode]
    model = build_model(shape)
    strategy = Replicated(world=2)
    strategy.prepare(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times: dict[str, list[float]] = {"backward": [], "exposed all-reduce": [], "step": []}
    for step in range(warmup + steps):
        dist.barrier()  # both processes start the step together
        started = time.perf_counter()
        strategy.backward(loss_of(model, shape, rank, step), last=True)
        backward_done = time.perf_counter()
        strategy.finish_gradients(1.0)
        reduced = time.perf_counter()
        strategy.step(optimizer)
        finished = time.perf_counter()
        if step >= warmup:
            times["backward"].append(backward_done - started)
            times["exposed all-reduce"].append(reduced - backward_done)
            times["step"].append(finished - started)
    if strategy.buckets is not None:
        times["buckets"] = [float(len(strategy.buckets.buckets))]
    return times


def worker(rank: int, store: str, out: str, names: list[str], warmup: int, steps: int, blocks: int) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    results: dict[str, dict[str, dict[str, list[float]]]] = {}
    for name in names:
        results[name] = {mode: {} for mode in MODES}
        for block in range(blocks):
            for mode in MODES if block % 2 == 0 else reversed(list(MODES)):
                for key, values in time_mode(rank, SHAPES[name], mode, warmup, steps).items():
                    results[name][mode].setdefault(key, []).extend(values)
    Path(out, f"rank{rank}.json").write_text(json.dumps(results))
    dist.destroy_process_group()


def summarize(ranks: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    rows = []
    for name in names:
        shape = SHAPES[name]
        parameters = sum(p.numel() for p in build_model(shape).parameters())
        row: dict[str, Any] = {"shape": name, "parameters": parameters, "grad_mib": parameters * 4 / 2**20}
        for mode in MODES:
            for key in ("backward", "exposed all-reduce", "step"):
                row[f"{mode} {key} ms"] = 1000 * max(statistics.median(r[name][mode][key]) for r in ranks)
        row["buckets"] = int(ranks[0][name]["bucketed"].get("buckets", [0])[0])
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per mode and block")
    parser.add_argument("--blocks", type=int, default=2, help="alternating blocks of steps per mode")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `arena` for the spawned processes

    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="arena-allreduce-") as scratch:
        worker_args = (
            str(Path(scratch, "store")),
            scratch,
            args.shapes,
            args.warmup,
            args.steps,
            args.blocks,
        )
        mp.start_processes(worker, args=worker_args, nprocs=2, start_method="spawn")
        ranks = [json.loads(Path(scratch, f"rank{r}.json").read_text()) for r in range(2)]
    rows = summarize(ranks, args.shapes)
    print(
        f"2 gloo processes, 1 thread each; medians of {args.steps * args.blocks} steps per mode (slower process)"
    )
    header = "| shape | params | grads MiB | buckets | mode | backward ms | exposed all-reduce ms | step ms |"
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for row in rows:
        for mode in MODES:
            print(
                f"| {row['shape']} | {row['parameters'] / 1e6:.2f}M | {row['grad_mib']:.1f} | {row['buckets']} "
                f"| {mode} | {row[f'{mode} backward ms']:.1f} | {row[f'{mode} exposed all-reduce ms']:.1f} "
                f"| {row[f'{mode} step ms']:.1f} |"
            )
    print()
    for row in rows:
        reduce_ratio = row["per-parameter exposed all-reduce ms"] / max(
            row["bucketed exposed all-reduce ms"], 1e-9
        )
        step_ratio = row["per-parameter step ms"] / row["bucketed step ms"]
        print(
            f"{row['shape']}: exposed all-reduce per-parameter/bucketed = {reduce_ratio:.2f}x, "
            f"whole step per-parameter/bucketed = {step_ratio:.2f}x"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
