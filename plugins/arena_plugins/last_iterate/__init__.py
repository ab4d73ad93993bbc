"""Last-iterate Nash methods against a preference model: MPO, INPO, EGPO and Nash Mirror Prox. Registration
and args only (no torch at import); the algorithms are in `arena_plugins.last_iterate.algorithms`, their
shared regression in `arena_plugins.last_iterate.steps`.

Each iteration is one multiplicative step on the policy, pi_new proportional to
A^(1-a) M^a exp(b P(y > O)) (A the anchor pi_t, M the magnet, O the opponent whose samples are judged),
fitted by an anchored soft-label IPO regression over `iteration_steps` optimizer steps (docs/last-iterate.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from arena.api import Range, Register, hookimpl

Positive = Range(0, low_open=True)


def _below_one(eta: float, tau: float) -> tuple[str, str] | None:
    """INPO's and EGPO's anchor weight 1 - eta tau must be positive, or the step leaves pi_t behind."""
    if eta * tau >= 1:
        return "eta", f"expected eta * tau < 1 (the anchor pi_t keeps weight 1 - eta tau), got {eta * tau:g}"
    return None


@dataclass
class INPOArgs:
    """INPO (Zhang et al. 2024, arXiv 2407.00617): online mirror descent with KL regularisation,
    pi_{t+1} proportional to pi_t^(1 - eta tau) mu^(eta tau) exp(eta P(y > pi_t)), pairs from pi_t."""

    tau: Annotated[float, Positive] = 0.1  # KL regularisation towards the reference mu
    eta: Annotated[float, Positive] = 5.0  # step size of one iteration; eta * tau < 1
    iteration_steps: Annotated[int, Range(1)] = 20  # optimizer steps fitting one iteration before pi_t moves

    def check(self) -> tuple[str, str] | None:
        return _below_one(self.eta, self.tau)


@dataclass
class MPOArgs:
    """MPO (Wang et al. 2024, arXiv 2410.16714): magnetic mirror descent,
    pi_{t+1} proportional to [pi_t m^(eta tau) exp(eta P(y > pi_t))]^(1 / (1 + eta tau)); with
    magnet_every the magnet m becomes the current policy every that many iterations, which moves the last
    iterate to the Nash equilibrium of P itself."""

    tau: Annotated[float, Positive] = 0.1  # KL regularisation towards the magnet m
    eta: Annotated[float, Positive] = 10.0  # step size of one iteration
    iteration_steps: Annotated[int, Range(1)] = 20  # optimizer steps fitting one iteration before pi_t moves
    magnet_every: Annotated[int, Range(0)] = 0  # iterations between magnet refreshes; 0: m stays mu


@dataclass
class EGPOArgs:
    """EGPO (Zhou et al. 2025, arXiv 2503.08942): extragradient on INPO's step; a half step
    pi_{t+1/2} from pairs of pi_t, then pi_{t+1} proportional to
    pi_t^(1 - eta tau) mu^(eta tau) exp(eta P(y > pi_{t+1/2})) from pairs of pi_{t+1/2}."""

    tau: Annotated[float, Positive] = 0.1  # KL regularisation towards the reference mu
    eta: Annotated[float, Positive] = 5.0  # step size of each half; eta * tau < 1
    iteration_steps: Annotated[int, Range(1)] = 20  # optimizer steps per half (an iteration is two halves)

    def check(self) -> tuple[str, str] | None:
        return _below_one(self.eta, self.tau)


@dataclass
class NashMPArgs:
    """Nash Mirror Prox (Tiapkin et al. 2025, arXiv 2505.19731): extragradient on the proximal step,
    pi_{k+1/2} proportional to [pi_k mu^(eta beta) exp(eta P(y > pi_k))]^(1 / (1 + eta beta)), then the same
    from pi_k with P(y > pi_{k+1/2})."""

    beta: Annotated[float, Positive] = 0.1  # KL regularisation towards the reference mu
    eta: Annotated[float, Positive] = 10.0  # step size of each half
    iteration_steps: Annotated[int, Range(1)] = 20  # optimizer steps per half (an iteration is two halves)


@hookimpl
def register_algorithms(register: Register) -> None:
    module = "arena_plugins.last_iterate.algorithms"
    register("mpo", f"{module}:MPO", config=MPOArgs, description="magnetic preference optimisation")
    register("inpo", f"{module}:INPO", config=INPOArgs, description="iterative Nash policy optimisation")
    register("egpo", f"{module}:EGPO", config=EGPOArgs, description="extragradient preference optimisation")
    register("nash-mp", f"{module}:NashMP", config=NashMPArgs, description="Nash mirror prox")
