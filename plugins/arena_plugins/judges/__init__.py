"""Judges: reward model, pairwise preference model, LLM-as-judge, verdict judges (an OpenAI-compatible
endpoint, a local vLLM engine) and rule-based rewards. Registration and args only.

Each judge's config class is its `args:` where a judge is used (`judge: {name, args}` in train and
tournament recipes). The trainable ones name a second class, `TrainingArgs`, which is what the `args:`
of a `kind: judge` recipe means (docs/judges.md). No torch at import.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from arena.api import ModelRef, Range, Register, VLLMBackendConfig, hookimpl
from arena_plugins.judges.rules import RuleRewardArgs

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


def template_problem(template: str) -> str | None:
    """What is wrong with a judge's question template, or None: {response_a} and {response_b} are
    needed, {prompt} is optional, any other placeholder is a mistake."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        return f"expected a template with {{prompt}}, {{response_a}}, {{response_b}} ({exc})"
    for name in names:
        if name not in TEMPLATE_FIELDS:
            return (
                f"unknown placeholder {{{name}}} (expected {{prompt}}, {{response_a}}, "
                "{response_b}; write {{ and }} for literal braces)"
            )
    for needed in ("response_a", "response_b"):
        if needed not in names:
            return f"expected a template with {{{needed}}}"
    return None


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
        problem = template_problem(self.template)
        if problem is not None:
            return "template", problem
        if len(self.answers) != 2 or not all(self.answers) or self.answers[0] == self.answers[1]:
            return "answers", f"expected two different non-empty answers, got {self.answers}"
        return None


# The `openai` and `vllm` judges: a generative judge that reasons, then ends with a verdict on Arena-Hard's
# five-level scale, read from its text (docs/judges.md).
VERDICT_SYSTEM = """\
You are an impartial judge. You will see a user's prompt and two responses to it, written by assistant A \
and assistant B. Decide which response serves the user better.

First answer the prompt yourself, briefly. Then compare both responses with your answer: point out \
mistakes and inaccurate information, and judge whether each response is helpful (it does what was asked; \
when the prompt is ambiguous, asking for clarification beats guessing), relevant and concise. Note \
anything important a response leaves out. Do not let the order of the responses, their length or the \
assistants' names sway you.

End with exactly one of these verdicts, in double square brackets:
[[A>>B]] assistant A is much better
[[A>B]] assistant A is slightly better
[[A=B]] a tie: neither is better
[[B>A]] assistant B is slightly better
[[B>>A]] assistant B is much better
For example: "My final verdict is [[B>A]]."
"""
VERDICT_TEMPLATE = """\
The user's prompt:
{prompt}

=== Assistant A's response ===
{response_a}
=== End of assistant A's response ===

=== Assistant B's response ===
{response_b}
=== End of assistant B's response ===
"""
# P(A beats B) for each verdict: evenly spaced, so the mean of the mapped verdicts is the judge's mean
# score on a 0..1 scale (Arena-Hard itself counts a strong verdict as three games instead).
DEFAULT_VERDICTS = {"A>>B": 1.0, "A>B": 0.75, "A=B": 0.5, "B>A": 0.25, "B>>A": 0.0}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _verdicts() -> dict[str, float]:
    return dict(DEFAULT_VERDICTS)


def verdict_problem(args: OpenAIJudgeArgs | VLLMJudgeArgs) -> tuple[str, str] | None:
    """The cross-checks both verdict judges share: the template, and a usable verdict scale."""
    problem = template_problem(args.template)
    if problem is not None:
        return "template", problem
    if not args.verdicts:
        return "verdicts", "expected at least one verdict label, e.g. {A>B: 1.0, B>A: 0.0}"
    for label, value in args.verdicts.items():
        if not label or any(c.isspace() or c in "[]" for c in label):
            return (
                "verdicts",
                f"expected labels without spaces or brackets (the judge writes [[LABEL]]), got {label!r}",
            )
        if not 0.0 <= value <= 1.0:
            return f"verdicts.{label}", f"expected P(A beats B) in [0, 1], got {value}"
    return None


@dataclass
class OpenAIJudgeArgs:
    """`args:` of the `openai` judge: any OpenAI-compatible chat-completions endpoint, asked in both orders."""

    base_url: str  # e.g. https://api.openai.com/v1 or http://localhost:8000/v1 (`vllm serve`)
    model: str  # the model name the endpoint serves
    # The NAME of the environment variable that holds the API key (never the key itself); None for an
    # endpoint without one. The key is read when the judge is built and never stored.
    api_key_env: str | None = "OPENAI_API_KEY"
    system: str = VERDICT_SYSTEM  # the system message; "" sends none
    # The user message; {prompt}, {response_a} and {response_b} are filled in ({{ and }} for braces).
    template: str = VERDICT_TEMPLATE
    # The verdict labels the judge may write as [[LABEL]], each with P(response A beats response B).
    verdicts: dict[str, float] = field(default_factory=_verdicts)
    max_tokens: Annotated[int, Range(1)] = 2048  # room for the reasoning before the verdict
    temperature: Annotated[float, Range(0)] = 0.0  # 0: the same question gets the same verdict
    concurrency: Annotated[int, Range(1)] = 8  # requests in flight at once
    timeout: Annotated[float, Positive] = 120.0  # seconds per request
    retries: Annotated[int, Range(0)] = 5  # on HTTP 429, 5xx, timeouts and refused connections
    backoff: Annotated[float, Range(0)] = (
        1.0  # seconds before the first retry, doubled each time (at most 60)
    )
    max_response_chars: Annotated[int, Range(1)] | None = None  # longer responses are cut (and counted)
    price_input: Annotated[float, Range(0)] = 0.0  # dollars per 1M prompt tokens, for the cost counter
    price_output: Annotated[float, Range(0)] = 0.0  # dollars per 1M completion tokens
    extra_body: dict[str, Any] = field(default_factory=dict)  # more request fields, sent as they are

    def check(self) -> tuple[str, str] | None:
        if not self.base_url.startswith(("http://", "https://")):
            return "base_url", f"expected an http:// or https:// URL, got {self.base_url!r}"
        if not self.model:
            return "model", "expected the model name the endpoint serves"
        if self.api_key_env is not None and not _ENV_NAME.fullmatch(self.api_key_env):
            return (
                "api_key_env",
                "expected the name of an environment variable that holds the key (never the key itself)",
            )
        refused = sorted(set(self.extra_body) & {"model", "messages", "max_tokens", "temperature", "n"})
        if refused:
            return "extra_body", f"{', '.join(refused)} cannot be set there (use the judge's own args)"
        return verdict_problem(self)


@dataclass
class VLLMJudgeArgs:
    """`args:` of the `vllm` judge: a local judge model in this process's one vLLM engine."""

    model: Annotated[str, ModelRef()]  # the judge model: a local directory or a hub id
    system: str = VERDICT_SYSTEM  # put before the question in the one user turn; "" for none
    template: str = VERDICT_TEMPLATE  # as for `openai`
    verdicts: dict[str, float] = field(default_factory=_verdicts)  # as for `openai`
    max_tokens: Annotated[int, Range(1)] = 2048  # room for the reasoning before the verdict (greedy)
    max_response_tokens: Annotated[int, Range(1)] = 1024  # longer responses are cut (and counted)
    engine: VLLMBackendConfig = field(default_factory=VLLMBackendConfig)  # as the vllm backend's args

    def check(self) -> tuple[str, str] | None:
        return verdict_problem(self)


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
    register(
        "openai",
        "arena_plugins.judges.openai:OpenAIJudge",
        config=OpenAIJudgeArgs,
        description="any OpenAI-compatible endpoint: reasons, then an Arena-Hard verdict; both orders",
    )
    register(
        "vllm",
        "arena_plugins.judges.vllm_judge:VLLMJudge",
        config=VLLMJudgeArgs,
        description="a local judge model in one vLLM engine: reasons, then an Arena-Hard verdict",
    )
    register(
        "rule-reward",
        "arena_plugins.judges.rules:RuleReward",
        config=RuleRewardArgs,
        description="rewards from regular-expression rules over the response (verifiable rewards); pointwise",
    )
