"""What the browser tests read from a page: the table's visible model names, the detail panel, and how
much a screenshot shows."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from tests.browser.chromium import Page

VISIBLE_MODELS = (
    "Array.from(document.querySelectorAll('#models tbody tr')).filter(t => !t.hidden)"
    ".map(t => t.cells[1].textContent)"
)


def csv_rows(board: Path) -> list[dict[str, str]]:
    with (board / "leaderboard.csv").open() as handle:
        return list(csv.DictReader(handle))


def pair_record(board: Path, model: str, opponent: str) -> dict[str, Any]:
    saved = json.loads((board / "leaderboard.json").read_text())
    return next(p for p in saved["pairs"] if p["model"] == model and p["opponent"] == opponent)


def sort_by(page: Page, key: str) -> list[str]:
    page.click_element(f'#models th[data-key="{key}"]')
    return page.evaluate(VISIBLE_MODELS)


def detail_cells(page: Page, model: str, opponent: str) -> list[str]:
    """The detail panel's row for `model vs opponent` (win rate, interval, p-value, matches, ...)."""
    rows = page.evaluate(
        "Array.from(document.querySelectorAll('#detail tbody tr'))"
        ".map(t => Array.from(t.cells).map(c => c.textContent))"
    )
    return next(row[1:] for row in rows if row[0] == f"{model} vs {opponent}")


def click_cell(page: Page, model: str, opponent: str) -> None:
    x, y = page.evaluate(f"arenaPage.cellCentre({json.dumps(model)}, {json.dumps(opponent)})")
    page.click(x, y)


def pixel_at(png: bytes, x: float, y: float) -> tuple[int, int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        r, g, b = image.convert("RGB").getpixel((int(x), int(y)))
    return int(r), int(g), int(b)


def colour_count(png: bytes) -> int:
    """Distinct colours: a blank or text-only screenshot has few, a drawn heatmap and bars many."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    return len(np.unique(pixels, axis=0))
