"""Nash-MD-PG (Munos et al. 2023) on the shared Trainer loop: y ~ pi against y' ~ pi^(1-beta) mu^beta (or
the mixture of an EMA of past policies), a policy gradient of the preference with a per-token KL term."""

from __future__ import annotations

import copy
from typing import Any

import torch

from arena.api import (
    ONLY_MICRO_BATCH,
    MicroBatch,
    OnlineAlgorithm,
    Policy,
    StepOutput,
    TrainContext,
    online_metrics,
)
from arena_plugins.nash_md import NashMDArgs


class NashMD(OnlineAlgorithm):
    def __init__(self, args: NashMDArgs) -> None:
        self.args = args
        self.kl_coefficient = args.tau
        self.ema: Policy | None = None

    def setup(self, context: TrainContext) -> None:
        super().setup(context)
        if self.args.opponent == "ema":
            model = copy.deepcopy(self.policy.model).requires_grad_(False).eval()
            self.ema = Policy(model, self.policy.tokenizer, f"{self.policy.source} (EMA)")

    @torch.no_grad()
    def _update_ema(self) -> None:
        assert self.ema is not None
        decay = self.args.ema_decay
        for average, current in zip(self.ema.model.parameters(), self.policy.model.parameters(), strict=True):
            average.mul_(decay).add_(current.detach(), alpha=1 - decay)

    def state_dict(self) -> dict[str, Any]:
        """The EMA opponent's weights: a resumed run continues the same average."""
        return {} if self.ema is None else {"ema": self.ema.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.ema is not None and "ema" in state:
            self.ema.model.load_state_dict(state["ema"])

    def start_step(self, step: int) -> None:
        # Once per optimizer step, not per micro-batch: the same EMA whatever the accumulation/processes.
        if self.ema is not None:
            self._update_ema()

    def loss(self, prompts: list[str], micro_batch: MicroBatch = ONLY_MICRO_BATCH) -> StepOutput:
        n = self.args.samples
        with torch.no_grad():
            ours = self.rollouts.sample(prompts, n, beta=0.0)
            theirs = self.rollouts.sample(prompts, n, beta=self.args.beta, opponent=self.ema)
        preference = self.prefer(ours, theirs)
        token_logprobs, ratio = self.log_ratios(ours)
        # The KL term of token t is the log-ratio of the tokens from t to the end (what t influences).
        token_ratio = (token_logprobs.detach() - ours.reference_logprobs) * ours.mask
        to_go = token_ratio.flip(-1).cumsum(-1).flip(-1)
        advantage = (preference[:, None] - 0.5 - self.args.tau * to_go) * ours.mask
        per_response = -(token_logprobs * advantage).sum(-1)
        losses = per_response.reshape(len(prompts), n).mean(1)
        return StepOutput(losses, online_metrics(preference, ratio, ours, len(prompts)))
