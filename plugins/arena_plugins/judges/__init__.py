"""Judges: reward model, pairwise preference model and LLM-as-judge. Registration and args only.

Each judge's config class is its `args:` where a judge is used (`judge: {name, args}` in train and
tournament recipes). The trainable ones name a second class, `TrainingArgs`, which is what the `args:`
of a `kind: judge` recipe means (docs/judges.md). No torch at import.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

from arena.api import ModelRef, Range, Register, hookimpl

Dtype = Literal["auto", "fp32", "bf16", "fp16"]
Positive = Range(0, low_open=True)

DEFAULT_TEMPLATE = """\
Which response to the prompt is better?

Prompt: {prompt}

Response A: {response_a}

Response B: {response_b}

Answer with one letter, A or B.
"""
TEMPLATE_FIELDS = ("prompt", "response_a", "response_b")


@dataclass
class RewardModelTrainingArgs:
    """`args:` of a `kind: judge` recipe training a reward model (Bradley-Terry loss)."""

    # eps: each label is taken as flipped with probability eps (conservative Bradley-Terry).
    label_smoothing: Annotated[float, Range(0, 0.49)] = 0.0
    # Coefficient of mean((r_chosen + r_rejected)^2), which keeps rewards centred on 0 (TRL's
    # center_rewards_coefficient); Bradley-Terry itself only sees reward differences.
    center_rewards: Annotated[float, Range(0)] = 0.0
    trust_remote_code: bool = False  # run code shipped with a hub model (off: Arena never runs it unasked)


@dataclass
class PreferenceModelTrainingArgs:
    """`args:` of a `kind: judge` recipe training a preference model (cross-entropy on both orders)."""

    label_smoothing: Annotated[float, Range(0, 0.49)] = (
        0.0  # eps: each label taken as flipped with probability eps
    )
    trust_remote_code: bool = False  # run code shipped with a hub model (off: Arena never runs it unasked)


@dataclass
class ClassifierJudgeArgs:
    """Where a trained reward or preference model is used: its directory and how to run it."""

    path: Annotated[str, ModelRef("judge directory")]  # OUT/final of `arena train` on a judge recipe
    batch_size: Annotated[int, Range(1)] = 16  # sequences per forward pass
    max_length: Annotated[int, Range(8)] | None = None  # default: what it was trained with, else 1024
    device: str = "auto"  # auto: a GPU when torch sees one, else the CPU
    dtype: Dtype = "auto"  # auto: bf16 on a GPU, fp32 on the CPU
    trust_remote_code: bool = False  # run code shipped with a hub model (off: Arena never runs it unasked)


@dataclass
class RewardModelArgs(ClassifierJudgeArgs):
    TrainingArgs: ClassVar[type] = RewardModelTrainingArgs


@dataclass
class PreferenceModelArgs(ClassifierJudgeArgs):
    TrainingArgs: ClassVar[type] = PreferenceModelTrainingArgs


@dataclass
class LLMJudgeArgs:
    """`args:` of the `llm` judge: a generative model asked which response is better."""

    model: Annotated[str, ModelRef()]  # the judge model: a local directory or a hub id
    # The question; {prompt}, {response_a} and {response_b} are filled in (write {{ and }} for braces).
    # It goes through the model's chat template when the tokenizer has one.
    template: str = DEFAULT_TEMPLATE
    answers: list[str] = field(default_factory=lambda: ["A", "B"])  # "response A wins", "B wins"
    # A verdict is unreadable when P(answer A) + P(answer B) is below this; it then counts as 1/2 for
    # that order (never as a win for either side) and is counted in `counters()["unreadable"]` (a
    # tournament stops when more than its `judge.max_unreadable` of them are).
    min_answer_mass: Annotated[float, Range(0, 1)] = 0.5
    max_response_tokens: Annotated[int, Range(1)] = 1024  # longer responses are cut (and counted)
    batch_size: Annotated[int, Range(1)] = 8  # questions per forward pass (each pair is asked in both orders)
    device: str = "auto"  # auto: a GPU when torch sees one, else the CPU
    dtype: Dtype = "auto"  # auto: bf16 on a GPU, fp32 on the CPU
    trust_remote_code: bool = False  # run code shipped with a hub model (off: Arena never runs it unasked)

    def check(self) -> tuple[str, str] | None:
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(self.template) if name is not None]
        except ValueError as exc:
            return "template", f"expected a template with {{prompt}}, {{response_a}}, {{response_b}} ({exc})"
        for name in names:
            if name not in TEMPLATE_FIELDS:
                return (
                    "template",
                    f"unknown placeholder {{{name}}} (expected {{prompt}}, {{response_a}}, "
                    "{response_b}; write {{ and }} for literal braces)",
                )
        for needed in ("response_a", "response_b"):
            if needed not in names:
                return "template", f"expected a template with {{{needed}}}"
        if len(self.answers) != 2 or not all(self.answers) or self.answers[0] == self.answers[1]:
            return "answers", f"expected two different non-empty answers, got {self.answers}"
        return None


@hookimpl
def register_judges(register: Register) -> None:
    register(
        "reward-model",
        "arena_plugins.judges.reward_model:RewardModel",
        config=RewardModelArgs,
        description="scalar reward head on any HF backbone, Bradley-Terry; pointwise",
    )
    register(
        "preference-model",
        "arena_plugins.judges.preference_model:PreferenceModel",
        config=PreferenceModelArgs,
        description="P(a beats b) from prompt and both responses, exactly antisymmetric; can express cycles",
    )
    register(
        "llm",
        "arena_plugins.judges.llm:LLMJudge",
        config=LLMJudgeArgs,
        description="LLM-as-judge: answer-token probabilities, both orders averaged, unreadable counted",
    )
