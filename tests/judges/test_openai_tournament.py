"""A tournament judged by the `openai` judge: verdicts cached in the store (a rerun asks nothing), the costs
in summary.json, and an endpoint that dies mid-tournament stops the run with one line, leaving only whole
batches in the store, which the next run resumes from."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from arena.testing import run_arena
from arena.tiny import SAMPLE_CORPUS, build_tiny_model
from arena_plugins.judges import DEFAULT_VERDICTS
from tests.judges.endpoint_stub import Reply, completion, serving, sides
from tests.tournament.conftest import _write_prompts, write_cup_recipe

pytestmark = pytest.mark.slow  # three `arena tournament` runs of two tiny entrants

KEY = "test-key-do-not-store"
PROMPT_TOKENS, COMPLETION_TOKENS = 90, 12
HEALTHY_REQUESTS = 8  # two batches of commit_every 4 items: two distinct pairs, both orders each


def label(shown_a: str, shown_b: str) -> str:
    """The stub's verdict: the shorter response wins, by far when it is more than 3 characters shorter."""
    margin = len(shown_b) - len(shown_a)
    if margin == 0:
        return "A=B"
    strong = abs(margin) > 3
    if margin > 0:
        return "A>>B" if strong else "A>B"
    return "B>>A" if strong else "B>A"


def expected(a: str, b: str) -> float:
    """P(a beats b) from both orders of the stub's verdict, computed here from the texts."""
    return (DEFAULT_VERDICTS[label(a, b)] + 1 - DEFAULT_VERDICTS[label(b, a)]) / 2


def test_cached_verdicts_cost_nothing_and_a_dying_endpoint_leaves_whole_batches(tmp_path: Path) -> None:
    models = [build_tiny_model(tmp_path / f"m{seed}", SAMPLE_CORPUS, seed=seed) for seed in (0, 1)]
    _write_prompts(tmp_path / "prompts.jsonl", 3)
    failing = {"after": HEALTHY_REQUESTS}

    def respond(request: dict[str, Any], index: int) -> Reply:
        if index >= failing["after"]:
            return Reply(503, {"error": {"message": "the judge is down"}})
        _, shown_a, shown_b = sides(request)
        return completion(f"Reasoning.\n[[{label(shown_a, shown_b)}]]", PROMPT_TOKENS, COMPLETION_TOKENS)

    with serving(respond) as stub:
        judge_args = (
            f"base_url: '{stub.url}', model: judge-model, api_key_env: ARENA_TEST_KEY, retries: 1, "
            "backoff: 0.01, concurrency: 2, price_input: 3.0, price_output: 15.0"
        )
        write_cup_recipe(
            tmp_path,
            models,
            sampling="temperature: 1.0, seed: 3",
            judge="openai",
            judge_args=judge_args,
            commit_every=4,
        )
        env = {"ARENA_TEST_KEY": KEY, "OMP_NUM_THREADS": "1"}

        # 1. The endpoint fails after two batches: one line, exit 2, the two batches kept, nothing published.
        first = run_arena(["tournament", "cup.yaml"], cwd=tmp_path, env=env)
        assert first.returncode == 2, first.stderr
        error = first.stderr.splitlines()[-1]
        assert error == (
            f"judge 'openai': {stub.url}/chat/completions: HTTP 503: the judge is down, 2 attempts "
            "(raise retries or timeout, or check the server)"
        ), error
        assert "Traceback" not in first.stderr
        out = tmp_path / "runs" / "cup"
        assert not (out / "summary.json").exists() and not (tmp_path / "leaderboards").exists()
        stored = judgments(out)
        assert len(stored) == 8  # two whole batches of four items
        assert all(p == expected(a, b) for (_, a, b), p in stored.items())
        with sqlite3.connect(out / "tournament.sqlite") as db:
            assert db.execute("SELECT COUNT(*) FROM judge_calls").fetchone() == (2,)
        asked_before = len(stub.requests)

        # 2. The endpoint is back: the rerun asks only for the pairs not stored (both orders each).
        failing["after"] = 10**9
        second = run_arena(["tournament", "cup.yaml"], cwd=tmp_path, env=env)
        assert second.returncode == 0, second.stderr
        judged = judgments(out)
        assert all(p == expected(a, b) for (_, a, b), p in judged.items())
        missing_pairs = {(p, min(a, b), max(a, b)) for p, a, b in set(judged) - set(stored)}
        assert len(stub.requests) - asked_before == 2 * len(missing_pairs)
        summary = json.loads((out / "summary.json").read_text())
        all_pairs = {(p, min(a, b), max(a, b)) for p, a, b in judged}
        requests = 2 * len(all_pairs)  # every pair behind the board, asked in both orders, none retried
        assert summary["judge_counters"] == {
            "verdicts": requests,
            "unreadable": 0,
            "requests": requests,
            "retries": 0,
            "prompt_tokens": PROMPT_TOKENS * requests,
            "completion_tokens": COMPLETION_TOKENS * requests,
            "truncated_responses": 0,
            # $3 and $15 per 1M tokens: micro-dollars per request 90 * 3 + 12 * 15
            "cost_microdollars": (PROMPT_TOKENS * 3 + COMPLETION_TOKENS * 15) * requests,
        }
        board = (tmp_path / "leaderboards" / "cup" / "leaderboard.json").read_text()

        # 3. A rerun of the finished tournament costs nothing: zero requests, the same board and counters.
        asked_before = len(stub.requests)
        third = run_arena(["tournament", "cup.yaml"], cwd=tmp_path, env=env)
        assert third.returncode == 0, third.stderr
        assert len(stub.requests) == asked_before
        rerun = json.loads((out / "summary.json").read_text())
        assert rerun["judge_items"] == 0 and rerun["judge_counters"] == summary["judge_counters"]
        assert (tmp_path / "leaderboards" / "cup" / "leaderboard.json").read_text() == board

    # The key was sent, and is written nowhere: only its variable's name is in the recipe and the store.
    assert {h["Authorization"] for h in stub.headers} == {f"Bearer {KEY}"}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def judgments(out: Path) -> dict[tuple[str, str, str], float]:
    with sqlite3.connect(out / "tournament.sqlite") as db:
        rows = db.execute("SELECT prompt, response_a, response_b, p_a FROM judgments")
        return {(prompt, a, b): p for prompt, a, b, p in rows}
