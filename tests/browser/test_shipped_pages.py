"""The shipped boards' pages (leaderboards/*/index.html) in headless Chromium, from file://: written by
the current arena.page, sorted, searched, a heatmap cell clicked, and a screenshot with content.

`ARENA_UPDATE_SCREENSHOTS=1` also copies the screenshots to leaderboards/<board>/page.png (the top of the
page) and page-heatmap.png (the heatmap with a pair selected), the pictures the README shows; without it
the test only checks that the committed pictures are screenshots of the page.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from arena.page.render import _asset
from tests.browser.chromium import open_page
from tests.browser.page_checks import (
    VISIBLE_MODELS,
    click_cell,
    colour_count,
    csv_rows,
    detail_cells,
    pair_record,
    sort_by,
)

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 1400, 1000
# board folder -> the task's extra columns its page must show (the quickstart's moves task adds them)
BOARDS = {
    "rps-cup": (),
    "quickstart": ("malformed [95% CI]", "rock", "scissors", "paper", "exploitability [95% CI]"),
    "chatbot-arena-20240814": (),
}

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", list(BOARDS))
def test_shipped_page(name: str, tmp_path: Path) -> None:
    board = REPO / "leaderboards" / name
    page_text = (board / "index.html").read_text()
    for asset in ("page.js", "page.css"):  # the page is the current generator's: regenerate it (README)
        assert _asset(asset) in page_text, f"{name}: index.html predates this arena/page/{asset}"
    rows = csv_rows(board)
    models = [r["model"] for r in rows]
    with open_page((board / "index.html").resolve().as_uri(), WIDTH, HEIGHT) as page:
        assert page.evaluate(VISIBLE_MODELS) == models
        header = page.evaluate("Array.from(document.querySelectorAll('#models th')).map(t => t.textContent)")
        assert header[len(header) - len(BOARDS[name]) :] == list(BOARDS[name])
        screenshot = page.screenshot(tmp_path / "page.png")  # the top of the page, as a visitor sees it
        assert colour_count(screenshot) > 150  # table, interval bars and support shading: not blank

        elo = sorted(range(len(rows)), key=lambda i: (-float(rows[i]["elo"]), i))  # ties keep table order
        assert sort_by(page, "elo") == [models[i] for i in elo]
        query = models[-1][:4]
        page.type_into("#search", query)
        assert page.evaluate(VISIBLE_MODELS) == [models[i] for i in elo if query.lower() in models[i].lower()]

        leader, second = models[0], models[1]
        click_cell(page, leader, second)
        record = pair_record(board, leader, second)
        cells = detail_cells(page, leader, second)
        assert cells[0] == f"{record['win_rate']:.3f}"
        assert cells[1] == f"[{record['win_rate_ci_low']:.3f}, {record['win_rate_ci_high']:.3f}]"
        assert cells[3] == str(record["n"])
        assert page.evaluate("arenaPage.cellSize()") >= 10  # 129 models: names drawn, the box scrolls
        # The heatmap as a visitor scrolls to it: the selected cell outlined, its colours many.
        page.evaluate("document.getElementById('heatmap-box').scrollIntoView()")
        heatmap = page.screenshot(tmp_path / "heatmap.png")
        assert colour_count(heatmap) > 150

    if os.environ.get("ARENA_UPDATE_SCREENSHOTS"):
        shutil.copyfile(tmp_path / "page.png", board / "page.png")
        shutil.copyfile(tmp_path / "heatmap.png", board / "page-heatmap.png")
    from PIL import Image

    for picture in ("page.png", "page-heatmap.png"):
        with Image.open(board / picture) as committed:
            assert committed.format == "PNG" and committed.size == (WIDTH, HEIGHT)
