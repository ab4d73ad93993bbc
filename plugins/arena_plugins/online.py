"""Online algorithms: Nash-MD, online IPO, IPO-MD, SPPO, online DPO and PPO. Registration only (no torch).

Each rolls out its own samples every step (from the policy, the reference or their geometric mixture)
and asks the recipe's judge, or the task's oracle when the recipe names none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from arena import hookimpl
from arena.hookspecs import Register
from arena.schema import Range

Positive = Range(0, low_open=True)
Beta = Range(0, 1)


@dataclass
class NashMDArgs:
    """Nash-MD-PG (Munos et al. 2023): y ~ pi, y' ~ pi^(1-beta) mu^beta; policy gradient of
    log pi(y) [P(y > y') - 1/2 - tau log(pi(y) / mu(y))], the KL term per token over the remaining tokens."""

    tau: Annotated[float, Positive] = 0.1  # KL regularisation towards the reference mu
    beta: Annotated[float, Beta] = 0.125  # mixture weight of the reference in the opponent
    samples: Annotated[int, Range(1)] = 1  # responses per prompt (each against its own opponent)
    opponent: Literal["mixture", "ema"] = "mixture"  # ema: the mixture of an EMA of past policies (Nash-EMA)
    ema_decay: Annotated[float, Range(0, 1)] = 0.99  # with opponent ema: weight of the past in the average

    def check(self) -> tuple[str, str] | None:
        if self.opponent != "ema" and self.ema_decay != 0.99:  # the mixture opponent keeps no average
            return "ema_decay", "expected opponent 'ema' beside it (the mixture opponent has no EMA)"
        return None


@dataclass
class OnlineIPOArgs:
    """Online IPO (Calandriello et al. 2024): two samples from pi, the judge's soft preference as label."""

    tau: Annotated[float, Positive] = 0.1  # regularisation: IPO's target margin is 1/(2 tau)
    beta: Annotated[float, Beta] = 0.0  # 0: both samples from the policy


@dataclass
class IPOMDArgs:
    """IPO-MD: online IPO with both samples from the geometric mixture pi^(1-beta) mu^beta."""

    tau: Annotated[float, Positive] = 0.1  # regularisation: IPO's target margin is 1/(2 tau)
    beta: Annotated[float, Beta] = 0.5  # mixture weight of the reference in both samples


@dataclass
class SPPOArgs:
    """SPPO (Wu et al. 2024): K samples per prompt from the previous policy pi_t, P-hat(y > pi_t) from the
    judge against the other samples, loss (log pi(y)/pi_t(y) - eta (P-hat - 1/2))^2."""

    eta: Annotated[float, Positive] = 1.0  # step size: the log-ratio target is eta (P-hat - 1/2)
    samples: Annotated[int, Range(2)] = 4  # responses per prompt, each judged against the others
    iteration_steps: Annotated[int, Range(1)] = 20  # optimizer steps before pi_t becomes the current policy


@dataclass
class OnlineDPOArgs:
    """Online DPO: two samples from pi, the judge draws which is chosen (with its preference), DPO loss."""

    beta: Annotated[float, Positive] = 0.1  # DPO's beta on the judged pair


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
    module = "arena_plugins.online_algorithms"
    register("nash-md", f"{module}:NashMD", config=NashMDArgs, description="Nash-MD-PG (Munos et al. 2023)")
    register("online-ipo", f"{module}:OnlineIPO", config=OnlineIPOArgs, description="online IPO (self-play)")
    register("ipo-md", f"{module}:IPOMD", config=IPOMDArgs, description="IPO with samples from the mixture")
    register("sppo", f"{module}:SPPO", config=SPPOArgs, description="self-play preference optimisation")
    register("online-dpo", f"{module}:OnlineDPO", config=OnlineDPOArgs, description="online DPO (not Nash)")
    register("ppo", "arena_plugins.ppo:PPO", config=PPOArgs, description="PPO against a reward model (RLHF)")
