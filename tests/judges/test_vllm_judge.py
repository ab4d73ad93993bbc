"""The `vllm` judge: a tiny random chat model in one in-process vLLM engine on the CPU. Its replies are
noise, so every verdict is unreadable: counted, a draw, and the tokens it read and wrote counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arena.api import ArenaError
from arena.tiny import SAMPLE_CORPUS, TinyModelSpec, build_tiny_model
from tests.judges.conftest import build_judge
from tests.judges.test_openai_judge import CHAT_TEMPLATE

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("vllm-judge")]

CONTEXT = 2048  # the default system text alone is about 600 of the tiny tokenizer's tokens
MAX_TOKENS = 6


@pytest.fixture(scope="module")
def judge_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from arena.policy import load_tokenizer

    spec = TinyModelSpec(max_positions=CONTEXT)
    directory = build_tiny_model(tmp_path_factory.mktemp("vllm-judge") / "judge", SAMPLE_CORPUS, spec=spec)
    tokenizer = load_tokenizer(directory)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def judge(judge_model: Path) -> Iterator[Any]:
    built = build_judge(
        "vllm",
        model=str(judge_model),
        max_tokens=MAX_TOKENS,
        max_response_tokens=64,
        engine={"max_model_len": CONTEXT, "kv_cache_gb": 0.25, "threads": 1},
    )
    yield built
    built.close()


def test_noise_is_unreadable_counted_and_a_draw(judge: Any, judge_model: Path) -> None:
    from arena.policy import load_tokenizer

    replies: list[Any] = []  # what the engine returned, seen on the way to the judge
    generate = judge.backend.generate

    def recording(*args: Any) -> Any:
        result = generate(*args)
        replies.extend(sample for samples in result for sample in samples)
        return result

    judge.backend.generate = recording
    prompts = ["The cat", "Two roads", "The rain"]
    firsts = ["sat on the mat.", "diverged in a wood.", "stays in the plain."]
    seconds = ["ran away.", "met again.", "fell on Spain."]
    before = judge.counters()
    verdicts = judge.compare(prompts, firsts, seconds)
    assert verdicts == [0.5, 0.5, 0.5]
    assert judge.compare(prompts, seconds, firsts) == [1.0 - v for v in verdicts]  # exact antisymmetry
    counts = {key: value - before[key] for key, value in judge.counters().items()}
    assert (counts["verdicts"], counts["unreadable"]) == (12, 12)  # 3 pairs, both orders, two calls
    assert len(replies) == 12 and all(1 <= len(r.token_ids) <= MAX_TOKENS for r in replies)
    assert counts["completion_tokens"] == sum(len(r.token_ids) for r in replies)
    # Prompt tokens, counted here: system text and question in one user turn, through the chat template.
    tokenizer = load_tokenizer(judge_model)
    questions = judge.questions(prompts * 2, firsts + seconds, seconds + firsts)
    assert questions[0].startswith("You are an impartial judge.") and "sat on the mat." in questions[0]
    rendered = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True
        )
        for q in questions
    ]
    assert counts["prompt_tokens"] == 2 * sum(
        len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in rendered
    )


def test_long_responses_are_cut_and_a_prompt_too_long_is_one_line(judge: Any, judge_model: Path) -> None:
    long_response = "the quick brown fox " * 100
    before = judge.counters()["truncated_responses"]
    assert judge.compare(["p"], [long_response], ["short"]) == [0.5]
    assert judge.counters()["truncated_responses"] - before == 2  # cut to 64 tokens, in each order
    roomy = build_judge(
        "vllm",
        model=str(judge_model),
        max_tokens=MAX_TOKENS,
        max_response_tokens=4000,
        engine={"max_model_len": CONTEXT, "kv_cache_gb": 0.25, "threads": 1},
    )
    with pytest.raises(ArenaError) as caught:
        roomy.compare(["p"], [long_response * 3], ["short"])
    message = str(caught.value)
    assert message.startswith("judge 'vllm': ") and "\n" not in message
    assert message.endswith("(lower max_response_tokens or raise engine.max_model_len)")
