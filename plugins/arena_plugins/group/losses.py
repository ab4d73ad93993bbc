"""The pieces of GRPO's and RLOO's losses as functions of tensors (tests/training/test_group_losses.py checks
each against a separate computation). Rows are grouped: the G samples of a prompt are consecutive rows.

Shapes: B = groups * G rows, T response tokens; per-token tensors are (B, T) with `mask` 1 on response
tokens; per-response ones are (B,).
"""

from __future__ import annotations

from typing import Literal

import torch

# Added to the group's standard deviation before dividing (TRL's 1e-4): a group whose rewards are all equal
# has advantages 0, not 0 / 0.
STD_EPS = 1e-4

Scale = Literal["group", "batch", "none"]
KLEstimator = Literal["k1", "k2", "k3"]
LossType = Literal["sequence", "token"]


def grouped(values: torch.Tensor, size: int) -> torch.Tensor:
    """(B,) -> (groups, size): each row one prompt's samples."""
    return values.reshape(-1, size)


def group_std(values: torch.Tensor, size: int) -> torch.Tensor:
    """(B,) -> (groups,): each group's standard deviation with ddof = 1 (as torch.std and TRL)."""
    return grouped(values, size).std(dim=1)


def group_advantages(
    rewards: torch.Tensor, size: int, scale: Scale, baseline: float | None = None
) -> torch.Tensor:
    """GRPO's advantages (B,): r minus the group mean (or a fixed `baseline`, 1/2 for win rates), divided by
    the group's std + eps (`group`), the whole batch's std + eps (`batch`) or nothing (`none`)."""
    rows = grouped(rewards, size)
    centre = rows.mean(dim=1, keepdim=True) if baseline is None else torch.full_like(rows[:, :1], baseline)
    centred = rows - centre
    if scale == "group":
        centred = centred / (rows.std(dim=1, keepdim=True) + STD_EPS)
    elif scale == "batch":
        centred = centred / (rewards.std() + STD_EPS)
    return centred.reshape(-1)


def leave_one_out(values: torch.Tensor, size: int) -> torch.Tensor:
    """RLOO's centring (B,): each value minus the mean of the other size - 1 values of its group."""
    rows = grouped(values, size)
    others = (rows.sum(dim=1, keepdim=True) - rows) / (size - 1)
    return (rows - others).reshape(-1)


def kl_estimate(logprobs: torch.Tensor, reference_logprobs: torch.Tensor, kind: KLEstimator) -> torch.Tensor:
    """Per-token estimate of KL(pi || mu) from a token y ~ pi, with log r = log mu(y) - log pi(y) (Schulman's
    k1, k2, k3). Differentiable in `logprobs`; their gradients differ (docs/group.md): in expectation k1's is
    0, k2's that of KL(pi || mu), k3's that of KL(mu || pi)."""
    log_r = reference_logprobs - logprobs
    if kind == "k1":
        return -log_r
    if kind == "k2":
        return 0.5 * log_r**2
    return torch.exp(log_r) - log_r - 1.0


def clipped_surrogate(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    low: float,
    high: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token -min(rho A, clip(rho, 1 - low, 1 + high) A) with rho = pi / pi_old, A per response (B,);
    and where the clipped term was the smaller one (the clip fraction's numerator; float 0/1)."""
    ratio = torch.exp(logprobs - old_logprobs)
    advantage = advantages[:, None]
    plain = ratio * advantage
    clipped = torch.clamp(ratio, 1.0 - low, 1.0 + high) * advantage
    return -torch.min(plain, clipped), (clipped < plain).float()


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, size: int, loss_type: LossType) -> torch.Tensor:
    """Per-prompt losses (groups,) whose mean over prompts is the batch's loss.

    sequence: each response's mean over its tokens, then the mean over the group (GRPO);
    token: every token of the batch the same weight, sum / number of tokens (DAPO): each group gets its
    token sum times groups / all tokens, so that the mean over groups is the token mean."""
    masked = per_token * mask
    if loss_type == "sequence":
        per_response = masked.sum(-1) / mask.sum(-1).clamp(min=1)
        return grouped(per_response, size).mean(dim=1)
    groups = mask.shape[0] // size
    return grouped(masked.sum(-1), size).sum(dim=1) * groups / mask.sum().clamp(min=1)


def pair_rows(groups: int, size: int) -> tuple[list[int], list[int]]:
    """Every unordered pair (i < j) of samples within each group, as row indices."""
    rows_a, rows_b = [], []
    for group in range(groups):
        for i in range(size):
            for j in range(i + 1, size):
                rows_a.append(group * size + i)
                rows_b.append(group * size + j)
    return rows_a, rows_b


def win_rates(
    preferences: list[float], rows_a: list[int], rows_b: list[int], groups: int, size: int
) -> torch.Tensor:
    """Each sample's mean P(it beats y_j) over the other size - 1 samples of its group (B,), from one judge
    call per unordered pair: the judges are antisymmetric, P(b beats a) = 1 - P(a beats b)."""
    if not len(preferences) == len(rows_a) == len(rows_b):
        raise ValueError(f"{len(preferences)} preferences for {len(rows_a)} pairs")
    won = torch.tensor(preferences, dtype=torch.float64)
    total = torch.zeros(groups * size, dtype=torch.float64)
    total.index_add_(0, torch.tensor(rows_a, dtype=torch.long), won)
    total.index_add_(0, torch.tensor(rows_b, dtype=torch.long), 1.0 - won)
    return (total / (size - 1)).float()
