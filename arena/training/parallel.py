"""How the loop's model is spread over processes: replicated (plain or torchrun/accelerate DDP-style), FSDP2
or DeepSpeed. The loop calls the same methods whichever it is; `make_strategy` picks from accelerate's state.

- `Replicated`: every process holds the whole model; gradients are summed over processes in buckets
  reduced during the last micro-batch's backward (`arena.training.buckets`, DDP's reducer with public
  hooks). Not a DDP wrapper: algorithms call the decoder and the LM head separately (chunked log-probs),
  which a wrapper's forward would not see.
- `FullyShardedV2`: `torch.distributed.fsdp.fully_shard` on each transformer block and on a thin root
  module (`_StepModule`) whose forward runs the objective's whole loss. FSDP2's hooks unshard a block when
  it runs, and the root's hooks unshard the rest (embeddings, final norm, LM head) for the whole loss, so the
  chunked log-prob code works unchanged. Blocks keep their gathered parameters from their first forward of
  a micro-batch until its backward (`reshard_after_forward=False`, ZeRO-2-like during a step): online
  algorithms run a data-dependent number of forward passes per process while sampling, and a collective
  per forward would deadlock. Parameters, gradients and optimizer state stay sharded between steps.
- `DeepSpeedZeRO`: `Accelerator.prepare` and `accelerator.backward` (the engine steps inside backward).
  Not tested here (DeepSpeed needs CUDA); see docs/scale-out.md.

Checkpoints (`save_checkpoint`/`load_checkpoint`, every process calls both; formats in
`arena.training.checkpoint`): replicated runs write a `full` one from the main process; FSDP2 a `sharded`
one through torch.distributed.checkpoint, each process its own shards; DeepSpeed an `accelerate` one
through `Accelerator.save_state`, the engine's own checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from arena.errors import ArenaError
from arena.training.buckets import GradientBuckets, bucket_bytes_from_env
from arena.training.checkpoint import (
    ACCELERATE,
    ACCELERATE_DIR,
    FULL,
    SHARDED,
    SHARDED_DIR,
    STATE_FILE,
    Checkpoint,
    begin_checkpoint,
    commit_checkpoint,
    load_sharded_state,
    load_training_state,
    load_weights,
    read_trainer_state,
    read_weights,
    save_checkpoint,
    save_sharded_state,
    staging_path,
)


class Replicated:
    name = "replicated"
    resumes = (FULL, SHARDED)  # the checkpoint formats load_checkpoint reads

    def __init__(self, world: int) -> None:
        self.world = world
        self.bucket_bytes = bucket_bytes_from_env()  # read here, so that a bad value stops the run at once
        self.buckets: GradientBuckets | None = None

    def prepare(self, model: torch.nn.Module) -> None:
        self.model = model
        if self.world > 1 and self.bucket_bytes > 0:
            self.buckets = GradientBuckets(list(model.parameters()), self.bucket_bytes)

    def run(self, loss: Callable[[Any], Any], batch: Any) -> Any:
        return loss(batch)

    def backward(self, loss: torch.Tensor, *, last: bool = True) -> None:
        """`last`: this micro-batch ends the gradient-accumulation step (its backward reduces buckets)."""
        if self.buckets is not None and last:
            self.buckets.arm()
        loss.backward()

    def finish_gradients(self, max_grad_norm: float | None) -> float:
        if self.buckets is not None:
            self.buckets.finish()
        elif self.world > 1:  # ARENA_ALLREDUCE_BUCKET_MB=0: one all-reduce per parameter
            import torch.distributed as dist

            for parameter in self.model.parameters():
                if parameter.grad is not None:
                    dist.all_reduce(parameter.grad)
        parameters = [p for p in self.model.parameters() if p.grad is not None]
        limit = max_grad_norm if max_grad_norm else float("inf")
        return float(torch.nn.utils.clip_grad_norm_(parameters, limit))

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    @contextmanager
    def gathered(self) -> Iterator[None]:
        """The whole model usable outside the loss (diagnostics, evaluation, saving)."""
        yield

    def model_state(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def save_checkpoint(
        self,
        out_dir: Path,
        step: int,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        keep: int,
        main: bool,
        algorithm_state: dict[str, Any] | None = None,
    ) -> None:
        """Every process calls it; the loop waits for all of them after. Replicated: the main process writes
        a `full` checkpoint (every process holds the same model and optimizer state)."""
        if main:
            save_checkpoint(
                out_dir,
                step,
                self.model_state(),
                optimizer.state_dict(),
                scheduler,
                {},
                keep,
                algorithm_state=algorithm_state,
            )

    def check_resumable(self, checkpoint: Checkpoint) -> None:
        """A one-line error now, before the model loads, for a checkpoint of a format this cannot read."""
        found = read_trainer_state(checkpoint)["format"]
        if found not in self.resumes:
            raise ArenaError(
                f"{checkpoint.path / STATE_FILE}: format: expected a checkpoint that {self.name} runs resume, "
                f"got '{found}' (resume with the accelerate config that wrote it; docs/scale-out.md)"
            )

    def load_checkpoint(
        self, checkpoint: Checkpoint, optimizer: torch.optim.Optimizer, scheduler: Any
    ) -> int:
        """Every process restores the checkpoint into its prepared model and optimizer; returns its step."""
        self.check_resumable(checkpoint)
        optimizer_state, state = load_training_state(checkpoint, scheduler)
        if state["format"] == FULL:
            load_weights(checkpoint, self.model)
            optimizer.load_state_dict(optimizer_state)
        else:  # e.g. an FSDP2 run resumed in one process: DCP reads every shard
            load_sharded_state(checkpoint.path / SHARDED_DIR, self.model, optimizer)
        return int(state["step"])

    def finalize(self) -> None:
        """Make the model a plain module again before the final save (a no-op here)."""


class _StepModule(torch.nn.Module):
    """FSDP2's root: its forward runs a whole loss, so the root's hooks gather the parameters that live
    outside the transformer blocks (embeddings, norm, LM head) for every call the loss makes."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, loss: Callable[[Any], Any], batch: Any) -> Any:
        return loss(batch)


class FullyShardedV2(Replicated):
    name = "fsdp2"

    def check_resumable(self, checkpoint: Checkpoint) -> None:
        super().check_resumable(checkpoint)
        if read_trainer_state(checkpoint)["format"] == FULL:
            # Resumable only if an FSDP2 run wrote it before sharded checkpoints: a replicated run's
            # optimizer.state_dict() keys its state by position, which FSDP2 cannot map to its shards.
            optimizer_state = torch.load(checkpoint.path / "training.pt", weights_only=False).get("optimizer")
            if not (optimizer_state and _keyed_by_name(optimizer_state)):
                raise ArenaError(
                    f"{checkpoint.path / STATE_FILE}: format: expected a checkpoint that fsdp2 runs resume, "
                    "got 'full' of a replicated run (resume it without FSDP; docs/scale-out.md)"
                )

    def prepare(self, model: torch.nn.Module) -> None:
        from torch.distributed.fsdp import CPUOffloadPolicy, FSDPModule, fully_shard

        self.model = model
        self.root = _StepModule(model)
        offload = os.environ.get("FSDP_OFFLOAD_PARAMS", "false").lower() == "true"
        options: dict[str, Any] = {"reshard_after_forward": False}
        if offload:
            options["offload_policy"] = CPUOffloadPolicy()
        blocks = _block_classes(model)
        for module in model.modules():
            if type(module).__name__ in blocks:
                fully_shard(module, **options)
        fully_shard(self.root, **options)
        self.units = [m for m in self.root.modules() if isinstance(m, FSDPModule)]

    def run(self, loss: Callable[[Any], Any], batch: Any) -> Any:
        return self.root(loss, batch)

    def backward(self, loss: torch.Tensor, *, last: bool = True) -> None:
        # FSDP2 averages gradients over processes; the loop's losses are already shares of the global
        # batch (their gradients must be summed), so undo the average.
        (loss * self.world).backward()

    def finish_gradients(self, max_grad_norm: float | None) -> float:
        parameters = [p for p in self.model.parameters() if p.grad is not None]
        limit = max_grad_norm if max_grad_norm else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(parameters, limit)  # a DTensor: the norm over all shards
        return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)

    @contextmanager
    def gathered(self) -> Iterator[None]:
        # Every process gathers every unit once (the same collectives in the same order); after that,
        # forwards run on plain tensors however many each process makes.
        for unit in self.units:
            unit.unshard()
        try:
            yield
        finally:
            for unit in self.units:
                unit.reshard()

    def model_state(self) -> dict[str, torch.Tensor]:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        state = get_model_state_dict(self.root, options=options)  # every process must call it
        return {name.removeprefix("model."): tensor for name, tensor in state.items()}

    def save_checkpoint(
        self,
        out_dir: Path,
        step: int,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        keep: int,
        main: bool,
        algorithm_state: dict[str, Any] | None = None,
    ) -> None:
        """A `sharded` checkpoint: every process writes its own shards (torch.distributed.checkpoint); nothing
        is gathered. Not accelerate's save_state: the model never went through `Accelerator.prepare` (Arena
        shards it under a root of its own; accelerate ignores FSDP on a CPU anyway)."""
        import torch.distributed as dist

        staging = staging_path(out_dir, step)
        if main:
            begin_checkpoint(out_dir, step)
        dist.barrier()  # the staging directory exists before anyone writes into it
        save_sharded_state(staging / SHARDED_DIR, self.model, optimizer)
        dist.barrier()  # every shard is on disk before the main process renames the directory
        if main:
            extra = {"format": SHARDED, "processes": self.world}
            commit_checkpoint(out_dir, staging, step, scheduler, extra, keep, algorithm_state=algorithm_state)

    def load_checkpoint(
        self, checkpoint: Checkpoint, optimizer: torch.optim.Optimizer, scheduler: Any
    ) -> int:
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        self.check_resumable(checkpoint)
        optimizer_state, state = load_training_state(checkpoint, scheduler)
        if state["format"] == SHARDED:
            load_sharded_state(checkpoint.path / SHARDED_DIR, self.model, optimizer)
        else:  # an FSDP2 run's from before sharded checkpoints: every process reads the whole state
            options = StateDictOptions(full_state_dict=True, strict=False)  # tied weights are stored once
            weights = {f"model.{name}": tensor for name, tensor in read_weights(checkpoint).items()}
            set_model_state_dict(self.root, weights, options=options)
            set_optimizer_state_dict(self.root, optimizer, optim_state_dict=optimizer_state, options=options)
        return int(state["step"])

    def finalize(self) -> None:
        """Replace every sharded parameter by a plain one holding the full tensor (tied ones stay tied), so
        the objective saves the final model exactly as it would unsharded. The model is not trained after."""
        full = self.model_state()
        replaced: dict[int, torch.nn.Parameter] = {}
        for name, parameter in self.model.named_parameters(remove_duplicate=True):
            if name not in full:  # only the main process receives the full state (and saves)
                continue
            data = full[name].to(_local_device(parameter))
            replaced[id(parameter)] = torch.nn.Parameter(data, requires_grad=parameter.requires_grad)
        for module in self.model.modules():
            for key, parameter in list(module._parameters.items()):
                if parameter is not None and id(parameter) in replaced:
                    module._parameters[key] = replaced[id(parameter)]


class DeepSpeedZeRO(Replicated):
    """Untested here (DeepSpeed needs CUDA). The engine owns gradient averaging, accumulation boundaries,
    clipping and the optimizer step; the loop's losses are rescaled to what the engine expects."""

    name = "deepspeed"
    resumes = (ACCELERATE,)

    def __init__(self, world: int, accelerator: Any, micro_batch: int, accumulation: int) -> None:
        super().__init__(world)
        self.accelerator, self.accumulation = accelerator, accumulation
        config = accelerator.state.deepspeed_plugin.deepspeed_config
        # No dataloader goes through prepare, so accelerate cannot fill these "auto" values itself.
        config["train_micro_batch_size_per_gpu"] = micro_batch
        config["gradient_accumulation_steps"] = accumulation
        config["train_batch_size"] = micro_batch * accumulation * world

    def prepare(self, model: torch.nn.Module) -> None:
        self.model = model  # the engine reduces gradients: no buckets of Arena's

    def prepare_with_optimizer(self, model: torch.nn.Module, optimizer: Any, scheduler: Any) -> tuple:
        from accelerate.scheduler import AcceleratedScheduler

        self.model = model
        self.engine, optimizer, scheduler = self.accelerator.prepare(model, optimizer, scheduler)
        if isinstance(scheduler, AcceleratedScheduler):
            # accelerate's wrapper steps the schedule once per process per call (it takes each process's
            # batch for a share of a bigger one); Arena's steps are global already. The wrapper stays
            # registered with the accelerator, so save_state/load_state still carry the schedule.
            scheduler = scheduler.scheduler
        return optimizer, scheduler

    def backward(self, loss: torch.Tensor, *, last: bool = True) -> None:
        # The engine averages over processes and divides by the accumulation steps; the loop's loss is
        # already a share of the global batch whose gradients must be summed.
        self.accelerator.backward(loss * self.world * self.accumulation)

    def finish_gradients(self, max_grad_norm: float | None) -> float:
        norm = self.engine.get_global_grad_norm()  # clipping is the engine's (`gradient_clipping`)
        return float(norm) if norm is not None else float("nan")

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        optimizer.step()  # accelerate's DeepSpeed wrappers: the engine already stepped in backward
        optimizer.zero_grad(set_to_none=True)

    def save_checkpoint(
        self,
        out_dir: Path,
        step: int,
        optimizer: Any,
        scheduler: Any,
        keep: int,
        main: bool,
        algorithm_state: dict[str, Any] | None = None,
    ) -> None:
        AcceleratorCheckpoints(self.accelerator).save(out_dir, step, scheduler, keep, main, algorithm_state)

    def load_checkpoint(self, checkpoint: Checkpoint, optimizer: Any, scheduler: Any) -> int:
        self.check_resumable(checkpoint)
        return AcceleratorCheckpoints(self.accelerator).load(checkpoint)

    @contextmanager
    def gathered(self) -> Iterator[None]:
        import deepspeed

        parameters = list(self.model.parameters())
        with deepspeed.zero.GatheredParameters(parameters, modifier_rank=None):
            yield

    def model_state(self) -> dict[str, torch.Tensor]:
        return self.accelerator.get_state_dict(self.engine)

    def finalize(self) -> None:
        state = self.model_state()
        if self.accelerator.is_main_process:
            self.model.load_state_dict(state, strict=False)


class AcceleratorCheckpoints:
    """`accelerate` checkpoints, what DeepSpeed runs write: `Accelerator.save_state` into the staging
    directory, which under DeepSpeed has every process write the engine's checkpoint (weights and its ZeRO
    partition of the optimizer state) and its own RNG states, and the main process the scheduler given to
    `prepare`; `--resume` is `Accelerator.load_state`. Apart from the strategy so that it can be checked
    with a CPU accelerator (DeepSpeed itself needs CUDA)."""

    def __init__(self, accelerator: Any) -> None:
        self.accelerator = accelerator

    def save(
        self,
        out_dir: Path,
        step: int,
        scheduler: Any,
        keep: int,
        main: bool,
        algorithm_state: dict[str, Any] | None = None,
    ) -> None:
        staging = staging_path(out_dir, step)
        if main:
            begin_checkpoint(out_dir, step)
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(str(staging / ACCELERATE_DIR))
        self.accelerator.wait_for_everyone()
        if main:
            extra = {"format": ACCELERATE, "processes": self.accelerator.num_processes}
            commit_checkpoint(out_dir, staging, step, scheduler, extra, keep, algorithm_state=algorithm_state)

    def load(self, checkpoint: Checkpoint) -> int:
        state = read_trainer_state(checkpoint)
        # Under DeepSpeed: the engine's weights and optimizer partitions; the scheduler; every process's
        # RNG states.
        self.accelerator.load_state(str(checkpoint.path / ACCELERATE_DIR))
        return int(state["step"])


def make_strategy(accelerator: Any, world: int, micro_batch: int, accumulation: int) -> Replicated:
    """From accelerate's launch settings: `ACCELERATE_USE_FSDP` (which accelerate ignores on a CPU, where
    Arena shards itself) or a DeepSpeed plugin; otherwise replicated."""
    from accelerate.utils import DistributedType

    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        return DeepSpeedZeRO(world, accelerator, micro_batch, accumulation)
    if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true" and world > 1:
        # With this on, transformers loads real weights only in the first process and leaves the others
        # to a broadcast Arena does not make; every process loads the checkpoint itself instead.
        os.environ["FSDP_CPU_RAM_EFFICIENT_LOADING"] = "false"
        if os.environ.get("FSDP_VERSION", "1") != "2":
            raise ArenaError(
                "FSDP1 wraps the root module, which the chunked log-prob code bypasses: "
                "set fsdp_version: 2 in the accelerate config (see recipes/accelerate/fsdp2.yaml)"
            )
        return FullyShardedV2(world)
    return Replicated(world)


def _keyed_by_name(optimizer_state: dict[str, Any]) -> bool:
    """torch.distributed.checkpoint's full optimizer state names each group's parameters;
    optimizer.state_dict() numbers them."""
    groups = optimizer_state.get("param_groups", [])
    return bool(groups) and all(isinstance(key, str) for group in groups for key in group["params"])


def _block_classes(model: torch.nn.Module) -> set[str]:
    """The transformer block classes to shard one by one: the accelerate config's
    `fsdp_transformer_layer_cls_to_wrap`, else the model's own `_no_split_modules`."""
    configured = os.environ.get("FSDP_TRANSFORMER_CLS_TO_WRAP", "")
    names = {n.strip() for n in configured.split(",") if n.strip()}
    return names or set(getattr(model, "_no_split_modules", None) or [])


def _local_device(parameter: torch.Tensor) -> torch.device:
    local = parameter.to_local() if hasattr(parameter, "to_local") else parameter
    return local.device
