"""The `llm` judge (LLM-as-judge): a generative model asked which of two responses is better.

The question is the recipe's template (through the model's chat template when it has one). The verdict
of one order is soft: f(first, second) = p(A) / (p(A) + p(B)), the probabilities the model gives the two
answers as its reply (the first token's distribution when each answer is one token, the answers' full
log-probabilities otherwise). Both orders are asked and averaged, which cancels position bias, and the
result is exactly antisymmetric (`arena.judging.antisymmetric_compare`).

A verdict is unreadable when p(A) + p(B) < `min_answer_mass` (the model wanted to say something else).
It is counted (`counters()["unreadable"]`) and counts as 1/2 for that order: never a win for either side.
A tournament stops, publishing nothing, when more than its `judge.max_unreadable` of them are unreadable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from arena.api import (
    Policy,
    antisymmetric_compare,
    left_pad,
    load_policy,
    plain_text,
    positions_from_mask,
    score_completions,
)
from arena_plugins.judges import LLMJudgeArgs


class LLMJudge:
    def __init__(self, args: LLMJudgeArgs, policy: Policy | None = None) -> None:
        self.args = args
        self.policy = policy or load_policy(
            args.model, dtype=args.dtype, device=args.device, trust_remote_code=args.trust_remote_code
        )
        tokenizer = self.policy.tokenizer
        self._answer_ids = [tokenizer(a, add_special_tokens=False)["input_ids"] for a in args.answers]
        self._single_token = all(len(ids) == 1 for ids in self._answer_ids)
        self._counts = {"verdicts": 0, "unreadable": 0, "truncated_responses": 0}

    def counters(self) -> dict[str, int]:
        """Orders asked (two per distinct pair), unreadable verdicts among them, responses cut."""
        return dict(self._counts)

    def compare(
        self, prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]
    ) -> list[float]:
        """(f(a, b) + 1 - f(b, a)) / 2, exactly antisymmetric; unreadable orders count as 1/2."""
        return antisymmetric_compare(self.one_order, prompts, responses_a, responses_b)

    def questions(self, prompts: Sequence[str], firsts: Sequence[str], seconds: Sequence[str]) -> list[str]:
        """The template filled in (responses cut to `max_response_tokens` of the judge's tokenizer)."""
        return [
            self.args.template.format(prompt=plain_text(p), response_a=self._cut(a), response_b=self._cut(b))
            for p, a, b in zip(prompts, firsts, seconds, strict=True)
        ]

    def answer_probabilities(self, questions: Sequence[str]) -> list[tuple[float, float]]:
        """(p(answer A), p(answer B)) as the model's reply to each question."""
        if not self._single_token:
            scored = [
                score_completions(
                    self.policy, questions, [answer] * len(questions), batch_size=self.args.batch_size
                )
                for answer in self.args.answers
            ]
            return [(math.exp(a.logprob), math.exp(b.logprob)) for a, b in zip(*scored, strict=True)]
        ids = self.policy.encode_prompts(questions)
        tokens = [self._answer_ids[0][0], self._answer_ids[1][0]]
        result: list[tuple[float, float]] = []
        with torch.no_grad():
            for start in range(0, len(ids), self.args.batch_size):
                input_ids, mask = left_pad(
                    ids[start : start + self.args.batch_size], self.policy.tokenizer.pad_token_id
                )
                input_ids, mask = input_ids.to(self.policy.device), mask.to(self.policy.device)
                logits = (
                    self.policy.model(
                        input_ids=input_ids,
                        attention_mask=mask,
                        position_ids=positions_from_mask(mask),
                        logits_to_keep=1,
                    )
                    .logits[:, -1]
                    .float()
                )
                probabilities = torch.softmax(logits, dim=-1)[:, tokens].double()
                result.extend((float(row[0]), float(row[1])) for row in probabilities)
        return result

    def one_order(self, prompts: Sequence[str], firsts: Sequence[str], seconds: Sequence[str]) -> list[float]:
        """f(first, second) = p(A) / (p(A) + p(B)), or 1/2 when the verdict is unreadable."""
        verdicts = []
        for p_a, p_b in self.answer_probabilities(self.questions(prompts, firsts, seconds)):
            self._counts["verdicts"] += 1
            if p_a + p_b < self.args.min_answer_mass or p_a + p_b <= 0:
                self._counts["unreadable"] += 1
                verdicts.append(0.5)
            else:
                verdicts.append(p_a / (p_a + p_b))
        return verdicts

    def _cut(self, response: str) -> str:
        tokenizer = self.policy.tokenizer
        ids = tokenizer(response, add_special_tokens=False)["input_ids"]
        if len(ids) <= self.args.max_response_tokens:
            return response
        self._counts["truncated_responses"] += 1
        return tokenizer.decode(ids[: self.args.max_response_tokens], skip_special_tokens=True)
