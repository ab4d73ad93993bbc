"""PPO (RLHF): a policy trained against a pointwise judge (a reward model) with a per-token KL penalty to the
reference. Registration and args only (no torch at import); the algorithm is in `arena_plugins.ppo.algorithm`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from arena.api import Range, Register, hookimpl

Positive = Range(0, low_open=True)


@dataclass
class PPOArgs:
    """PPO with a KL penalty to the reference (RLHF): reward from a pointwise judge at the last token."""

    tau: Annotated[float, Positive] = 0.05  # per-token KL coefficient
    samples: Annotated[int, Range(1)] = 1  # responses per prompt
    epochs: Annotated[int, Range(1)] = 2  # optimizer steps on each rollout (each step a full pass)
    clip: Annotated[float, Positive] = 0.2  # ratio clipping of the policy loss, 1 +- clip
    value_clip: Annotated[float, Positive] = 0.2  # how far a value may move from its rollout estimate
    value_coefficient: Annotated[float, Range(0)] = 0.5  # weight of the value loss in the total
    gamma: Annotated[float, Range(0, 1)] = 1.0  # discount per token
    lam: Annotated[float, Range(0, 1)] = 0.95  # GAE lambda
    whiten_advantages: bool = True  # normalise advantages to mean 0, std 1 per rollout
    value_head: Literal["shared", "separate"] = "shared"  # separate: a value model copied from the reference


@hookimpl
def register_algorithms(register: Register) -> None:
    register(
        "ppo",
        "arena_plugins.ppo.algorithm:PPO",
        config=PPOArgs,
        description="PPO against a reward model (RLHF)",
    )
