"""The `preference-model` judge: P(a beats b) from the prompt and both responses, read together.

A one-logit classifier on any Hugging Face backbone reads `prompt, "Response A:" a, "Response B:" b` and
gives f(a, b) = sigmoid(logit). The verdict is P(a > b) = (f(a, b) + 1 - f(b, a)) / 2, antisymmetric by
construction: P(a > b) + P(b > a) = 1 and P(a > a) = 1/2 exactly (`arena.judging.antisymmetric_compare`).
Unlike a reward model it can express non-transitive preferences (a > b > c > a). Trained with binary
cross-entropy on both orders of every pair: f(chosen, rejected) towards y and f(rejected, chosen)
towards 1 - y.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from arena.api import StepOutput, antisymmetric_compare, encode_prompts, plain_text
from arena_plugins.judges import PreferenceModelTrainingArgs
from arena_plugins.judges.classifier import ClassifierJudge

MARKERS = ("\n\nResponse A:\n", "\n\nResponse B:\n")


class PreferenceModel(ClassifierJudge):
    name = "preference-model"

    def _setup(self, model: Any, tokenizer: Any, max_length: int, batch_size: int) -> None:
        super()._setup(model, tokenizer, max_length, batch_size)
        meta = getattr(model.config, "arena_judge", None) or {}
        self.markers = tuple(meta.get("markers", MARKERS))
        self._marker_ids = [tokenizer(m, add_special_tokens=False)["input_ids"] for m in self.markers]

    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), "markers": list(self.markers)}

    def compare(
        self, prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]
    ) -> list[float]:
        """(f(a, b) + 1 - f(b, a)) / 2, exactly antisymmetric."""
        return antisymmetric_compare(self.one_order, prompts, responses_a, responses_b)

    def one_order(self, prompts: Sequence[str], firsts: Sequence[str], seconds: Sequence[str]) -> list[float]:
        """f(first, second): the classifier's P(first beats second), reading them in that order."""
        rows, _, _ = self.pair_rows(prompts, firsts, seconds, both_orders=False)
        return [_sigmoid(value) for value in self.logits(rows)]

    def pair_rows(
        self, prompts: Sequence[str], firsts: Sequence[str], seconds: Sequence[str], both_orders: bool = True
    ) -> tuple[list[list[int]], list[list[int]], int]:
        """Rows reading (first, second) and, for training, (second, first); cut the same way both times."""
        prompt_ids = encode_prompts(self.tokenizer, [plain_text(p) for p in prompts])
        first_ids = self.tokenizer(list(firsts), add_special_tokens=False)["input_ids"] if firsts else []
        second_ids = self.tokenizer(list(seconds), add_special_tokens=False)["input_ids"] if seconds else []
        marker_a, marker_b = self._marker_ids
        forward, backward, cut = [], [], 0
        for prompt, a, b in zip(prompt_ids, first_ids, second_ids, strict=True):
            markers = len(marker_a) + len(marker_b)
            needed = markers + len(a) + len(b)
            if len(prompt) + needed > self.max_length:
                cut += 1
                prompt = prompt[-max(1, self.max_length - needed) :]
                budget = max(0, self.max_length - len(prompt) - markers)
                a, b = a[: _share(len(a), len(b), budget)], b[: _share(len(b), len(a), budget)]
            forward.append(list(prompt) + marker_a + list(a) + marker_b + list(b))
            if both_orders:
                backward.append(list(prompt) + marker_a + list(b) + marker_b + list(a))
        return forward, backward, cut

    @staticmethod
    def pair_loss(first: torch.Tensor, second: torch.Tensor, labels: torch.Tensor, args: Any) -> StepOutput:
        """first: logits of (chosen, rejected); second: of (rejected, chosen). BCE on both orders."""
        assert isinstance(args, PreferenceModelTrainingArgs)
        eps = args.label_smoothing
        target = labels.to(first.dtype) * (1 - 2 * eps) + eps
        losses = 0.5 * (
            F.binary_cross_entropy_with_logits(first, target, reduction="none")
            + F.binary_cross_entropy_with_logits(second, 1 - target, reduction="none")
        )
        probability = 0.5 + (torch.sigmoid(first) - torch.sigmoid(second)) / 2  # P(chosen beats rejected)
        metrics = {
            "accuracy": ((probability > 0.5) == (labels > 0.5)).float().detach(),
            "p_chosen": probability.detach(),
        }
        return StepOutput(losses, metrics)


def _share(own: int, other: int, budget: int) -> int:
    """Tokens a response keeps when two share `budget`: the same whichever is first (symmetric cuts)."""
    if own + other <= budget or own <= budget // 2:
        return own
    if other <= budget // 2:
        return budget - other
    return budget // 2


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)
