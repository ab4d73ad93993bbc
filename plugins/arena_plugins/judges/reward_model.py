"""The `reward-model` judge: a scalar reward r(prompt, response) from a one-logit head on any Hugging Face
backbone, trained with the Bradley-Terry loss -log sigmoid(r_chosen - r_rejected).

Pointwise: `score` gives each response a reward and `compare` is sigmoid(r_a - r_b), each distinct
response scored once. Being a single number per response, it can only express transitive preferences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from arena.api import StepOutput, check_texts, fit_to_length, pointwise_compare
from arena_plugins.judges import RewardModelTrainingArgs
from arena_plugins.judges.classifier import ClassifierJudge, encode_prompt_response


class RewardModel(ClassifierJudge):
    name = "reward-model"

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """r(prompt, response) for each pair; the judge's own tokenizer reads the text."""
        check_texts(prompts, responses)
        if len(prompts) != len(responses):
            raise ValueError(
                f"score() needs equal lengths, got {len(prompts)} prompts, {len(responses)} responses"
            )
        if not prompts:
            return []
        rows = []
        for prompt_ids, response_ids in encode_prompt_response(self.tokenizer, prompts, responses):
            prompt_ids, (response_ids,), _ = fit_to_length(prompt_ids, [response_ids], self.max_length)
            rows.append(prompt_ids + response_ids)
        return self.logits(rows)

    def compare(
        self, prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]
    ) -> list[float]:
        """sigmoid(r_a - r_b)."""
        return pointwise_compare(self.score, prompts, responses_a, responses_b)

    def pair_rows(
        self, prompts: Sequence[str], firsts: Sequence[str], seconds: Sequence[str]
    ) -> tuple[list[list[int]], list[list[int]], int]:
        """(prompt + chosen, prompt + rejected) rows; both cut the same way when too long."""
        chosen = encode_prompt_response(self.tokenizer, prompts, firsts)
        rejected = encode_prompt_response(self.tokenizer, prompts, seconds)
        good_rows, bad_rows, cut = [], [], 0
        for (prompt_ids, good), (_, bad) in zip(chosen, rejected, strict=True):
            prompt_ids, (good, bad), was_cut = fit_to_length(prompt_ids, [good, bad], self.max_length)
            good_rows.append(prompt_ids + good)
            bad_rows.append(prompt_ids + bad)
            cut += was_cut
        return good_rows, bad_rows, cut

    @staticmethod
    def pair_loss(first: torch.Tensor, second: torch.Tensor, labels: torch.Tensor, args: Any) -> StepOutput:
        """Bradley-Terry with soft labels y (and label smoothing eps): BCE(sigmoid(r_c - r_r), y)."""
        assert isinstance(args, RewardModelTrainingArgs)
        margin = first - second
        eps = args.label_smoothing
        target = labels.to(margin.dtype) * (1 - 2 * eps) + eps
        losses = F.binary_cross_entropy_with_logits(margin, target, reduction="none")
        if args.center_rewards:
            losses = losses + args.center_rewards * (first + second) ** 2
        metrics = {
            "accuracy": ((margin > 0) == (labels > 0.5)).float().detach(),
            "margin": margin.detach(),
            "reward_chosen": first.detach(),
            "reward_rejected": second.detach(),
        }
        return StepOutput(losses, metrics)
