"""Scoring preference pairs: the summed completion log-probs of each pair's chosen and rejected responses.

`pair_logprobs(model, batch)` is what DPO, IPO and the reference pass call: a (2B,) tensor, chosen rows
first then rejected, equal to `token_logprobs(...).sum(-1)` over the batch's unpacked rows. Token counts
(length normalisation, RPO's per-token NLL) are `arena.training.algorithm.completion_lengths(batch)`.

Packed rows. A `PairBatch` holds each prompt twice (once before chosen, once before rejected). Here each
pair is scored as ONE row [prompt, chosen, rejected], so the shared prompt runs through the model once:

- position ids: prompt and chosen count 0, 1, ...; rejected continues from the end of the prompt, so each
  completion sees the positions it has in its own unpacked row;
- a 4D attention mask (B, 1, W, W): every token attends causally to the prompt and to its own completion,
  never to the other completion (chosen cannot see rejected anyway: it comes first);
- the first rejected token is predicted from the last prompt token's state, the others from the state
  before them: only completion tokens go through the LM head (in chunks, as `token_logprobs`).

transformers' `create_causal_mask` takes a 4D tensor as given ("already prepared"); the sdpa attention
takes a boolean mask (True = attend), eager attention adds the mask to its scores, so it gets an additive
one (0 / dtype min). Models that cannot take such a mask are scored unpacked, with one warning:
attention kernels without arbitrary masks (flash-attention, flex, paged), decoders whose mask is not
built by transformers' masking utilities (the 4D mask would not reach their attention unchanged), and
sliding-window attention when a packed row is wider than the window (a custom mask replaces the window).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import torch

from arena.generation.logprobs import DEFAULT_CHUNK_SIZE, head_logprobs, token_logprobs
from arena.training.algorithm import PairBatch

MASKABLE_ATTENTION = ("eager", "sdpa")
_warned: set[str] = set()


def pair_logprobs(
    model: Any, batch: PairBatch, *, chunk_size: int = DEFAULT_CHUNK_SIZE, packed: bool = True
) -> torch.Tensor:
    """(2B,) summed log pi(completion | prompt): chosen of each pair, then rejected. Differentiable.

    Packed rows where the model and the batch allow it (`packed=False` forces the unpacked rows)."""
    if packed:
        layout = pack_pairs(batch)
        reason = packing_unsupported(model, layout.input_ids.shape[1] if layout is not None else 0)
        if layout is not None and reason is None:
            return _packed_logprobs(model, layout, chunk_size)
        if reason is not None and reason not in _warned:
            _warned.add(reason)
            from arena.console import warn

            warn(f"preference pairs are scored unpacked (prompt computed twice): {reason}")
    return token_logprobs(
        model, batch.input_ids, batch.attention_mask, batch.completion_mask, chunk_size=chunk_size
    ).sum(-1)


@dataclass(frozen=True)
class PackedPairs:
    """B rows [prompt, chosen, rejected, padding] and where each completion's tokens are predicted from."""

    input_ids: torch.Tensor  # (B, W)
    position_ids: torch.Tensor  # (B, W)
    allowed: torch.Tensor  # (B, 1, W, W) bool: query may attend to key
    sources: torch.Tensor  # (B, T) the position whose state predicts target t (T = max chosen + rejected)
    targets: torch.Tensor  # (B, T) token ids: chosen's, then rejected's
    chosen: torch.Tensor  # (B, T) bool: target t is one of chosen's tokens
    rejected: torch.Tensor  # (B, T) bool


def pack_pairs(batch: PairBatch) -> PackedPairs | None:
    """The packed rows of a batch built as `collate_pairs` builds them (right padded, [prompt, completion]
    per row, both rows of a pair with the same prompt); None for a batch laid out otherwise."""
    ids, attention, completion = batch.input_ids, batch.attention_mask.bool(), batch.completion_mask.bool()
    pairs, width = batch.pairs, ids.shape[1]
    if pairs == 0 or ids.shape[0] != 2 * pairs:
        return None
    lengths = attention.sum(-1)
    completion_lengths = completion.sum(-1)
    prompt_lengths = lengths - completion_lengths
    columns = torch.arange(width, device=ids.device)
    # The layout packing relies on: attention a prefix, the completion right after the prompt, a prompt
    # of at least one token (the first completion token is predicted from it), the same prompt in both rows.
    expected_attention = columns < lengths[:, None]
    expected_completion = expected_attention & (columns >= prompt_lengths[:, None])
    prompt_p, prompt_r = prompt_lengths[:pairs], prompt_lengths[pairs:]
    in_prompt = columns < prompt_p[:, None]
    same_prompt = ((ids[:pairs] == ids[pairs:]) | ~in_prompt).all()
    if not bool(
        (attention == expected_attention).all()
        & (completion == expected_completion).all()
        & (prompt_p == prompt_r).all()
        & (prompt_p >= 1).all()
        & same_prompt
    ):
        return None
    prompt, chosen_len, rejected_len = prompt_p, completion_lengths[:pairs], completion_lengths[pairs:]
    packed_width = int((prompt + chosen_len + rejected_len).max())
    j = torch.arange(packed_width, device=ids.device)[None, :]
    p, c, r = prompt[:, None], chosen_len[:, None], rejected_len[:, None]
    in_first = j < p + c  # prompt and chosen: the chosen row as it is
    in_rejected = (j >= p + c) & (j < p + c + r)
    valid = in_first | in_rejected
    from_chosen = ids[:pairs].gather(1, j.clamp(max=width - 1).expand(pairs, -1))
    from_rejected = ids[pairs:].gather(1, (j - c).clamp(min=0, max=width - 1))
    input_ids = torch.where(in_first, from_chosen, torch.where(in_rejected, from_rejected, 0))
    position_ids = torch.where(in_first, j, torch.where(in_rejected, j - c, 0))
    query, key = j[:, :, None], j[:, None, :]  # (1, W, 1), (1, 1, W)
    query_rejected, key_chosen = in_rejected[:, :, None], ((j >= p) & (j < p + c))[:, None, :]
    allowed = (key <= query) & valid[:, None, :] & ~(query_rejected & key_chosen)
    # A padding key is hidden from every query but itself, so no query row is fully masked (that gives
    # NaN in attention, which backward would spread); padding queries' outputs are never used.
    allowed = allowed | ((query == key) & ~valid[:, :, None])
    targets_width = int((chosen_len + rejected_len).max())
    t = torch.arange(targets_width, device=ids.device)[None, :]
    target_positions = p + t  # chosen's tokens then rejected's are contiguous in the packed row
    sources = torch.where(t == c, p - 1, target_positions - 1)
    chosen_targets, rejected_targets = t < c, (t >= c) & (t < c + r)
    target_ids = input_ids.gather(1, target_positions.clamp(max=packed_width - 1))
    return PackedPairs(
        input_ids=input_ids,
        position_ids=position_ids,
        allowed=allowed[:, None],
        sources=sources.clamp(min=0, max=packed_width - 1),
        targets=torch.where(chosen_targets | rejected_targets, target_ids, 0),
        chosen=chosen_targets,
        rejected=rejected_targets,
    )


def packing_unsupported(model: Any, packed_width: int) -> str | None:
    """Why `model` cannot score packed rows of `packed_width` tokens, or None when it can."""
    config = model.config
    implementation = getattr(config, "_attn_implementation", None)
    if implementation not in MASKABLE_ATTENTION:
        return f"attention '{implementation}' takes no custom 4D mask (packing needs one of {MASKABLE_ATTENTION})"
    # The decoder's own class (modules() yields the module itself first, also through a wrapper that
    # stands in for it, as the LoRA reference's adapters-disabled view does).
    decoder = next(iter(model.get_decoder().modules()))
    module = sys.modules.get(type(decoder).__module__)
    if module is None or not hasattr(module, "create_causal_mask"):
        return f"{type(decoder).__name__} does not build its mask with transformers' create_causal_mask"
    window = _sliding_window(config)
    if window is not None and packed_width > window:
        return f"sliding-window attention ({window} tokens) and packed rows wider than the window"
    return None


def _sliding_window(config: Any) -> int | None:
    """The attention window some layers use, or None when every layer attends to everything."""
    window = getattr(config, "sliding_window", None) or getattr(config, "attention_chunk_size", None)
    if not window:
        return None
    layer_types = getattr(config, "layer_types", None)
    if layer_types is not None and all(kind == "full_attention" for kind in layer_types):
        return None
    return int(window)


def _packed_logprobs(model: Any, layout: PackedPairs, chunk_size: int) -> torch.Tensor:
    mask = _attention_mask(model, layout.allowed)
    hidden = (
        model.get_decoder()(input_ids=layout.input_ids, attention_mask=mask, position_ids=layout.position_ids)
    ).last_hidden_state
    states = hidden.gather(1, layout.sources[:, :, None].expand(-1, -1, hidden.shape[-1]))
    values = head_logprobs(model, states, layout.targets, chunk_size=chunk_size)
    chosen = (values * layout.chosen).sum(-1)
    rejected = (values * layout.rejected).sum(-1)
    return torch.cat([chosen, rejected])


def _attention_mask(model: Any, allowed: torch.Tensor) -> torch.Tensor:
    """sdpa takes the boolean mask; eager adds the mask to its scores: 0 where allowed, the dtype's min."""
    if model.config._attn_implementation == "sdpa":
        return allowed
    dtype = model.get_output_embeddings().weight.dtype
    zero = torch.zeros((), dtype=dtype, device=allowed.device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)
