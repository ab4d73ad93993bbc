"""Drawing the next token from logits with temperature, top-k and top-p (for samplers Arena runs itself)."""

from __future__ import annotations

import torch

from arena.generation.base import SamplingSettings


def next_tokens(logits: torch.Tensor, sampling: SamplingSettings, generator: torch.Generator) -> torch.Tensor:
    """One token id per row of (rows, vocab) `logits`: the argmax when greedy, else a draw from the
    temperature-scaled distribution restricted to the top-k tokens and then the top-p nucleus."""
    if sampling.greedy:
        return logits.argmax(dim=-1)
    scaled = logits.float() / sampling.temperature
    if 0 < sampling.top_k < scaled.shape[-1]:
        kth_largest = torch.topk(scaled, sampling.top_k, dim=-1).values[:, -1:]
        scaled = scaled.masked_fill(scaled < kth_largest, float("-inf"))
    if sampling.top_p < 1.0:
        ordered, order = torch.sort(scaled, dim=-1, descending=True)
        ordered_probabilities = torch.softmax(ordered, dim=-1)
        mass_before = ordered_probabilities.cumsum(dim=-1) - ordered_probabilities
        # A token stays when the tokens ranked above it hold less than top_p: the top one always stays.
        drop_ordered = mass_before >= sampling.top_p
        drop = torch.empty_like(drop_ordered).scatter(-1, order, drop_ordered)
        scaled = scaled.masked_fill(drop, float("-inf"))
    probabilities = torch.softmax(scaled, dim=-1)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(-1)
