"""Gradients summed over processes in buckets, each reduced while backward is still running, as DDP does.

Why not DDP itself: algorithms call the decoder and the LM head separately (chunked log-probs,
`arena.generation.logprobs`), which a wrapper's `forward` would not see. What DDP's reducer does is
reproduced here with public hooks instead:

- The trainable parameters are grouped into buckets of about `bucket_bytes` (25 MiB by default, DDP's
  `bucket_cap_mb`), in reverse registration order: backward produces the last layers' gradients first,
  so buckets fill in the order they are numbered.
- `Tensor.register_post_accumulate_grad_hook` tells when a parameter's gradient is final for this
  backward. On the last micro-batch of a gradient-accumulation step (`arm`), once every parameter of a
  bucket has its gradient, the bucket's gradients are copied into one flat tensor and summed over
  processes with one asynchronous all-reduce while backward goes on with the earlier layers. On the other
  micro-batches the hooks do nothing: gradients accumulate locally, as under DDP's `no_sync`.
- Buckets are launched strictly in order, so every process issues the same collectives in the same
  order; a bucket with a parameter that got no gradient in this backward (and every bucket after it)
  waits for `finish`, which reduces it then.
- Once a bucket is flattened, its parameters' `.grad` become views of the flat tensor (DDP's
  `gradient_as_bucket_view`), so the sums land in place and no second copy of the gradients exists.
- `finish` waits for every all-reduce.

Each element is the sum of the same per-process values as with one all-reduce per parameter: with two
processes bit for bit (a + b either way); with more, the collective's algorithm may add a chunk's values
in another order (rounding-level differences, as between any two all-reduce algorithms).
`ARENA_ALLREDUCE_BUCKET_MB=0` keeps the old way: one all-reduce per parameter, after backward.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch

from arena.errors import ArenaError

BUCKET_ENV = "ARENA_ALLREDUCE_BUCKET_MB"
DEFAULT_BUCKET_MB = 25.0


def bucket_bytes_from_env() -> int:
    """`ARENA_ALLREDUCE_BUCKET_MB` in MiB (default 25; 0 = one all-reduce per parameter, no overlap)."""
    raw = os.environ.get(BUCKET_ENV)
    if raw is None or not raw.strip():
        return int(DEFAULT_BUCKET_MB * 2**20)
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = -1.0
    if not megabytes >= 0:  # also refuses NaN
        raise ArenaError(
            f"{BUCKET_ENV}: expected a number of MiB >= 0 (0: one all-reduce per parameter), got {raw!r}"
        )
    return int(megabytes * 2**20)


def plan_buckets(parameters: Sequence[torch.Tensor], bucket_bytes: int) -> list[list[torch.Tensor]]:
    """Consecutive runs of `parameters` (taken in reverse) of at most `bucket_bytes` each (a larger
    parameter is a bucket of its own), one dtype and device per bucket (one flat tensor each)."""
    buckets: list[list[torch.Tensor]] = []
    size = 0
    for parameter in reversed(parameters):
        nbytes = parameter.numel() * parameter.element_size()
        current = buckets[-1] if buckets else None
        fits = current is not None and size + nbytes <= bucket_bytes
        same_kind = current is not None and (current[0].dtype, current[0].device) == (
            parameter.dtype,
            parameter.device,
        )
        if fits and same_kind and current is not None:
            current.append(parameter)
            size += nbytes
        else:
            buckets.append([parameter])
            size = nbytes
    return buckets


class GradientBuckets:
    """Bucketed, backward-overlapped sum of gradients over the default process group."""

    def __init__(
        self,
        parameters: Sequence[torch.Tensor],
        bucket_bytes: int,
        all_reduce: Callable[[torch.Tensor], Any] | None = None,
    ) -> None:
        unique = list({id(p): p for p in parameters if p.requires_grad}.values())  # tied weights once
        self.buckets = plan_buckets(unique, bucket_bytes)
        self.bucket_of = {id(p): index for index, bucket in enumerate(self.buckets) for p in bucket}
        self._all_reduce = all_reduce or _async_all_reduce
        self._armed = False
        self._remaining: list[int] = []
        self._fired: set[int] = set()
        self._next = 0
        self._in_flight: list[Any] = []  # the all-reduces' work handles, in launch order
        self.launched_in_backward = 0  # buckets reduced during the last armed backward (overlap achieved)
        self._handles = [p.register_post_accumulate_grad_hook(self._on_gradient) for p in unique]

    def arm(self) -> None:
        """The next backward is the last of the step: reduce each bucket as soon as it is complete."""
        self._armed = True
        self._remaining = [len(bucket) for bucket in self.buckets]
        self._fired = set()
        self._next = 0
        self._in_flight = []
        self.launched_in_backward = 0

    def finish(self) -> None:
        """Reduce the buckets backward did not complete, wait for all, write the sums into `.grad`."""
        if not self._armed:
            self.arm()  # e.g. a step whose backward was never armed: reduce everything now
        while self._next < len(self.buckets):
            self._launch(self._next)
        for work in self._in_flight:
            if work is not None:
                work.wait()  # the sums are now in the bucket, which the gradients are views of
        self._in_flight = []
        self._armed = False

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _on_gradient(self, parameter: torch.Tensor) -> None:
        if not self._armed:
            return
        key = id(parameter)
        index = self.bucket_of[key]
        if key in self._fired:
            # A second gradient for the same parameter in one backward (reentrant checkpointing, a
            # second backward call): a bucket already reduced would miss it.
            if index < self._next:
                raise RuntimeError(
                    f"a parameter of shape {tuple(parameter.shape)} received a gradient after its bucket "
                    f"was reduced (reentrant checkpointing?); set {BUCKET_ENV}=0 for one all-reduce "
                    f"per parameter after backward"
                )
            return
        self._fired.add(key)
        self._remaining[index] -= 1
        while self._next < len(self.buckets) and self._remaining[self._next] == 0:
            self._launch(self._next)
            self.launched_in_backward += 1

    def _launch(self, index: int) -> None:
        self._next = index + 1
        # Parameters without a gradient on this step keep `.grad = None` (the optimizer skips them).
        parameters = [p for p in self.buckets[index] if p.grad is not None]
        if not parameters:
            return
        flat = torch.cat([p.grad.reshape(-1) for p in parameters])
        offset = 0
        for parameter in parameters:
            # The gradient becomes a view of the bucket (DDP's gradient_as_bucket_view): the sum lands in
            # place and the separate gradient is freed, so a bucket in flight costs no second copy.
            count = parameter.numel()
            parameter.grad = flat[offset : offset + count].view_as(parameter)
            offset += count
        self._in_flight.append(self._all_reduce(flat))


def _async_all_reduce(flat: torch.Tensor) -> Any:
    import torch.distributed as dist

    return dist.all_reduce(flat, async_op=True)
