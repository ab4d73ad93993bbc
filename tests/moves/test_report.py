"""The moves task's tournament report (provides_report): per-entrant rows and files, from the samples."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from arena.api import TournamentResult
from arena.plugins import make_plugin_host
from arena_plugins.moves import MovesArgs
from arena_plugins.moves.task import MovesTask


def test_report_counts_every_sample_and_writes_its_files_from_the_same_rows(tmp_path: Path) -> None:
    task = make_plugin_host().build_task("moves", MovesArgs(matrix="cycle"))
    assert isinstance(task, MovesTask) and task.provides_report
    texts = {
        "a": {"p0": ["Rock waits by the old river.", "Paper"], "p1": ["Scissors cut the thread.", "bad"]},
        "b": {"p0": ["Paper flies over the hill.", "Paper flies over the hill."], "p1": ["x", "y"]},
    }
    samples = {
        e: {p: [SimpleNamespace(text=t) for t in ts] for p, ts in by.items()} for e, by in texts.items()
    }
    result = TournamentResult(None, {}, None, samples, tmp_path)
    report = task.tournament_report(result)
    rows = {row["model"]: row for row in report.rows}
    for name, by_prompt in texts.items():
        moves = [task.parse_move(t) for ts in by_prompt.values() for t in ts]
        played = [m for m in moves if m is not None]
        assert rows[name]["samples"] == 4
        assert rows[name]["malformed"] == pytest.approx(moves.count(None) / 4)
        shares = {m.lower(): played.count(m) / len(played) for m in task.moves}
        assert {m: rows[name][m] for m in shares} == pytest.approx(shares)
        # Hard rock-paper-scissors: the best single move wins P(beats) + P(tie)/2 against the mix.
        beats = {"rock": "scissors", "scissors": "paper", "paper": "rock"}
        edge = max(shares[beats[m]] + 0.5 * shares[m] for m in shares) - 0.5
        assert rows[name]["exploitability"] == pytest.approx(edge, abs=1e-12)
    assert json.loads(report.files["moves.json"]) == {"moves": list(task.moves), "entrants": report.rows}
    table = list(csv.DictReader(io.StringIO(report.files["moves.csv"])))
    assert [row["model"] for row in table] == ["a", "b"]
    assert table[0]["malformed"] == "0.5000"  # "Paper" alone and "bad" break form
    assert [c.key for c in report.columns] == ["malformed", "rock", "scissors", "paper", "exploitability"]
