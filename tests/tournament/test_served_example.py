"""The shipped example `recipes/served/`, run as its README says: three kinds of entrant (a local model, a
file of outputs, an endpoint served by a real `vllm serve` on the CPU), judged by an LLM behind that same
endpoint, with length control on, from one recipe; a rerun asks the endpoint nothing."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from arena.testing import free_port, run_arena, running_server

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("served-example")]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "recipes" / "served"


def test_the_served_example_ranks_three_kinds_of_entrant_with_length_control(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "recipes" / "served")
    built = run_arena(
        [
            "init-model",
            "runs/served/model",
            "--corpus",
            "recipes/served/corpus.txt",
            "--chat-template",
            "recipes/served/chat-template.jinja",
            "--max-positions",
            "1024",
        ],  # fmt: skip
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr
    port = free_port()
    command = ["bash", "recipes/served/serve.sh", "runs/served/model", str(port)]
    # serve.sh runs `python`: this interpreter's, as a user's activated virtualenv would give it.
    path = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with running_server(
        command, f"http://127.0.0.1:{port}/v1", tmp_path / "serve.log", cwd=tmp_path, env=path
    ) as url:
        overrides = [f"--set=entrants.2.endpoint.base_url={url}", f"--set=judge.args.base_url={url}"]
        first = run_arena(
            ["tournament", "recipes/served/tournament.yaml", *overrides],
            cwd=tmp_path,
            env={"OMP_NUM_THREADS": "1"},
        )
        assert first.returncode == 0, first.stderr
        summary = json.loads((tmp_path / "runs/served/tournament/summary.json").read_text())
        board = json.loads((tmp_path / "runs/served/leaderboard/leaderboard.json").read_text())

        assert sorted(summary["entrants"]) == ["from-file", "local", "served"]
        assert summary["samples_from_files"] == 12  # one output per prompt, reused for both samples
        assert summary["endpoints"]["served"]["requests"] == 12  # 6 prompts x 2 samples
        assert sorted(row["model"] for row in board["models"]) == ["from-file", "local", "served"]
        assert board["control"]["kind"] == "length"
        counters = summary["judge_counters"]
        # Every distinct pair of responses asked in both orders; structured outputs make each verdict one
        # of the five labels, so none is unreadable.
        assert counters["requests"] == counters["verdicts"] > 0
        assert counters["unreadable"] == 0
        assert counters["prompt_tokens"] > 0 and counters["completion_tokens"] > 0

        again = run_arena(
            ["tournament", "recipes/served/tournament.yaml", *overrides],
            cwd=tmp_path,
            env={"OMP_NUM_THREADS": "1"},
        )
        assert again.returncode == 0, again.stderr
        rerun = json.loads((tmp_path / "runs/served/tournament/summary.json").read_text())
        assert rerun["samples_generated"] == 0 and rerun["judge_items"] == 0
        assert rerun.get("endpoints", {}).get("served", {}).get("requests", 0) == 0
        assert json.loads((tmp_path / "runs/served/leaderboard/leaderboard.json").read_text()) == board
