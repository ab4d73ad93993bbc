"""P(a > b) + P(b > a) = 1 and P(a > a) = 1/2 hold exactly, in floating point, for the judges that read both
responses (preference model, LLM judge), though the model underneath reads each order differently."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.judges.conftest import TrainedJudge, build_judge

pytestmark = pytest.mark.slow  # trains judges through `arena train`

PROMPTS = ["Game 31: what do you play?", "Poll 77. Name a colour.", "Write a haiku about the sea.", ""]
RESPONSES = [
    "I pick rock",
    "My answer: paper",
    "Easy, scissors",
    "I pick red",
    "Waves fold into foam; the gulls argue with the wind.",
    "",
    "no",
    "yes",
]


def all_pairs() -> tuple[list[str], list[str], list[str]]:
    cases = [(p, a, b) for p in PROMPTS for a in RESPONSES for b in RESPONSES]
    prompts, a, b = zip(*cases, strict=True)
    return list(prompts), list(a), list(b)


def assert_exactly_antisymmetric(judge: object) -> list[float]:
    prompts, a, b = all_pairs()
    forward = judge.compare(prompts, a, b)
    backward = judge.compare(prompts, b, a)
    assert len(forward) == len(prompts) == 256
    for p_ab, p_ba, x, y in zip(forward, backward, a, b, strict=True):
        assert 0.0 <= p_ab <= 1.0
        assert p_ab + p_ba == 1.0  # exactly, not approximately
        if x == y:
            assert p_ab == 0.5
    # One pair alone gives the same verdict as inside a batch, and repeats in a batch agree.
    assert judge.compare(prompts[1:2], a[1:2], b[1:2]) == forward[1:2]
    assert judge.compare([prompts[1]] * 3, [a[1]] * 3, [b[1]] * 3) == [forward[1]] * 3
    return forward


def test_preference_model_is_exactly_antisymmetric(preference_model: TrainedJudge) -> None:
    judge = build_judge("preference-model", path=str(preference_model.path))
    forward = assert_exactly_antisymmetric(judge)
    assert max(forward) > 0.99 and min(forward) < 0.01  # decisive verdicts, not a constant 1/2
    # The classifier underneath is not antisymmetric by itself; the construction makes the verdict so.
    prompts, a, b = all_pairs()
    deviation = [
        abs(f_ab + f_ba - 1)
        for f_ab, f_ba in zip(judge.one_order(prompts, a, b), judge.one_order(prompts, b, a), strict=True)
    ]
    assert max(deviation) > 0.05


def test_llm_judge_is_exactly_antisymmetric(llm_judge_model: Path) -> None:
    judge = build_judge("llm", model=str(llm_judge_model), min_answer_mass=0.0)
    forward = assert_exactly_antisymmetric(judge)
    assert max(forward) > 0.9 and min(forward) < 0.1
    assert judge.counters()["unreadable"] == 0


def test_reward_model_verdict_is_sigmoid_of_the_reward_difference(reward_model: TrainedJudge) -> None:
    import math

    judge = build_judge("reward-model", path=str(reward_model.path))
    prompts, a, b = all_pairs()
    rewards = dict(zip(zip(prompts, a, strict=True), judge.score(prompts, a), strict=True))
    for prompt, x, y, p in zip(prompts, a, b, judge.compare(prompts, a, b), strict=True):
        margin = rewards[(prompt, x)] - rewards[(prompt, y)]
        assert abs(p - 1 / (1 + math.exp(-margin))) < 1e-6  # scored in other batches: fp32 differences only
        if x == y:
            assert p == 0.5
