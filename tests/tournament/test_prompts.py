"""A tournament's prompt set from each source: the prompts written, each once, in order, `limit` counted
over the distinct ones; and the one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arena.errors import RecipeKeyError
from arena.recipes import TournamentRecipe, parse_recipe
from arena.tournament.inputs import load_prompts

PROMPTS = ["Pick one:", "  ", "Choose.", "Pick one:", "Your move.", "Choose.", "Last one."]
DISTINCT = ["Pick one:", "Choose.", "Your move.", "Last one."]  # blank ones dropped, repeats kept once


def tournament(prompts: Any) -> TournamentRecipe:
    raw = {
        "kind": "tournament",
        "name": "cup",
        "entrants": [{"name": "a", "model": "org/a"}, {"name": "b", "model": "org/b"}],
        "judge": "oracle",
        "prompts": prompts,
    }
    recipe = parse_recipe("cup.yaml", raw)
    assert isinstance(recipe, TournamentRecipe)
    return recipe


def write_jsonl(path: Path, column: str, prompts: list[str]) -> Path:
    path.write_text("".join(json.dumps({column: p, "other": p[::-1]}) + "\n" for p in prompts), "utf-8")
    return path


def test_a_text_file_gives_its_lines_each_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "prompts.txt"
    path.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    assert load_prompts(tournament(str(path)), plugins=None) == DISTINCT


def test_a_column_of_a_data_file_with_the_limit_over_distinct_prompts(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "prompts.jsonl", "question", PROMPTS)
    recipe = tournament({"path": str(path), "column": "question", "limit": 3})
    # `limit: 3` of the data's rows would give two distinct prompts; of the prompt set it gives three.
    assert load_prompts(recipe, plugins=None) == DISTINCT[:3]
    sliced = tournament({"path": str(path), "column": "question", "split": "train[2:]"})
    assert load_prompts(sliced, plugins=None) == ["Choose.", "Pick one:", "Your move.", "Last one."]


def test_a_task_supplies_its_eval_prompts(tmp_path: Path) -> None:
    class Task:
        def prompts(self, split: str) -> list[str]:
            return [f"{split} {p}" for p in PROMPTS]

    class Plugins:
        def build_task(self, name: str, args: Any) -> Task:
            assert (name, args) == ("cycle3", {"n": 1})
            return Task()

    raw = {
        "kind": "tournament",
        "name": "cup",
        "entrants": [{"name": "a", "model": "org/a"}, {"name": "b", "model": "org/b"}],
        "judge": "oracle",
        "task": {"name": "cycle3", "args": {"n": 1}},
    }
    recipe = parse_recipe("cup.yaml", raw)
    assert isinstance(recipe, TournamentRecipe)
    # "eval   " is not blank: only prompts that are blank as a whole are dropped.
    assert load_prompts(recipe, Plugins()) == list(dict.fromkeys(f"eval {p}" for p in PROMPTS))


def refusal(recipe: TournamentRecipe) -> tuple[str, str]:
    with pytest.raises(RecipeKeyError) as caught:
        load_prompts(recipe, plugins=None)
    return caught.value.key, caught.value.expected


def test_refusals_name_the_prompts_key(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "prompts.jsonl", "text", ["hello"])
    assert refusal(tournament(str(path))) == (
        "prompts.column",
        f"column 'prompt' not in '{path}' (columns: text, other)",
    )
    blank = write_jsonl(tmp_path / "blank.jsonl", "prompt", ["  ", ""])
    assert refusal(tournament(str(blank))) == ("prompts", "the prompt set is empty")
    key, expected = refusal(tournament({"path": str(path), "split": "test"}))
    assert key == "prompts.split" and expected.startswith(f"cannot read '{path}' (split 'test'): ")
    # A .TXT file is not read as lines (only .txt is): it is refused as a data file.
    upper = tmp_path / "PROMPTS.TXT"
    upper.write_text("hello\n", encoding="utf-8")
    assert refusal(tournament(str(upper))) == (
        "prompts.path",
        f"expected a .jsonl, .json, .csv or .parquet file, got '{upper}'",
    )
