"""DPO and IPO losses on the shared Trainer loop."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from arena.api import (
    ONLY_MICRO_BATCH,
    Algorithm,
    MicroBatch,
    PairBatch,
    StepOutput,
    TrainContext,
    completion_lengths,
    pair_logprobs,
    split_pairs,
)
from arena_plugins.dpo import DPOArgs, IPOArgs


class _PairwiseLoss(Algorithm):
    """Shared by DPO and IPO: the policy/reference log-ratio margin h of each pair."""

    data = "pairs"
    needs_reference = True
    length_normalized = False

    def setup(self, context: TrainContext) -> None:
        self.model = context.policy.model

    def margins(self, batch: PairBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """The margin h of each pair, metrics, and each chosen completion's per-token NLL (for RPO), all
        from the same forward pass."""
        assert batch.reference_logprobs is not None, (
            "the Trainer attaches reference log-probs to pair batches"
        )
        policy = pair_logprobs(self.model, batch)
        lengths = completion_lengths(batch)
        chosen_nll = -split_pairs(policy / lengths)[0]
        ratios = policy - batch.reference_logprobs.to(policy.dtype)
        if self.length_normalized:
            ratios = ratios / lengths
        chosen, rejected = split_pairs(ratios)
        margin = chosen - rejected
        metrics = {
            "margin": margin.detach(),
            "chosen_logratio": chosen.detach(),
            "rejected_logratio": rejected.detach(),
            "accuracy": (margin > 0).float().detach(),
        }
        return margin, metrics, chosen_nll

    @staticmethod
    def output(
        batch: PairBatch,
        losses: torch.Tensor,
        metrics: dict[str, torch.Tensor],
        chosen_nll: torch.Tensor,
        rpo_alpha: float,
    ) -> StepOutput:
        """RPO (Pang et al. 2024; TRL's `rpo_alpha`): add rpo_alpha x the chosen completion's per-token NLL.
        Keeps the chosen responses likely: without it, pushing rejected responses down can move the
        probability onto responses in neither set (on a tiny model, an immediate end of sequence).
        Then each pair's loss is multiplied by its weight, when the pairs carry weights (PairBatch.weights:
        the Trainer's mean of the products is the weighted mean of the losses); metrics stay unweighted."""
        metrics["chosen_nll"] = chosen_nll.detach()
        if rpo_alpha:
            losses = losses + rpo_alpha * chosen_nll
        if batch.weights is not None:
            losses = losses * batch.weights.to(losses.device)
        return StepOutput(losses, metrics)


class DPO(_PairwiseLoss):
    def __init__(self, args: DPOArgs) -> None:
        self.args = args
        self.length_normalized = args.length_normalized
        self.kl_coefficient = args.beta

    def loss(self, batch: PairBatch, micro_batch: MicroBatch = ONLY_MICRO_BATCH) -> StepOutput:
        h, metrics, chosen_nll = self.margins(batch)
        p = batch.labels.to(h.dtype)  # P(chosen is preferred): 1 for hard labels
        eps = self.args.label_smoothing
        if self.args.loss == "sigmoid":
            # The expected loss under a soft label p; eps > 0 is conservative DPO (cDPO): labels flip w.p. eps.
            q = p * (1 - eps) + (1 - p) * eps
            losses = -q * F.logsigmoid(self.args.beta * h) - (1 - q) * F.logsigmoid(-self.args.beta * h)
        else:
            # robust and hinge take hard labels: a row whose label is below 1/2 prefers `rejected`.
            logits = self.args.beta * h * torch.where(p >= 0.5, 1.0, -1.0).to(h.dtype)
            if self.args.loss == "robust":  # unbiased under label noise eps (Chowdhury et al. 2024)
                losses = (-(1 - eps) * F.logsigmoid(logits) + eps * F.logsigmoid(-logits)) / (1 - 2 * eps)
            else:  # hinge (SLiC): max(0, 1 - beta h)
                losses = torch.relu(1 - logits)
        return self.output(batch, losses, metrics, chosen_nll, self.args.rpo_alpha)


class IPO(_PairwiseLoss):
    def __init__(self, args: IPOArgs) -> None:
        self.args = args
        self.length_normalized = args.length_normalized
        self.kl_coefficient = args.tau

    def loss(self, batch: PairBatch, micro_batch: MicroBatch = ONLY_MICRO_BATCH) -> StepOutput:
        h, metrics, chosen_nll = self.margins(batch)
        # With a soft label p (P(chosen preferred)), IPO's target margin is (2p - 1) / (2 tau); p = 1 gives 1/(2 tau).
        target = (2 * batch.labels.to(h.dtype) - 1) / (2 * self.args.tau)
        return self.output(batch, (h - target) ** 2, metrics, chosen_nll, self.args.rpo_alpha)
