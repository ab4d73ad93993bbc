"""A freshly published page in headless Chromium, from file://: sorting, search, a heatmap cell clicked
with the mouse, the task's extra columns, and a screenshot whose pixels show the table and the heatmap."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from arena.page import add_columns
from tests.browser.chromium import open_page
from tests.browser.page_checks import (
    VISIBLE_MODELS,
    click_cell,
    colour_count,
    csv_rows,
    detail_cells,
    pair_record,
    pixel_at,
    sort_by,
)
from tests.page.boards import small_board

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    small_board(folder)
    return folder / "board"


def test_sort_search_click_and_screenshot(board: Path, tmp_path: Path) -> None:
    rows = csv_rows(board)
    with open_page((board / "index.html").resolve().as_uri()) as page:
        assert page.evaluate(VISIBLE_MODELS) == [r["model"] for r in rows]  # table order, as published
        by_elo = sorted(rows, key=lambda r: -float(r["elo"]))
        assert sort_by(page, "elo") == [r["model"] for r in by_elo]
        assert sort_by(page, "elo") == [r["model"] for r in reversed(by_elo)]  # second click: ascending
        assert sort_by(page, "model") == sorted(r["model"] for r in rows)
        by_weight = sorted(rows, key=lambda r: -float(r["nash_weight"]))
        sorted_weights = [
            next(float(r["nash_weight"]) for r in rows if r["model"] == m)
            for m in sort_by(page, "nash_weight")
        ]
        assert sorted_weights == [float(r["nash_weight"]) for r in by_weight]

        page.type_into("#search", "OC")  # case-insensitive: rock, spock
        assert sorted(page.evaluate(VISIBLE_MODELS)) == ["rock", "spock"]
        assert page.evaluate("document.getElementById('shown').textContent") == "2 of 5 models"
        page.evaluate("document.getElementById('search').value = ''")
        page.evaluate("document.getElementById('search').dispatchEvent(new Event('input'))")
        assert len(page.evaluate(VISIBLE_MODELS)) == 5

        click_cell(page, "paper", "rock")
        record = pair_record(board, "paper", "rock")
        cells = detail_cells(page, "paper", "rock")
        assert cells[0] == f"{record['win_rate']:.3f}"
        assert cells[1] == f"[{record['win_rate_ci_low']:.3f}, {record['win_rate_ci_high']:.3f}]"
        assert cells[3] == str(record["n"])
        assert cells[4] == f"{record['wins']} / {record['losses']} / {record['draws']}"
        back = pair_record(board, "rock", "paper")
        assert detail_cells(page, "rock", "paper")[0] == f"{back['win_rate']:.3f}"

        click_cell(page, "spock", "lizard")  # never played: imputed, and the panel says so
        assert "never played" in detail_cells(page, "spock", "lizard")[0]

        # The screenshot shows the heatmap's colours where the cells are: blue where the row wins.
        x, y = page.evaluate("arenaPage.cellCentre('paper', 'rock')")
        scroll_x, scroll_y = page.evaluate("[window.scrollX, window.scrollY]")
        png = page.screenshot(tmp_path / "page.png")
        offset = 0.3 * page.evaluate("arenaPage.cellSize()")  # off the cell's number
        red, _, blue = pixel_at(png, x - scroll_x - offset, y - scroll_y - offset)
        assert record["win_rate"] > 0.5 and blue > red + 30
        x, y = page.evaluate("arenaPage.cellCentre('rock', 'paper')")  # the same pair from rock's side
        red, _, blue = pixel_at(png, x - scroll_x - offset, y - scroll_y - offset)
        assert back["win_rate"] < 0.5 and red > blue + 30
        assert colour_count(png) > 200


def test_extra_columns_show_with_intervals(board: Path, tmp_path: Path) -> None:
    copy = tmp_path / "board"
    shutil.copytree(board, copy)
    values = {
        m["model"]: {
            "malformed": 0.1 * i,
            "malformed_ci_low": 0.1 * i - 0.05,
            "malformed_ci_high": 0.1 * i + 0.05,
        }
        for i, m in enumerate(csv_rows(board))
    }
    add_columns(copy / "index.html", ["malformed"], values)
    with open_page((copy / "index.html").resolve().as_uri()) as page:
        header = page.evaluate("Array.from(document.querySelectorAll('#models th')).map(t => t.textContent)")
        assert header[-1] == "malformed [95% CI]"
        shown = page.evaluate(
            "Object.fromEntries(Array.from(document.querySelectorAll('#models tbody tr'))"
            ".map(t => [t.cells[1].textContent, t.cells[t.cells.length - 1].textContent]))"
        )
        for model, v in values.items():
            low, high = v["malformed_ci_low"], v["malformed_ci_high"]
            assert shown[model] == f"{v['malformed']:.3f} [{low:.3f}, {high:.3f}]"
        assert sort_by(page, "extra:malformed") == sorted(values, key=lambda m: -values[m]["malformed"])


def test_sample_pairs_in_the_panel_from_either_side(tmp_path: Path) -> None:
    from arena.leaderboard import publish

    board = small_board(tmp_path)
    stored = {
        "paper|rock": [{"prompt": "Pick <one>:", "response_a": "Paper", "response_b": "Rock", "p_a": 1.0}]
    }
    publish(board, tmp_path / "with-samples", samples=stored)
    with open_page((tmp_path / "with-samples" / "index.html").resolve().as_uri()) as page:
        panel_text = "document.getElementById('detail').innerText"
        click_cell(page, "paper", "rock")
        shown = page.evaluate(panel_text)
        assert "Pick <one>:" in shown and "P(paper wins) = 1.000" in shown
        click_cell(page, "rock", "paper")  # the same sample from rock's side
        shown = page.evaluate(panel_text)
        assert "P(rock wins) = 0.000" in shown
        texts = page.evaluate("Array.from(document.querySelectorAll('#detail pre')).map(p => p.textContent)")
        assert texts == ["Pick <one>:", "Rock", "Paper"]  # prompt, rock's response, paper's
        click_cell(page, "rock", "scissors")  # none stored for this pair
        assert "Sample pairs" not in page.evaluate(panel_text)
