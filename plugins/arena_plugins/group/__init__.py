"""Group policy gradients: GRPO and RLOO (several samples per prompt, advantages relative to the group).

Registration and args only (no torch at import); the algorithms are in `arena_plugins.group.algorithms`,
their losses in `arena_plugins.group.losses`, derivations and known answers in docs/group.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from arena.api import Range, Register, hookimpl

Positive = Range(0, low_open=True)
# auto: `score` when the judge has score() (a reward model, reward-table, rule-reward), else `pairwise`.
RewardKind = Literal["auto", "score", "pairwise"]


@dataclass
class GRPOArgs:
    """GRPO (Shao et al. 2024, DeepSeekMath): group-standardised advantages, a clipped ratio, KL in the loss."""

    samples: Annotated[int, Range(2)] = 4  # G, responses per prompt (the paper's 64; 4 for tiny models)
    beta: Annotated[float, Range(0)] = 0.04  # coefficient of the KL to the reference in the loss
    # Per-token KL estimate in the loss, with r = mu / pi: k1 = -log r, k2 = (log r)^2 / 2,
    # k3 = r - log r - 1 (the paper's; its gradient is that of KL(mu || pi)). docs/group.md.
    kl_estimator: Literal["k1", "k2", "k3"] = "k3"
    # The advantage's scale: group: (r - mean_G) / (std_G + 1e-4) (GRPO); batch: the std of the whole
    # batch instead; none: r - mean_G (Dr. GRPO, Liu et al. 2025). std with ddof = 1, as torch.std.
    scale_rewards: Literal["group", "batch", "none"] = "group"
    # sequence: mean over each response's tokens, then over responses (GRPO); token: every token of the
    # batch weighs the same, sum over tokens / number of tokens (DAPO; with scale_rewards: none, Dr. GRPO's
    # aim of no length bias)
    loss_type: Literal["sequence", "token"] = "sequence"
    epochs: Annotated[int, Range(1)] = 1  # mu: optimizer steps on each rollout (the ratio is 1 on the first)
    clip_low: Annotated[float, Positive] = 0.2  # eps_low: the ratio is clipped below at 1 - eps_low
    clip_high: Annotated[float, Positive] = 0.2  # eps_high: and above at 1 + eps_high (DAPO raises it)
    reward: RewardKind = "auto"  # score: judge.score(); pairwise: mean win rate within the group


@dataclass
class RLOOArgs:
    """RLOO (Ahmadian et al. 2024; Kool et al. 2019): REINFORCE with the leave-one-out mean as baseline."""

    samples: Annotated[int, Range(2)] = 4  # k, responses per prompt
    beta: Annotated[float, Range(0)] = 0.05  # coefficient of the KL to the reference in the reward
    # optimizer steps on each rollout; from the second on the per-token ratio to the rollout policy is
    # clipped as PPO's (1 +- clip); 1 is the paper's on-policy REINFORCE
    epochs: Annotated[int, Range(1)] = 1
    clip: Annotated[float, Positive] = 0.2  # ratio clipping when epochs > 1
    reward: RewardKind = "auto"  # score: judge.score(); pairwise: mean win rate within the group


@hookimpl
def register_algorithms(register: Register) -> None:
    register(
        "grpo",
        "arena_plugins.group.algorithms:GRPO",
        config=GRPOArgs,
        description="GRPO: group-relative advantages, clipped ratio, KL estimator in the loss",
    )
    register(
        "rloo",
        "arena_plugins.group.algorithms:RLOO",
        config=RLOOArgs,
        description="RLOO: REINFORCE with a leave-one-out baseline, KL in the reward",
    )
