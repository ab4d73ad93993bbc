"""The `openai` judge against endpoints started by the tests: a stub server for the verdict scale and the
faults (429s, 5xx, timeouts, garbage replies, client errors), and a real `vllm serve` of a tiny model."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arena.api import ArenaError, RecipeKeyError
from arena.testing import free_port, running_server, vllm_serve_command
from arena.tiny import SAMPLE_CORPUS, TinyModelSpec, build_tiny_model
from arena_plugins.judges import DEFAULT_VERDICTS
from arena_plugins.judges.openai import read_verdict
from tests.judges.conftest import build_judge
from tests.judges.endpoint_stub import Reply, completion, serving, sides

LABELS = list(DEFAULT_VERDICTS)  # A>>B, A>B, A=B, B>A, B>>A


def judge_for(url: str, **args: Any) -> Any:
    return build_judge("openai", base_url=url, model="stub-judge", api_key_env=None, backoff=0.01, **args)


def test_five_levels_in_both_orders_map_exactly() -> None:
    """Every pair of verdicts (first order, second order): P = (m(v1) + 1 - m(v2)) / 2, exactly."""
    combos = list(itertools.product(LABELS, LABELS))
    prompts = [f"prompt {i}" for i in range(len(combos))]
    script = {}  # (prompt, response shown as A) -> verdict
    for prompt, (first, second) in zip(prompts, combos, strict=True):
        script[(prompt, "x")], script[(prompt, "y")] = first, second

    def respond(request: dict[str, Any], index: int) -> Reply:
        prompt, shown_a, _ = sides(request)
        return completion(f"Some reasoning first.\n\nMy final verdict is [[{script[(prompt, shown_a)]}]].")

    with serving(respond) as stub:
        judge = judge_for(stub.url)
        n = len(prompts)
        p_x = judge.compare(prompts, ["x"] * n, ["y"] * n)
        p_y = judge.compare(prompts, ["y"] * n, ["x"] * n)
    m = DEFAULT_VERDICTS
    assert p_x == [(m[first] + 1 - m[second]) / 2 for first, second in combos]
    assert all(a + b == 1.0 for a, b in zip(p_x, p_y, strict=True))  # exact antisymmetry
    assert p_x[LABELS.index("A>>B") * 5 + LABELS.index("B>>A")] == 1.0  # x much better, both ways
    # Each pair was asked once in each order (the second compare was remembered), each side shown as A once.
    assert sorted(sides(r) for r in stub.requests) == sorted(
        (p, a, b) for p in prompts for a, b in (("x", "y"), ("y", "x"))
    )
    assert judge.counters()["verdicts"] == judge.counters()["requests"] == 2 * n
    assert judge.counters()["unreadable"] == 0
    # What was sent: the system message, the filled template, temperature 0, max_tokens, the model.
    request = stub.requests[0]
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    assert "[[A>>B]]" in request["messages"][0]["content"]
    assert (request["model"], request["temperature"], request["max_tokens"]) == ("stub-judge", 0.0, 2048)


def test_a_custom_scale_and_template() -> None:
    verdicts = {"1": 0.9, "2": 0.1, "same": 0.5}

    def respond(request: dict[str, Any], index: int) -> Reply:
        question = request["messages"][-1]["content"]
        return completion("[[1]]" if question.startswith("Q: p\n1) x") else "[[ same ]]")

    with serving(respond) as stub:
        judge = judge_for(
            stub.url, system="", template="Q: {prompt}\n1) {response_a}\n2) {response_b}", verdicts=verdicts
        )
        assert judge.compare(["p"], ["x"], ["y"]) == [(0.9 + 1 - 0.5) / 2]
    assert [m["role"] for m in stub.requests[0]["messages"]] == ["user"]  # system "" sends none


def test_unreadable_replies_count_half_and_are_counted() -> None:
    assert read_verdict("[[A>B]] and again [[A>B]]", DEFAULT_VERDICTS) == 0.75  # the same verdict twice
    assert read_verdict("[[ B >> A ]]", DEFAULT_VERDICTS) == 0.0  # spaces inside the brackets
    replies = {
        "p0": "I cannot decide.",  # no verdict
        "p1": "[[A>B]] ... on second thought [[B>A]]",  # two different ones
        "p2": "[[A>>>B]]",  # not on the scale
        "p3": None,  # no text at all (e.g. a refusal)
        "p4": "[[A>B]]",  # readable: the only one
    }

    def respond(request: dict[str, Any], index: int) -> Reply:
        prompt, shown_a, _ = sides(request)
        return completion(replies[prompt] if shown_a == "x" else "[[A=B]]")

    with serving(respond) as stub:
        judge = judge_for(stub.url)
        verdicts = judge.compare(list(replies), ["x"] * 5, ["y"] * 5)
    # An unreadable order counts 1/2: with the other order a tie, the pair is a draw.
    assert verdicts == [0.5, 0.5, 0.5, 0.5, (0.75 + 1 - 0.5) / 2]
    assert judge.counters()["unreadable"] == 4
    assert judge.counters()["verdicts"] == 10
    assert len(stub.requests) == 10


@pytest.mark.parametrize("status", [429, 503])
def test_rate_limits_and_server_errors_are_retried_and_counted(
    status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARENA_TEST_JUDGE_KEY", "secret-123")

    def respond(request: dict[str, Any], index: int) -> Reply:
        if index < 2:
            return Reply(status, {"error": {"message": "slow down"}}, {"Retry-After": "0"})
        return completion("[[A>>B]]" if sides(request)[1] == "x" else "[[B>>A]]", 50, 10)

    with serving(respond) as stub:
        judge = build_judge(
            "openai",
            base_url=stub.url,
            model="m",
            api_key_env="ARENA_TEST_JUDGE_KEY",
            backoff=0.01,
            concurrency=1,
        )
        assert judge.compare(["p"], ["x"], ["y"]) == [1.0]
    counts = judge.counters()
    assert (counts["requests"], counts["retries"], counts["verdicts"], counts["unreadable"]) == (4, 2, 2, 0)
    assert (counts["prompt_tokens"], counts["completion_tokens"]) == (100, 20)  # only the answered ones
    assert {h["Authorization"] for h in stub.headers} == {"Bearer secret-123"}


def test_timeouts_are_retried_then_stop_with_one_line() -> None:
    def slow_first(request: dict[str, Any], index: int) -> Reply:
        reply = completion("[[A=B]]")
        reply.delay = 2.0 if index == 0 else 0.0
        return reply

    with serving(slow_first) as stub:
        judge = judge_for(stub.url, timeout=0.3, concurrency=1)
        assert judge.compare(["p"], ["x"], ["y"]) == [0.5]
        assert (judge.counters()["requests"], judge.counters()["retries"]) == (3, 1)

    def always_slow(request: dict[str, Any], index: int) -> Reply:
        reply = completion("[[A=B]]")
        reply.delay = 2.0
        return reply

    with serving(always_slow) as stub:
        judge = judge_for(stub.url, timeout=0.3, retries=2, concurrency=1)
        started = time.perf_counter()
        with pytest.raises(ArenaError) as caught:
            judge.compare(["p"], ["x"], ["y"])
        assert time.perf_counter() - started < 1.9  # three 0.3 s attempts, no waiting on the server
    assert str(caught.value) == (
        f"judge 'openai': {stub.url}/chat/completions: timed out after 0.3 s, 3 attempts "
        "(raise retries or timeout, or check the server)"
    )
    assert "\n" not in str(caught.value)


def test_client_errors_stop_at_once_and_a_dead_server_after_its_retries() -> None:
    def too_long(request: dict[str, Any], index: int) -> Reply:
        return Reply(400, {"error": {"message": "This model's maximum context length is 512 tokens."}})

    with serving(too_long) as stub:
        judge = judge_for(stub.url)
        with pytest.raises(ArenaError) as caught:
            judge.compare(["p"], ["x"], ["y"])
        assert str(caught.value) == (
            f"judge 'openai': {stub.url}/chat/completions: HTTP 400: "
            "This model's maximum context length is 512 tokens."
        )
        assert judge.counters()["retries"] == 0

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    judge = judge_for(f"http://127.0.0.1:{port}/v1", retries=1)
    with pytest.raises(ArenaError, match=r"Connection refused.*, 2 attempts \(raise retries"):
        judge.compare(["p"], ["x"], ["y"])

    def garbage_body(request: dict[str, Any], index: int) -> Reply:
        return Reply(200, b"<html>proxy error</html>")

    with serving(garbage_body) as stub:
        with pytest.raises(
            ArenaError, match=r"expected a chat completion, got b'<html>proxy error</html>', 6 attempts"
        ):
            judge_for(stub.url).compare(["p"], ["x"], ["y"])


def test_tokens_and_cost_are_counted_in_micro_dollars() -> None:
    def respond(request: dict[str, Any], index: int) -> Reply:
        return completion("[[A>B]]", prompt_tokens=120 + index % 2, completion_tokens=30)

    with serving(respond) as stub:
        judge = judge_for(stub.url, price_input=2.5, price_output=10.0)
        judge.compare(["p", "q"], ["x", "x"], ["y", "y"])
    counts = judge.counters()
    assert (counts["requests"], counts["prompt_tokens"], counts["completion_tokens"]) == (4, 482, 120)
    # $2.50 per 1M prompt tokens, $10 per 1M completion tokens: 482 * 2.5 + 120 * 10 micro-dollars.
    assert counts["cost_microdollars"] == 2405
    assert all(isinstance(value, int) for value in counts.values())


def test_concurrency_is_bounded() -> None:
    def respond(request: dict[str, Any], index: int) -> Reply:
        reply = completion("[[A=B]]")
        reply.delay = 0.5
        return reply

    with serving(respond) as stub:
        judge = judge_for(stub.url, concurrency=3)
        started = time.perf_counter()
        judge.compare([f"p{i}" for i in range(6)], ["x"] * 6, ["y"] * 6)  # 12 requests
        elapsed = time.perf_counter() - started
    assert stub.most_in_flight == 3  # never more, and the three did run at once
    assert elapsed >= 4 * 0.5  # at least four rounds: twelve requests, three at a time


def test_the_key_comes_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARENA_TEST_NO_SUCH_KEY", raising=False)
    with pytest.raises(RecipeKeyError) as caught:
        build_judge(
            "openai", base_url="http://127.0.0.1:1/v1", model="m", api_key_env="ARENA_TEST_NO_SUCH_KEY"
        )
    assert str(caught.value) == (
        "judge.args.api_key_env: environment variable ARENA_TEST_NO_SUCH_KEY is not set (export it, or "
        "api_key_env: null for an endpoint without a key)"
    )


# A tiny chat model behind a real `vllm serve` (its answers are noise: no verdict is ever readable).
CHAT_TEMPLATE = (
    "{% for m in messages %}<|bos|>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|bos|>assistant:{% endif %}"
)
CONTEXT = 2048  # the served model's context, prompt and completion
SERVED_TOKENS = 8  # max_tokens, and min_tokens through extra_body: every completion is exactly this long


@pytest.fixture(scope="module")
def served_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`vllm serve` of a tiny random Llama with a chat template, on the CPU: (base URL, model directory)."""
    from arena.policy import load_tokenizer

    # 2048 positions: the default system message alone is about 600 of this tokenizer's tokens.
    spec = TinyModelSpec(max_positions=CONTEXT)
    directory = build_tiny_model(
        tmp_path_factory.mktemp("served") / "judge", SAMPLE_CORPUS, seed=0, spec=spec
    )
    tokenizer = load_tokenizer(directory)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    port = free_port()
    command = vllm_serve_command(directory, "tiny-judge", port, max_model_len=CONTEXT, kv_cache_mib=256)
    url = f"http://127.0.0.1:{port}/v1"
    log = directory.parent / "serve.log"
    with running_server(command, url, log, env={"VLLM_LOGGING_LEVEL": "ERROR"}, seconds=120):
        yield url, directory


@pytest.mark.slow
def test_a_real_vllm_server_counts_its_noise_and_its_tokens(served_model: tuple[str, Path]) -> None:
    from arena.policy import load_tokenizer

    url, directory = served_model
    judge = build_judge(
        "openai",
        base_url=url,
        model="tiny-judge",
        api_key_env=None,
        max_tokens=SERVED_TOKENS,
        extra_body={"min_tokens": SERVED_TOKENS},
        concurrency=2,
    )
    prompts = ["The cat", "Two roads", "The rain"]
    firsts = ["sat on the mat.", "diverged in a wood.", "stays in the plain."]
    seconds = ["ran away.", "met again.", "fell on Spain."]
    verdicts = judge.compare(prompts, firsts, seconds)
    # A random model writes no verdict: every order is unreadable and counted, every pair a draw.
    assert verdicts == [0.5, 0.5, 0.5]
    assert judge.compare(prompts, seconds, firsts) == [1.0 - v for v in verdicts]  # asked nothing new
    counts = judge.counters()
    assert (counts["verdicts"], counts["unreadable"], counts["requests"], counts["retries"]) == (6, 6, 6, 0)
    # The server's usage, against the prompt tokens counted here with the model's own chat template.
    tokenizer = load_tokenizer(directory)
    questions = judge.questions(prompts * 2, firsts + seconds, seconds + firsts)
    rendered = [
        tokenizer.apply_chat_template(judge.messages(q), tokenize=False, add_generation_prompt=True)
        for q in questions
    ]
    expected_prompt_tokens = sum(
        len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in rendered
    )
    assert counts["prompt_tokens"] == expected_prompt_tokens
    assert counts["completion_tokens"] == 6 * SERVED_TOKENS

    # Too long for the server's 2048-token context: its HTTP 400 is one line, not retried; cut, it passes.
    long_response = "the quick brown fox " * 600
    with pytest.raises(
        ArenaError, match=r"^judge 'openai': http://127\.0\.0\.1:\d+/v1/chat/completions: HTTP 400"
    ):
        judge.compare(["p"], [long_response], ["short"])
    assert judge.counters()["retries"] == 0
    cutting = build_judge(
        "openai", base_url=url, model="tiny-judge", api_key_env=None, max_tokens=4, max_response_chars=20
    )
    assert cutting.compare(["p"], [long_response], ["short"]) == [0.5]
    assert cutting.counters()["truncated_responses"] == 2  # the long response, in each order


def test_the_model_template_and_scale_key_the_cached_verdicts() -> None:
    """The tournament store keys judgments by judge fingerprint: what changes a verdict changes the key."""
    from arena.plugins import make_plugin_host
    from arena.schema import convert
    from arena.tournament.fingerprint import judge_fingerprint

    config = make_plugin_host(warn=lambda message: None).judges.get("openai").config
    base = {"base_url": "http://127.0.0.1:1/v1", "model": "judge-a", "api_key_env": None}

    def key(**changes: Any) -> str:
        return judge_fingerprint("openai", convert({**base, **changes}, config, "judge.args"))

    variants = [
        key(),
        key(model="judge-b"),
        key(template="{prompt}\n{response_a}\n{response_b}"),
        key(system="Be brief."),
        key(verdicts={**DEFAULT_VERDICTS, "A>B": 0.9}),
        key(base_url="http://127.0.0.1:2/v1"),
    ]
    assert len(set(variants)) == len(variants)
    assert key() == key()  # the same args, the same key: a rerun finds its verdicts
