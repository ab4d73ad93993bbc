"""next_tokens: greedy, temperature, top-k and top-p as the mixture sampler draws them."""

from __future__ import annotations

import math

import torch

from arena.generation import SamplingSettings
from arena.generation.sampling import next_tokens

PROBABILITIES = [0.05, 0.5, 0.15, 0.3]  # token 1 first, then 3, 2, 0


def frequencies(sampling: SamplingSettings, draws: int = 4000) -> list[float]:
    logits = torch.tensor([PROBABILITIES]).log().repeat(draws, 1)
    tokens = next_tokens(logits, sampling, torch.Generator().manual_seed(0))
    return (torch.bincount(tokens, minlength=4).float() / draws).tolist()


def test_greedy_and_top_k_1_take_the_argmax() -> None:
    assert frequencies(SamplingSettings(temperature=0)) == [0.0, 1.0, 0.0, 0.0]
    assert frequencies(SamplingSettings(top_k=1)) == [0.0, 1.0, 0.0, 0.0]


def test_plain_sampling_follows_the_distribution() -> None:
    for observed, expected in zip(frequencies(SamplingSettings()), PROBABILITIES, strict=True):
        assert abs(observed - expected) < 0.03


def test_top_k_2_renormalises_the_two_best() -> None:
    observed = frequencies(SamplingSettings(top_k=2))
    assert observed[0] == observed[2] == 0.0
    assert abs(observed[1] - 0.5 / 0.8) < 0.03


def test_top_p_keeps_the_smallest_set_holding_p() -> None:
    # 0.5 < 0.7, so token 3 is needed too (0.8 >= 0.7); token 2 is not.
    observed = frequencies(SamplingSettings(top_p=0.7))
    assert observed[0] == observed[2] == 0.0
    assert abs(observed[1] - 0.5 / 0.8) < 0.03
    assert frequencies(SamplingSettings(top_p=0.5)) == [0.0, 1.0, 0.0, 0.0]


def test_temperature_sharpens() -> None:
    observed = frequencies(SamplingSettings(temperature=0.5))
    weights = [p**2 for p in PROBABILITIES]  # softmax(log p / 0.5) is p^2 normalised
    assert abs(observed[1] - weights[1] / math.fsum(weights)) < 0.03
