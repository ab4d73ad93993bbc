"""`arena leaderboard` on public formats as a user runs it: AlpacaEval 2.0's published rows through the
annotations reader, --anchor, and one line with exit code 2 for every malformed file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from arena.testing import run_arena

DATA = Path(__file__).resolve().parents[1] / "data" / "importers"
# Four AlpacaEval 2.0 rows: the best, a mid-table and a weak model, and the constant NullModel.
ALPACA_EVAL_2_MODELS = (
    "FuseChat-Gemma-2-9B-Instruct",
    "FuseChat-Llama-3.2-3B-Instruct",
    "claude-2",
    "NullModel",
)


def test_alpaca_eval_2_published_rows_through_the_annotations_reader(
    tmp_path: Path, shared_data: Path
) -> None:
    """The compact CSV is converted here, in the test, into annotations.json records (generator_1 = the
    baseline, generator_2 = the evaluated model's results folder, preference = preference_json), which
    `arena leaderboard --format alpaca-eval` then reads like any annotations file."""
    folder = shared_data / "alpaca_eval"
    records = []
    with (folder / "compact_weighted_alpaca_eval_gpt4_turbo.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["model"] not in ALPACA_EVAL_2_MODELS:
                continue
            records.append(
                {
                    "instruction": f"question {row['question_id']}",
                    "output_1": "",
                    "generator_1": row["model_a"],
                    "dataset": row["dataset"],
                    "output_2": "",
                    "generator_2": row["model"],
                    "annotator": row["annotator"],
                    "preference": None
                    if row["preference_json"] in ("", "null")
                    else float(row["preference_json"]),
                }
            )
    baseline = records[0]["generator_1"]
    assert baseline == "gpt4_1106_preview" and len(records) == 4 * 805
    (tmp_path / "annotations.json").write_text(json.dumps(records))
    result = run_arena(
        [
            "leaderboard",
            str(tmp_path / "annotations.json"),
            "--format",
            "alpaca-eval",
            "--out",
            str(tmp_path / "board"),
            "--bootstrap",
            "0",
        ]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Read {4 * 805} rows as AlpacaEval annotations.\n")
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    pairs = {(p["model"], p["opponent"]): p for p in board["pairs"]}
    with (folder / "expected_weighted_alpaca_eval_gpt4_turbo_leaderboard_rows.csv").open(
        newline=""
    ) as handle:
        published = {row[""]: row for row in csv.DictReader(handle)}
    for model in ALPACA_EVAL_2_MODELS:
        pair, row = pairs[(model, baseline)], published[model]
        assert 100 * pair["win_rate"] == pytest.approx(float(row["win_rate"]), abs=1e-9), model
        assert 100 * pair["standard_error"] == pytest.approx(float(row["standard_error"]), abs=1e-9), model
        counts = (pair["wins"], pair["losses"], pair["draws"], pair["n"])
        assert counts == tuple(int(row[c]) for c in ("n_wins", "n_wins_base", "n_draws", "n_total")), model
    assert board["bradley_terry"]["resampled_by"] == "prompt"


def _board(tmp_path: Path, name: str, *extra: str) -> dict:
    result = run_arena(
        [
            "leaderboard",
            str(DATA / "lmarena_battles.jsonl"),
            "--out",
            str(tmp_path / name),
            "--bootstrap",
            "30",
            *extra,
        ]
    )
    assert result.returncode == 0, result.stderr
    return json.loads((tmp_path / name / "leaderboard.json").read_text())


def test_anchor_shifts_every_elo_and_nothing_else(tmp_path: Path) -> None:
    plain = _board(tmp_path, "plain")
    anchored = _board(tmp_path, "anchored", "--anchor", "mixtral-8x7b-instruct-v0.1=1114")
    rows = {r["model"]: r for r in plain["models"]}
    moved = {r["model"]: r for r in anchored["models"]}
    assert moved["mixtral-8x7b-instruct-v0.1"]["elo"] == pytest.approx(1114.0, abs=1e-9)
    shift = 1114.0 - rows["mixtral-8x7b-instruct-v0.1"]["elo"]
    assert abs(shift) > 1
    for model, row in rows.items():
        for column in ("elo", "elo_ci_low", "elo_ci_high"):
            assert moved[model][column] == pytest.approx(row[column] + shift, abs=1e-9), (model, column)
        unchanged = {k: v for k, v in row.items() if not k.startswith("elo_ci") and k != "elo"}
        assert {k: moved[model][k] for k in unchanged} == unchanged
    assert [r["model"] for r in anchored["models"]] == [r["model"] for r in plain["models"]]
    fit = anchored["bradley_terry"]
    assert fit["anchoring"].startswith("shifted so that mixtral-8x7b-instruct-v0.1 reads 1114 (--anchor)")
    assert fit["elo_mean"] == pytest.approx(1000.0 + shift, abs=1e-9)
    assert plain["bradley_terry"]["elo_mean"] == 1000.0
    assert fit["strength"] == plain["bradley_terry"]["strength"]
    markdown = (tmp_path / "anchored" / "leaderboard.md").read_text()
    assert "1114.0" in markdown


LMARENA_ROW = '{"question_id": "q1", "model_a": "a", "model_b": "b", "winner": "model_a", "anony": true}\n'
BAD_INPUT = [
    # (file name, content, extra arguments, the one line after "FILE: ")
    ("unknown.csv", "id,prompt,winner_a\n1,hi,1\n", [],
     "header: not a known layout (columns: id, prompt, winner_a): closest is --format matches, which needs "
     "model_a, model_b; or name the format with --format"),
    ("wrong-format.jsonl", LMARENA_ROW, ["--format", "arena-hard"],
     "header: --format arena-hard needs columns model, games (columns: question_id, model_a, model_b, winner, anony)"),
    ("wrong-format-55k.jsonl", LMARENA_ROW, ["--format", "55k"],
     "header: --format 55k needs columns winner_model_a, winner_model_b, winner_tie (columns: question_id, "
     "model_a, model_b, winner, anony)"),
    ("not-leaderbot.jsonl", LMARENA_ROW, ["--format", "leaderbot"],
     "header: --format leaderbot needs a JSON object with keys models, X, Y"),
    ("bad-winner.jsonl", LMARENA_ROW + LMARENA_ROW.replace('"winner": "model_a"', '"winner": "model_c"'), [],
     "row 2, column winner: unknown value 'model_c' (expected model_a, model_b, tie, tie (bothbad), both_bad)"),
    ("bad-anony.jsonl", LMARENA_ROW.replace("true", '"maybe"'), ["--anonymous-only"],
     "row 1, column anony: expected true or false, got 'maybe'"),
    ("no-anony.csv", "model_a,model_b,winner\na,b,model_a\n", ["--anonymous-only"],
     "header: --anonymous-only needs column anony (columns: model_a, model_b, winner)"),
    ("all-excluded.jsonl", LMARENA_ROW.replace('"winner": "model_a"', '"winner": "both_bad"'),
     ["--both-bad", "exclude"],
     "all rows: no matches left (Read 1 rows as lmarena battles; left out 1 both-bad ties (--both-bad exclude))"),
    ("missing-model.jsonl", LMARENA_ROW.replace('"b"', '""'), [], "row 1, column model_b: missing model name"),
    ("two-winners.csv", "id,model_a,model_b,winner_model_a,winner_model_b,winner_tie\n1,a,b,1,1,0\n", [],
     "row 1, columns winner_model_a, winner_model_b, winner_tie: expected exactly one 1, got 2"),
    ("not-one-hot.csv", "id,model_a,model_b,winner_model_a,winner_model_b,winner_tie\n1,a,b,0,yes,0\n", [],
     "row 1, column winner_model_b: expected 0 or 1, got 'yes'"),
    ("bad-preference.json", '[{"generator_1": "a", "generator_2": "b", "preference": 3}]', [],
     "row 1, column preference: expected a number in [1, 2], 0 (a draw) or null, got 3"),
    ("all-null.json", '[{"generator_1": "a", "generator_2": "b", "preference": null}]', [],
     "all rows: no matches left (every preference is null)"),
    ("bad-games.jsonl", '{"question_id": "q", "model": "m", "games": "A>B"}\n', [],
     "row 1, column games: expected a list of one or two games, each with a score (A>>B, A>B, A=B, B>A, B>>A "
     "or null)"),
    ("null-games.jsonl", '{"question_id": "q", "model": "m", "games": [{"score": null}, {"score": null}]}\n', [],
     "all rows: no matches left (no game has a readable score)"),
    # An option for another format would be silently ignored: it is refused instead.
    ("weight.jsonl", LMARENA_ROW, ["--strong-weight", "1"],
     "--strong-weight applies to --format arena-hard; this file reads as lmarena"),
    ("baseline.csv", "model_a,model_b,p_a\na,b,0.5\n", ["--arena-hard-baseline", "gpt-4-0314"],
     "--arena-hard-baseline applies to --format arena-hard; this file reads as matches"),
    ("both-bad.json", '[{"generator_1": "a", "generator_2": "b", "preference": 1}]', ["--both-bad", "tie"],
     "--both-bad applies to --format matches, lmarena, leaderbot; this file reads as alpaca-eval"),
    ("anonymous.jsonl", '{"question_id": "q", "model": "m", "games": [{"score": "A>B"}]}\n', ["--anonymous-only"],
     "--anonymous-only applies to --format matches, lmarena, 55k; this file reads as arena-hard"),
]  # fmt: skip


@pytest.mark.parametrize("name, content, extra, message", BAD_INPUT, ids=[case[0] for case in BAD_INPUT])
def test_malformed_files_are_one_line_exit_2_and_nothing_written(
    tmp_path: Path, name: str, content: str, extra: list[str], message: str
) -> None:
    source = tmp_path / name
    source.write_text(content)
    result = run_arena(["leaderboard", str(source), "--out", str(tmp_path / "out"), *extra])
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"{source}: {message}\n")
    assert not (tmp_path / "out").exists()


def test_leaderbot_counts_named_as_a_table_format_is_one_line(
    tmp_path: Path, chatbot_arena_json: Path
) -> None:
    result = run_arena(
        ["leaderboard", str(chatbot_arena_json), "--format", "lmarena", "--out", str(tmp_path / "o")]
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"{chatbot_arena_json}: header: --format lmarena needs a table, and this is leaderbot's {{models, X, Y}} "
        "counts (use --format leaderbot or auto)\n"
    )


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--anchor", "mixtral=1114"], "--anchor: model 'mixtral' is not in {source} (did you mean "
         "mixtral-8x7b-instruct-v0.1?)"),
        (["--anchor", "zzzz=1114"], "--anchor: model 'zzzz' is not in {source} (the board has 4 models)"),
        (["--anchor", "claude-2.1"], "--anchor: expected MODEL=RATING with a finite number, e.g. gpt-4-0314=1186, "
         "got 'claude-2.1'"),
        (["--anchor", "claude-2.1=high"], "--anchor: expected MODEL=RATING with a finite number, e.g. "
         "gpt-4-0314=1186, got 'claude-2.1=high'"),
    ],
)  # fmt: skip
def test_bad_anchor_is_one_line(tmp_path: Path, extra: list[str], message: str) -> None:
    source = DATA / "lmarena_battles.jsonl"
    result = run_arena(["leaderboard", str(source), "--out", str(tmp_path / "out"), *extra])
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message.format(source=source) + "\n")
    assert not (tmp_path / "out").exists()


def test_hub_id_offline_and_not_cached_is_one_line_naming_hf_hub_offline(tmp_path: Path) -> None:
    result = run_arena(
        ["leaderboard", "lmarena-ai/no-such-battles-for-arena-tests", "--out", str(tmp_path / "out")],
        env={"HF_HOME": str(tmp_path / "hf")},
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "lmarena-ai/no-such-battles-for-arena-tests: not a local file or folder, and not in the Hugging Face "
        "cache as a hub dataset (HF_HUB_OFFLINE and HF_DATASETS_OFFLINE set: nothing is downloaded; run once "
        "online or pass a file)\n"
    )


def test_saved_dataset_wrong_split_is_one_line(tmp_path: Path) -> None:
    import datasets

    rows = [json.loads(line) for line in (DATA / "lmarena_battles.jsonl").read_text().splitlines()]
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "battles"))
    result = run_arena(
        ["leaderboard", str(tmp_path / "battles"), "--split", "test", "--out", str(tmp_path / "o")]
    )
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        f"{tmp_path / 'battles'}: --split: expected one of train, got 'test'\n",
    )
    result = run_arena(
        ["leaderboard", str(tmp_path / "battles"), "--out", str(tmp_path / "o"), "--bootstrap", "0"]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Read 16 rows as lmarena battles.\n")
