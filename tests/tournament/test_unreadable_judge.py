"""A judge that cannot read its verdicts stops the tournament (`judge.max_unreadable`): one line, exit
code 2, nothing published, judgments kept. Within the threshold the count is printed and published.

The judge is a real LLM judge on the committed tiny model (recipes/games/model), untrained: it puts almost
no probability on the answers "A" and "B", so with the default `min_answer_mass` every verdict is
unreadable, and a `min_answer_mass` between two of its answer masses makes exactly the verdicts below it
unreadable (the masses are computed here, independently of the tournament)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from arena.testing import run_arena
from tests.judges.conftest import build_judge
from tests.tournament.conftest import write_cup_recipe

pytestmark = pytest.mark.slow

JUDGE_MODEL = Path(__file__).resolve().parents[2] / "recipes" / "games" / "model"


def write_recipe(directory: Path, models: list[Path]) -> None:
    write_cup_recipe(
        directory,
        models,
        sampling="temperature: 1.0, seed: 11",
        judge="llm",
        judge_args=f"model: {JUDGE_MODEL}",
    )


def database(directory: Path) -> sqlite3.Connection:
    return sqlite3.connect(directory / "runs" / "cup" / "tournament.sqlite")


def unordered_pairs(directory: Path) -> list[tuple[str, str, str]]:
    """(prompt, x, y), x < y: every distinct pair of texts the round robin of e0 and e1 needs judged,
    from the stored samples (e0 and e1 are the only entrants, so each pair has one text from each)."""
    with database(directory) as db:
        rows = list(db.execute("SELECT model, prompt, text FROM samples"))
    models = sorted({model for model, _, _ in rows})
    assert len(models) == 2
    texts = {
        (model, prompt): [t for m, p, t in rows if (m, p) == (model, prompt)] for model, prompt, _ in rows
    }
    pairs = set()
    for prompt in {prompt for _, prompt, _ in rows}:
        for x in texts[(models[0], prompt)]:
            for y in texts[(models[1], prompt)]:
                if x != y:
                    pairs.add((prompt, min(x, y), max(x, y)))
    return sorted(pairs)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def test_a_judge_that_reads_no_verdict_stops_the_run_and_keeps_its_judgments(
    tmp_path: Path, entrants: list[Path], arena_env: dict[str, str], write_prompts: Callable
) -> None:
    write_prompts(tmp_path / "prompts.jsonl", 2)
    write_recipe(tmp_path, entrants[:2])
    result = run_arena(["tournament", "cup.yaml"], cwd=tmp_path, env=arena_env)
    assert result.returncode == 2, result.stderr
    *progress, error = result.stderr.splitlines()
    assert all(line.startswith(("arena: generating ", "arena: judging ")) for line in progress)
    verdicts = 2 * len(unordered_pairs(tmp_path))  # both orders of every pair, each one verdict
    assert verdicts > 0
    assert error == (
        f"cup.yaml: judge.max_unreadable: judge 'llm' could not read {verdicts} of {verdicts} verdicts "
        "(100.0%), above the 0.05 allowed; nothing was published (its judgments are kept in "
        "runs/cup/tournament.sqlite): fix the judge, or raise judge.max_unreadable to publish them"
    )
    assert not (tmp_path / "leaderboards").exists()
    assert not (tmp_path / "runs" / "cup" / "leaderboard").exists()
    assert not (tmp_path / "runs" / "cup" / "summary.json").exists()
    with database(tmp_path) as db:  # the store keeps the samples, the judgments and what was counted
        assert db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 2 * 2 * 2
        assert db.execute("SELECT COUNT(*) FROM judgments").fetchone()[0] == verdicts
        calls = [json.loads(counters) for (counters,) in db.execute("SELECT counters FROM judge_calls")]
    assert sum(c["unreadable"] for c in calls) == sum(c["verdicts"] for c in calls) == verdicts

    # Accepting them costs no generation and no judging: the counts come from the store.
    result = run_arena(
        ["tournament", "cup.yaml", "--set", "judge.max_unreadable=1"], cwd=tmp_path, env=arena_env
    )
    assert result.returncode == 0, result.stderr
    assert (
        f"arena: judge 'llm' could not read {verdicts} of {verdicts} verdicts (100.0%), "
        "within judge.max_unreadable = 1\n"
    ) in result.stderr
    summary = read_json(tmp_path / "runs" / "cup" / "summary.json")
    assert (summary["samples_generated"], summary["judge_items"]) == (0, 0)
    expected = {"verdicts": verdicts, "unreadable": verdicts, "truncated_responses": 0}
    assert summary["judge_counters"] == expected
    board = read_json(tmp_path / "leaderboards" / "cup" / "leaderboard.json")
    assert board["judge_counters"] == expected
    # What a board of unreadable verdicts is: every pair a tie.
    assert all(value == 0.5 for row in board["winrates"].values() for value in row.values())


def test_a_few_unreadable_verdicts_are_counted_and_published(
    tmp_path: Path, entrants: list[Path], arena_env: dict[str, str], write_prompts: Callable
) -> None:
    write_prompts(tmp_path / "prompts.jsonl", 2)
    write_recipe(tmp_path, entrants[:2])
    # Lenient: every verdict is read (the crumbs of probability on "A" and "B" decide).
    lenient = run_arena(
        ["tournament", "cup.yaml", "--set", "judge.args.min_answer_mass=0"], cwd=tmp_path, env=arena_env
    )
    assert lenient.returncode == 0, lenient.stderr
    summary = read_json(tmp_path / "runs" / "cup" / "summary.json")
    pairs = unordered_pairs(tmp_path)
    verdicts = 2 * len(pairs)
    assert summary["judge_counters"] == {"verdicts": verdicts, "unreadable": 0, "truncated_responses": 0}
    assert "could not read" not in lenient.stderr

    # The answer mass of every verdict the tournament asks for (both orders of each pair), computed here.
    judge = build_judge("llm", model=str(JUDGE_MODEL))
    prompts = [p for p, _, _ in pairs] * 2
    firsts = [x for _, x, _ in pairs] + [y for _, _, y in pairs]
    seconds = [y for _, _, y in pairs] + [x for _, x, _ in pairs]
    masses = sorted(a + b for a, b in judge.answer_probabilities(judge.questions(prompts, firsts, seconds)))
    # A threshold between the k-th and (k+1)-th smallest masses, k <= a quarter of the verdicts, where
    # they are furthest apart: far beyond what another batch size or CPU changes in a mass.
    ratio, unreadable = max((masses[k] / masses[k - 1], k) for k in range(1, verdicts // 4 + 1))
    assert ratio > 1.001
    threshold = f"{(masses[unreadable - 1] * masses[unreadable]) ** 0.5:.6e}"

    strict = ["--set", f"judge.args.min_answer_mass={threshold}", "--set", "judge.max_unreadable=0.25"]
    result = run_arena(["tournament", "cup.yaml", *strict], cwd=tmp_path, env=arena_env)
    assert result.returncode == 0, result.stderr
    share = f"{unreadable} of {verdicts} verdicts ({unreadable / verdicts:.1%})"
    assert f"arena: judge 'llm' could not read {share}, within judge.max_unreadable = 0.25\n" in result.stderr
    summary = read_json(tmp_path / "runs" / "cup" / "summary.json")
    expected = {"verdicts": verdicts, "unreadable": unreadable, "truncated_responses": 0}
    assert summary["judge_counters"] == expected
    assert summary["judge_items"] == verdicts  # another min_answer_mass is another judge: judged afresh
    published = tmp_path / "leaderboards" / "cup" / "leaderboard.json"
    assert read_json(published)["judge_counters"] == expected
    assert (
        read_json(tmp_path / "runs" / "cup" / "leaderboard" / "leaderboard.json")["judge_counters"]
        == expected
    )

    # Just below that share the same judgments stop the run, from the store (the judge is asked nothing)
    # and the board published before stays as it was.
    before = published.read_bytes()
    with database(tmp_path) as db:
        calls = db.execute("SELECT COUNT(*) FROM judge_calls").fetchone()[0]
    limit = (unreadable - 0.5) / verdicts
    strict[-1] = f"judge.max_unreadable={limit}"
    result = run_arena(["tournament", "cup.yaml", *strict], cwd=tmp_path, env=arena_env)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(
        f"cup.yaml: judge.max_unreadable: judge 'llm' could not read {share}, above the {limit:g} allowed; "
    )
    assert published.read_bytes() == before
    with database(tmp_path) as db:
        assert db.execute("SELECT COUNT(*) FROM judge_calls").fetchone()[0] == calls
