"""The chat-completions client against a stub server: retries with backoff (and Retry-After), timeouts,
garbage answers, refusals as one line; an endpoint entrant whose server dies mid-tournament stops the run
in one line with the store keeping every whole block, and the rerun asks only for the rest."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.generation.base import SamplingSettings, request_seed
from arena.http_chat import ChatClient, ChatEndpoint, EndpointError
from arena.testing import run_arena
from arena.tournament.endpoint import generate_block
from arena.tournament.executor import GenerationBlock
from tests.tournament.chat_stub import ChatStub, answer_for, chat_stub


@pytest.fixture
def stub() -> Iterator[ChatStub]:
    with chat_stub() as server:
        yield server


def _client(stub: ChatStub, waits: list[float], **settings: object) -> ChatClient:
    endpoint = ChatEndpoint(stub.url, "stub-model", **settings)  # type: ignore[arg-type]
    return ChatClient(endpoint, sleep=waits.append)


def test_retryable_failures_are_retried_with_backoff(stub: ChatStub) -> None:
    waits: list[float] = []
    client = _client(stub, waits, retries=4, backoff=0.5)
    stub.fail_next = [500, "garbage", 429, 503]
    [reply] = client.complete(client.messages("Hello there"), temperature=0.0, max_tokens=5)
    assert reply.text == answer_for("Hello there", 0.0)
    assert (reply.prompt_tokens, reply.completion_tokens) == (2, len(reply.text.split()))
    # 0.5 * 2**attempt, except after the 429, whose Retry-After (3 s) is longer.
    assert waits == [0.5, 1.0, 3.0, 4.0]
    words = len(answer_for("Hello there", 0.0).split())
    assert client.counters() == {"requests": 5, "retries": 4, "prompt_tokens": 2, "completion_tokens": words}


def test_what_still_fails_is_one_line(stub: ChatStub) -> None:
    waits: list[float] = []
    client = _client(stub, waits, retries=1, backoff=0.0, timeout=0.2)
    stub.fail_next = ["slow", "slow"]
    with pytest.raises(EndpointError) as caught:
        client.complete(client.messages("x"))
    assert str(caught.value) == (
        f"endpoint {stub.url}/chat/completions (model stub-model): no answer (timed out) after 2 tries "
        "(raise `retries` or `timeout`, or check the server)"
    )
    stub.fail_next = [401]  # a refusal is not retried
    with pytest.raises(EndpointError) as caught:
        client.complete(client.messages("x"))
    assert (
        str(caught.value)
        == f"endpoint {stub.url}/chat/completions (model stub-model): HTTP 401: stub status 401"
    )
    assert client.counters()["requests"] == 3 and client.counters()["retries"] == 1


def test_a_missing_key_variable_is_one_line(stub: ChatStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARENA_TEST_NO_SUCH_KEY", raising=False)
    with pytest.raises(
        EndpointError, match=r"environment variable ARENA_TEST_NO_SUCH_KEY \(api_key_env\) is not set"
    ):
        ChatClient(ChatEndpoint(stub.url, "m", api_key_env="ARENA_TEST_NO_SUCH_KEY"))


def test_concurrent_requests_keep_their_order(stub: ChatStub) -> None:
    client = _client(stub, [], concurrency=3)
    prompts = [f"prompt {i}" for i in range(7)]
    replies = client.complete_all([(client.messages(p), {"temperature": 1.0}) for p in prompts])
    assert [r[0].text for r in replies] == [answer_for(p, 1.0) for p in prompts]
    assert client.counters()["requests"] == 7


def test_a_block_of_prompts_and_conversations(stub: ChatStub) -> None:
    client = ChatClient(ChatEndpoint(stub.url, "m", system_prompt="Be brief.", concurrency=1))
    turns = [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Arr"},
        {"role": "user", "content": "Where?"},
    ]
    sampling = SamplingSettings(max_new_tokens=5, temperature=0.5, top_k=20, seed=9)
    block = GenerationBlock("e", stub.url, "fp", 3, (json.dumps(turns), "Plain"), sampling)
    results = generate_block(client, block, 2)
    assert [[s.text for s in samples] for samples in results] == [
        [answer_for("Where?", 0.5)] * 2,
        [answer_for("Plain", 0.5)] * 2,
    ]
    # A conversation keeps its own system message; a text prompt gets the endpoint's.
    assert [r["messages"] for r in stub.requests] == [turns, turns, *[[turns[0] | {"content": "Be brief."},
        {"role": "user", "content": "Plain"}]] * 2]  # fmt: skip
    assert [r["seed"] for r in stub.requests] == [request_seed(9, k) % 2**31 for k in range(4)]
    assert {(r["max_tokens"], r["top_k"]) for r in stub.requests} == {(5, 20)}


RECIPE = """\
kind: tournament
name: served
entrants:
  - {{name: own, outputs: own.jsonl}}
  - {{name: served, endpoint: {{base_url: '{url}', model: stub-model, retries: 1, backoff: 0, concurrency: 1,
      system_prompt: Be brief.}}}}
prompts: prompts.jsonl
generation: {{max_new_tokens: 8, temperature: 0}}
judge: {{name: reward-table, args: {{rewards: {{}}}}}}
ratings: {{bootstrap: 0}}
commit_every: 2
"""


def test_an_endpoint_that_dies_mid_tournament_stops_it_and_the_rerun_resumes(
    tmp_path: Path, stub: ChatStub
) -> None:
    prompts = [f"Prompt number {i}" for i in range(5)]
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    (tmp_path / "own.jsonl").write_text(
        "".join(json.dumps({"prompt": p, "text": "own"}) + "\n" for p in prompts)
    )
    (tmp_path / "served.yaml").write_text(RECIPE.format(url=stub.url))
    stub.fail_after = 3  # blocks of 2 prompts: the first is stored, the second's second request fails twice
    result = run_arena(["tournament", "served.yaml"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1:] == [  # after the progress line of the generation stage
        f"endpoint {stub.url}/chat/completions (model stub-model): HTTP 500: stub status 500 after 2 tries "
        "(raise `retries` or `timeout`, or check the server)"
    ]
    assert not (tmp_path / "leaderboards").exists()
    with sqlite3.connect(tmp_path / "runs" / "served" / "tournament.sqlite") as db:
        stored = dict(db.execute("SELECT prompt, text FROM samples WHERE model LIKE 'endpoint:%'").fetchall())
    assert stored == {p: answer_for(p, 0.0) for p in prompts[:2]}
    # The system prompt went first, the recipe's settings with it.
    assert stub.requests[0]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": prompts[0]},
    ]
    assert (stub.requests[0]["temperature"], stub.requests[0]["max_tokens"]) == (0.0, 8)

    stub.fail_after = None
    asked = len(stub.requests)
    again = run_arena(["tournament", "served.yaml"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    summary = json.loads((tmp_path / "runs" / "served" / "summary.json").read_text())
    assert summary["samples_generated"] == 3 and summary["samples_from_files"] == 5
    assert [r["messages"][1]["content"] for r in stub.requests[asked:]] == prompts[2:]
