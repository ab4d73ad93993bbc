"""Arena DPO against TRL's `DPOTrainer`: same tiny model, data, batch and number of steps, in one run.

    python benchmarks/dpo.py        # CPU, 1 thread, 256 pairs of ~64+64 tokens, batch 8, 64 steps (~15 min)
    python benchmarks/dpo.py --gradient-checkpointing --lora 16 --sides arena trl-tuned   # same settings
    python benchmarks/dpo.py --device cuda --hidden 1024 --layers 24 --heads 16 --intermediate 4096 \
        --prompt-tokens 256 --completion-tokens 256 --pairs 128 --steps 32 --repeats 2    # a GPU, 0.40B

Each side runs in its own fresh Python process (so that peak memory is its own), one after the other,
on the same model directory (built here with `arena.tiny`) and the same JSONL file of pairs:

- `arena`: the real Trainer, `arena.training.loop.train` on a recipe loaded with `arena.recipes.load_recipe`
  (algorithm `dpo`, sigmoid loss). Each example's reference log-probs are computed once and cached (in
  one pass before the first step where the Trainer does that, else when an example is first met).
- TRL, two configurations of `DPOTrainer` with the same optimizer settings (AdamW, linear decay, clipping 1):
  `trl-tuned`: `precompute_ref_log_probs=True` (the same mathematics as Arena's cache: one reference pass
  per example, before training) and gradient checkpointing as Arena's (`--gradient-checkpointing`);
  `trl-defaults`: TRL's defaults for these two (a live reference forward every step, gradient checkpointing).

Settings applied to both sides alike: `--gradient-checkpointing` (Arena's `training.gradient_checkpointing`,
TRL's `gradient_checkpointing`; off by default on Arena's side and `trl-tuned`'s) and `--lora R` (Arena's
`lora: {r: R, alpha: 2R, dropout: 0.05, target_modules: all-linear}`, TRL's `peft_config` with the same
peft `LoraConfig`; both take the reference as the base model with the adapters disabled).

Timing. Step end times are stamped on both sides, on two clocks: wall time, and the CPU time of the training
thread (`time.thread_time`; with one torch thread the forward and backward run on it, so this figure is
robust to other jobs on a shared machine, which inflate the wall time). Arena's stamps come from wrapping
`build_objective` (start) and `MetricsLog.write` (step end; the recipe logs every step), TRL's from a
`TrainerCallback` (first `on_step_begin`, each `on_step_end`); on a GPU each stamp synchronises first.
Model loading, tokenisation and trainer construction are outside the steps on both sides. Two figures:

- steady pairs/s: the steps of the last epoch only (with the defaults, steps 33-64 of 64 = epoch 2).
  Every side then trains against reference log-probs it already has (Arena's cache, TRL's precompute),
  except `trl-defaults`, whose live reference forward is part of its step. Warm-up is in epoch 1.
- end-to-end pairs/s: all steps, plus the reference passes timed apart (TRL's precompute, Arena's pass
  before the first step); this counts every reference pass on every side.

Each figure is the best of `--repeats` runs per side (sides alternate). On a freshly started GPU machine
the first process measured is slower for a minute or so: use `--repeats 2` there.

Peak memory: on the CPU, two figures sampled every 5 ms from before the model is loaded until training
returns ("over start" subtracts the value at that moment, after the shared libraries are imported): the
worker's resident set size (psutil), and the bytes malloc holds in use (glibc's `mallinfo2`: in-use heap
chunks plus mmap'd blocks). Torch's CPU tensors are malloc'd, so the second is the tensors' bytes (and
Python's small objects) without what the allocator keeps cached after a free, which RSS counts; on a GPU,
`torch.cuda.max_memory_allocated` over the same span.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

SIDES = ("arena", "trl-tuned", "trl-defaults")


# ---- set-up: model and data -----------------------------------------------------------------------------


def build_model(directory: Path, args: argparse.Namespace) -> Path:
    from arena.tiny import SAMPLE_CORPUS, TinyModelSpec, build_tiny_model

    spec = TinyModelSpec(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        layers=args.layers,
        heads=args.heads,
        intermediate_size=args.intermediate,
        max_positions=max(512, 2 * (args.prompt_tokens + args.completion_tokens)),
    )
    return build_tiny_model(directory, SAMPLE_CORPUS, seed=0, spec=spec, overwrite=True)


def make_pairs(model_dir: Path, path: Path, args: argparse.Namespace) -> dict[str, float]:
    """Synthetic pairs: words of the sample corpus, about `prompt_tokens` + `completion_tokens` tokens each.

    Completions start with a space and a word, so that TRL (which tokenises prompt + completion as one
    string) and Arena (which tokenises them apart) get the same token ids.
    """
    from arena.policy import load_tokenizer
    from arena.tiny import SAMPLE_CORPUS

    tokenizer = load_tokenizer(model_dir)
    words = sorted({w for line in SAMPLE_CORPUS for w in line.replace(".", " ").replace(",", " ").split()})
    rng = random.Random(0)

    def text(tokens: int) -> str:
        pieces: list[str] = []
        while len(tokenizer(" " + " ".join(pieces), add_special_tokens=False)["input_ids"]) < tokens:
            pieces.append(rng.choice(words))
        return " " + " ".join(pieces)

    lengths = []
    with path.open("w", encoding="utf-8") as stream:
        for _ in range(args.pairs):
            row = {
                "prompt": text(args.prompt_tokens).strip() + ":",
                "chosen": text(args.completion_tokens) + ".",
                "rejected": text(args.completion_tokens) + ".",
            }
            stream.write(json.dumps(row) + "\n")
            prompt = len(tokenizer(row["prompt"])["input_ids"])
            chosen = len(tokenizer(row["chosen"], add_special_tokens=False)["input_ids"]) + 1  # + EOS
            rejected = len(tokenizer(row["rejected"], add_special_tokens=False)["input_ids"]) + 1
            lengths.append((prompt, chosen, rejected))
    return {
        "prompt_tokens": statistics.mean(p for p, _, _ in lengths),
        "completion_tokens": statistics.mean((c + r) / 2 for _, c, r in lengths),
        # Tokens scored per pair: prompt + chosen and prompt + rejected, as TRL counts them.
        "tokens_per_pair": statistics.mean(2 * p + c + r for p, c, r in lengths),
    }


# ---- measurement helpers ----------------------------------------------------------------------------------

# Wall-clock time, and the CPU time of the training thread (contention on a shared machine inflates the
# first, much less the second; with one torch thread the work, forward and backward, runs on that thread).
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


class Timeline:
    """Step end times on both clocks, from the start of the first step, plus time spent on reference passes
    outside the steps (TRL's precompute)."""

    def __init__(self, synchronize: bool) -> None:
        self.synchronize = synchronize
        self.start: dict[str, float] | None = None
        self.ends: dict[str, list[float]] = {name: [] for name in CLOCKS}
        self.reference: dict[str, float] = {name: 0.0 for name in CLOCKS}

    def now(self) -> dict[str, float]:
        if self.synchronize:
            import torch

            torch.cuda.synchronize()
        return {name: clock() for name, clock in CLOCKS.items()}

    def begin(self) -> None:
        if self.start is None:
            self.start = self.now()

    def step_end(self) -> None:
        assert self.start is not None
        stamp = self.now()
        for name in CLOCKS:
            self.ends[name].append(stamp[name] - self.start[name])

    @contextmanager
    def reference_pass(self) -> Iterator[None]:
        before = self.now()
        yield
        after = self.now()
        for name in CLOCKS:
            self.reference[name] += after[name] - before[name]

    def as_json(self) -> dict[str, Any]:
        return {"step_ends": self.ends, "reference_seconds": self.reference}


@contextmanager
def peak_memory(device: str) -> Iterator[dict[str, float]]:
    """Peak memory over the block: CUDA allocator peak on a GPU, sampled process RSS on the CPU (MiB)."""
    result: dict[str, float] = {}
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        yield result
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        result.update(peak_mib=peak / 2**20, peak_over_start_mib=(peak - start) / 2**20)
        return
    import psutil

    process = psutil.Process()
    heap = heap_in_use()
    start, heap_start = process.memory_info().rss, heap()
    peak, heap_peak = [start], [heap_start]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], process.memory_info().rss)
            heap_peak[0] = max(heap_peak[0], heap())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], process.memory_info().rss)
        result.update(peak_mib=peak[0] / 2**20, peak_over_start_mib=(peak[0] - start) / 2**20)
        if heap_start >= 0:
            result.update(
                heap_peak_mib=heap_peak[0] / 2**20, heap_over_start_mib=(heap_peak[0] - heap_start) / 2**20
            )


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def heap_in_use() -> Any:
    """A function giving the bytes glibc's malloc has handed out and not had back (-1 without glibc 2.33+)."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (AttributeError, OSError):
        return lambda: -1
    mallinfo2.restype = _Mallinfo2

    def in_use() -> int:
        info = mallinfo2()
        return int(info.uordblks + info.hblkhd)  # chunks in use in the arenas, and mmap'd blocks

    return in_use


# ---- the two sides (each in its own process) --------------------------------------------------------------

RECIPE = """\
kind: train
name: bench
algorithm: dpo
args: {{beta: {beta}, loss: sigmoid}}
policy: {model}
data: {data}
output: {output}
training:
  steps: {steps}
  batch_size: {batch}
  learning_rate: {lr}
  schedule: linear
  warmup_steps: 0
  weight_decay: 0.0
  max_grad_norm: 1.0
  precision: {precision}
  device: {device}
  log_every: 1
  save_every: 0
  max_length: {max_length}
  gradient_checkpointing: {checkpointing}
  seed: 0
"""
LORA = """\
lora: {{r: {r}, alpha: {alpha}, dropout: {dropout}, target_modules: all-linear}}
"""
LORA_DROPOUT = 0.05  # peft's and TRL's default; the same on both sides


def run_arena(args: argparse.Namespace, model_dir: Path, data: Path, out: Path) -> dict[str, Any]:
    import torch

    from arena.plugins import make_plugin_host
    from arena.recipes import load_recipe
    from arena.training import loop
    from arena.training.metrics import MetricsLog, read_metrics

    recipe_file = out / "recipe.yaml"
    on_gpu = args.device.startswith("cuda")
    recipe_file.write_text(
        RECIPE.format(
            beta=args.beta,
            model=model_dir,
            data=data,
            output=out / "run",
            steps=args.steps,
            batch=args.batch_size,
            lr=args.learning_rate,
            precision="bf16" if on_gpu else "fp32",
            device=args.device,
            max_length=args.max_length,
            checkpointing="true" if args.gradient_checkpointing else "false",
        )
        + (LORA.format(r=args.lora, alpha=2 * args.lora, dropout=LORA_DROPOUT) if args.lora else "")
    )
    # Where Arena is not pip-installed (e.g. a GPU machine with the tree on PYTHONPATH), no entry point
    # names the built-in plugins: register the offline algorithms directly.
    installed = {entry.value for entry in entry_points(group="arena")}
    extra = (
        [] if "arena_plugins.dpo" in installed else [("dpo", importlib.import_module("arena_plugins.dpo"))]
    )
    host = make_plugin_host(extra_plugins=extra)
    recipe = load_recipe(recipe_file, registries=host.registries)

    # Stamps without touching Arena's code: the first step starts when the objective (policy, frozen
    # reference, tokenised examples) is built, and step s ends when the loop logs it (log_every: 1).
    # Where the Trainer caches reference log-probs in one pass before the first step, that pass is timed
    # apart (as TRL's precompute) and the steps start after it; otherwise they are inside epoch 1's steps.
    timeline = Timeline(synchronize=on_gpu)
    build_objective, write = loop.build_objective, MetricsLog.write

    def timed_build_objective(*a: Any, **k: Any) -> Any:
        objective = build_objective(*a, **k)
        timeline.begin()
        return objective

    cache_reference = getattr(loop, "cache_reference_logprobs", None)
    if cache_reference is not None:

        def timed_cache_reference(*a: Any, **k: Any) -> Any:
            with timeline.reference_pass():
                result = cache_reference(*a, **k)
            timeline.start = timeline.now()  # the first step starts after the reference pass
            return result

        loop.cache_reference_logprobs = timed_cache_reference

    def timed_write(self: MetricsLog, record: dict[str, Any]) -> None:
        timeline.step_end()
        write(self, record)

    loop.build_objective, MetricsLog.write = timed_build_objective, timed_write  # type: ignore[method-assign]
    if on_gpu:
        # Workaround: loop._accumulate stacks a CUDA sum with a CPU count and fails on a GPU (reported);
        # this is the same function with the count made on the values' device.
        def accumulate(sums: dict[str, Any], name: str, values: torch.Tensor) -> None:
            values = values.detach().float().reshape(-1)
            total = torch.stack([values.sum(), values.new_tensor(float(values.numel()))])
            sums[name] = sums[name] + total if name in sums else total

        loop._accumulate = accumulate
    with peak_memory(args.device) as memory:
        loop.train(recipe, str(recipe_file), host)
    records = read_metrics(out / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(1, args.steps + 1)), "expected one line per step"
    return {
        **timeline.as_json(),
        "memory": memory,
        "mean_loss": sum(r["loss"] for r in records) / len(records),  # over every step, as TRL's train_loss
    }


def run_trl(args: argparse.Namespace, model_dir: Path, data: Path, out: Path, tuned: bool) -> dict[str, Any]:
    import datasets
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from arena.policy import load_tokenizer

    datasets.disable_progress_bars()
    on_gpu = args.device.startswith("cuda")
    timeline = Timeline(synchronize=on_gpu)

    class Clock(TrainerCallback):
        def on_step_begin(self, *_: Any, **__: Any) -> None:
            timeline.begin()  # the first step's start

        def on_step_end(self, *_: Any, **__: Any) -> None:
            timeline.step_end()  # after the optimizer step

    class TimedDPOTrainer(DPOTrainer):
        def _precompute_ref_logps(self, *a: Any, **k: Any) -> Any:
            with timeline.reference_pass():
                return super()._precompute_ref_logps(*a, **k)

    config = DPOConfig(
        output_dir=str(out / "trl"),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.steps,
        learning_rate=args.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        optim="adamw_torch",
        beta=args.beta,
        loss_type=["sigmoid"],
        max_length=args.max_length,
        bf16=on_gpu,
        use_cpu=not on_gpu,
        gradient_checkpointing=args.gradient_checkpointing or not tuned,  # TRL's default is on
        precompute_ref_log_probs=tuned,  # TRL's default is off
        report_to="none",
        save_strategy="no",
        logging_steps=10,
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
    )
    with peak_memory(args.device) as memory:  # from before loading, as Arena's train() loads inside
        tokenizer = load_tokenizer(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        dataset = datasets.load_dataset("json", data_files=str(data), split="train")
        lora = (
            LoraConfig(
                r=args.lora,
                lora_alpha=2 * args.lora,
                lora_dropout=LORA_DROPOUT,
                target_modules="all-linear",
                task_type="CAUSAL_LM",
            )
            if args.lora
            else None
        )
        trainer = TimedDPOTrainer(
            model=model,
            args=config,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=[Clock()],
            peft_config=lora,
        )
        trainer.train()
    (mean_loss,) = [
        float(entry["train_loss"]) for entry in trainer.state.log_history if "train_loss" in entry
    ]
    return {**timeline.as_json(), "memory": memory, "mean_loss": mean_loss}  # mean over every step


def worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # Libraries both sides use, imported before memory is measured, so that "over start" counts training
    # (model, optimizer, activations, data) rather than imports.
    for name in ("accelerate", "datasets", "transformers.models.llama.modeling_llama"):
        importlib.import_module(name)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model_dir, data = Path(args.model_dir), Path(args.data)
    if args.worker == "arena":
        result = run_arena(args, model_dir, data, out)
    else:
        result = run_trl(args, model_dir, data, out, tuned=args.worker == "trl-tuned")
    result["threads"] = torch.get_num_threads()
    (out / "result.json").write_text(json.dumps(result))


# ---- the parent: set-up, one process per side, report ------------------------------------------------------


def summarise(result: dict[str, Any], args: argparse.Namespace, tokens_per_pair: float) -> dict[str, Any]:
    per_epoch = -(-args.pairs // args.batch_size)
    first = max(1, args.steps - per_epoch)  # steady: the last epoch's steps (never the first step)
    row: dict[str, Any] = {"timed_steps": f"{first + 1}-{args.steps}"}
    for clock in CLOCKS:
        ends = result["step_ends"][clock]
        if len(ends) != args.steps:
            raise RuntimeError(f"expected {args.steps} step times, got {len(ends)}")
        steady = (args.steps - first) * args.batch_size / (ends[-1] - ends[first - 1])
        total = ends[-1] + result["reference_seconds"][clock]
        row[clock] = {
            "steady_pairs_per_s": steady,
            "steady_tokens_per_s": steady * tokens_per_pair,
            "end_to_end_pairs_per_s": args.steps * args.batch_size / total,
            "reference_seconds_outside_steps": result["reference_seconds"][clock],
        }
    row.update(memory=result["memory"], mean_loss=result["mean_loss"])
    return row


def parent(args: argparse.Namespace) -> None:
    root = Path(args.workdir or tempfile.mkdtemp(prefix="arena-bench-dpo-"))
    root.mkdir(parents=True, exist_ok=True)
    model_dir = build_model(root / "model", args)
    data = root / "pairs.jsonl"
    shape = make_pairs(model_dir, data, args)
    import torch

    from arena.policy import load_policy

    parameters = sum(
        p.numel() for p in load_policy(model_dir, dtype=torch.float32, device="cpu").model.parameters()
    )
    print(
        f"model: {parameters / 1e6:.2f}M parameters (hidden {args.hidden}, {args.layers} layers, "
        f"{args.heads} heads, intermediate {args.intermediate}); data: {args.pairs} pairs, "
        f"{shape['prompt_tokens']:.1f} prompt + "
        f"{shape['completion_tokens']:.1f} completion tokens (incl. BOS/EOS); batch {args.batch_size}, "
        f"{args.steps} steps; device {args.device}, {args.threads} thread(s)",
        flush=True,
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.update({name: str(args.threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in args.sides}
    for repeat in range(args.repeats):
        for side in args.sides:
            out = root / f"{side}-{repeat}"
            shutil.rmtree(out, ignore_errors=True)  # a rerun in the same work directory starts afresh
            command = [
                sys.executable,
                __file__,
                "--worker",
                side,
                "--model-dir",
                str(model_dir),
                "--data",
                str(data),
                "--out",
                str(out),
                *forwarded(args),
            ]
            started = time.perf_counter()
            subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL if args.quiet else None)
            result = json.loads((out / "result.json").read_text())
            runs[side].append(summarise(result, args, shape["tokens_per_pair"]))
            row = runs[side][-1]
            print(
                f"  {side:<13} run {repeat + 1}: steady {row['wall']['steady_pairs_per_s']:.2f} pairs/s "
                f"({row['cpu']['steady_pairs_per_s']:.2f} per CPU-s), end-to-end "
                f"{row['wall']['end_to_end_pairs_per_s']:.2f} pairs/s, peak {row['memory']['peak_mib']:.0f} MiB "
                f"({time.perf_counter() - started:.0f} s with start-up)",
                flush=True,
            )
    report(runs, args, root)
    if args.json:
        Path(args.json).write_text(json.dumps({"shape": shape, "runs": runs, "args": vars(args)}, indent=2))


def best_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each throughput figure at its best over the repeats (the least disturbed run); memory at its worst."""
    best: dict[str, Any] = {clock: {} for clock in CLOCKS}
    for clock in CLOCKS:
        for name in ("steady_pairs_per_s", "steady_tokens_per_s", "end_to_end_pairs_per_s"):
            best[clock][name] = max(row[clock][name] for row in rows)
    best["memory"] = max((row["memory"] for row in rows), key=lambda m: m["peak_mib"])
    best["mean_loss"] = rows[0]["mean_loss"]
    best["timed_steps"] = rows[0]["timed_steps"]
    return best


def report(runs: dict[str, list[dict[str, Any]]], args: argparse.Namespace, root: Path) -> None:
    best = {side: best_of(rows) for side, rows in runs.items()}
    on_gpu = args.device.startswith("cuda")
    clocks = ["wall"] if on_gpu else ["wall", "cpu"]
    memory = (
        ["peak GPU MiB (over start)"]
        if on_gpu
        else ["peak RSS MiB (over start)", "peak heap MiB (over start)"]
    )
    header = ["side", "steady pairs/s", "steady tokens/s", "end-to-end pairs/s"]
    if not on_gpu:
        header += ["steady pairs/CPU-s", "end-to-end pairs/CPU-s"]
    print("\n| " + " | ".join([*header, *memory, "mean loss"]) + " |")
    print("|" + "---|" * (len(header) + len(memory) + 1))
    for side, row in best.items():
        cells = [
            side,
            f"{row['wall']['steady_pairs_per_s']:.2f}",
            f"{row['wall']['steady_tokens_per_s']:.0f}",
            f"{row['wall']['end_to_end_pairs_per_s']:.2f}",
        ]
        if not on_gpu:
            cells += [
                f"{row['cpu']['steady_pairs_per_s']:.2f}",
                f"{row['cpu']['end_to_end_pairs_per_s']:.2f}",
            ]
        cells.append(f"{row['memory']['peak_mib']:.0f} ({row['memory']['peak_over_start_mib']:+.0f})")
        if not on_gpu:
            heap = row["memory"]
            cells.append(
                f"{heap['heap_peak_mib']:.0f} ({heap['heap_over_start_mib']:+.0f})"
                if "heap_peak_mib" in heap
                else "-"
            )
        cells.append(f"{row['mean_loss']:.4f}")
        print("| " + " | ".join(cells) + " |")
    if "arena" in best:
        for side in (s for s in best if s != "arena"):
            a, t = best["arena"], best[side]
            ratios = ", ".join(
                f"{clock} steady {a[clock]['steady_pairs_per_s'] / t[clock]['steady_pairs_per_s']:.2f}x / "
                f"end-to-end {a[clock]['end_to_end_pairs_per_s'] / t[clock]['end_to_end_pairs_per_s']:.2f}x"
                for clock in clocks
            )
            memory_ratio = a["memory"]["peak_mib"] / t["memory"]["peak_mib"]
            heap = ""
            if "heap_over_start_mib" in a["memory"] and "heap_over_start_mib" in t["memory"]:
                heap_ratio = a["memory"]["heap_over_start_mib"] / t["memory"]["heap_over_start_mib"]
                heap = f", heap over start {heap_ratio:.2f}x"
            print(f"Arena / {side}: {ratios}; peak memory {memory_ratio:.2f}x{heap}")
    settings = ", ".join(
        [
            *(["gradient checkpointing"] if args.gradient_checkpointing else []),
            *([f"LoRA r={args.lora}"] if args.lora else []),
        ]
    )
    print(
        f"(best of {args.repeats} run(s) per side; steady = steps {best[args.sides[0]]['timed_steps']}; "
        f"{settings or 'full fine-tuning, no checkpointing on arena and trl-tuned'}; work directory {root})"
    )


def forwarded(args: argparse.Namespace) -> list[str]:
    names = (
        "pairs",
        "batch_size",
        "steps",
        "learning_rate",
        "beta",
        "max_length",
        "device",
        "threads",
        "lora",
    )
    flags = ["--gradient-checkpointing"] if args.gradient_checkpointing else []
    return [
        item for name in names for item in (f"--{name.replace('_', '-')}", str(getattr(args, name)))
    ] + flags


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--completion-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8, help="pairs per optimizer step (both sides)")
    parser.add_argument(
        "--steps", type=int, default=64, help="optimizer steps (both sides); 2 epochs by default"
    )
    parser.add_argument("--learning-rate", type=float, default=1e-5)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--vocab", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--intermediate", type=int, default=1024)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="recompute activations in backward on Arena's side and trl-tuned's (trl-defaults always does)",
    )
    parser.add_argument("--lora", type=int, default=0, help="LoRA rank on every side (0: full fine-tuning)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on both sides")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs per side; the best steady throughput is kept"
    )
    parser.add_argument(
        "--workdir", help="where the model, data and runs go (default: a new temporary directory)"
    )
    parser.add_argument("--json", help="also write every run's figures to this file")
    parser.add_argument("--quiet", action="store_true", help="hide the trainers' own output")
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.worker:
        worker(arguments)
    else:
        parent(arguments)
