"""index.html from a Leaderboard: the static table, the embedded numbers, and the inlined script and style."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from arena.io import atomic_write_text
from arena.ratings.table import Leaderboard

DATA_ID = "board-data"
# Pair records as the page stores them, one list per ordered pair (keys once, not 6,910 times).
PAIR_FIELDS = ("model", "opponent", "win_rate", "win_rate_ci_low", "win_rate_ci_high", "p_value", "n",
               "wins", "losses", "draws", "units")  # fmt: skip
INLINE_HEATMAP_MODELS = 40  # boards up to this many models carry heatmap.png inside the page
LINKS = ("leaderboard.csv", "leaderboard.json", "leaderboard.md", "winrates.csv", "heatmap.png")


@dataclass(frozen=True)
class Column:
    """One column of the page's table: its heading, the leaderboard.csv column it sorts by, its text, and
    the name whose value and `_ci_low`/`_ci_high` the page draws as an interval bar (None: no bar)."""

    heading: str
    key: str
    text: Callable[[dict[str, Any]], str]
    bar: str | None = None


def table_columns(board: Leaderboard) -> list[Column]:
    """Every column of leaderboard.csv appears: the intervals inside their value's cell and as its bar."""
    from arena.leaderboard import TIE_LABELS, _fixed, _with_interval

    columns = [
        Column("rank", "rank", lambda r: str(r["rank"])),
        Column("model", "model", lambda r: r["model"]),
        Column("Nash rating [95% CI]", "nash_rating", lambda r: _with_interval(r, "nash_rating", 4), "nash_rating"),
        Column("Nash weight [95% CI]", "nash_weight", lambda r: _with_interval(r, "nash_weight", 4), "nash_weight"),
        Column("in support", "nash_support_share", lambda r: _fixed(r["nash_support_share"], 3)),
    ]  # fmt: skip
    if board.nash_temperature is not None:
        columns += [
            Column("QRE rating [95% CI]", "qre_rating", lambda r: _with_interval(r, "qre_rating", 4), "qre_rating"),
            Column("QRE weight [95% CI]", "qre_weight", lambda r: _with_interval(r, "qre_weight", 4), "qre_weight"),
        ]  # fmt: skip
    columns += [
        Column("Elo [95% CI]", "elo", lambda r: _with_interval(r, "elo", 1), "elo"),
        Column("rank by CI", "elo_rank_ci", lambda r: str(r["elo_rank_ci"])),
        Column("tied for top", "tied_for_top", lambda r: TIE_LABELS[(r["tied_for_top"], r["elo_tied_for_top"])]),
        Column("win rate", "win_rate", lambda r: _fixed(r["win_rate"], 3)),
        Column("opponents", "opponents", lambda r: str(r["opponents"])),
        Column("matches", "matches", lambda r: str(r["matches"])),
    ]  # fmt: skip
    return columns


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN and infinities to null."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def page_data(board: Leaderboard, samples: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """The numbers the script needs, all from the board (the same as leaderboard.json's), and the judged
    sample pairs a tournament stored (arena.page.samples), keyed `"a|b"`."""
    index = {model: i for i, model in enumerate(board.models)}
    pairs = [
        [index[r["model"]], index[r["opponent"]], *(_plain(r[f]) for f in PAIR_FIELDS[2:])]
        for r in board.pairs.to_dict(orient="records")
        if r["model"] != r["opponent"]
    ]
    return {
        "name": board.name,
        "columns": list(board.columns),
        "rows": [{c: _plain(row[c]) for c in board.columns} for row in board.rows],
        "models": list(board.models),
        "support": list(board.support),
        # Four decimals: the heatmap shows percentages; the panel's numbers come from `pairs`.
        "winrates": [[round(float(w), 4) for w in row] for row in board.W],
        "imputed": [[int(i), int(j)] for i, j in zip(*board.imputed.nonzero(), strict=True)],
        "pair_fields": list(PAIR_FIELDS),
        "pairs": pairs,
        "extra": {"columns": [], "values": {}},
        "samples": samples or {},
    }


def _table(board: Leaderboard) -> str:
    columns = table_columns(board)
    head = "".join(
        f'<th data-key="{c.key}"'
        + (f' data-bar="{c.bar}"' if c.bar else "")
        + f">{html.escape(c.heading)}</th>"
        for c in columns
    )
    support = set(board.support)
    body = "\n".join(
        f'<tr data-row="{i}"' + (' class="support"' if row["model"] in support else "") + ">"
        + "".join(f"<td>{html.escape(c.text(row))}</td>" for c in columns)
        + "</tr>"
        for i, row in enumerate(board.rows)
    )  # fmt: skip
    return f'<table class="models" id="models">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>'


def _asset(name: str) -> str:
    return resources.files("arena.page").joinpath(name).read_text(encoding="utf-8")


def _script_json(data: dict[str, Any]) -> str:
    """JSON that cannot close its <script> element early."""
    return json.dumps(data, allow_nan=False, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def render_page(
    board: Leaderboard, heatmap_png: bytes, samples: dict[str, list[dict[str, Any]]] | None = None
) -> str:
    """One self-contained page: summary, links, the sortable table, the interactive heatmap, the
    head-to-head panel, the pairs' tests (small boards) and the static heatmap as a data URI."""
    from arena.leaderboard import PAIR_TABLE_MODELS, PAIRS_NOTE, _html_table, _summary, formatted_pairs

    title = html.escape(board.name)
    links = " · ".join(f'<a href="{name}">{name}</a>' for name in LINKS)
    pairs = (
        f"\n<h2>Head to head</h2>\n<p>{html.escape(PAIRS_NOTE)}</p>\n"
        + _html_table(*formatted_pairs(board), "pairs")
        if len(board.models) <= PAIR_TABLE_MODELS
        else ""
    )
    # Large boards refer to heatmap.png beside the page instead of inlining it (Chatbot Arena's is 1.2 MB,
    # and the canvas heatmap already shows every cell); the page works without it.
    image = (
        "data:image/png;base64," + base64.b64encode(heatmap_png).decode("ascii")
        if len(board.models) <= INLINE_HEATMAP_MODELS
        else "heatmap.png"
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
{_asset("page.css")}</style>
</head>
<body>
<h1>{title}</h1>
<p class="summary">{html.escape(_summary(board))}</p>
<p class="links">Data: {links}</p>
<div class="controls"><label>Search models <input id="search" type="search" placeholder="name contains"></label>
<span id="shown"></span> <span class="legend"><span class="swatch support"></span> in the Nash support</span></div>
{_table(board)}
<h2>Win rates</h2>
<p>P(row beats column). Hover a cell for its value, click it for the head to head. Pale cells were never
played: their win rate is imputed from the Bradley-Terry fit.</p>
<div class="controls"><label>Zoom <input id="zoom" type="range" min="3" max="40" step="1"></label>
<span id="hover"></span></div>
<div id="heatmap-box"><canvas id="heatmap"></canvas></div>
<div id="detail" hidden></div>{pairs}
<details><summary>Static heatmap (heatmap.png)</summary>
<img alt="win-rate heatmap of {title}" src="{image}">
</details>
<script type="application/json" id="{DATA_ID}">{_script_json(page_data(board, samples))}</script>
<script>
{_asset("page.js")}</script>
</body>
</html>
"""


_DATA = re.compile(rf'(<script type="application/json" id="{DATA_ID}">)(.*?)(</script>)', re.DOTALL)


def add_columns(page: Path, columns: list[str], values: dict[str, dict[str, Any]]) -> None:
    """Show a task's own per-model columns (e.g. the moves task's malformed share and exploitability) in a
    published page: they join the embedded numbers, and the script adds them to the table."""
    text = page.read_text(encoding="utf-8")
    found = _DATA.search(text)
    if found is None:
        raise ValueError(f"{page}: not a page written by arena.page (no {DATA_ID} element)")
    data = json.loads(found.group(2))
    merged = dict(data["extra"]["values"])
    for model, row in values.items():
        merged[model] = {**merged.get(model, {}), **{column: _plain(value) for column, value in row.items()}}
    data["extra"] = {"columns": list(dict.fromkeys([*data["extra"]["columns"], *columns])), "values": merged}
    replaced = text[: found.start(2)] + _script_json(data) + text[found.end(2) :]
    atomic_write_text(page, replaced)
