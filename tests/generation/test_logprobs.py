"""Chunked log-prob scoring equals the naive full-logits computation, values and gradients."""

from __future__ import annotations

import pytest
import torch

from arena.generation.logprobs import right_padded_pairs, score_completions, token_logprobs
from arena.policy import Policy, load_policy


def naive_token_logprobs(
    model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """log_softmax over the full (batch, length, vocab) logits, gathered at the next tokens."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits.float()
    picked = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    return torch.cat([torch.zeros_like(picked[:, :1]), picked], dim=1)


def batch(policy: Policy) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    prompts = policy.encode_prompts(["The quick brown fox", "", "Question: what is two plus three? Answer:"])
    generator = torch.Generator().manual_seed(0)
    vocab = len(policy.tokenizer)
    completions = [torch.randint(3, vocab, (length,), generator=generator).tolist() for length in (9, 70, 1)]
    return right_padded_pairs(prompts, completions, policy.tokenizer.pad_token_id)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
def test_chunked_equals_naive(tiny_policy: Policy, chunk_size: int) -> None:
    input_ids, attention_mask, completion_mask = batch(tiny_policy)
    with torch.no_grad():
        chunked = token_logprobs(
            tiny_policy.model, input_ids, attention_mask, completion_mask, chunk_size=chunk_size
        )
        naive = naive_token_logprobs(tiny_policy.model, input_ids, attention_mask) * completion_mask
    assert completion_mask.sum() == 9 + 70 + 1
    assert torch.allclose(chunked, naive, atol=1e-5, rtol=0)
    assert torch.allclose(chunked.sum(-1), naive.sum(-1), atol=1e-5, rtol=0)


def test_gradients_equal_naive(tiny_model_dir) -> None:
    policy = load_policy(tiny_model_dir)  # its own copy: gradients are written into it
    input_ids, attention_mask, completion_mask = batch(policy)
    parameters = list(policy.model.parameters())

    chunked = token_logprobs(policy.model, input_ids, attention_mask, completion_mask, chunk_size=16).sum()
    chunked_grads = torch.autograd.grad(chunked, parameters)
    naive = (naive_token_logprobs(policy.model, input_ids, attention_mask) * completion_mask).sum()
    naive_grads = torch.autograd.grad(naive, parameters)
    assert torch.allclose(chunked, naive, atol=1e-4, rtol=0)
    for a, b in zip(chunked_grads, naive_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_score_completions_from_ids_and_text(tiny_policy: Policy) -> None:
    tokenizer = tiny_policy.tokenizer
    text = " jumps over the lazy dog."
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    by_ids, by_text = score_completions(tiny_policy, ["The quick brown fox"] * 2, [ids, text], batch_size=1)
    assert by_ids == by_text
    assert len(by_ids.token_logprobs) == len(ids)
    assert by_ids.logprob == pytest.approx(sum(by_ids.token_logprobs))
    full = tiny_policy.encode_prompts(["The quick brown fox"])[0] + ids
    input_ids = torch.tensor([full])
    with torch.no_grad():
        naive = naive_token_logprobs(tiny_policy.model, input_ids, torch.ones_like(input_ids))
    assert by_ids.logprob == pytest.approx(float(naive[0, -len(ids) :].sum()), abs=1e-5)


def test_empty_completion_scores_zero(tiny_policy: Policy) -> None:
    [scored] = score_completions(tiny_policy, ["Pick one:"], [[]])
    assert scored.token_logprobs == () and scored.logprob == 0.0


def test_the_lm_head_never_sees_more_than_a_chunk(tiny_policy: Policy) -> None:
    input_ids, attention_mask, completion_mask = batch(tiny_policy)
    widths: list[int] = []
    hook = tiny_policy.model.get_output_embeddings().register_forward_hook(
        lambda _module, inputs, _output: widths.append(inputs[0].shape[1])
    )
    try:
        with torch.no_grad():
            token_logprobs(tiny_policy.model, input_ids, attention_mask, completion_mask, chunk_size=16)
    finally:
        hook.remove()
    assert max(widths) == 16
    # Positions before the earliest completion token are skipped.
    assert sum(widths) == input_ids.shape[1] - 1 - (int(completion_mask.any(0).nonzero()[0]) - 1)
