"""The Trainer loop shared by every algorithm and every trainable judge.

What is trained comes from an `Objective` (`arena.training.objective`): a policy algorithm for `train`
recipes, the judge plugin's objective for `judge` recipes. This loop owns the rest, the same for all.

Batching: `training.batch_size` is the global batch of one optimizer step. It is split over processes
and then over `gradient_accumulation` micro-batches; each micro-batch's loss is sum(losses) / batch_size
and gradients are summed over processes, so one process and N processes take the same step.
Gradients are summed in buckets during the last micro-batch's backward (`arena.training.buckets`) rather
than through a DDP wrapper because algorithms call the model's decoder and LM head separately (chunked
log-probs), which a DDP wrapper would not see; FSDP2 and DeepSpeed runs go through
`arena.training.parallel`.

Randomness: before each micro-batch, Python's, NumPy's and torch's generators are seeded from (seed, step,
the micro-batch's position in the global batch). Online algorithms sample their rollouts from them, so
each process samples its own share of the global batch with its own seeds, and one process with
gradient accumulation samples exactly what N processes do.
"""

from __future__ import annotations

import functools
import gc
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from arena.cards import write_model_card
from arena.errors import ArenaError, RecipeKeyError, recipe_errors
from arena.io import atomic_write_text
from arena.recipes import JudgeRecipe, TrainRecipe, output_dir, save_resolved
from arena.schema import to_plain
from arena.training.algorithm import MicroBatch
from arena.training.checkpoint import latest_checkpoint, read_algorithm_state
from arena.training.examples import cache_reference_logprobs, pair_collators
from arena.training.metrics import MetricsLog
from arena.training.objective import Objective, build_objective, check_trainable
from arena.training.optim import make_optimizer, make_scheduler
from arena.training.parallel import DeepSpeedZeRO, Replicated, make_strategy
from arena.training.precision import apply_memory_settings
from arena.training.tracking import finish_tracking, log_record, make_trackers, start_tracking


def train(
    recipe: TrainRecipe | JudgeRecipe, recipe_file: str, plugins: Any, *, resume: bool = False
) -> dict[str, Any]:
    """Run (or continue) the training a recipe describes; returns the summary also saved to summary.json.
    The boundary that knows the recipe's file: a problem with one of its keys found anywhere below is
    reported as `FILE: key: expected`."""
    with recipe_errors(recipe_file):
        return _train(recipe, recipe_file, plugins, resume)


def _train(recipe: TrainRecipe | JudgeRecipe, recipe_file: str, plugins: Any, resume: bool) -> dict[str, Any]:
    from accelerate import Accelerator

    settings = recipe.training
    out_dir = output_dir(recipe)
    # cpu=True also makes accelerate see torchrun's processes on a machine without a GPU (gloo).
    on_cpu = settings.device == "cpu" or not torch.cuda.is_available()
    trackers = make_trackers(settings.report_to, recipe.name, out_dir, resume)  # training.report_to
    accelerator = Accelerator(
        cpu=on_cpu, mixed_precision=_mixed_precision(settings.precision), log_with=trackers or None
    )
    world, rank, main = accelerator.num_processes, accelerator.process_index, accelerator.is_main_process
    micro_batch = micro_batch_size(recipe, world)
    strategy = make_strategy(accelerator, world, micro_batch, settings.gradient_accumulation)
    if settings.dtype != "fp32" and strategy.name != "replicated":  # their own mixed precision
        raise RecipeKeyError(
            "training.dtype",
            f"expected fp32 with {strategy.name}: it keeps bf16 compute copies of fp32 weights itself "
            "(training.precision: bf16)",
        )
    check_output(out_dir, resume, recipe_file)
    checkpoint = latest_checkpoint(out_dir) if resume else None
    if checkpoint is not None:
        strategy.check_resumable(checkpoint)  # before anything slow: written under another strategy?
    if isinstance(recipe, JudgeRecipe):
        check_trainable(recipe, plugins)
    _seed_everything(settings.seed)

    device = accelerator.device if settings.device == "auto" else torch.device(settings.device)
    objective = build_objective(recipe, plugins, device, out_dir)
    source = objective.examples

    model = objective.model
    model.train()
    if isinstance(recipe, JudgeRecipe):  # a policy got training.dtype and checkpointing as it loaded
        apply_memory_settings(model, settings)
    with accelerator.autocast():  # the training's precision; then the reference is let go (docs/memory.md)
        cache_reference_logprobs(pair_collators(source), micro_batch, show_progress=main)
    gc.collect()
    start_step = 0
    strategy.prepare(model)
    optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], settings)
    scheduler = make_scheduler(optimizer, settings)
    if isinstance(strategy, DeepSpeedZeRO):
        optimizer, scheduler = strategy.prepare_with_optimizer(model, optimizer, scheduler)
    if checkpoint is not None:  # into the prepared (maybe sharded) model and optimizer: docs/scale-out.md
        start_step = strategy.load_checkpoint(checkpoint, optimizer, scheduler)
        objective.load_state_dict(read_algorithm_state(checkpoint, device))  # e.g. SPPO's snapshot
    if main:
        if checkpoint is None:
            save_resolved(recipe, out_dir)
        metrics_log = MetricsLog(
            out_dir / "metrics.jsonl", resume_from_step=start_step if checkpoint else None
        )
        start_tracking(accelerator, out_dir, to_plain(recipe), start_step if checkpoint else 0)

    from arena import console

    fields = {"loss": "-", "ex/s": "-"}
    last: dict[str, Any] = {}
    started, examples_seen = time.perf_counter(), 0
    with console.progress(
        f"{objective.label} {recipe.name}", settings.steps, fields=fields, enabled=main
    ) as bar:
        bar.update(0, completed=start_step)
        for step in range(start_step, settings.steps):
            indices = source.batch_indices(step, settings.batch_size, settings.seed)
            mine = indices[rank * micro_batch * settings.gradient_accumulation :][
                : micro_batch * settings.gradient_accumulation
            ]
            first = rank * micro_batch * settings.gradient_accumulation  # in the global batch
            if objective.starts_steps:  # e.g. Nash-MD's EMA opponent
                with strategy.gathered():  # e.g. an EMA of the whole (unsharded) policy
                    objective.start_step(step)
            sums: dict[str, torch.Tensor] = {}
            for start in range(0, len(mine), micro_batch):
                batch = source.collate(mine[start : start + micro_batch])
                _seed_micro_batch(settings.seed, step, first + start)
                position = MicroBatch(step, start // micro_batch, settings.gradient_accumulation)
                with accelerator.autocast():
                    output = strategy.run(functools.partial(objective.loss, micro_batch=position), batch)
                ends_step = position.index == position.count - 1  # its backward reduces gradients
                strategy.backward(output.losses.sum() / settings.batch_size, last=ends_step)
                _accumulate(sums, "loss", output.losses)
                for name, values in output.metrics.items():
                    _accumulate(sums, name, values)
            grad_norm = strategy.finish_gradients(settings.max_grad_norm)
            strategy.step(optimizer)
            scheduler.step()
            examples_seen += settings.batch_size

            done = step + 1
            if done % settings.log_every == 0 or done == settings.steps:
                record = {"step": done, **_reduce(sums, world), "grad_norm": grad_norm}
                record["learning_rate"] = scheduler.get_last_lr()[0]
                record["examples_per_second"] = examples_seen / max(time.perf_counter() - started, 1e-9)
                with strategy.gathered(), torch.no_grad():
                    record.update(objective.diagnostics())
                last = record
                if main:
                    metrics_log.write(record)
                    log_record(accelerator, record)  # the same record to training.report_to's trackers
                    bar.update(
                        0, loss=f"{record['loss']:.4f}", **{"ex/s": f"{record['examples_per_second']:.1f}"}
                    )
            if settings.save_every and done % settings.save_every == 0 and done < settings.steps:
                _save(
                    main,
                    accelerator,
                    strategy,
                    objective,
                    out_dir,
                    done,
                    optimizer,
                    scheduler,
                    settings.keep_checkpoints,
                )
            bar.update(0, advance=1)

    _save(
        main,
        accelerator,
        strategy,
        objective,
        out_dir,
        settings.steps,
        optimizer,
        scheduler,
        settings.keep_checkpoints,
    )
    model.eval()
    with strategy.gathered():
        evaluation = objective.evaluate()
    strategy.finalize()
    summary = {
        "name": recipe.name,
        **objective.summary,
        "steps": settings.steps,
        "resumed_from_step": start_step if checkpoint else None,
        "processes": world,
        "examples": len(source),
        "truncated_examples": source.truncated,
        "wall_seconds": time.perf_counter() - started,
        "final": {k: v for k, v in last.items() if k != "step"},
        "parallelism": strategy.name,
        **evaluation,
    }
    if main:
        objective.save(out_dir / "final")
        atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        write_model_card(out_dir)  # final/README.md: after summary.json, whose metrics it states
        finish_tracking(accelerator)
    accelerator.wait_for_everyone()
    return summary


def micro_batch_size(recipe: TrainRecipe | JudgeRecipe, world: int) -> int:
    settings = recipe.training
    parts = world * settings.gradient_accumulation
    if settings.batch_size % parts:
        raise RecipeKeyError(
            "training.batch_size",
            f"expected a multiple of gradient_accumulation x processes = {parts}, got {settings.batch_size}",
        )
    return settings.batch_size // parts


def check_output(out_dir: Path, resume: bool, recipe_file: str) -> None:
    if not resume and (out_dir / "checkpoints").exists():
        raise ArenaError(
            f"{recipe_file}: output: '{out_dir}' already holds a run; pass --resume to continue it, "
            f"or set another output (--set output=DIR)"
        )


def _mixed_precision(precision: str) -> str:
    if precision == "auto":
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    return {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[precision]


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _accumulate(sums: dict[str, torch.Tensor], name: str, values: torch.Tensor) -> None:
    values = values.detach().float().reshape(-1)
    total = torch.stack([values.sum(), values.new_tensor(float(values.numel()))])  # on the values' device
    sums[name] = sums[name] + total if name in sums else total


def _reduce(sums: dict[str, torch.Tensor], world: int) -> dict[str, float]:
    """Means over every example of the step, across processes."""
    if world > 1:
        import torch.distributed as dist

        for total in sums.values():
            dist.all_reduce(total)
    return {name: float(total[0] / total[1]) for name, total in sums.items()}


def _seed_micro_batch(seed: int, step: int, position: int) -> None:
    """Seed every generator from (seed, step, the micro-batch's first position in the global batch)."""
    value = int(np.random.SeedSequence([seed, step, position]).generate_state(1)[0])
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)


def _save(
    main: bool,
    accelerator: Any,
    strategy: Replicated,
    objective: Objective,
    out_dir: Path,
    step: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    keep: int,
) -> None:
    # Collective: every process takes part (sharded strategies each write their own part).
    algorithm_state = objective.state_dict() if main else None
    strategy.save_checkpoint(out_dir, step, optimizer, scheduler, keep, main, algorithm_state)
    accelerator.wait_for_everyone()
