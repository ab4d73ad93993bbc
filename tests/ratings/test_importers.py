"""Public battle and judgment files (tests/data/importers) read as matches, against counts taken here
independently from the raw files with the json and csv modules (or counted by hand, where said)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arena.errors import ArenaError
from arena.ratings.importers import ImportOptions, detect_format
from arena.ratings.matches import NO_PROMPT, Matches
from arena.ratings.readers import import_matches

DATA = Path(__file__).resolve().parents[1] / "data" / "importers"
LMARENA = DATA / "lmarena_battles.jsonl"
ONE_HOT = DATA / "human_preference_55k.csv"
ALPACA = DATA / "alpaca_eval_annotations.json"
ARENA_HARD = DATA / "arena_hard_judgments.jsonl"

PairTotals = dict[tuple[str, str], tuple[float, float]]


def totals(matches: Matches) -> PairTotals:
    """Per unordered pair (names sorted): (matches, points of the first name)."""
    out: PairTotals = {}
    for a, b, outcome, count in zip(matches.a, matches.b, matches.outcome, matches.count, strict=True):
        first, second = matches.models[a], matches.models[b]
        if first > second:
            first, second, outcome = second, first, 1.0 - outcome
        n, points = out.get((first, second), (0.0, 0.0))
        out[(first, second)] = (n + count, points + outcome * count)
    return out


def add(table: PairTotals, first: str, second: str, points_first: float, n: float = 1.0) -> None:
    if first > second:
        first, second, points_first = second, first, n - points_first
    old_n, old_points = table.get((first, second), (0.0, 0.0))
    table[(first, second)] = (old_n + n, old_points + points_first)


def prompt_groups(matches: Matches) -> int:
    return len(set(matches.prompt[matches.prompt != NO_PROMPT].tolist()))


def lmarena_rows() -> list[dict]:
    return [json.loads(line) for line in LMARENA.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(
    "both_bad, anonymous_only",
    [(None, False), ("tie", False), ("exclude", False), (None, True), ("exclude", True)],
)
def test_lmarena_battles_every_winner_value_and_filter(both_bad: str | None, anonymous_only: bool) -> None:
    expected: PairTotals = {}
    questions = set()
    for row in lmarena_rows():
        if anonymous_only and not row["anony"]:
            continue
        if both_bad == "exclude" and row["winner"] in ("both_bad", "tie (bothbad)"):
            continue
        points = {"model_a": 1.0, "model_b": 0.0}.get(row["winner"], 0.5)  # every tie counts 1/2 each way
        add(expected, row["model_a"], row["model_b"], points)
        questions.add(row["question_id"])
    matches, report = import_matches(
        LMARENA, options=ImportOptions(both_bad=both_bad, anonymous_only=anonymous_only)
    )
    assert totals(matches) == expected
    assert prompt_groups(matches) == len(questions)  # question_id is the prompt id
    assert report.format == "lmarena battles"
    dropped = sum(report.dropped.values())
    assert matches.n_matches == len(lmarena_rows()) - dropped
    assert matches.judges == ()  # lmarena's judge column is a voter's hash, not a judge


def test_lmarena_sample_has_every_winner_value() -> None:
    winners = {row["winner"] for row in lmarena_rows()}
    assert winners == {"model_a", "model_b", "tie", "tie (bothbad)", "both_bad"}
    counts = {(True, "both_bad"): 0, (False, "tie (bothbad)"): 0}
    for row in lmarena_rows():
        key = (row["anony"], row["winner"])
        if key in counts:
            counts[key] += 1
    assert counts == {(True, "both_bad"): 2, (False, "tie (bothbad)"): 1}
    _, report = import_matches(LMARENA, options=ImportOptions(both_bad="exclude", anonymous_only=True))
    assert report.dropped == {"not anonymous (--anonymous-only)": 3, "both-bad ties (--both-bad exclude)": 2}


def test_one_hot_55k_layout() -> None:
    expected: PairTotals = {}
    with ONE_HOT.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        points = 1.0 if row["winner_model_a"] == "1" else 0.0 if row["winner_model_b"] == "1" else 0.5
        add(expected, row["model_a"], row["model_b"], points)
    matches, report = import_matches(ONE_HOT)
    assert report.format == "55k one-hot preferences" and report.dropped == {}
    assert totals(matches) == expected
    # Rows with the same prompt are one prompt for the bootstrap ("hi" three times).
    assert prompt_groups(matches) == len({row["prompt"] for row in rows}) == len(rows) - 2


def test_alpaca_eval_annotations() -> None:
    records = json.loads(ALPACA.read_text())
    expected: PairTotals = {}
    for record in records:
        preference = record["preference"]
        if preference is None:
            continue
        preference = 1.5 if preference == 0 else preference
        add(expected, record["generator_1"], record["generator_2"], 2.0 - preference)
    matches, report = import_matches(ALPACA)
    assert report.dropped == {
        "null preferences (unreadable verdicts)": sum(r["preference"] is None for r in records)
    }
    assert report.dropped["null preferences (unreadable verdicts)"] == 3
    assert totals(matches) == expected
    assert matches.judges == ("alpaca_eval_gpt4",)
    assert prompt_groups(matches) == len({r["instruction"] for r in records if r["preference"] is not None})


# Counted by hand from tests/data/importers/arena_hard_judgments.jsonl (game 1: the baseline is A; game 2:
# the model is A): per model, (wins, losses, ties) against gpt-4-0314, with a strong verdict counted 3
# times and once. Llama's one null score and claude's one 'A>>>B' are left out.
ARENA_HARD_COUNTS = {
    3: {
        "Llama-3-70b-chat-hf": (6, 6, 1),
        "gpt-3.5-turbo-0125": (2, 12, 0),
        "claude-3-opus-20240229": (7, 2, 2),
    },
    1: {
        "Llama-3-70b-chat-hf": (4, 2, 1),
        "gpt-3.5-turbo-0125": (2, 6, 0),
        "claude-3-opus-20240229": (3, 2, 2),
    },
}


@pytest.mark.parametrize("weight", [3, 1])
def test_arena_hard_judgments(weight: int) -> None:
    matches, report = import_matches(ARENA_HARD, options=ImportOptions(strong_weight=weight))
    assert report.dropped == {"null scores": 1, "unreadable scores": 1}
    assert set(matches.models) == {"gpt-4-0314", *ARENA_HARD_COUNTS[weight]}
    expected: PairTotals = {}
    for model, (wins, losses, ties) in ARENA_HARD_COUNTS[weight].items():
        add(expected, model, "gpt-4-0314", wins + ties / 2, wins + losses + ties)
    assert totals(matches) == expected
    assert prompt_groups(matches) == 4
    assert matches.judges == ("gpt-4-1106-preview",)


def test_arena_hard_baseline_from_option_or_record(tmp_path: Path) -> None:
    matches, _ = import_matches(ARENA_HARD, options=ImportOptions(baseline="gpt-4-turbo-2024-04-09"))
    assert "gpt-4-turbo-2024-04-09" in matches.models and "gpt-4-0314" not in matches.models
    records = [json.loads(line) for line in ARENA_HARD.read_text().splitlines()]
    for record in records:
        record["baseline"] = "o3-mini"  # Arena-Hard v2 names the baseline in every record
    path = tmp_path / "v2.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    matches, _ = import_matches(path, options=ImportOptions(baseline="ignored-when-records-name-one"))
    assert "o3-mini" in matches.models and len(matches.models) == 4


def test_leaderbot_both_bad_tie_adds_the_fourth_column(chatbot_arena_json: Path) -> None:
    data = json.loads(chatbot_arena_json.read_text())
    three = sum(sum(row[:3]) for row in data["Y"])
    four = sum(sum(row[:4]) for row in data["Y"])
    default, report = import_matches(chatbot_arena_json)
    assert default.n_matches == three == 1_374_996
    assert report.format == "leaderbot counts"
    with_both_bad, _ = import_matches(chatbot_arena_json, "leaderbot", ImportOptions(both_bad="tie"))
    assert with_both_bad.n_matches == four > three
    ties = sum(row[2] + row[3] for row in data["Y"])
    assert float(with_both_bad.count[with_both_bad.outcome == 0.5].sum()) == ties


def test_saved_datasets_folder_reads_like_the_file(tmp_path: Path) -> None:
    import datasets

    frame = pd.read_csv(ONE_HOT, dtype=str, keep_default_na=False)
    frame[list(("winner_model_a", "winner_model_b", "winner_tie"))] = frame[
        ["winner_model_a", "winner_model_b", "winner_tie"]
    ].astype(int)
    datasets.Dataset.from_pandas(frame).save_to_disk(str(tmp_path / "one"))
    datasets.DatasetDict({"test": datasets.Dataset.from_pandas(frame)}).save_to_disk(str(tmp_path / "dict"))
    from_file, _ = import_matches(ONE_HOT)
    for folder, split in ((tmp_path / "one", "train"), (tmp_path / "dict", "test")):
        from_folder, report = import_matches(folder, split=split)
        assert report.format == "55k one-hot preferences"
        assert totals(from_folder) == totals(from_file)
        assert prompt_groups(from_folder) == prompt_groups(from_file)
    with pytest.raises(ArenaError, match=r"--split: expected one of test, got 'train'"):
        import_matches(tmp_path / "dict")


@pytest.mark.parametrize(
    "columns, expected",
    [
        (["question_id", "model", "judge", "games"], "arena-hard"),
        (["uid", "model", "games"], "arena-hard"),
        (
            ["instruction", "output_1", "output_2", "generator_1", "generator_2", "annotator", "preference"],
            "alpaca-eval",
        ),
        (["id", "model_a", "model_b", "prompt", "winner_model_a", "winner_model_b", "winner_tie"], "55k"),
        (["question_id", "model_a", "model_b", "winner", "anony"], "lmarena"),
        (["model_a", "model_b", "winner"], "matches"),
        (["model_a", "model_b", "p_a", "prompt_id"], "matches"),
    ],
)
def test_detects_each_format_from_its_columns(columns: list[str], expected: str) -> None:
    assert detect_format(columns, "f") == expected


def test_undetectable_names_the_closest_format_and_its_missing_columns() -> None:
    with pytest.raises(ArenaError) as caught:
        detect_format(["id", "prompt", "winner_a"], "f.csv")
    assert str(caught.value) == (
        "f.csv: header: not a known layout (columns: id, prompt, winner_a): closest is --format matches, "
        "which needs model_a, model_b; or name the format with --format"
    )
    with pytest.raises(
        ArenaError, match="closest is --format alpaca-eval, which needs generator_2, preference"
    ):
        detect_format(["generator_1", "instruction"], "f.json")


def test_plain_match_files_read_exactly_as_before(tmp_path: Path) -> None:
    """The match layout goes through unchanged: the same cells as matches_from_frame gives directly."""
    from arena.ratings.matches import matches_from_frame

    rows = pd.DataFrame(
        {
            "model_a": ["a", "b", "a", "c"],
            "model_b": ["b", "c", "c", "a"],
            "winner": ["model_a", "tie (bothbad)", "model_b", "tie"],
            "prompt_id": ["p1", "p1", "p2", "p3"],
        }
    )
    rows.to_csv(tmp_path / "m.csv", index=False)
    read, report = import_matches(tmp_path / "m.csv")
    direct = matches_from_frame(rows.astype(str), str(tmp_path / "m.csv"))
    assert report.format == "matches" and report.dropped == {}
    for name in ("a", "b", "outcome", "count", "prompt"):
        np.testing.assert_array_equal(getattr(read, name), getattr(direct, name))
    excluded, report = import_matches(tmp_path / "m.csv", options=ImportOptions(both_bad="exclude"))
    assert excluded.n_matches == 3 and report.dropped == {"both-bad ties (--both-bad exclude)": 1}


def test_plain_match_table_accepts_lmarenas_both_bad_spelling(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("model_a,model_b,winner\na,b,both_bad\na,b,model_a\nb,a,tie (bothbad)\n")
    matches, report = import_matches(tmp_path / "m.csv")
    assert report.format == "matches"
    assert totals(matches) == {("a", "b"): (3.0, 2.0)}  # a win and two both-bad ties at 1/2 each
    excluded, report = import_matches(tmp_path / "m.csv", options=ImportOptions(both_bad="exclude"))
    assert totals(excluded) == {("a", "b"): (1.0, 1.0)}
    assert report.dropped == {"both-bad ties (--both-bad exclude)": 2}


def test_features_for_length_and_style_control_are_carried_through() -> None:
    """lmarena's conv_metadata (its style control's counts), the 55k texts (JSON lists of turns) and
    AlpacaEval's outputs reach the converted table as the columns arena.ratings.style_features reads."""
    from arena.ratings.importers import import_table
    from arena.ratings.readers import _read_table

    rows = [r for r in lmarena_rows() if r["anony"]]
    frame, _ = import_table(
        _read_table(LMARENA, str(LMARENA), "train"), "auto", ImportOptions(anonymous_only=True), "f"
    )
    for side in "ab":
        meta = [r["conv_metadata"] for r in rows]
        assert frame[f"len_{side}"].tolist() == [m[f"sum_assistant_{side}_tokens"] for m in meta]
        for name, key in (("headers", "header_count"), ("lists", "list_count"), ("bold", "bold_count")):
            assert frame[f"{name}_{side}"].tolist() == [float(sum(m[f"{key}_{side}"].values())) for m in meta]

    frame, _ = import_table(
        pd.read_csv(ONE_HOT, dtype=str, keep_default_na=False), "auto", ImportOptions(), "f"
    )
    with ONE_HOT.open(newline="") as handle:
        raw = list(csv.DictReader(handle))
    assert frame["response_a"].tolist() == ["\n\n".join(json.loads(r["response_a"])) for r in raw]
    assert (
        frame["response_b"].iloc[7]
        == "Golden leaves drifting / on the cool October breeze / nature's last hurrah"
    )

    records = json.loads(ALPACA.read_text())
    frame, _ = import_table(pd.DataFrame(records), "alpaca-eval", ImportOptions(), "f")
    kept = [r for r in records if r["preference"] is not None]
    assert frame["response_a"].tolist() == [r["output_1"] for r in kept]
    assert frame["response_b"].tolist() == [r["output_2"] for r in kept]
