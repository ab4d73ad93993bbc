"""The tournament store without models: what it counts as stored, the judge calls' counters it keeps, a
store written before judge calls were recorded, and the unreadable-verdict threshold at its boundary."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from arena.errors import RecipeError, RecipeKeyError, recipe_errors
from arena.generation.base import Sample
from arena.tournament.judging import check_unreadable
from arena.tournament.store import TournamentStore


def test_samples_already_stored_are_not_counted_again(tmp_path: Path) -> None:
    store = TournamentStore(tmp_path / "t.sqlite")
    first = [(0, Sample("p", "a", (1,), -1.0, "stop")), (1, Sample("p", "b", (2,), -2.0, "stop"))]
    assert store.add_samples("model", "settings", first) == 2
    again = [*first, (2, Sample("p", "c", (3,), -3.0, "stop"))]  # e.g. samples_per_prompt grew to 3
    assert store.add_samples("model", "settings", again) == 1
    assert store.add_samples("other model", "settings", first) == 2  # keyed by model fingerprint
    assert sorted(store.samples("model", "settings")) == [("p", 0), ("p", 1), ("p", 2)]
    store.close()


def test_counters_are_summed_over_the_calls_behind_the_items(tmp_path: Path) -> None:
    store = TournamentStore(tmp_path / "t.sqlite")
    one = [(("p", "x", "y"), 0.7), (("p", "y", "x"), 0.3)]
    two = [(("p", "x", "z"), 0.5), (("p", "z", "x"), 0.5), (("q", "x", "z"), 0.9)]
    store.add_judged("judge", False, one, {"verdicts": 2, "unreadable": 0})
    store.add_judged("judge", False, two, {"verdicts": 4, "unreadable": 3})
    store.add_judged("other judge", False, one, {"verdicts": 2, "unreadable": 2})
    every = [key for key, _ in one + two]
    assert store.call_counters("judge", False, every) == {"verdicts": 6, "unreadable": 3}
    assert store.call_counters("judge", False, every[:2]) == {"verdicts": 2, "unreadable": 0}
    # One item of the second call is enough to count that call whole.
    assert store.call_counters("judge", False, every[:3]) == {"verdicts": 6, "unreadable": 3}
    assert store.call_counters("other judge", False, every) == {"verdicts": 2, "unreadable": 2}
    assert store.judgments("judge") == dict(one + two)

    store.add_judged("judge", True, [(("p", "x"), 1.5), (("p", "y"), -0.5)], {"unreadable": 1})
    assert store.scores("judge") == {("p", "x"): 1.5, ("p", "y"): -0.5}
    assert store.call_counters("judge", True, [("p", "y")]) == {"unreadable": 1}
    store.close()


def test_a_store_written_before_judge_calls_were_recorded_keeps_its_judgments(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # the schema before the `call` column and the judge_calls table
        db.execute(
            "CREATE TABLE judgments (judge TEXT NOT NULL, prompt TEXT NOT NULL, response_a TEXT NOT NULL, "
            "response_b TEXT NOT NULL, p_a REAL NOT NULL, PRIMARY KEY (judge, prompt, response_a, response_b))"
        )
        db.execute(
            "CREATE TABLE scores (judge TEXT NOT NULL, prompt TEXT NOT NULL, response TEXT NOT NULL, "
            "score REAL NOT NULL, PRIMARY KEY (judge, prompt, response))"
        )
        db.execute("INSERT INTO judgments VALUES ('judge', 'p', 'x', 'y', 0.25)")
    db.close()
    store = TournamentStore(path)
    assert store.judgments("judge") == {("p", "x", "y"): 0.25}
    assert store.call_counters("judge", False, [("p", "x", "y")]) == {}  # nothing was counted then
    store.add_judged("judge", False, [(("p", "y", "x"), 0.75)], {"verdicts": 1, "unreadable": 1})
    assert store.call_counters("judge", False, [("p", "x", "y"), ("p", "y", "x")]) == {
        "verdicts": 1,
        "unreadable": 1,
    }
    store.close()


def test_the_threshold_allows_exactly_its_share() -> None:
    # 1 of 20 is exactly 0.05: allowed, and said.
    note = check_unreadable("llm", {"verdicts": 20, "unreadable": 1}, 10, 0.05, "store")
    assert note == "judge 'llm' could not read 1 of 20 verdicts (5.0%), within judge.max_unreadable = 0.05"
    assert check_unreadable("llm", {"verdicts": 20, "unreadable": 0}, 10, 0.05, "store") is None
    # Raised where it is found without the file; the command's boundary (recipe_errors) names it.
    with pytest.raises(RecipeError) as stopped, recipe_errors("cup.yaml"):
        check_unreadable("llm", {"verdicts": 20, "unreadable": 2}, 10, 0.05, "store")
    assert str(stopped.value).startswith(
        "cup.yaml: judge.max_unreadable: judge 'llm' could not read 2 of 20 verdicts (10.0%), above the 0.05 "
    )
    # A judge that counts no verdicts: one per item judged.
    with pytest.raises(RecipeKeyError, match="could not read 1 of 10 verdicts"):
        check_unreadable("judge", {"unreadable": 1}, 10, 0.0, "store")
