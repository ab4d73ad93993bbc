"""The weights' dtype, fp32 master weights for bf16 training, and gradient checkpointing (docs/memory.md).

`training.dtype: bf16` holds the weights (and so their gradients and activations) in bfloat16: half the
bytes of fp32. bf16 keeps 8 bits of mantissa, so an AdamW update smaller than 1/256 of a weight rounds
away; `training.master_weights: fp32` (the default) therefore keeps an fp32 copy of each trained weight in
the optimizer, steps AdamW on it with fp32 moments, and writes the rounded result back to the bf16 weight
(the mixed-precision recipe of Micikevicius et al. 2018). `none` steps AdamW on the bf16 weights
themselves, with bf16 moments: 8 bytes per trained parameter instead of 16, and updates that round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from arena.recipes import TrainingSettings

# `gradient_checkpointing: auto` turns checkpointing on above this many parameters. Below it activations
# are small beside what a GPU holds and recomputing them only costs time (a third more per step); the
# tiny test models (0.1M-5M) stay well under it, a 0.4B model is well over it (Arena's DPO peaked at
# 21.3 GiB without it, TRL's at 9.1 GiB with it: benchmarks/RESULTS.md).
CHECKPOINTING_THRESHOLD = 100_000_000

WEIGHT_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def weights_dtype(settings: TrainingSettings) -> torch.dtype:
    return WEIGHT_DTYPES[settings.dtype]


def wants_checkpointing(settings: TrainingSettings, parameters: int) -> bool:
    """Whether `training.gradient_checkpointing` asks for checkpointing of a model of `parameters`."""
    if settings.gradient_checkpointing == "auto":
        return parameters > CHECKPOINTING_THRESHOLD
    return bool(settings.gradient_checkpointing)


def enable_gradient_checkpointing(model: torch.nn.Module) -> int:
    """Checkpoint every decoder layer of each Hugging Face model inside `model` (the policy, a judge's
    backbone); returns how many models were switched. Non-reentrant checkpointing works per layer, so it
    applies however the model is called: Arena's scorer calls the decoder and the LM head separately."""
    from transformers import PreTrainedModel

    switched = 0
    for module in model.modules():
        if isinstance(module, PreTrainedModel) and module.supports_gradient_checkpointing:
            if not getattr(module, "is_gradient_checkpointing", False):
                module.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
                switched += 1
    for module in model.modules():
        if getattr(module, "gradient_checkpointing", None) is True:
            module.gradient_checkpointing = _WhileGradEnabled()
    return switched


class _WhileGradEnabled:
    """A transformers layer checkpoints when `self.gradient_checkpointing and self.training`, and then drops
    its KV cache. The online algorithms sample from the policy in training mode under `inference_mode`:
    with this flag a layer checkpoints only when gradients are on, and sampling keeps its cache."""

    def __bool__(self) -> bool:
        return torch.is_grad_enabled()


def apply_memory_settings(model: torch.nn.Module, settings: TrainingSettings) -> bool:
    """Cast the trained model to `training.dtype` and switch checkpointing on where asked; returns
    whether checkpointing is on."""
    dtype = weights_dtype(settings)
    floating = [p for p in model.parameters() if p.is_floating_point()]
    # A model built in fp32 (a judge's backbone and head) is cast; one already loaded in `dtype` is left as
    # it is, with whatever peft added to it (LoRA adapters stay fp32 beside bf16 weights).
    if dtype != torch.float32 and all(p.dtype == torch.float32 for p in floating):
        model.to(dtype)
    parameters = sum(p.numel() for p in model.parameters())
    on = wants_checkpointing(settings, parameters)
    if on:
        enable_gradient_checkpointing(model)
    return on


# MasterWeightAdamW steps its parameters in parts of at most this many values, so that the fp32 copies of
# the gradients it makes exist for one part at a time: 256 MiB, not 4 bytes per trained parameter.
STEP_PART_VALUES = 2**26


class MasterWeightAdamW(torch.optim.AdamW):
    """AdamW on fp32 copies of low-precision parameters: each step reads the parameters' gradients in
    fp32, updates the copies (and fp32 moments), and rounds them back into the parameters. The copies are
    part of `state_dict()`, so a resumed run continues from the same fp32 values, not from the rounded ones.
    AdamW is elementwise, so stepping the parameters part by part (`part_values` values at most per part)
    is the same step.
    """

    def __init__(
        self, parameters: Iterable[torch.nn.Parameter], part_values: int = STEP_PART_VALUES, **options: Any
    ) -> None:
        self.model_parameters = list(parameters)
        self.masters = [p.detach().to(torch.float32, copy=True) for p in self.model_parameters]
        super().__init__(self.masters, **options)
        self.parts: list[list[int]] = [[]]
        size = 0
        for index, master in enumerate(self.masters):
            if self.parts[-1] and size + master.numel() > part_values:
                self.parts.append([])
                size = 0
            self.parts[-1].append(index)
            size += master.numel()

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = closure() if closure is not None else None
        (group,) = self.param_groups  # one group: what make_optimizer builds
        everything = group["params"]
        try:
            for part in self.parts:
                for index in part:
                    grad = self.model_parameters[index].grad
                    self.masters[index].grad = None if grad is None else grad.to(torch.float32)
                group["params"] = [self.masters[index] for index in part]
                super().step()
                for index in part:
                    self.masters[index].grad = None  # the fp32 gradients live only while their part steps
                    self.model_parameters[index].copy_(self.masters[index])
        finally:
            group["params"] = everything
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        super().zero_grad(set_to_none)
        for parameter in self.model_parameters:
            if set_to_none:
                parameter.grad = None
            elif parameter.grad is not None:
                parameter.grad.zero_()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["master_weights"] = [master.detach().clone() for master in self.masters]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        masters = state.pop("master_weights")
        super().load_state_dict(state)
        with torch.no_grad():
            for master, saved in zip(self.masters, masters, strict=True):
                master.copy_(saved)
