"""Padding and trimming shared by the backends, the mixture sampler and the log-prob scorer."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from arena.generation.base import FinishReason


def left_pad(
    sequences: Sequence[Sequence[int]], pad_id: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), padded on the left so that every row's next token lines up."""
    width = max(len(ids) for ids in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        if ids:
            input_ids[row, width - len(ids) :] = torch.tensor(list(ids), dtype=torch.long)
            attention_mask[row, width - len(ids) :] = 1
    return input_ids.to(device), attention_mask.to(device)


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that start at 0 on each row's first real token (left padding shifts nothing)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def trim_at_eos(token_ids: Sequence[int], eos_ids: Sequence[int]) -> tuple[list[int], FinishReason]:
    """The tokens up to and including the first EOS ("stop"), or all of them ("length")."""
    stops = set(eos_ids)
    for index, token in enumerate(token_ids):
        if token in stops:
            return list(token_ids[: index + 1]), "stop"
    return list(token_ids), "length"
