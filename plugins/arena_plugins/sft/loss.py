"""The SFT loss on the shared Trainer loop."""

from __future__ import annotations

from arena.api import (
    ONLY_MICRO_BATCH,
    Algorithm,
    CompletionBatch,
    MicroBatch,
    StepOutput,
    TrainContext,
    completion_lengths,
    token_logprobs,
)
from arena_plugins.sft import SFTArgs


class SFT(Algorithm):
    data = "completions"
    needs_reference = False

    def __init__(self, args: SFTArgs) -> None:
        self.args = args

    def setup(self, context: TrainContext) -> None:
        self.model = context.policy.model

    def loss(self, batch: CompletionBatch, micro_batch: MicroBatch = ONLY_MICRO_BATCH) -> StepOutput:
        logprobs = token_logprobs(self.model, batch.input_ids, batch.attention_mask, batch.completion_mask)
        tokens = completion_lengths(batch)
        per_sequence = -logprobs.sum(-1)
        if self.args.average == "token":
            # Each sequence's share of the batch's token-mean: the Trainer sums and divides by batch size.
            losses = per_sequence * (len(tokens) / tokens.sum())
        else:
            losses = per_sequence / tokens
        return StepOutput(losses, {"nll_per_token": per_sequence / tokens})
