"""Nash-MD (Munos et al. 2023): Nash learning from human feedback by mirror descent against the geometric
mixture of the policy and the reference. Registration and args only (no torch at import); the algorithm
is in `arena_plugins.nash_md.algorithm`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from arena.api import Range, Register, hookimpl

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


@hookimpl
def register_algorithms(register: Register) -> None:
    register(
        "nash-md",
        "arena_plugins.nash_md.algorithm:NashMD",
        config=NashMDArgs,
        description="Nash-MD-PG (Munos et al. 2023)",
    )
