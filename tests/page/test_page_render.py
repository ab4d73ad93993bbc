"""index.html as arena.page writes it: the table, the embedded numbers against leaderboard.json/.csv,
self-containment, and the task's extra columns."""

from __future__ import annotations

import base64
import csv
import html
import json
import re
from pathlib import Path

import pytest

from arena.page import add_columns
from arena.page.render import DATA_ID, table_columns
from arena.ratings.table import Leaderboard
from tests.page.boards import NEVER, small_board


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Leaderboard, Path]:
    folder = tmp_path_factory.mktemp("page")
    return small_board(folder), folder / "board"


def embedded(page: str) -> dict:
    found = re.search(rf'<script type="application/json" id="{DATA_ID}">(.*?)</script>', page, re.DOTALL)
    assert found is not None
    return json.loads(found.group(1))


def test_embedded_numbers_are_leaderboard_json(published: tuple[Leaderboard, Path]) -> None:
    board, out = published
    data = embedded((out / "index.html").read_text())
    saved = json.loads((out / "leaderboard.json").read_text())
    assert data["rows"] == [{c: row[c] for c in data["columns"]} for row in saved["models"]]
    assert data["models"] == list(saved["winrates"])
    for i, model in enumerate(data["models"]):
        for j, opponent in enumerate(data["models"]):
            assert data["winrates"][i][j] == pytest.approx(saved["winrates"][model][opponent], abs=5e-5)
    imputed = {(data["models"][i], data["models"][j]) for i, j in data["imputed"]}
    assert imputed == NEVER == {(m, o) for m, others in saved["imputed"].items() for o in others}
    records = {(p["model"], p["opponent"]): p for p in saved["pairs"]}
    assert len(data["pairs"]) == len(records) == 5 * 4 - len(NEVER)
    for pair in data["pairs"]:
        stored = dict(zip(data["pair_fields"], pair, strict=True))
        record = records[(data["models"][pair[0]], data["models"][pair[1]])]
        assert {k: v for k, v in stored.items() if k not in ("model", "opponent")} == {
            k: record[k] for k in data["pair_fields"][2:]
        }
    assert data["support"] == saved["nash"]["support"]


def test_table_has_every_csv_column_in_table_order(published: tuple[Leaderboard, Path]) -> None:
    board, out = published
    page = (out / "index.html").read_text()
    with (out / "leaderboard.csv").open() as handle:
        csv_rows = list(csv.DictReader(handle))
        header = list(csv_rows[0])
    keys = re.findall(r'<th data-key="([^"]+)"', page)
    bars = re.findall(r'data-bar="([^"]+)"', page)
    shown = set(keys) | {f"{b}_ci_{end}" for b in bars for end in ("low", "high")} | {"elo_tied_for_top"}
    assert set(header) <= shown and "qre_rating" in bars  # the board has a temperature: QRE columns too
    body = page[page.index('<table class="models"') : page.index("</table>")]
    models = re.findall(r'<tr data-row="\d+"(?: class="support")?><td>\d+</td><td>([^<]+)</td>', body)
    assert [html.unescape(m) for m in models] == [row["model"] for row in csv_rows]
    support = re.findall(r'<tr data-row="\d+" class="support"><td>\d+</td><td>([^<]+)</td>', body)
    assert sorted(support) == sorted(board.support)
    # The Elo cell reads as the csv's numbers, value then interval.
    first = csv_rows[0]
    elo = f"{float(first['elo']):.1f} [{float(first['elo_ci_low']):.1f}, {float(first['elo_ci_high']):.1f}]"
    assert f"<td>{elo}</td>" in body
    assert len(table_columns(board)) == len(keys)


def test_page_is_self_contained(published: tuple[Leaderboard, Path]) -> None:
    _, out = published
    page = (out / "index.html").read_text()
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched at view time
    assert "<script src" not in page and "<link" not in page
    assert '"use strict"' in page and "table.models th" in page  # script and style inlined
    assert "five &lt;models&gt;" in page and "five <models>" not in page.split("<script")[0]
    png = base64.b64encode((out / "heatmap.png").read_bytes()).decode()
    assert f'src="data:image/png;base64,{png}"' in page  # a small board carries its heatmap.png inline
    for name in ("leaderboard.csv", "leaderboard.json", "winrates.csv"):
        assert f'<a href="{name}">' in page and (out / name).is_file()


def test_add_columns_joins_the_embedded_numbers(published: tuple[Leaderboard, Path], tmp_path: Path) -> None:
    _, out = published
    page = tmp_path / "index.html"
    page.write_text((out / "index.html").read_text())
    add_columns(page, ["malformed"], {"rock": {"malformed": 0.25}, "paper": {"malformed": 0.5}})
    add_columns(page, ["exploitability"], {"rock": {"exploitability": 0.1, "malformed": 0.3}})
    extra = embedded(page.read_text())["extra"]
    assert extra == {
        "columns": ["malformed", "exploitability"],
        "values": {"rock": {"malformed": 0.3, "exploitability": 0.1}, "paper": {"malformed": 0.5}},
    }
    foreign = tmp_path / "other.html"
    foreign.write_text("<html></html>")
    with pytest.raises(ValueError, match="not a page written by arena.page"):
        add_columns(foreign, ["x"], {})
