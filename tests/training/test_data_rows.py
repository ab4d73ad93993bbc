"""Rows from every source a recipe's `data:` may name, and every one-line refusal, checked against the files.

Each format is written here from the same rows, so what is read back is compared with what was written.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import pytest

from arena.errors import RecipeKeyError
from arena.rows import DataSettings, PromptSet, RowSource, load_rows, split_by_prompt

ROWS = [
    {"question": f"Pick one: {i}", "good": f"red {i}", "bad": "blue", "score": 0.5 + i / 10} for i in range(5)
]
RENAMES = {"prompt": "question", "chosen": "good", "rejected": "bad"}
EXPECTED = [{"prompt": r["question"], "chosen": r["good"], "rejected": r["bad"]} for r in ROWS]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_source(kind: str, directory: Path) -> Path:
    """ROWS as a file or a saved dataset of the given kind."""
    import datasets
    import pandas as pd

    frame = pd.DataFrame(ROWS)
    if kind == "jsonl":
        return write_jsonl(directory / "rows.jsonl", ROWS)
    if kind == "json":
        path = directory / "rows.json"
        path.write_text(json.dumps(ROWS), encoding="utf-8")
        return path
    if kind == "csv":
        frame.to_csv(directory / "rows.csv", index=False)
        return directory / "rows.csv"
    if kind == "parquet":
        frame.to_parquet(directory / "rows.parquet")
        return directory / "rows.parquet"
    if kind == "saved":
        datasets.Dataset.from_pandas(frame).save_to_disk(str(directory / "saved"))
        return directory / "saved"
    if kind == "splits":
        table = datasets.Dataset.from_pandas(frame)
        empty = datasets.Dataset.from_pandas(frame.iloc[:1])
        datasets.DatasetDict({"train": table, "test": empty}).save_to_disk(str(directory / "splits"))
        return directory / "splits"
    raise AssertionError(kind)


def test_data_and_prompt_sets_share_one_base_and_keep_their_keys_in_order() -> None:
    """The order is what recipe.yaml and a leaderboard's `tournament.prompts` are written in."""
    assert issubclass(DataSettings, RowSource) and issubclass(PromptSet, RowSource)
    assert DataSettings.__shorthand__ == PromptSet.__shorthand__ == "path"
    assert [f.name for f in dataclasses.fields(DataSettings)] == [
        "path",
        "split",
        "columns",
        "limit",
        "eval_fraction",
    ]
    assert [f.name for f in dataclasses.fields(PromptSet)] == ["path", "column", "split", "limit"]


@pytest.mark.parametrize("kind", ["jsonl", "json", "csv", "parquet", "saved", "splits"])
def test_every_source_gives_the_written_rows_renamed(kind: str, tmp_path: Path) -> None:
    path = write_source(kind, tmp_path)
    rows = load_rows(DataSettings(str(path), columns=dict(RENAMES)), ["prompt", "chosen", "rejected"])
    assert rows == EXPECTED


def test_optional_columns_are_kept_when_there_and_the_limit_takes_the_first_rows(tmp_path: Path) -> None:
    path = write_source("jsonl", tmp_path)
    settings = DataSettings(str(path), columns={**RENAMES, "label": "score"}, limit=3)
    rows = load_rows(settings, ["prompt", "chosen", "rejected"], optional=["label"])
    assert rows == [
        {**row, "label": source["score"]} for row, source in zip(EXPECTED[:3], ROWS, strict=False)
    ]
    # Without the rename the file has no `label`: the optional column is left out, not an error.
    unlabelled = load_rows(DataSettings(str(path), columns=dict(RENAMES)), ["prompt", "chosen", "rejected"],
                           optional=["label"])  # fmt: skip
    assert unlabelled == EXPECTED


def test_a_slice_of_a_file_reads_as_on_the_hub(tmp_path: Path) -> None:
    path = write_source("jsonl", tmp_path)
    rows = load_rows(DataSettings(str(path), split="train[1:3]", columns={"prompt": "question"}), ["prompt"])
    assert rows == [{"prompt": row["question"]} for row in ROWS[1:3]]


def refusal(settings: DataSettings, columns: list[str], key: str = "data") -> tuple[str, str]:
    with pytest.raises(RecipeKeyError) as caught:
        load_rows(settings, columns, key=key)
    return caught.value.key, caught.value.expected


def test_renames_and_columns_are_checked_against_the_file(tmp_path: Path) -> None:
    path = str(write_source("jsonl", tmp_path))
    listing = "(columns: question, good, bad, score)"
    assert refusal(DataSettings(path, columns={"answer": "good"}), ["prompt", "chosen"]) == (
        "data.columns.answer",
        "expected one of the columns this run reads (prompt, chosen), got 'answer'",
    )
    assert refusal(DataSettings(path, columns={"prompt": "query"}), ["prompt"]) == (
        "data.columns.prompt",
        f"column 'query' not in '{path}' {listing}",
    )
    assert refusal(DataSettings(path, columns={"prompt": "question"}), ["prompt", "chosen"]) == (
        "data.columns.chosen",
        f"column 'chosen' not in '{path}' {listing}",
    )
    # Under another key (a tournament's `prompts`) a missing column is that key's single `column`.
    assert refusal(DataSettings(path), ["prompt"], key="prompts") == (
        "prompts.column",
        f"column 'prompt' not in '{path}' {listing}",
    )


def test_unreadable_sources_are_refused_in_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    text = tmp_path / "notes.txt"
    text.write_text("a\n", encoding="utf-8")
    saved, splits = write_source("saved", tmp_path), write_source("splits", tmp_path)
    jsonl = write_source("jsonl", tmp_path)

    assert refusal(DataSettings(str(text)), ["prompt"]) == (
        "data.path",
        f"expected a .jsonl, .json, .csv or .parquet file, got '{text}'",
    )
    assert refusal(DataSettings(str(splits), split="eval"), ["prompt"]) == (
        "data.split",
        f"expected one of the splits of '{splits}' (train, test), got 'eval'",
    )
    assert refusal(DataSettings(str(saved), split="test"), ["prompt"]) == (
        "data.split",
        f"expected 'train': '{saved}' is one saved dataset without splits, got 'test'",
    )
    key, expected = refusal(DataSettings(str(jsonl), split="test"), ["prompt"])
    assert key == "data.split" and expected.startswith(f"cannot read '{jsonl}' (split 'test'): ")
    key, expected = refusal(DataSettings(str(empty)), ["prompt"])
    assert key == "data.path" and expected.startswith(f"cannot read '{empty}' (split 'train'): ")
    assert "\n" not in expected and len(expected) <= len(f"cannot read '{empty}' (split 'train'): ") + 200
    # A slice past the end: datasets' reason, cut to one line.
    assert refusal(DataSettings(str(jsonl), split="train[5:]"), ["prompt"]) == (
        "data.path",
        f"cannot read '{jsonl}' (split 'train[5:]'): Instruction \"train[5:]\" corresponds to no data!",
    )


def test_split_by_prompt_holds_out_every_row_of_a_seeded_share_of_the_prompts() -> None:
    rows = [{"prompt": f"p{i % 4}", "n": i} for i in range(12)]
    kept, held = split_by_prompt(rows, 0.5, seed=3)
    chosen = set(random.Random(3).sample([f"p{i}" for i in range(4)], 2))
    assert held == [row for row in rows if row["prompt"] in chosen]
    assert kept == [row for row in rows if row["prompt"] not in chosen]
    assert split_by_prompt(rows, 0.0, seed=3) == (rows, [])
    # A tiny fraction still holds one prompt out; a large one keeps one to train on.
    assert len({r["prompt"] for r in split_by_prompt(rows, 0.01, seed=0)[1]}) == 1
    assert len({r["prompt"] for r in split_by_prompt(rows, 0.9, seed=0)[0]}) == 1
    with pytest.raises(RecipeKeyError) as caught:
        split_by_prompt([{"prompt": "same"}] * 3, 0.5, seed=0)
    assert (caught.value.key, caught.value.expected) == (
        "data.eval_fraction",
        "expected data with at least 2 distinct prompts to hold some out, got 1",
    )
