"""`arena leaderboard` run as a user runs it: the six files, their agreement, and bad input."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arena.errors import ArenaError
from arena.ratings import read_matches, win_rate_matrix
from arena.testing import run_arena

FILES = {"leaderboard.json", "leaderboard.md", "leaderboard.csv", "winrates.csv", "heatmap.png", "index.html"}
MODEL_KEYS = {
    "model",
    "rank",
    "nash_weight",
    "nash_weight_ci_low",
    "nash_weight_ci_high",
    "nash_rating",
    "nash_rating_ci_low",
    "nash_rating_ci_high",
    "nash_support_share",
    "tied_for_top",
    "elo",
    "elo_ci_low",
    "elo_ci_high",
    "elo_rank_ci",
    "elo_tied_for_top",
    "win_rate",
    "opponents",
    "matches",
}
QRE_KEYS = {f"qre_{kind}{end}" for kind in ("rating", "weight") for end in ("", "_ci_low", "_ci_high")}
PAIR_KEYS = {
    "model",
    "opponent",
    "win_rate",
    "standard_error",
    "n",
    "wins",
    "losses",
    "draws",
    "units",
    "win_rate_ci_low",
    "win_rate_ci_high",
    "p_value",
}


def fastchat_battles(seed: int = 0, n: int = 600) -> pd.DataFrame:
    """FastChat's battle format: five models, one of them never meets two others."""
    rng = np.random.default_rng(seed)
    strength = {"alpha": 1.0, "bravo": 0.5, "charlie": 0.0, "delta": -0.4, "echo": -1.0}
    names = list(strength)
    pairs = [
        (a, b) for a in names for b in names if a < b and {a, b} not in ({"alpha", "echo"}, {"bravo", "echo"})
    ]
    rows = []
    for k in range(n):
        a, b = pairs[rng.integers(len(pairs))]
        if rng.random() < 0.5:
            a, b = b, a
        win = 1 / (1 + math.exp(strength[b] - strength[a]))
        u = rng.random()
        winner = "tie" if abs(u - win) < 0.08 else ("model_a" if u < win else "model_b")
        if winner == "tie" and k % 3 == 0:
            winner = "tie (bothbad)"
        rows.append(
            {"model_a": a, "model_b": b, "winner": winner, "prompt_id": f"q{k % 150}", "judge": "human"}
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, str]:
    root = tmp_path_factory.mktemp("fastchat")
    battles = fastchat_battles()
    battles.to_csv(root / "battles.csv", index=False)
    result = run_arena(["leaderboard", str(root / "battles.csv"), "--out", str(root / "board"),
                        "--bootstrap", "300", "--seed", "1", "--name", "Test board"])  # fmt: skip
    assert result.returncode == 0, result.stderr
    return root / "board", battles, result.stdout


def test_writes_exactly_the_six_files(published: tuple[Path, pd.DataFrame, str]) -> None:
    out, _, stdout = published
    assert {p.name for p in out.iterdir()} == FILES  # no temporary files left behind
    assert "Test board" in stdout and "alpha" in stdout and "Nash support:" in stdout


def test_json_has_the_promised_keys_and_consistent_numbers(published: tuple[Path, pd.DataFrame, str]) -> None:
    out, battles, _ = published
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["name"] == "Test board"
    assert all(set(row) == MODEL_KEYS for row in board["models"])  # no QRE columns without a temperature
    assert all(set(pair) == PAIR_KEYS for pair in board["pairs"])
    rows = board["models"]
    assert [r["rank"] for r in rows] == list(range(1, 6))
    order = [(-r["nash_rating"], -r["elo"]) for r in rows]
    assert order == sorted(order)  # sorted by Nash rating, then Elo
    # Win rates against pandas on the raw battles (ties, including both-bad ones, count 1/2).
    points = battles["winner"].map({"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5})
    forward = pd.DataFrame({"m": battles["model_a"], "o": battles["model_b"], "x": points})
    backward = pd.DataFrame({"m": battles["model_b"], "o": battles["model_a"], "x": 1 - points})
    expected = pd.concat([forward, backward]).groupby(["m", "o"])["x"].agg(["mean", "size"])
    for (model, opponent), (mean, size) in expected.iterrows():
        assert board["winrates"][model][opponent] == pytest.approx(mean, abs=1e-12)
        pair = next(p for p in board["pairs"] if (p["model"], p["opponent"]) == (model, opponent))
        assert pair["n"] == size and pair["win_rate"] == pytest.approx(mean, abs=1e-12)
    # An equilibrium: ratings <= 0 everywhere, 0 on the support, weights summing to 1.
    weights = {r["model"]: r["nash_weight"] for r in rows}
    assert sum(weights.values()) == pytest.approx(1, abs=1e-12)
    assert board["nash"]["support"] == [m for m, w in weights.items() if w > 0]
    assert all(r["nash_rating"] <= 0 for r in rows)
    assert all(r["nash_rating"] == 0 for r in rows if r["model"] in board["nash"]["support"])
    for r in rows:  # nash_rating = sum_j (W[i][j] - 1/2) p_j, recomputed from the published matrix
        rating = sum((board["winrates"][r["model"]][m] - 0.5) * w for m, w in weights.items())
        assert r["nash_rating"] == pytest.approx(rating, abs=1e-12)
    bt = board["bradley_terry"]
    assert np.mean([r["elo"] for r in rows]) == pytest.approx(1000, abs=1e-9)
    assert bt["resampled_by"] == "prompt" and bt["bootstrap"] == 300 and 0.5 < bt["nll_per_match"] < 0.7
    assert all(r["elo_ci_low"] <= r["elo"] <= r["elo_ci_high"] for r in rows)
    assert board["judges"] == ["human"] and board["n_matches"] == len(battles)


def test_unplayed_pairs_are_imputed_from_bradley_terry_and_flagged(
    published: tuple[Path, pd.DataFrame, str],
) -> None:
    out, _, _ = published
    board = json.loads((out / "leaderboard.json").read_text())
    imputed = {model: sorted(opponents) for model, opponents in board["imputed"].items()}
    assert imputed == {"alpha": ["echo"], "bravo": ["echo"], "echo": ["alpha", "bravo"]}
    assert board["nash"]["imputed_cells"] == 4
    strength = board["bradley_terry"]["strength"]
    for model, opponents in board["imputed"].items():
        for opponent in opponents:
            expected = 1 / (1 + math.exp(strength[opponent] - strength[model]))
            assert board["winrates"][model][opponent] == pytest.approx(expected, abs=1e-12)
    with (out / "winrates.csv").open() as stream:
        table = {row["model"]: row for row in csv.DictReader(stream)}
    assert table["alpha"]["echo"] == "" and table["echo"]["bravo"] == ""  # observed values only
    assert float(table["alpha"]["bravo"]) == board["winrates"]["alpha"]["bravo"]


def test_markdown_csv_and_html_show_the_same_table(published: tuple[Path, pd.DataFrame, str]) -> None:
    out, _, _ = published
    board = json.loads((out / "leaderboard.json").read_text())
    order = [r["model"] for r in board["models"]]
    with (out / "leaderboard.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert [r["model"] for r in rows] == order
    # Every row column of the json, in its order, written as the json has it (empty for null).
    assert list(rows[0]) == list(board["models"][0])
    for row, entry in zip(rows, board["models"], strict=True):
        for key, value in entry.items():
            expected = "" if value is None else str(value)
            assert row[key] == expected, key
    markdown = (out / "leaderboard.md").read_text()
    table, pairs_section = markdown.split("## Head to head")
    table_lines = [
        line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| rank")
    ]
    assert [line.split(" | ")[1] for line in table_lines] == order
    for line, entry in zip(table_lines, board["models"], strict=True):
        low, high = entry["nash_rating_ci_low"], entry["nash_rating_ci_high"]
        assert f"{entry['nash_rating']:.4f} [{low:.4f}, {high:.4f}]" in line
        assert f"{entry['nash_support_share']:.3f}" in line
    # The pairs' tests: each pair once, from the higher-ranked side, as in the json.
    pair_lines = [
        line for line in pairs_section.splitlines() if line.startswith("| ") and "opponent" not in line
    ]
    tests = {(p["model"], p["opponent"]): p for p in board["pairs"]}
    assert len(pair_lines) == len(board["pairs"]) // 2
    for line in pair_lines:
        model, opponent, rate, interval, p_value = line.strip("| ").split(" | ")[:5]
        assert order.index(model) < order.index(opponent)
        record = tests[(model, opponent)]
        assert rate == f"{record['win_rate']:.3f}"
        assert interval == f"[{record['win_rate_ci_low']:.3f}, {record['win_rate_ci_high']:.3f}]"
        assert float(p_value) == pytest.approx(record["p_value"], rel=0.01, abs=5e-4)
    page = (out / "index.html").read_text()
    positions = [page.index(f"<td>{m}</td>") for m in order]
    assert positions == sorted(positions)
    png = (out / "heatmap.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert f"data:image/png;base64,{base64.b64encode(png).decode()}" in page  # self-contained


def test_heatmap_is_the_matrix_in_table_order(published: tuple[Path, pd.DataFrame, str]) -> None:
    """Sample each played cell's colour (off-centre, away from its number) and compare it with the colour
    map at W[row][col], rows and columns in table order."""
    from matplotlib import colormaps, image

    from arena.leaderboard import heatmap_layout

    out, _, _ = published
    board = json.loads((out / "leaderboard.json").read_text())
    order = [r["model"] for r in board["models"]]
    pixels = image.imread(io.BytesIO((out / "heatmap.png").read_bytes()), format="png")
    layout = heatmap_layout(order)
    assert pixels.shape[:2] == (round(layout.height * layout.dpi), round(layout.width * layout.dpi))
    offset = 0.3 * layout.cell * layout.dpi
    for i, model in enumerate(order):
        for j, opponent in enumerate(order):
            if opponent in board["imputed"].get(model, []):
                continue
            x, y = layout.cell_centre_pixels(i, j)
            sampled = pixels[int(y - offset), int(x - offset), :3]
            expected = colormaps["RdBu"](board["winrates"][model][opponent])[:3]
            np.testing.assert_allclose(sampled, expected, atol=0.04, err_msg=f"{model} vs {opponent}")


def test_every_input_layout_gives_the_same_win_rates(tmp_path: Path) -> None:
    battles = fastchat_battles(seed=3, n=300)
    battles.to_csv(tmp_path / "winner.csv", index=False)
    battles.to_json(tmp_path / "winner.jsonl", orient="records", lines=True)
    battles.to_parquet(tmp_path / "winner.parquet")
    soft = battles.assign(p_a=battles["winner"].map({"model_a": 1.0, "model_b": 0.0}).fillna(0.5))
    soft.drop(columns="winner").to_csv(tmp_path / "p_a.csv", index=False)
    models, reference, reference_counts = win_rate_matrix(read_matches(tmp_path / "winner.csv"))
    assert np.isnan(reference).sum() == 4  # the two pairs never played, both ways round
    for name in ("winner.jsonl", "winner.parquet", "p_a.csv"):
        names, W, counts = win_rate_matrix(read_matches(tmp_path / name))
        assert names == models
        np.testing.assert_allclose(W, reference, atol=1e-15)
        np.testing.assert_array_equal(counts, reference_counts)


def test_nash_temperature_adds_the_quantal_response_columns(tmp_path: Path) -> None:
    fastchat_battles(seed=2, n=300).to_csv(tmp_path / "battles.csv", index=False)
    result = run_arena(["leaderboard", str(tmp_path / "battles.csv"), "--out", str(tmp_path / "board"),
                        "--bootstrap", "100", "--nash-temperature", "0.05"])  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "QRE rating" in result.stdout
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    assert board["qre"]["temperature"] == 0.05
    rows = board["models"]
    assert all(set(row) == MODEL_KEYS | QRE_KEYS for row in rows)
    # The published weights are the fixed point p = softmax(A p / T) of the published matrix.
    names = [row["model"] for row in rows]
    A = np.array([[board["winrates"][a][b] - 0.5 for b in names] for a in names])
    p = np.array([row["qre_weight"] for row in rows])
    np.testing.assert_allclose(p, np.exp(A @ p / 0.05) / np.exp(A @ p / 0.05).sum(), atol=1e-12)
    np.testing.assert_allclose([row["qre_rating"] for row in rows], A @ p, atol=1e-12)
    assert all(row["qre_weight_ci_low"] <= row["qre_weight_ci_high"] for row in rows)
    with (tmp_path / "board" / "leaderboard.csv").open() as stream:
        assert QRE_KEYS <= set(next(csv.DictReader(stream)))
    assert "QRE weight [95% CI]" in (tmp_path / "board" / "leaderboard.md").read_text()
    refused = run_arena(["leaderboard", str(tmp_path / "battles.csv"), "--out", str(tmp_path / "no"),
                         "--nash-temperature", "0"])  # fmt: skip
    assert refused.returncode == 2 and "--nash-temperature" in refused.stderr
    assert not (tmp_path / "no").exists()


def test_counts_input_through_the_command(tmp_path: Path) -> None:
    counts = pd.DataFrame(
        {"model_a": ["x", "y", "x"], "model_b": ["y", "z", "z"], "wins_a": [30, 12, 5], "wins_b": [10, 12, 0],
         "ties": [10, 6, 1]}
    )  # fmt: skip
    counts.to_csv(tmp_path / "counts.csv", index=False)
    result = run_arena(
        ["leaderboard", str(tmp_path / "counts.csv"), "--out", str(tmp_path / "o"), "--bootstrap", "50"]
    )
    assert result.returncode == 0, result.stderr
    board = json.loads((tmp_path / "o" / "leaderboard.json").read_text())
    assert board["winrates"]["x"]["y"] == pytest.approx(35 / 50, abs=1e-15)
    assert board["winrates"]["z"]["x"] == pytest.approx(0.5 / 6, abs=1e-15)
    assert board["n_matches"] == 86 and board["name"] == "counts"
    assert board["models"][0]["model"] == "x" and board["nash"]["support"] == ["x"]


# The four kinds of bad input the issue names, run through the command itself.
BAD_INPUTS = [
    (
        "missing-column.csv",
        "model_a,winner\na,model_a\n",
        "header: missing column 'model_b' (columns: model_a, winner)",
    ),
    (
        "unknown-winner.csv",
        "model_a,model_b,winner\na,b,model_a\na,b,model_c\n",
        "row 2, column winner: unknown value 'model_c' (expected model_a, model_b, tie, tie (bothbad))",
    ),
    (
        "plays-itself.csv",
        "model_a,model_b,winner\na,b,model_a\nb,a,tie\nc,c,tie\n",
        "row 3, column model_a: model 'c' only plays itself (model_a = model_b in every match it is in)",
    ),
    ("empty.csv", "", "row 1: no matches (the file is empty)"),
]
# More bad input, checked where the command gets its message from (arena.ratings.read_matches).
MORE_BAD_INPUTS = [
    ("header-only.csv", "model_a,model_b,winner\n", "row 1: no matches (the file has no rows)"),
    ("soft.csv", "model_a,model_b,p_a\na,b,0.25\na,b,1.5\n", "row 2, column p_a: 1.5 is outside [0, 1]"),
    ("blank.csv", "model_a,model_b,p_a\na,b,0.25\na,b,\n", "row 2, column p_a: missing value"),
    (
        "counts.csv",
        "model_a,model_b,wins_a,wins_b,ties\na,b,3,x,1\n",
        "row 1, column wins_b: 'x' is not a number",
    ),
    (
        "half.csv",
        "model_a,model_b,wins_a,wins_b,ties\na,b,3,1.5,1\n",
        "row 1, column wins_b: counts must be whole numbers",
    ),
    (
        "partial.csv",
        "model_a,model_b,wins_a,ties\na,b,3,1\n",
        "header: missing column 'wins_b' (columns: model_a, model_b, wins_a, ties)",
    ),
    (
        "both.csv",
        "model_a,model_b,winner,p_a\na,b,tie,0.5\n",
        "header: give only one of winner, p_a or wins_a, wins_b, ties",
    ),
    (
        "nameless.csv",
        "model_a,model_b,winner\na,b,tie\n,b,tie\n",
        "row 2, column model_a: missing model name",
    ),
    (
        "bad.jsonl",
        '{"model_a": "a", "model_b": "b", "winner": "tie"}\n{oops\n',
        "row 2: not valid JSON (Expecting property name enclosed in double quotes)",
    ),
    ("list.jsonl", '["a", "b"]\n', "row 1: expected a JSON object with model_a, model_b, ..."),
    ("matches.txt", "a,b\n", "unknown format '.txt' (expected .csv, .jsonl, .ndjson, .json, .parquet, .pq)"),
    (
        "islands.csv",
        "model_a,model_b,winner\na,b,model_a\nc,d,tie\n",
        "all rows: the models form 2 groups that never play each other (e.g. 'a' and 'c'): ratings across "
        "groups are undefined",
    ),
]


@pytest.mark.parametrize("name, content, message", BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    source = tmp_path / name
    source.write_text(content)
    result = run_arena(["leaderboard", str(source), "--out", str(tmp_path / "out")])
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"{source}: {message}\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, content, message", MORE_BAD_INPUTS, ids=[case[0] for case in MORE_BAD_INPUTS])
def test_more_bad_input_messages(tmp_path: Path, name: str, content: str, message: str) -> None:
    source = tmp_path / name
    source.write_text(content)
    with pytest.raises(ArenaError) as raised:
        read_matches(source)
    assert str(raised.value) == f"{source}: {message}"


def test_missing_file_and_bad_out(tmp_path: Path) -> None:
    result = run_arena(["leaderboard", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "out")])
    assert (result.returncode, result.stderr.strip()) == (2, f"{tmp_path / 'nope.csv'}: no such file")
    (tmp_path / "ok.csv").write_text("model_a,model_b,winner\na,b,tie\n")
    (tmp_path / "file").write_text("")
    result = run_arena(["leaderboard", str(tmp_path / "ok.csv"), "--out", str(tmp_path / "file")])
    assert result.returncode == 2 and "--out must be a folder" in result.stderr


def test_the_command_module_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, arena.cli.leaderboard\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'torch') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
