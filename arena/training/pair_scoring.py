"""Scoring preference pairs: the summed completion log-probs of each pair's chosen and rejected responses.

`pair_logprobs(model, batch)` is what DPO, IPO and the reference pass call: a (2B,) tensor, chosen rows
first then rejected, equal to `token_logprobs(...).sum(-1)` over the batch's unpacked rows. Token counts
(length normalisation, RPO's per-token NLL) are `arena.training.algorithm.completion_lengths(batch)`.
"""

from __future__ import annotations

from typing import Any

import torch

from arena.generation.logprobs import DEFAULT_CHUNK_SIZE, token_logprobs
from arena.training.algorithm import PairBatch


def pair_logprobs(model: Any, batch: PairBatch, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> torch.Tensor:
    """(2B,) summed log pi(completion | prompt): chosen of each pair, then rejected. Differentiable."""
    return token_logprobs(
        model, batch.input_ids, batch.attention_mask, batch.completion_mask, chunk_size=chunk_size
    ).sum(-1)
