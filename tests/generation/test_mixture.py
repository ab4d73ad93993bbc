"""The KV-cached geometric-mixture sampler: its log-probs against independent full-sequence computations."""

from __future__ import annotations

import pytest
import torch

from arena.errors import ArenaError
from arena.generation import SamplingSettings
from arena.generation.logprobs import score_completions
from arena.generation.mixture import MixtureSample, sample_geometric_mixture
from arena.policy import Policy, load_policy
from arena.tiny import build_tiny_model

SAMPLING = SamplingSettings(max_new_tokens=16, seed=11)


def flat(results: list[list[MixtureSample]]) -> list[MixtureSample]:
    return [sample for samples in results for sample in samples]


def close(a: tuple[float, ...], b: tuple[float, ...], tolerance: float = 1e-5) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_beta_0_is_the_policy_and_beta_1_the_reference(
    tiny_policy: Policy, reference_policy: Policy, prompts: list[str], beta: float
) -> None:
    samples = flat(
        sample_geometric_mixture(tiny_policy, reference_policy, prompts, beta=beta, n=2, sampling=SAMPLING)
    )
    inputs = [s.prompt for s in samples], [s.token_ids for s in samples]
    own_policy = score_completions(tiny_policy, *inputs)
    own_reference = score_completions(reference_policy, *inputs)
    for sample, policy_score, reference_score in zip(samples, own_policy, own_reference, strict=True):
        assert close(sample.policy_token_logprobs, policy_score.token_logprobs)
        assert close(sample.reference_token_logprobs, reference_score.token_logprobs)
        expected = sample.policy_token_logprobs if beta == 0 else sample.reference_token_logprobs
        assert close(sample.mixture_token_logprobs, expected)
    assert any(s.policy_logprob != pytest.approx(s.reference_logprob) for s in samples)


def test_beta_half_is_the_normalised_geometric_mixture(
    tiny_policy: Policy, reference_policy: Policy, prompts: list[str]
) -> None:
    beta = 0.5
    samples = flat(
        sample_geometric_mixture(tiny_policy, reference_policy, prompts, beta=beta, n=2, sampling=SAMPLING)
    )
    for sample in samples:
        # Independently: one full forward pass per model over prompt + completion, no cache, no padding.
        prompt_ids = tiny_policy.encode_prompts([sample.prompt])[0]
        ids = torch.tensor([prompt_ids + list(sample.token_ids)])
        with torch.no_grad():
            log_pi = torch.log_softmax(tiny_policy.model(ids).logits[0].double(), -1)
            log_mu = torch.log_softmax(reference_policy.model(ids).logits[0].double(), -1)
        # pi^(1-beta) mu^beta / Z, token by token.
        unnormalised = (1 - beta) * log_pi + beta * log_mu
        log_mixture = unnormalised - torch.logsumexp(unnormalised, dim=-1, keepdim=True)
        start = len(prompt_ids) - 1
        targets = torch.tensor(sample.token_ids)
        positions = torch.arange(start, start + len(targets))
        expected = log_mixture[positions, targets].tolist()
        assert close(sample.mixture_token_logprobs, tuple(expected))
        assert close(sample.policy_token_logprobs, tuple(log_pi[positions, targets].tolist()))
        assert close(sample.reference_token_logprobs, tuple(log_mu[positions, targets].tolist()))


def test_cached_and_uncached_draw_the_same(
    tiny_policy: Policy, reference_policy: Policy, prompts: list[str]
) -> None:
    cached = flat(
        sample_geometric_mixture(tiny_policy, reference_policy, prompts, beta=0.3, n=2, sampling=SAMPLING)
    )
    uncached = flat(
        sample_geometric_mixture(
            tiny_policy, reference_policy, prompts, beta=0.3, n=2, sampling=SAMPLING, use_cache=False
        )
    )
    # With and without the KV cache the logits are the same math on other shapes: equal to float32
    # rounding, not bit for bit (torch promises no more), hence `close` on the log-probs. The draws use the
    # same random numbers, so a token can differ only where a rounding-sized change of the probabilities
    # (1e-7 relative) changes which token those numbers pick: with 128 draws here, odds of about 1e-5 on
    # any CPU.
    assert [s.token_ids for s in cached] == [s.token_ids for s in uncached]
    for a, b in zip(cached, uncached, strict=True):
        assert close(a.mixture_token_logprobs, b.mixture_token_logprobs)


def test_seed_determinism_and_distinct_samples(tiny_policy: Policy, reference_policy: Policy) -> None:
    def run(seed: int) -> list[MixtureSample]:
        sampling = SamplingSettings(max_new_tokens=8, seed=seed)
        return flat(
            sample_geometric_mixture(
                tiny_policy, reference_policy, ["Pick one:"], beta=0.5, n=4, sampling=sampling
            )
        )

    first = run(0)
    assert run(0) == first
    assert len({s.token_ids for s in first}) == 4
    assert [s.token_ids for s in run(1)] != [s.token_ids for s in first]


def test_stops_at_eos(eos_policy: Policy, prompts: list[str]) -> None:
    sampling = SamplingSettings(max_new_tokens=40, seed=2)
    samples = flat(
        sample_geometric_mixture(eos_policy, eos_policy, prompts, beta=0.5, n=4, sampling=sampling)
    )
    eos = eos_policy.tokenizer.eos_token_id
    assert all(s.finish_reason == "stop" and s.token_ids[-1] == eos for s in samples)
    assert all(eos not in s.token_ids[:-1] for s in samples)
    assert all(len(s.policy_token_logprobs) == len(s.token_ids) for s in samples)


def test_greedy_and_top_k(tiny_policy: Policy, reference_policy: Policy) -> None:
    greedy = sample_geometric_mixture(
        tiny_policy,
        reference_policy,
        ["The rain"],
        beta=0.5,
        n=2,
        sampling=SamplingSettings(max_new_tokens=5, temperature=0),
    )
    top1 = sample_geometric_mixture(
        tiny_policy,
        reference_policy,
        ["The rain"],
        beta=0.5,
        n=2,
        sampling=SamplingSettings(max_new_tokens=5, top_k=1),
    )
    assert greedy[0][0].token_ids == greedy[0][1].token_ids == top1[0][0].token_ids


def test_refuses_bad_beta_and_other_vocabularies(tiny_policy: Policy, tmp_path) -> None:
    with pytest.raises(ValueError, match="beta must be in"):
        sample_geometric_mixture(tiny_policy, tiny_policy, ["x"], beta=1.5)
    other = load_policy(build_tiny_model(tmp_path / "other", ["completely different words here"], seed=0))
    with pytest.raises(ArenaError, match="different vocabularies"):
        sample_geometric_mixture(tiny_policy, other, ["x"], beta=0.5)
