"""The `rule-reward` judge: a reward from regular-expression rules over the response text (verifiable
rewards: a format check, an exact answer). Pointwise, so PPO, GRPO and RLOO train on it directly; its
`compare` is Bradley-Terry on the two rewards, as the games' `reward-table`. Free of torch."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from arena.api import check_batch, sigmoid_preference


@dataclass
class RewardRule:
    """One rule: responses that match `pattern` get `reward`."""

    pattern: str  # a Python regular expression, matched against the response text
    reward: float  # the reward of a response this rule matches (the first matching rule wins)

    def check(self) -> tuple[str, str] | None:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            return "pattern", f"expected a Python regular expression, got {self.pattern!r} ({exc})"
        return None


@dataclass
class RuleRewardArgs:
    """`args:` of the `rule-reward` judge: rules tried in order, the first match gives the reward."""

    rules: list[RewardRule] = field(default_factory=list)  # tried in order; the first that matches wins
    default: float = 0.0  # the reward of a response no rule matches
    # search: the pattern may match anywhere in the response; fullmatch: it must match all of it
    match: Literal["search", "fullmatch"] = "search"
    strip: bool = True  # match against the response with leading and trailing whitespace removed


class RuleReward:
    """Rewards from the first matching rule; `compare(a, b)` = sigmoid(r(a) - r(b))."""

    def __init__(self, args: RuleRewardArgs) -> None:
        self.rules = [(re.compile(rule.pattern), rule.reward) for rule in args.rules]
        self.default, self.match, self.strip = args.default, args.match, args.strip

    def reward(self, response: str) -> float:
        text = response.strip() if self.strip else response
        for pattern, value in self.rules:
            found = pattern.fullmatch(text) if self.match == "fullmatch" else pattern.search(text)
            if found is not None:
                return value
        return self.default

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts for {len(responses)} responses")
        return [self.reward(response) for response in responses]

    def compare(
        self, prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]
    ) -> list[float]:
        check_batch(prompts, responses_a, responses_b)
        a, b = self.score(prompts, responses_a), self.score(prompts, responses_b)
        return [sigmoid_preference(x, y) for x, y in zip(a, b, strict=True)]
