"""Peak memory and steady tokens/s of Arena's DPO against TRL's `DPOTrainer` at the same settings.

    python benchmarks/memory.py --quiet      # CPU: 2 shapes x 3 settings, arena and trl-tuned (~30 min)
    python benchmarks/memory.py --device cuda --hidden 1024 --layers 24 --heads 16 --intermediate 4096 \\
        --shapes 256x64 256x256 --pairs 64 --steps 16 --threads 8 --quiet     # a GPU, 0.40B

A driver over `benchmarks/dpo.py`: for each shape (prompt x completion tokens) and each setting it runs
that benchmark's `arena` and `trl-tuned` sides, each in a fresh process, on the same model and pairs:

- `full`: full fine-tuning, no gradient checkpointing on either side;
- `checkpointing`: gradient checkpointing on both (Arena's `training.gradient_checkpointing`, TRL's
  `gradient_checkpointing`);
- `checkpointing+lora`: both of those plus LoRA on both (`--lora-rank`, every linear layer but the head;
  the reference is the base model with the adapters disabled on both sides).

TRL precomputes the reference log-probs (`precompute_ref_log_probs=True`), as Arena caches them, so both
sides do the same work per step. Figures (`benchmarks/dpo.py`'s docstring says how each is taken):

- steady tokens/s: the last epoch's steps; tokens per pair counted as TRL scores them (2 x prompt +
  chosen + rejected) on both sides, so the ratio is the ratio of pairs/s. On the CPU, per second of the
  training thread's CPU time (robust to other jobs on a shared machine), on a GPU per wall second.
- peak memory: on the CPU the bytes malloc holds in use (torch's tensors and Python's objects, not what
  the allocator caches after a free) over the worker's start, and the resident set size; on a GPU
  `torch.cuda.max_memory_allocated`.

The issue's targets, checked on each row: Arena's peak memory at most TRL's, its steady tokens/s at least
1.3x TRL's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SETTINGS = {
    "full": [],
    "checkpointing": ["--gradient-checkpointing"],
    "checkpointing+lora": ["--gradient-checkpointing", "--lora", "{rank}"],
}
TARGET_SPEED = 1.3  # Arena's steady tokens/s over TRL's, at least
TARGET_MEMORY = 1.0  # Arena's peak memory over TRL's, at most


def run_pair(args: argparse.Namespace, shape: tuple[int, int], setting: str, root: Path) -> dict[str, Any]:
    """benchmarks/dpo.py's arena and trl-tuned sides at one shape and setting: its JSON figures."""
    prompt, completion = shape
    work = root / f"{prompt}x{completion}-{setting}"
    figures = work / "figures.json"
    flags = [flag.format(rank=args.lora_rank) for flag in SETTINGS[setting]]
    command = [
        sys.executable,
        str(Path(__file__).with_name("dpo.py")),
        "--sides",
        "arena",
        "trl-tuned",
        "--prompt-tokens",
        str(prompt),
        "--completion-tokens",
        str(completion),
        "--workdir",
        str(work),
        "--json",
        str(figures),
        *flags,
        *passed_through(args),
    ]
    print(f"== {prompt}+{completion} tokens, {setting}", flush=True)
    subprocess.run(command, check=True)
    return json.loads(figures.read_text())


def passed_through(args: argparse.Namespace) -> list[str]:
    names = ("pairs", "batch_size", "steps", "vocab", "hidden", "layers", "heads", "intermediate")
    names += ("device", "threads", "repeats")
    result = [item for name in names for item in (f"--{name.replace('_', '-')}", str(getattr(args, name)))]
    return result + (["--quiet"] if args.quiet else [])


def best(rows: list[dict[str, Any]], clock: str) -> dict[str, float]:
    """The best steady tokens/s over the repeats, the worst peak memory (as benchmarks/dpo.py reports)."""
    memories = [row["memory"] for row in rows]
    result = {
        "tokens_per_s": max(row[clock]["steady_tokens_per_s"] for row in rows),
        "peak_mib": max(m["peak_mib"] for m in memories),
        "peak_over_start_mib": max(m["peak_over_start_mib"] for m in memories),
    }
    if all("heap_over_start_mib" in m for m in memories):
        result["heap_over_start_mib"] = max(m["heap_over_start_mib"] for m in memories)
    return result


def summary_row(figures: dict[str, Any], on_gpu: bool) -> dict[str, Any]:
    clock = "wall" if on_gpu else "cpu"
    arena, trl = (best(figures["runs"][side], clock) for side in ("arena", "trl-tuned"))
    # On the CPU the heap over start is the training's own memory; RSS carries the allocator's cache too.
    memory_key = "peak_over_start_mib" if on_gpu else "heap_over_start_mib"
    if memory_key not in arena or memory_key not in trl:
        memory_key = "peak_over_start_mib"
    speed = arena["tokens_per_s"] / trl["tokens_per_s"]
    memory = arena[memory_key] / trl[memory_key]
    return {
        "shape": figures["shape"],
        "arena": arena,
        "trl": trl,
        "speed_ratio": speed,
        "memory_key": memory_key,
        "memory_ratio": memory,
        "rss_ratio": arena["peak_over_start_mib"] / trl["peak_over_start_mib"],
        "targets_met": speed >= TARGET_SPEED and memory <= TARGET_MEMORY,
    }


def report(rows: dict[str, dict[str, Any]], on_gpu: bool) -> None:
    per = "wall-s" if on_gpu else "CPU-s"
    memory = "peak GPU MiB over start" if on_gpu else "peak heap MiB over start"
    print(
        f"\n| shape (prompt + completion) | setting | Arena tokens/{per} | TRL tokens/{per} | speed | "
        f"Arena {memory} | TRL {memory} | memory | RSS over start (Arena / TRL) | targets |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, row in rows.items():
        shape_name, setting = name.split("/")
        a, t, key = row["arena"], row["trl"], row["memory_key"]
        print(
            f"| {shape_name} | {setting} | {a['tokens_per_s']:.0f} | {t['tokens_per_s']:.0f} | "
            f"{row['speed_ratio']:.2f}x | {a[key]:.0f} | {t[key]:.0f} | {row['memory_ratio']:.2f}x | "
            f"{a['peak_over_start_mib']:.0f} / {t['peak_over_start_mib']:.0f} | "
            f"{'met' if row['targets_met'] else 'not met'} |"
        )
    print(
        f"(targets: speed >= {TARGET_SPEED}x TRL's steady tokens/s, memory <= {TARGET_MEMORY:.1f}x TRL's peak)"
    )


def parse_shape(text: str) -> tuple[int, int]:
    try:
        prompt, completion = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected PROMPTxCOMPLETION tokens such as 256x64, got {text!r}"
        ) from None
    return prompt, completion


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", nargs="+", type=parse_shape, default=[(64, 64), (256, 64)])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=16, help="2 epochs by default; steady = the last")
    parser.add_argument("--vocab", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--intermediate", type=int, default=1024)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workdir", help="where each run's model, data and figures go (default: a new one)")
    parser.add_argument("--json", help="also write every row's figures to this file")
    parser.add_argument("--quiet", action="store_true", help="hide the trainers' own output")
    return parser.parse_args()


def main() -> None:
    args = parse()
    root = Path(args.workdir or tempfile.mkdtemp(prefix="arena-bench-memory-"))
    root.mkdir(parents=True, exist_ok=True)
    on_gpu = args.device.startswith("cuda")
    rows: dict[str, dict[str, Any]] = {}
    for shape in args.shapes:
        for setting in args.settings:
            figures = run_pair(args, shape, setting, root)
            name = f"{figures['shape']['prompt_tokens']:.0f}+{figures['shape']['completion_tokens']:.0f}/{setting}"
            rows[name] = summary_row(figures, on_gpu)
    report(rows, on_gpu)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "args": vars(args)}, indent=2, default=str))


if __name__ == "__main__":
    main()
