"""Every loss variant of the offline plugins against an independent computation.

The independent side tokenises each row itself (BOS + prompt, completion + EOS), runs the model on each
sequence alone (no padding, no attention mask, no chunking), takes a naive full-vocabulary log-softmax
of `model(input_ids).logits` in float64 with numpy, and writes each loss out from its paper. Arena's side
is the real plugin (`SFT` / `DPO` / `IPO` from their args, `setup`, `loss`) on batches built by
`arena.training.data`, with reference log-probs from `pair_logprobs` on the frozen reference, as the
Trainer attaches them. Per-example losses agree to 1e-5 (relative above 1; see `assert_losses`), and so
do the batch losses the Trainer reduces them to (sum of per-example losses / batch size).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from arena.policy import Policy, load_policy
from arena.training.algorithm import TrainContext
from arena.training.data import collate_completions, collate_pairs, tokenize_completions, tokenize_pairs
from arena.training.pair_scoring import pair_logprobs
from arena_plugins.dpo import DPOArgs, IPOArgs
from arena_plugins.dpo.losses import DPO, IPO
from arena_plugins.sft import SFTArgs
from arena_plugins.sft.loss import SFT

TOLERANCE = 1e-5

# Soft labels (P(chosen preferred)) are read by IPO and DPO; 1.0 is a hard label.
PAIRS: list[dict[str, Any]] = [
    {"prompt": "Question: what is two plus three? Answer:", "chosen": " five.", "rejected": " six, I think."},
    {
        "prompt": "The quick brown fox",
        "chosen": " jumps over the lazy dog.",
        "rejected": " sleeps.",
        "label": 0.8,
    },
    {"prompt": "Pick one: yes or no.", "chosen": " The answer is yes.", "rejected": " No.", "label": 0.3},
    {
        "prompt": "Write a haiku about the sea.",
        "chosen": " Waves fold into foam; the gulls argue with the wind.",
        "rejected": " It was a bright cold day in April.",
    },
]
COMPLETIONS: list[dict[str, str]] = [
    {"prompt": "The rain in Spain", "completion": " stays mainly in the plain."},
    {"prompt": "Call me Ishmael.", "completion": " Some years ago."},
    {"prompt": "Two roads diverged in a yellow wood,", "completion": " and sorry I could not travel both."},
]


@pytest.fixture(scope="module")
def models(game_model_dir: Path) -> tuple[Policy, Policy]:
    """A policy a little away from its frozen reference, so that margins are neither zero nor one-signed."""
    policy = load_policy(game_model_dir, dtype=torch.float32, device="cpu")
    reference = Policy(
        copy.deepcopy(policy.model).requires_grad_(False).eval(), policy.tokenizer, policy.source
    )
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for parameter in policy.model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    policy.model.eval()  # no dropout in this model; eval only makes that explicit
    return policy, reference


# ---- the independent side ----------------------------------------------------------------------------


def naive_logprob(model: torch.nn.Module, tokenizer: Any, prompt: str, completion: str) -> tuple[float, int]:
    """log pi(completion + EOS | BOS + prompt) summed over completion tokens, and the token count."""
    prompt_ids = tokenizer(prompt)["input_ids"]  # the tiny tokenizer prepends BOS; it has no chat template
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    sequence = prompt_ids + completion_ids
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([sequence])).logits[0].double().numpy()
    shifted = logits - logits.max(-1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    total = sum(log_softmax[t - 1, sequence[t]] for t in range(len(prompt_ids), len(sequence)))
    return float(total), len(completion_ids)


def naive_log_ratios(policy: Policy, reference: Policy, normalize: bool) -> tuple[np.ndarray, np.ndarray]:
    """(log pi - log pi_ref)(y_w), (log pi - log pi_ref)(y_l) per pair, optionally per completion token."""
    ratios = {}
    for side in ("chosen", "rejected"):
        values = []
        for row in PAIRS:
            mine, length = naive_logprob(policy.model, policy.tokenizer, row["prompt"], row[side])
            theirs, _ = naive_logprob(reference.model, policy.tokenizer, row["prompt"], row[side])
            values.append((mine - theirs) / (length if normalize else 1))
        ratios[side] = np.array(values)
    return ratios["chosen"], ratios["rejected"]


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def labels() -> np.ndarray:
    return np.array([float(row.get("label", 1.0)) for row in PAIRS])


# ---- Arena's side -------------------------------------------------------------------------------------


def context(policy: Policy, reference: Policy | None) -> TrainContext:
    return TrainContext(policy, reference, torch.device("cpu"))


def arena_pair_losses(
    algorithm: DPO | IPO, policy: Policy, reference: Policy, rows: list[dict[str, Any]] = PAIRS
) -> tuple[np.ndarray, np.ndarray]:
    algorithm.setup(context(policy, reference))
    tokenized = tokenize_pairs(rows, policy, max_length=1024, add_eos=True)
    batch = collate_pairs(tokenized.examples, policy.tokenizer.pad_token_id, None)
    with torch.no_grad():
        batch.reference_logprobs = pair_logprobs(reference.model, batch)
        output = algorithm.loss(batch)
    return output.losses.double().numpy(), output.metrics["margin"].double().numpy()


def assert_losses(arena: tuple[np.ndarray, np.ndarray], expected: np.ndarray, margins: np.ndarray) -> None:
    """Per-pair losses and their batch mean to 1e-5 (relative where a loss exceeds 1), margins to 2e-5.

    Arena sums float32 per-token log-probs (as TRL does): a completion of 15 tokens at about -6 each sums to
    about -90, where float32 values are 7.6e-6 apart, and a margin combines four such sums, so margins carry
    about 1e-5 of rounding; IPO's square multiplies that by 2|h - target|. A misplaced token, a lost EOS or
    padding leaking into a score would be off by 1e-2 or more.
    """
    mine, my_margins = arena
    assert mine.shape == expected.shape == margins.shape == (len(PAIRS),)
    np.testing.assert_allclose(my_margins, margins, rtol=0, atol=2 * TOLERANCE)
    np.testing.assert_allclose(mine, expected, rtol=TOLERANCE, atol=TOLERANCE)
    # The Trainer backpropagates sum(losses) / batch size: the batch mean.
    assert mine.sum() / len(mine) == pytest.approx(expected.mean(), rel=TOLERANCE, abs=TOLERANCE)


# ---- the tests ----------------------------------------------------------------------------------------


def test_margins_exercise_every_branch(models: tuple[Policy, Policy]) -> None:
    chosen, rejected = naive_log_ratios(*models, normalize=False)
    h = chosen - rejected
    assert (h > 0).any() and (h < 0).any() and np.abs(h).min() > 0.1
    assert (2.0 * h > 1).any() and (2.0 * h < 1).any()  # both sides of the hinge at beta = 2


def soft_dpo(h: np.ndarray, beta: float, eps: float = 0.0) -> np.ndarray:
    """DPO's expected loss under the rows' labels p (P(chosen preferred)), labels flipped w.p. eps."""
    q = labels() * (1 - eps) + (1 - labels()) * eps
    return -q * log_sigmoid(beta * h) - (1 - q) * log_sigmoid(-beta * h)


def hard_sign() -> np.ndarray:
    """robust and hinge read hard labels: a label below 1/2 means `rejected` is the preferred one."""
    return np.where(labels() >= 0.5, 1.0, -1.0)


def test_dpo_sigmoid(models: tuple[Policy, Policy]) -> None:
    # Rafailov et al. (2023), eq. 7: -log sigma(beta h),
    # h = (log pi - log pi_ref)(y_w) - (log pi - log pi_ref)(y_l); a soft label p weighs both orders.
    beta = 0.5
    chosen, rejected = naive_log_ratios(*models, normalize=False)
    expected = soft_dpo(chosen - rejected, beta)
    assert_losses(arena_pair_losses(DPO(DPOArgs(beta=beta)), *models), expected, chosen - rejected)


def test_cdpo_label_smoothing(models: tuple[Policy, Policy]) -> None:
    # Conservative DPO (Mitchell 2023): labels flipped with probability eps, i.e. the cross-entropy with the
    # smoothed target: -(1 - eps) log sigma(beta h) - eps log sigma(-beta h).
    beta, eps = 0.5, 0.2
    chosen, rejected = naive_log_ratios(*models, normalize=False)
    h = chosen - rejected
    expected = soft_dpo(h, beta, eps)
    assert_losses(
        arena_pair_losses(DPO(DPOArgs(beta=beta, label_smoothing=eps)), *models), expected, chosen - rejected
    )


def test_robust_dpo(models: tuple[Policy, Policy]) -> None:
    # Chowdhury et al. (2024), the unbiased loss under label-flip rate eps:
    # [(1 - eps) l(beta h) - eps l(-beta h)] / (1 - 2 eps) with l(z) = -log sigma(z).
    beta, eps = 0.5, 0.2
    chosen, rejected = naive_log_ratios(*models, normalize=False)
    h = chosen - rejected
    signed = hard_sign() * h
    expected = ((1 - eps) * -log_sigmoid(beta * signed) - eps * -log_sigmoid(-beta * signed)) / (1 - 2 * eps)
    arena = arena_pair_losses(DPO(DPOArgs(beta=beta, loss="robust", label_smoothing=eps)), *models)
    assert_losses(arena, expected, h)


def test_robust_without_noise_is_dpo_on_hard_labels(models: tuple[Policy, Policy]) -> None:
    robust, _ = arena_pair_losses(DPO(DPOArgs(beta=0.5, loss="robust")), *models)
    sigmoid, _ = arena_pair_losses(DPO(DPOArgs(beta=0.5)), *models)
    hard = labels() == 1.0
    np.testing.assert_allclose(robust[hard], sigmoid[hard], rtol=0, atol=1e-7)


def test_hinge(models: tuple[Policy, Policy]) -> None:
    # SLiC (Zhao et al. 2023) as used by DPO's hinge variant: max(0, 1 - beta h).
    beta = 2.0
    chosen, rejected = naive_log_ratios(*models, normalize=False)
    expected = np.maximum(0.0, 1 - beta * hard_sign() * (chosen - rejected))
    assert (expected == 0).any() and (expected > 0).any()
    assert_losses(
        arena_pair_losses(DPO(DPOArgs(beta=beta, loss="hinge")), *models), expected, chosen - rejected
    )


def test_dpo_length_normalized(models: tuple[Policy, Policy]) -> None:
    beta = 5.0
    chosen, rejected = naive_log_ratios(*models, normalize=True)
    expected = soft_dpo(chosen - rejected, beta)
    assert_losses(
        arena_pair_losses(DPO(DPOArgs(beta=beta, length_normalized=True)), *models),
        expected,
        chosen - rejected,
    )


def test_ipo_hard_labels(models: tuple[Policy, Policy]) -> None:
    # Azar et al. (2023), eq. 17: (h - 1/(2 tau))^2 with h the summed log-ratio margin (no length division).
    tau = 0.5
    chosen, rejected = naive_log_ratios(*models, normalize=False)
    expected = (chosen - rejected - 1 / (2 * tau)) ** 2
    hard = [{key: value for key, value in row.items() if key != "label"} for row in PAIRS]
    assert_losses(arena_pair_losses(IPO(IPOArgs(tau=tau)), *models, rows=hard), expected, chosen - rejected)


def test_ipo_soft_labels(models: tuple[Policy, Policy]) -> None:
    # IPO's sampled loss for an ordered pair is (h - 1/(2 tau))^2; with P(chosen preferred) = p, its
    # expectation over the label is p (h - 1/(2 tau))^2 + (1 - p) (-h - 1/(2 tau))^2
    #   = (h - (2p - 1)/(2 tau))^2 + p(1 - p)/tau^2.
    # Arena drops the constant p(1 - p)/tau^2, which does not depend on the policy (same gradient).
    tau = 0.5
    p = labels()
    assert ((p > 0) & (p < 1)).any()
    chosen, rejected = naive_log_ratios(*models, normalize=False)
    h = chosen - rejected
    expectation = p * (h - 1 / (2 * tau)) ** 2 + (1 - p) * (-h - 1 / (2 * tau)) ** 2
    assert_losses(arena_pair_losses(IPO(IPOArgs(tau=tau)), *models), expectation - p * (1 - p) / tau**2, h)


def test_ipo_length_normalized(models: tuple[Policy, Policy]) -> None:
    # The form TRL's `loss_type="ipo"` uses: each log-ratio divided by its completion's token count.
    tau = 0.5
    p = labels()
    chosen, rejected = naive_log_ratios(*models, normalize=True)
    expected = (chosen - rejected - (2 * p - 1) / (2 * tau)) ** 2
    assert_losses(
        arena_pair_losses(IPO(IPOArgs(tau=tau, length_normalized=True)), *models), expected, chosen - rejected
    )


def sft_losses(average: str, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    algorithm = SFT(SFTArgs(average=average))  # type: ignore[arg-type]
    algorithm.setup(context(policy, None))
    tokenized = tokenize_completions(COMPLETIONS, policy, max_length=1024, add_eos=True)
    batch = collate_completions(tokenized.examples, policy.tokenizer.pad_token_id)
    with torch.no_grad():
        output = algorithm.loss(batch)
    return output.losses.double().numpy(), output.metrics["nll_per_token"].double().numpy()


@pytest.mark.parametrize("average", ["token", "sequence"])
def test_sft(models: tuple[Policy, Policy], average: str) -> None:
    policy, _ = models
    scored = [
        naive_logprob(policy.model, policy.tokenizer, row["prompt"], row["completion"]) for row in COMPLETIONS
    ]
    nll = np.array([-logprob for logprob, _ in scored])
    tokens = np.array([length for _, length in scored], dtype=float)
    assert len(set(tokens)) == len(tokens)  # unequal lengths: the two averages differ

    losses, nll_per_token = sft_losses(average, policy)
    np.testing.assert_allclose(nll_per_token, nll / tokens, rtol=0, atol=TOLERANCE)
    batch_loss = losses.sum() / len(losses)  # as the Trainer reduces one full batch
    if average == "token":
        # Mean negative log-likelihood over every completion token of the batch.
        assert batch_loss == pytest.approx(nll.sum() / tokens.sum(), abs=TOLERANCE)
    else:
        # Mean over sequences of each sequence's per-token negative log-likelihood.
        np.testing.assert_allclose(losses, nll / tokens, rtol=0, atol=TOLERANCE)
        assert batch_loss == pytest.approx(np.mean(nll / tokens), abs=TOLERANCE)
    assert abs(nll.sum() / tokens.sum() - np.mean(nll / tokens)) > 1e-3


def naive_chosen_nll(policy: Policy) -> np.ndarray:
    """-log pi(y_w) / |y_w| per pair: the chosen completion's per-token negative log-likelihood."""
    values = [naive_logprob(policy.model, policy.tokenizer, row["prompt"], row["chosen"]) for row in PAIRS]
    return np.array([-total / length for total, length in values])


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_dpo_with_rpo_alpha(models: tuple[Policy, Policy], alpha: float) -> None:
    # RPO (Pang et al. 2024): DPO's loss + alpha x the chosen completion's per-token NLL.
    beta = 0.5
    chosen, rejected = naive_log_ratios(*models, normalize=False)
    expected = soft_dpo(chosen - rejected, beta) + alpha * naive_chosen_nll(models[0])
    arena = arena_pair_losses(DPO(DPOArgs(beta=beta, rpo_alpha=alpha)), *models)
    assert_losses(arena, expected, chosen - rejected)


def test_ipo_with_rpo_alpha(models: tuple[Policy, Policy]) -> None:
    tau, alpha = 0.5, 1.5
    chosen, rejected = naive_log_ratios(*models, normalize=False)
    h = chosen - rejected
    expected = (h - (2 * labels() - 1) / (2 * tau)) ** 2 + alpha * naive_chosen_nll(models[0])
    assert_losses(arena_pair_losses(IPO(IPOArgs(tau=tau, rpo_alpha=alpha)), *models), expected, h)
