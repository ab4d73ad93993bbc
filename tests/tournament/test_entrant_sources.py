"""Entrants without weights: files of outputs (AlpacaEval, Arena-Hard, Arena) and an OpenAI-compatible
endpoint (a stub server in a thread), in one tournament with a tiny local model, judged by the built-in
`reward-table` judge. Stored samples equal the files' and the endpoint's texts, every match is recomputed
from the rewards, a rerun asks nothing, and a file that lacks prompts is one line before anything is written."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.testing import run_arena
from arena.tiny import SAMPLE_CORPUS, build_tiny_model
from tests.tournament.chat_stub import ChatStub, answer_for, chat_stub

PROMPTS = [f"{subject} number {i}" for i, subject in enumerate(["The cat", "A dog", "The sun", "Birds"])]
IDS = [f"q{i}" for i in range(len(PROMPTS))]
ALPACA = {p: f"Alpaca says {i}" for i, p in enumerate(PROMPTS)}
HARD = {q: (f"Hard first {i}", f"Hard second {i}") for i, q in enumerate(IDS)}
OWN = {q: f"Own answer {i}" for i, q in enumerate(IDS)}
TEMPERATURE = 0.7


def _rewards() -> dict[str, float]:
    rewards = {text: 3.0 for text in ALPACA.values()}
    rewards.update({first: 2.0 for first, _ in HARD.values()})
    rewards.update({second: 1.5 for _, second in HARD.values()})
    rewards.update({text: 1.0 for text in OWN.values()})
    rewards.update({answer_for(p, TEMPERATURE): 0.5 for p in PROMPTS})
    return rewards  # the tiny model's texts get the table's default, -1


RECIPE = """\
kind: tournament
name: mixed
entrants:
  - {{name: tiny, model: {model}}}
  - {{name: alpaca, outputs: {alpaca}}}
  - {{name: hard, outputs: hard.jsonl}}
  - {{name: own, outputs: own.jsonl}}
  - {{name: served, endpoint: {{base_url: '{url}', model: stub-model, concurrency: 2, backoff: 0}}}}
prompts: prompts.jsonl
samples_per_prompt: 2
generation: {{max_new_tokens: 6, temperature: {temperature}, seed: 3}}
backend: hf
judge: {{name: reward-table, args: {{rewards: {rewards}}}}}
ratings: {{bootstrap: 20}}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "m0", SAMPLE_CORPUS, seed=0)


@pytest.fixture
def stub() -> Iterator[ChatStub]:
    with chat_stub() as server:
        yield server


def _write_inputs(directory: Path, tiny: Path, url: str, alpaca: str = "alpaca.json") -> None:
    with (directory / "prompts.jsonl").open("w") as stream:
        for question_id, prompt in zip(IDS, PROMPTS, strict=True):
            stream.write(json.dumps({"question_id": question_id, "prompt": prompt}) + "\n")
    # AlpacaEval's model_outputs.json: no ids, matched by the instruction's text; an extra prompt is ignored.
    records = [
        {"instruction": p, "output": t, "generator": "alpaca-7b", "dataset": "helpful_base"}
        for p, t in ALPACA.items()
    ]
    records.append({"instruction": "Not played", "output": "x", "generator": "alpaca-7b"})
    (directory / "alpaca.json").write_text(json.dumps(records, indent=2))
    # Arena-Hard's answers: matched by question_id, one sample per choice.
    with (directory / "hard.jsonl").open("w") as stream:
        for question_id, (first, second) in HARD.items():
            choices = [{"index": i, "turns": [{"content": text}]} for i, text in enumerate((first, second))]
            record = {
                "question_id": question_id,
                "answer_id": "a",
                "model_id": "hard-model",
                "choices": choices,
            }
            stream.write(json.dumps(record) + "\n")
    # Arena's own layout: by prompt_id, one output per prompt, played as both samples.
    with (directory / "own.jsonl").open("w") as stream:
        for question_id, text in OWN.items():
            stream.write(json.dumps({"prompt_id": question_id, "text": text}) + "\n")
    (directory / "mixed.yaml").write_text(
        RECIPE.format(
            model=tiny,
            alpaca=alpaca,
            url=url,
            temperature=TEMPERATURE,
            rewards=json.dumps(_rewards()),
        )
    )


def _stored(directory: Path, fingerprint: str) -> dict[tuple[str, int], str]:
    with sqlite3.connect(directory / "runs" / "mixed" / "tournament.sqlite") as db:
        rows = db.execute("SELECT prompt, sample_index, text FROM samples WHERE model = ?", (fingerprint,))
        return {(prompt, index): text for prompt, index, text in rows}


def test_files_and_an_endpoint_play_a_model(tmp_path: Path, tiny: Path, stub: ChatStub) -> None:
    _write_inputs(tmp_path, tiny, stub.url)
    stub.fail_next = [500, 503]  # the first two requests fail once each and are retried
    result = run_arena(["tournament", "mixed.yaml", "--export", "matches.csv"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "runs" / "mixed" / "summary.json").read_text())
    board = json.loads((tmp_path / "leaderboards" / "mixed" / "leaderboard.json").read_text())

    # Generated: the model's and the endpoint's 4 prompts x 2 samples; the files' 3 x 8 were read.
    assert summary["samples_generated"] == 16
    assert summary["samples_stored"] == 16
    assert summary["samples_from_files"] == 24
    answered = stub.requests[2:]  # the two failed requests came first
    assert len(stub.requests) == 10
    assert summary["endpoints"] == {
        "served": {
            "requests": 10,
            "retries": 2,
            "prompt_tokens": 2 * sum(len(p.split()) for p in PROMPTS),
            "completion_tokens": 2 * sum(len(answer_for(p, TEMPERATURE).split()) for p in PROMPTS),
        }
    }
    # Each sample was its own request, with the recipe's settings and a seed of its own.
    for body in stub.requests:
        assert body["model"] == "stub-model"
        assert (body["max_tokens"], body["temperature"], body["top_p"]) == (6, TEMPERATURE, 1.0)
        assert "top_k" not in body and "n" not in body
    assert sorted(r["messages"][0]["content"] for r in answered) == sorted(PROMPTS * 2)
    assert len({r["seed"] for r in answered}) == 8

    # The store holds exactly the files' texts (under the file's content hash) and the endpoint's.
    alpaca_fp = "outputs:" + hashlib.sha256((tmp_path / "alpaca.json").read_bytes()).hexdigest()
    assert board["entrants"]["alpaca"]["fingerprint"] == alpaca_fp
    assert _stored(tmp_path, alpaca_fp) == {(p, i): ALPACA[p] for p in PROMPTS for i in range(2)}
    hard = _stored(tmp_path, board["entrants"]["hard"]["fingerprint"])
    assert hard == {(p, i): HARD[q][i] for q, p in zip(IDS, PROMPTS, strict=True) for i in range(2)}
    own = _stored(tmp_path, board["entrants"]["own"]["fingerprint"])
    assert own == {(p, i): OWN[q] for q, p in zip(IDS, PROMPTS, strict=True) for i in range(2)}
    served = _stored(tmp_path, board["entrants"]["served"]["fingerprint"])
    assert served == {(p, i): answer_for(p, TEMPERATURE) for p in PROMPTS for i in range(2)}
    assert board["entrants"]["served"]["endpoint"] == {"base_url": stub.url, "model": "stub-model"}
    assert board["entrants"]["own"]["outputs"] == "own.jsonl"
    assert board["entrants"]["own"]["mean_response_tokens"] is None
    assert board["entrants"]["tiny"]["mean_response_tokens"] > 0
    assert board["entrants"]["own"]["mean_response_chars"] == len("Own answer 0")

    # Every match from the rewards, independently: P(a beats b) = sigmoid(r_a - r_b), 0.5 for equal texts.
    rewards = _rewards()
    texts = {name: _stored(tmp_path, board["entrants"][name]["fingerprint"]) for name in board["entrants"]}
    with (tmp_path / "matches.csv").open() as stream:
        matches = list(csv.DictReader(stream))
    assert len(matches) == 10 * 4 * 4  # 10 pairs x 4 prompts x 2 x 2 samples
    for row in matches:
        prompt = PROMPTS[int(row["prompt_id"])]
        candidates = [
            0.5 if x == y else 1 / (1 + math.exp(rewards.get(y, -1.0) - rewards.get(x, -1.0)))
            for x in (texts[row["model_a"]][(prompt, i)] for i in range(2))
            for y in (texts[row["model_b"]][(prompt, j)] for j in range(2))
        ]
        assert min(abs(float(row["p_a"]) - c) for c in candidates) < 1e-12
    order = [m["model"] for m in sorted(board["models"], key=lambda m: -m["elo"])]
    assert order == ["alpaca", "hard", "own", "served", "tiny"]

    # A rerun generates nothing, asks the endpoint nothing and judges nothing.
    again = run_arena(["tournament", "mixed.yaml"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    rerun = json.loads((tmp_path / "runs" / "mixed" / "summary.json").read_text())
    assert (rerun["samples_generated"], rerun["samples_stored"], rerun["judge_items"]) == (0, 0, 0)
    assert rerun["endpoints"]["served"]["requests"] == 0
    assert len(stub.requests) == 10


def test_a_file_that_lacks_prompts_is_one_line_and_nothing_is_written(
    tmp_path: Path, tiny: Path, stub: ChatStub
) -> None:
    _write_inputs(tmp_path, tiny, stub.url, alpaca="short.json")
    records = [{"instruction": p, "output": ALPACA[p], "generator": "alpaca-7b"} for p in PROMPTS[:1]]
    (tmp_path / "short.json").write_text(json.dumps(records))
    result = run_arena(["tournament", "mixed.yaml"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "mixed.yaml: entrants.1.outputs: entrant 'alpaca': 'short.json' has no output for 3 of 4 "
        "prompts (q1 'A dog number 1', q2 'The sun number 2', q3 'Birds number 3')"
    ]
    assert not (tmp_path / "runs").exists() and not (tmp_path / "leaderboards").exists()
    assert stub.requests == []
