"""An example Arena plugin: the `shorter` judge and the `short-answers` task."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from arena.api import Task, hookimpl

__version__ = "0.1.0"


@dataclass
class ShorterArgs:
    """`args:` of the `shorter` judge."""

    scale: float = 1.0  # words per unit of reward: larger means softer preferences


class ShorterJudge:
    """Prefers the shorter response: reward = -words / scale, P(a beats b) = sigmoid(r_a - r_b)."""

    def __init__(self, args: ShorterArgs) -> None:
        self.scale = args.scale

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        return [-len(response.split()) / self.scale for response in responses]

    def compare(
        self, prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]
    ) -> list[float]:
        rewards_a = self.score(prompts, responses_a)
        rewards_b = self.score(prompts, responses_b)
        return [1.0 / (1.0 + math.exp(b - a)) for a, b in zip(rewards_a, rewards_b, strict=True)]


@dataclass
class ShortAnswersArgs:
    prompts: list[str] = field(
        default_factory=lambda: ["What is the capital of France?", "Name a prime number.", "Say hello."]
    )


@dataclass
class ShortAnswersTask(Task):
    """Prompts and an oracle: the shorter answer wins."""

    provides_oracle = True  # an ability, declared: online algorithms may train against oracle_judge()
    name: str
    questions: list[str]

    def prompts(self, split: str = "train") -> list[str]:
        return list(self.questions)

    def oracle_judge(self) -> ShorterJudge:
        return ShorterJudge(ShorterArgs())


def build_short_answers(args: ShortAnswersArgs) -> ShortAnswersTask:
    return ShortAnswersTask("short-answers", args.prompts)


@hookimpl
def register_judges(register) -> None:  # noqa: ANN001 - Arena passes its register callback
    register("shorter", ShorterJudge, config=ShorterArgs, description="prefers the shorter response")


@hookimpl
def register_tasks(register) -> None:  # noqa: ANN001
    register("short-answers", build_short_answers, config=ShortAnswersArgs, description="short questions")
