"""AdamW with warm-up and a decay schedule to zero at the last step; on bf16 weights, with fp32 master
weights unless `training.master_weights: none` (arena.training.precision)."""

from __future__ import annotations

import math

import torch

from arena.recipes import TrainingSettings


def make_optimizer(parameters: list[torch.nn.Parameter], settings: TrainingSettings) -> torch.optim.AdamW:
    from arena.training.precision import MasterWeightAdamW

    options = {"lr": settings.learning_rate, "weight_decay": settings.weight_decay}
    if settings.master_weights == "fp32" and any(p.dtype != torch.float32 for p in parameters):
        return MasterWeightAdamW(parameters, **options)
    return torch.optim.AdamW(parameters, **options)


def learning_rate_factor(step: int, settings: TrainingSettings) -> float:
    """Multiplier of the base learning rate at optimizer step `step` (0-based)."""
    if settings.warmup_steps and step < settings.warmup_steps:
        return (step + 1) / settings.warmup_steps
    if settings.schedule == "constant":
        return 1.0
    decay_steps = max(1, settings.steps - settings.warmup_steps)
    progress = min(1.0, (step - settings.warmup_steps) / decay_steps)
    if settings.schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(
    optimizer: torch.optim.Optimizer, settings: TrainingSettings
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(step, settings))
