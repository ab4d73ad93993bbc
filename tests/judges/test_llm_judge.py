"""The LLM judge: a verdict from the probabilities of the two answer tokens, both orders averaged, and
verdicts it cannot read counted rather than given to a side."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.policy import load_policy
from arena.tiny import make_eos_likely
from arena_plugins.judges import LLMJudgeArgs
from arena_plugins.judges.llm import LLMJudge
from tests.judges.conftest import REPO, build_judge

pytestmark = pytest.mark.slow  # trains judges through `arena train`

HELD_OUT = [f"Question {n}: is it true?" for n in (101, 250, 999)]  # trained on 1 to 40


def test_trained_llm_judge_prefers_the_response_it_was_taught_to(llm_judge_model: Path) -> None:
    judge = build_judge("llm", model=str(llm_judge_model))
    n = len(HELD_OUT)
    verdicts = judge.compare(HELD_OUT * 2, ["yes"] * n + ["no"] * n, ["no"] * n + ["yes"] * n)
    assert min(verdicts[:n]) > 0.95 and max(verdicts[n:]) < 0.05
    # Each order alone: the letter of the "yes" response, with nearly all the mass on the two letters.
    masses = judge.answer_probabilities(judge.questions(HELD_OUT, ["yes"] * n, ["no"] * n))
    assert all(p_a > 0.9 and p_a + p_b > 0.95 for p_a, p_b in masses)
    masses = judge.answer_probabilities(judge.questions(HELD_OUT, ["no"] * n, ["yes"] * n))
    assert all(p_b > 0.9 and p_a + p_b > 0.95 for p_a, p_b in masses)
    assert judge.counters() == {"verdicts": 2 * n, "unreadable": 0, "truncated_responses": 0}


def test_unreadable_verdicts_are_counted_and_given_to_neither_side(llm_judge_model: Path) -> None:
    n = len(HELD_OUT)
    # An untrained model puts almost no mass on the two letters: every verdict is unreadable, and each
    # pair is a draw, not a win for the side that got the few more crumbs of probability.
    untrained = build_judge("llm", model=str(REPO / "recipes/games/model"))
    masses = untrained.answer_probabilities(untrained.questions(HELD_OUT, ["yes"] * n, ["no"] * n))
    assert max(p_a + p_b for p_a, p_b in masses) < 0.05
    assert untrained.compare(HELD_OUT, ["yes"] * n, ["no"] * n) == [0.5] * n
    assert untrained.counters() == {"verdicts": 2 * n, "unreadable": 2 * n, "truncated_responses": 0}
    # With the threshold at 0 the same crumbs decide, and nothing is counted as unreadable.
    lenient = build_judge("llm", model=str(REPO / "recipes/games/model"), min_answer_mass=0.0)
    assert 0.5 not in lenient.compare(HELD_OUT, ["yes"] * n, ["no"] * n)
    assert lenient.counters()["unreadable"] == 0
    # A threshold no model reaches makes even the trained judge's verdicts unreadable.
    strict = build_judge("llm", model=str(llm_judge_model), min_answer_mass=1.0)
    assert strict.compare(HELD_OUT, ["yes"] * n, ["no"] * n) == [0.5] * n
    assert strict.counters()["unreadable"] == 2 * n


def test_the_recipe_replaces_the_template(llm_judge_model: Path) -> None:
    template = "Q: {prompt}\n1) {response_a}\n2) {response_b}\nBetter, 1 or 2? {{braces}} stay"
    judge = build_judge("llm", model=str(llm_judge_model), template=template, answers=["1", "2"])
    assert judge.questions(["Hi?"], ["yes"], ["no"]) == [
        "Q: Hi?\n1) yes\n2) no\nBetter, 1 or 2? {braces} stay"
    ]
    # A response with braces is text, never a placeholder.
    assert judge.questions(["{prompt}"], ["{response_b}"], ["x"]) == [
        "Q: {prompt}\n1) {response_b}\n2) x\nBetter, 1 or 2? {braces} stay"
    ]


def test_position_bias_cancels_when_both_orders_are_averaged() -> None:
    """A model that answers "A" whatever it is asked: each order says the first response wins, the
    verdict over both orders is a draw."""
    policy = load_policy(REPO / "recipes/games/model", dtype="fp32", device="cpu")
    letter_a = policy.tokenizer("A", add_special_tokens=False)["input_ids"][0]
    make_eos_likely(policy.model, letter_a, probability=0.95)
    judge = LLMJudge(LLMJudgeArgs(model=str(REPO / "recipes/games/model")), policy=policy)
    n = len(HELD_OUT)
    assert min(judge.one_order(HELD_OUT, ["yes"] * n, ["no"] * n)) > 0.99
    assert min(judge.one_order(HELD_OUT, ["no"] * n, ["yes"] * n)) > 0.99
    assert judge.compare(HELD_OUT, ["yes"] * n, ["no"] * n) == pytest.approx([0.5] * n, abs=1e-3)


def test_multi_token_answers_are_scored_as_whole_answers(llm_judge_model: Path) -> None:
    """Single-token answers read one next-token distribution; the general path (each answer's full
    log-probability) gives the same numbers on them."""
    judge = build_judge("llm", model=str(llm_judge_model))
    questions = judge.questions(HELD_OUT, ["yes", "no", "yes"], ["no", "yes", "yes"])
    fast = judge.answer_probabilities(questions)
    judge._single_token = False
    general = judge.answer_probabilities(questions)
    for (a, b), (c, d) in zip(fast, general, strict=True):
        assert (a, b) == pytest.approx((c, d), rel=1e-4, abs=1e-7)
