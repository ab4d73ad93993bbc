"""Self-play: online IPO, IPO-MD, SPPO and online DPO. Registration and args only (no torch at import);
the algorithms are in `arena_plugins.self_play.algorithms`.

Each rolls out its own samples every step (from the policy, the reference or their geometric mixture)
and asks the recipe's judge, or the task's oracle when the recipe names none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from arena.api import Range, Register, hookimpl

Positive = Range(0, low_open=True)
Beta = Range(0, 1)


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


@hookimpl
def register_algorithms(register: Register) -> None:
    module = "arena_plugins.self_play.algorithms"
    register("online-ipo", f"{module}:OnlineIPO", config=OnlineIPOArgs, description="online IPO (self-play)")
    register("ipo-md", f"{module}:IPOMD", config=IPOMDArgs, description="IPO with samples from the mixture")
    register("sppo", f"{module}:SPPO", config=SPPOArgs, description="self-play preference optimisation")
    register("online-dpo", f"{module}:OnlineDPO", config=OnlineDPOArgs, description="online DPO (not Nash)")
