"""The regression all four last-iterate methods share: one multiplicative step on the policy,

    log pi_new(y) = (1 - a) log A(y) + a log M(y) + b P(y > O) + const,

with A the anchor (pi_t), M the magnet (mu, or MPO's refreshed magnet), O the opponent whose pairs are
judged, fitted by least squares on pairs y, y' ~ O with the judge's p = P(y > y') as a soft label:

    ([log pi(y) - log pi(y')] - (1 - a)[log A(y) - log A(y')] - a [log M(y) - log M(y')] - b (p - 1/2))^2.

Its minimiser on O's support is exactly pi_new (docs/last-iterate.md derives it): online IPO's soft-label
loss with an anchor. A and O are frozen snapshots taken every `iteration_steps` optimizer steps, like SPPO's
`previous`. An extragradient method alternates two phases of `iteration_steps` each: a half step
(O = A = pi_t, its result becomes pi_{t+1/2}) and a full step (A = pi_t, O = pi_{t+1/2}), which starts from
pi_{t+1/2}'s weights; the minimiser does not depend on where the optimiser starts.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch

from arena.api import (
    ONLY_MICRO_BATCH,
    MicroBatch,
    OnlineAlgorithm,
    Policy,
    Responses,
    StepOutput,
    online_metrics,
    split_responses,
)


def mirror_descent_step(eta: float, tau: float) -> tuple[float, float]:
    """(a, b) of pi_t^(1 - eta tau) mu^(eta tau) exp(eta F): INPO's and EGPO's step."""
    return eta * tau, eta


def proximal_step(eta: float, tau: float) -> tuple[float, float]:
    """(a, b) of [pi_t mu^(eta tau) exp(eta F)]^(1 / (1 + eta tau)): MPO's and Nash-MP's step."""
    return eta * tau / (1 + eta * tau), eta / (1 + eta * tau)


class AnchoredSelfPlay(OnlineAlgorithm):
    """An iteration of `iteration_steps` optimizer steps (two phases of them where `extragradient`)."""

    extragradient: ClassVar[bool] = False

    def __init__(self, step: tuple[float, float], iteration_steps: int, magnet_every: int = 0) -> None:
        self.magnet_weight, self.preference_scale = step  # (a, b)
        self.iteration_steps = iteration_steps
        self.magnet_every = magnet_every  # 0: the magnet is the reference mu throughout
        self.anchor: Policy | None = None  # pi_t
        self.opponent: Policy | None = None  # pi_t, or pi_{t+1/2} in an extragradient full phase
        self.magnet: Policy | None = None  # None: the reference

    def _snapshot(self, label: str) -> Policy:
        model = copy.deepcopy(self.policy.model).requires_grad_(False).eval()
        return Policy(model, self.policy.tokenizer, f"{self.policy.source} ({label})")

    def start_step(self, step: int) -> None:
        """At each phase boundary (and on the first call): take the snapshots this phase regresses against."""
        if self.anchor is not None and step % self.iteration_steps != 0:
            return
        phase = step // self.iteration_steps
        iteration, half = divmod(phase, 2) if self.extragradient else (phase, 0)
        if half == 1 and self.anchor is not None:  # the full step: judge pairs of pi_{t+1/2}, anchor pi_t
            self.opponent = self._snapshot("half step")
            return
        self.anchor = self._snapshot("anchor")
        self.opponent = self.anchor
        if self.magnet_every and iteration > 0 and iteration % self.magnet_every == 0:
            self.magnet = self.anchor

    def state_dict(self) -> dict[str, Any]:
        """The snapshots: a resumed run regresses against the ones the interrupted run took, mid-phase too."""
        state: dict[str, Any] = {}
        if self.anchor is not None:
            state["anchor"] = self.anchor.model.state_dict()
        if self.opponent is not None and self.opponent is not self.anchor:
            state["opponent"] = self.opponent.model.state_dict()
        if self.magnet is not None:
            state["magnet"] = self.magnet.model.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        def restored(weights: dict[str, Any], label: str) -> Policy:
            holder = self._snapshot(label)
            holder.model.load_state_dict(weights)
            return holder

        if "anchor" in state:
            self.anchor = self.opponent = restored(state["anchor"], "anchor")
        if "opponent" in state:
            self.opponent = restored(state["opponent"], "half step")
        if "magnet" in state:
            self.magnet = restored(state["magnet"], "magnet")

    def _summed_logprobs(self, responses: Responses, holder: Policy) -> torch.Tensor:
        return (self.rollouts.policy_logprobs(responses, holder) * responses.mask).sum(-1)

    def loss(self, prompts: list[str], micro_batch: MicroBatch = ONLY_MICRO_BATCH) -> StepOutput:
        if self.anchor is None:  # called outside the Trainer loop
            self.start_step(0)
        assert self.anchor is not None and self.opponent is not None
        a, b = self.magnet_weight, self.preference_scale
        with torch.no_grad():
            both = self.rollouts.sample(prompts, 2, beta=0.0, opponent=self.opponent)
            first, second = split_responses(both)
            preference = self.prefer(first, second)
            anchor = self._summed_logprobs(both, self.anchor)
            if self.magnet is None:
                magnet = (both.reference_logprobs * both.mask).sum(-1)
            else:
                magnet = self._summed_logprobs(both, self.magnet)
        # Sequence log-probs are sums over tokens, as online IPO's: the regression is on whole responses.
        current = (self.rollouts.policy_logprobs(both) * both.mask).sum(-1)
        residual = current - (1 - a) * anchor - a * magnet
        h = residual[0::2] - residual[1::2]
        losses = (h - b * (preference - 0.5)) ** 2
        ratio = current.detach() - (both.reference_logprobs * both.mask).sum(-1)
        return StepOutput(losses, online_metrics(preference, ratio[0::2], first, len(prompts)))
