"""RPO (`rpo_alpha`): DPO's and IPO's losses plus alpha x the chosen completion's per-token NLL, against
an independent computation (each sequence alone, full-vocabulary log-softmax in float64)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from arena.generation.logprobs import token_logprobs
from arena.policy import Policy, load_policy
from arena.training.algorithm import TrainContext
from arena.training.data import collate_pairs, tokenize_pairs
from arena_plugins.offline import DPOArgs, IPOArgs
from arena_plugins.preference_losses import DPO, IPO

PAIRS: list[dict[str, Any]] = [
    {"prompt": "The quick brown fox", "chosen": " jumps over the lazy dog.", "rejected": " sleeps."},
    {"prompt": "Pick one: yes or no.", "chosen": " The answer is yes.", "rejected": " No.", "label": 0.7},
    {"prompt": "Call me Ishmael.", "chosen": " Some years ago.", "rejected": " It was a bright cold day."},
]


@pytest.fixture(scope="module")
def models(game_model_dir: Path) -> tuple[Policy, Policy]:
    policy = load_policy(game_model_dir, dtype=torch.float32, device="cpu")
    reference = Policy(
        copy.deepcopy(policy.model).requires_grad_(False).eval(), policy.tokenizer, policy.source
    )
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for parameter in policy.model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return policy, reference


def naive(model: torch.nn.Module, tokenizer: Any, prompt: str, completion: str) -> tuple[float, int]:
    prompt_ids = tokenizer(prompt)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    sequence = prompt_ids + completion_ids
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([sequence])).logits[0].double().numpy()
    log_softmax = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    return float(sum(log_softmax[t - 1, sequence[t]] for t in range(len(prompt_ids), len(sequence)))), len(
        completion_ids
    )


def expected_parts(policy: Policy, reference: Policy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Margins h, the chosen per-token NLL, and the labels."""
    h, nll = [], []
    for row in PAIRS:
        (chosen, n_chosen), (rejected, _) = (
            naive(policy.model, policy.tokenizer, row["prompt"], row[s]) for s in ("chosen", "rejected")
        )
        ref_chosen, _ = naive(reference.model, policy.tokenizer, row["prompt"], row["chosen"])
        ref_rejected, _ = naive(reference.model, policy.tokenizer, row["prompt"], row["rejected"])
        h.append((chosen - ref_chosen) - (rejected - ref_rejected))
        nll.append(-chosen / n_chosen)
    return np.array(h), np.array(nll), np.array([float(r.get("label", 1.0)) for r in PAIRS])


def arena_losses(algorithm: DPO | IPO, policy: Policy, reference: Policy) -> tuple[np.ndarray, np.ndarray]:
    algorithm.setup(TrainContext(policy, reference, None, torch.device("cpu"), Path("."), None, "rpo", None))
    batch = collate_pairs(
        tokenize_pairs(PAIRS, policy, 1024, True).examples, policy.tokenizer.pad_token_id, None
    )
    with torch.no_grad():
        batch.reference_logprobs = token_logprobs(
            reference.model, batch.input_ids, batch.attention_mask, batch.completion_mask
        ).sum(-1)
        output = algorithm.loss(batch)
    return output.losses.double().numpy(), output.metrics["chosen_nll"].double().numpy()


@pytest.mark.parametrize("alpha", [0.0, 0.5, 2.0])
def test_dpo_with_rpo_alpha(models: tuple[Policy, Policy], alpha: float) -> None:
    h, nll, p = expected_parts(*models)
    beta = 0.5
    dpo = -p * -np.logaddexp(0, -beta * h) - (1 - p) * -np.logaddexp(0, beta * h)
    losses, chosen_nll = arena_losses(DPO(DPOArgs(beta=beta, rpo_alpha=alpha)), *models)
    np.testing.assert_allclose(chosen_nll, nll, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(losses, dpo + alpha * nll, rtol=1e-5, atol=1e-5)


def test_ipo_with_rpo_alpha(models: tuple[Policy, Policy]) -> None:
    h, nll, p = expected_parts(*models)
    tau, alpha = 0.5, 1.5
    losses, _ = arena_losses(IPO(IPOArgs(tau=tau, rpo_alpha=alpha)), *models)
    np.testing.assert_allclose(losses, (h - (2 * p - 1) / (2 * tau)) ** 2 + alpha * nll, rtol=1e-5, atol=1e-4)
