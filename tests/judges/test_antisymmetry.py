"""P(a > b) + P(b > a) = 1 and P(a > a) = 1/2 hold exactly, in floating point, for the judges that read both
responses (preference model, LLM judge), though the model underneath reads each order differently.

Exact where the construction guarantees it (both orders of a pair come from one call), on any CPU; a
verdict judged in another batch agrees to float32 rounding (BATCH_TOLERANCE), not bit for bit."""

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


# How far a verdict may move with the batch it is judged in. Measured over all 256 pairs, each judged alone
# against the batch of 256: at most 1.4e-8 (LLM judge) and 1.5e-7 (preference model) on an AVX-512 AMD EPYC,
# 1.8e-8 and 7.6e-7 there with vectorised kernels off (ATEN_CPU_CAPABILITY=default, MKL_CBWR=COMPATIBLE);
# 1.9e-9 for the one pair issue 14 saw differ on an AVX-512 + AMX Xeon. 1e-5 is 13 times the largest and
# still 100 times finer than the 1e-3 that any published number is read to.
BATCH_TOLERANCE = 1e-5


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
    # A pair judged alone is the same math as inside the batch of 256, on other shapes: torch promises no
    # batch invariance (MKL and oneDNN choose kernels by shape and by CPU; padding changes reduction
    # lengths), so the two agree to float32 rounding only (BATCH_TOLERANCE).
    alone = [judge.compare([p], [x], [y])[0] for p, x, y in zip(prompts, a, b, strict=True)]
    assert alone == pytest.approx(forward, abs=BATCH_TOLERANCE)
    # Repeats of a pair are evaluated once (antisymmetric_compare keeps distinct pairs): the same inputs on
    # the same shapes as the pair alone, so exactly its verdict.
    assert judge.compare([prompts[1]] * 3, [a[1]] * 3, [b[1]] * 3) == [alone[1]] * 3
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
        # Scored in other batches: rewards differ by float32 rounding (up to 9.5e-7 measured, vectorised
        # kernels off), verdicts by at most a quarter of twice that.
        assert abs(p - 1 / (1 + math.exp(-margin))) < BATCH_TOLERANCE
        if x == y:
            assert p == 0.5
