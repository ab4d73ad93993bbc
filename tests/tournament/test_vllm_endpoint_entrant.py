"""An endpoint entrant served by a real `vllm serve` of a tiny chat model on the CPU, against a file of
outputs: the stored samples are what the server answers the same request, and with the server stopped a
rerun still publishes (it asks nothing)."""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from pathlib import Path

import pytest

from arena.testing import free_port, run_arena, running_server, vllm_serve_command
from arena.tiny import SAMPLE_CORPUS, build_tiny_model

pytestmark = pytest.mark.slow

CHAT_TEMPLATE = (
    "{% for m in messages %}<|bos|>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|bos|>assistant:{% endif %}"
)
PROMPTS = ["The cat sat", "A dog ran", "The sun rose"]
RECIPE = """\
kind: tournament
name: served
entrants:
  - {{name: served, endpoint: {{base_url: '{url}', model: tiny-chat, system_prompt: Answer briefly.}}}}
  - {{name: file, outputs: file.jsonl}}
prompts: prompts.jsonl
samples_per_prompt: 2
generation: {{max_new_tokens: 8, temperature: 0}}
judge: {{name: reward-table, args: {{rewards: {{file answer: 1.0}}}}}}
ratings: {{bootstrap: 0}}
"""


def _ask(url: str, prompt: str) -> tuple[str, str]:
    """The server's greedy answer to one request, as the entrant sends it."""
    body = {
        "model": "tiny-chat",
        "messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": prompt}],
        "max_tokens": 8,
        "temperature": 0.0,
    }
    request = urllib.request.Request(
        f"{url}/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        choice = json.loads(response.read())["choices"][0]
    return choice["message"]["content"], choice["finish_reason"]


def test_a_vllm_served_entrant(tmp_path: Path) -> None:
    from arena.policy import load_tokenizer

    directory = build_tiny_model(tmp_path / "model" / "tiny", SAMPLE_CORPUS, seed=1)
    tokenizer = load_tokenizer(directory)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS))
    (tmp_path / "file.jsonl").write_text(
        "".join(json.dumps({"prompt": p, "text": "file answer"}) + "\n" for p in PROMPTS)
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    (tmp_path / "served.yaml").write_text(RECIPE.format(url=url))

    command = vllm_serve_command(directory, "tiny-chat", port, max_model_len=256)
    with running_server(command, url, tmp_path / "model" / "serve.log", seconds=120):
        result = run_arena(["tournament", "served.yaml"], cwd=tmp_path, timeout=300)
        assert result.returncode == 0, result.stderr
        expected = {prompt: _ask(url, prompt) for prompt in PROMPTS}

    summary = json.loads((tmp_path / "runs" / "served" / "summary.json").read_text())
    assert summary["samples_generated"] == 6 and summary["samples_from_files"] == 6
    usage = summary["endpoints"]["served"]
    assert (usage["requests"], usage["retries"]) == (6, 0)
    assert 0 < usage["completion_tokens"] <= 6 * 8
    with sqlite3.connect(tmp_path / "runs" / "served" / "tournament.sqlite") as db:
        rows = db.execute(
            "SELECT prompt, sample_index, text, finish_reason FROM samples WHERE model LIKE 'endpoint:%'"
        ).fetchall()
    assert {(p, i): (text, finish) for p, i, text, finish in rows} == {
        (p, i): expected[p] for p in PROMPTS for i in range(2)
    }
    # The server is gone: the rerun reads every sample from the store and publishes the same board.
    board = (tmp_path / "leaderboards" / "served" / "leaderboard.json").read_text()
    again = run_arena(["tournament", "served.yaml"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "runs" / "served" / "summary.json").read_text())["samples_generated"] == 0
    assert (tmp_path / "leaderboards" / "served" / "leaderboard.json").read_text() == board
