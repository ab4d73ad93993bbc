"""Rollout buffers in checkpoints. PPO, GRPO and RLOO reuse one rollout for `epochs` optimizer steps (one
buffer per micro-batch slot); a checkpoint taken between those steps keeps the buffers still to be used, so
that `--resume` continues on the same samples instead of drawing new ones (Algorithm.state_dict).

A buffer is a dataclass whose fields are tensors, numbers, and one `Responses`; its state is made of what
`torch.load(weights_only=True)` reads back: tensors, strings, numbers, lists and dicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

import torch

from arena.training.rollouts import Responses

Buffer = TypeVar("Buffer")
_RESPONSES = "responses:"  # the prefix of the keys that hold a Responses field's parts


def buffers_state(buffers: Mapping[int, Any]) -> dict[str, Any]:
    """The buffers with steps left (`steps_left > 0`), by micro-batch slot; {} when none is pending."""
    pending = {str(slot): _buffer_state(buffer) for slot, buffer in buffers.items() if buffer.steps_left > 0}
    return {"rollout_buffers": pending} if pending else {}


def buffers_from_state(state: Mapping[str, Any], kind: type[Buffer]) -> dict[int, Buffer]:
    """The buffers `buffers_state` saved, as `kind` instances (their tensors where the checkpoint loaded them)."""
    return {int(slot): _buffer(kind, fields) for slot, fields in state.get("rollout_buffers", {}).items()}


def _buffer_state(buffer: Any) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for field in dataclasses.fields(buffer):
        value = getattr(buffer, field.name)
        if isinstance(value, Responses):
            state[f"{_RESPONSES}{field.name}"] = {
                "prompts": list(value.prompts),
                "texts": list(value.texts),
                "token_ids": [list(ids) for ids in value.token_ids],
                "reference_logprobs": value.reference_logprobs.detach(),
                "mask": value.mask.detach(),
            }
        elif isinstance(value, torch.Tensor):
            state[field.name] = value.detach()
        else:
            state[field.name] = value
    return state


def _buffer(kind: type[Buffer], state: Mapping[str, Any]) -> Buffer:
    values: dict[str, Any] = {}
    for key, value in state.items():
        if key.startswith(_RESPONSES):
            values[key.removeprefix(_RESPONSES)] = Responses(
                list(value["prompts"]),
                list(value["texts"]),
                [tuple(ids) for ids in value["token_ids"]],
                value["reference_logprobs"],
                value["mask"],
            )
        else:
            values[key] = value
    return kind(**values)
