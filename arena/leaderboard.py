"""Publishing a leaderboard: leaderboard.json/.md/.csv, winrates.csv, heatmap.png and index.html.

Everything is rendered in memory first and only then written (each file atomically), so a failure while
rendering leaves the output folder as it was.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from arena.io import atomic_write_bytes, atomic_write_text
from arena.ratings.table import Leaderboard, leaderboard_json

FILES = ("leaderboard.json", "leaderboard.md", "leaderboard.csv", "winrates.csv", "heatmap.png", "index.html")
TIE_LABELS = {(True, True): "Nash, Elo", (True, False): "Nash", (False, True): "Elo", (False, False): ""}


def _fixed(value: float, digits: int) -> str:
    return "-" if not math.isfinite(value) else f"{value:.{digits}f}"


def _interval(row: dict[str, Any], name: str, digits: int) -> str:
    return _bounds(row[f"{name}_ci_low"], row[f"{name}_ci_high"], digits)


def _bounds(low: float, high: float, digits: int) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "-"
    return f"[{_fixed(low, digits)}, {_fixed(high, digits)}]"


def _with_interval(row: dict[str, Any], name: str, digits: int) -> str:
    """`value [low, high]`, or the value alone without an interval."""
    interval = _interval(row, name, digits)
    value = _fixed(row[name], digits)
    return value if interval == "-" else f"{value} {interval}"


def _cells(board: Leaderboard) -> list[tuple[str, Callable[[dict[str, Any]], str]]]:
    cells: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("rank", lambda r: str(r["rank"])),
        ("model", lambda r: r["model"]),
        ("Nash rating [95% CI]", lambda r: _with_interval(r, "nash_rating", 4)),
        ("Nash weight [95% CI]", lambda r: _with_interval(r, "nash_weight", 4)),
        ("in support", lambda r: _fixed(r["nash_support_share"], 3)),
    ]
    if board.nash_temperature is not None:
        cells += [
            ("QRE rating [95% CI]", lambda r: _with_interval(r, "qre_rating", 4)),
            ("QRE weight [95% CI]", lambda r: _with_interval(r, "qre_weight", 4)),
        ]
    cells += [
        ("Elo [95% CI]", lambda r: _with_interval(r, "elo", 1)),
        ("rank by CI", lambda r: str(r["elo_rank_ci"])),
        ("tied for top", lambda r: TIE_LABELS[(r["tied_for_top"], r["elo_tied_for_top"])]),
        ("win rate", lambda r: _fixed(r["win_rate"], 3)),
        ("opponents", lambda r: str(r["opponents"])),
        ("matches", lambda r: str(r["matches"])),
    ]
    return cells


def formatted_rows(board: Leaderboard) -> tuple[list[str], list[list[str]]]:
    """The table as people read it (terminal, markdown, html): rounded, each value with its interval."""
    cells = _cells(board)
    return [heading for heading, _ in cells], [[write(row) for _, write in cells] for row in board.rows]


# Boards up to this many models also list every pair's test in leaderboard.md and index.html.
PAIR_TABLE_MODELS = 20


def formatted_pairs(board: Leaderboard) -> tuple[list[str], list[list[str]]]:
    """Each pair of different models once, from the side of the one ranked higher, in table order."""
    headings = ["model", "opponent", "win rate", "95% CI", "p-value", "units", "matches"]
    rank = {model: i for i, model in enumerate(board.models)}
    rows = []
    for record in board.pairs.to_dict(orient="records"):
        model, opponent = record["model"], record["opponent"]
        if model == opponent or rank[model] > rank[opponent]:
            continue
        interval = _bounds(record["win_rate_ci_low"], record["win_rate_ci_high"], 3)
        cells = [model, opponent, _fixed(record["win_rate"], 3), interval, _p_value(record["p_value"]),
                 str(record["units"]), str(record["n"])]  # fmt: skip
        rows.append(((rank[model], rank[opponent]), cells))
    return headings, [cells for _, cells in sorted(rows, key=lambda item: item[0])]


def _p_value(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def render_json(board: Leaderboard) -> str:
    """Indented two levels deep, each model, pair and win-rate row on one line: readable and diffable
    (a fully indented file would put each of Chatbot Arena's 16,641 win rates on a line of its own)."""
    return _indented(leaderboard_json(board), 0) + "\n"


def _indented(value: Any, depth: int) -> str:
    if depth >= 2 or not isinstance(value, dict | list) or not value:
        return json.dumps(value, allow_nan=False, ensure_ascii=False)
    inner, outer = "  " * (depth + 1), "  " * depth
    if isinstance(value, dict):
        items = [
            f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {_indented(v, depth + 1)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{outer}}}"
    return "[\n" + ",\n".join(f"{inner}{_indented(v, depth + 1)}" for v in value) + f"\n{outer}]"


def render_csv(board: Leaderboard) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(board.columns)
    for row in board.rows:
        writer.writerow(
            ["" if isinstance(row[c], float) and not math.isfinite(row[c]) else row[c] for c in board.columns]
        )
    return buffer.getvalue()


def render_winrates_csv(board: Leaderboard) -> str:
    """Observed win rates only (row beats column); pairs never played are left empty, not imputed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", *board.models])
    for i, model in enumerate(board.models):
        writer.writerow(
            [model, *("" if board.imputed[i, j] else repr(float(w)) for j, w in enumerate(board.W[i]))]
        )
    return buffer.getvalue()


def _summary(board: Leaderboard) -> str:
    fit = board.fit
    if fit.bootstrap:
        intervals = (
            f"Intervals: 95% bootstrap percentile intervals from {fit.bootstrap} rounds resampled by "
            f"{fit.resampled_by}, seed {board.seed}; each round also gives a maximum-entropy Nash equilibrium "
            f"(the Nash intervals), and 'in support' is the share of rounds in which the model is in its "
            f"support. Tied for top: the model's interval overlaps the leader's (Nash: {_names(board.tied_for_top)}; "
            f"Elo: {_names(board.elo_tied_for_top)})."
        )
    else:
        intervals = (
            "No bootstrap (--bootstrap 0): no intervals, and tied for top means an equal point value "
            f"(Nash: {_names(board.tied_for_top)}; Elo: {_names(board.elo_tied_for_top)})."
        )
    qre = (
        f" QRE: the quantal-response equilibrium p = softmax(A p / T) at temperature T = "
        f"{board.nash_temperature:g}, which moves continuously with the win rates; QRE rating = (A p)_i."
        if board.nash_temperature is not None
        else ""
    )
    counters = (
        " Judge: " + ", ".join(f"{key} {value:,}" for key, value in board.judge_counters.items()) + "."
        if board.judge_counters
        else ""
    )
    return (
        f"{len(board.models)} models, {board.n_matches:,} matches from {board.source}. Sorted by Nash rating "
        f"(the maximum-entropy Nash equilibrium of A = W - 1/2; 0 on the support), then Elo (Bradley-Terry, "
        f"mean 1000, 400 points per factor of 10 in odds). {intervals}{qre} Win rate: mean over the opponents "
        f"played. {int(board.imputed.sum())} of {board.W.size - len(board.models)} win-rate cells were never "
        f"played and are imputed from the Bradley-Terry fit for the Nash game (hatched in the heatmap). "
        f"Bradley-Terry NLL per match: {fit.nll_per_match:.4f}.{counters}"
    )


def _names(models: list[str]) -> str:
    return ", ".join(models) if models else "none"


PAIRS_NOTE = (
    "Each pair once, from the higher-ranked model's side: its win rate, the 95% interval and two-sided "
    "p-value of a t-test against 1/2 paired by prompt (units: the prompts, or matches without prompt ids, "
    "the test is over; docs/ratings.md)."
)


def _markdown_table(headings: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headings) + " |"]
    lines.append("|" + "|".join("---" if h in ("model", "opponent") else "---:" for h in headings) + "|")
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def _control_line(board: Leaderboard) -> list[str]:
    """The line that says a board is length- or style-controlled (nothing on a plain board)."""
    if board.control is None:
        return []
    slopes = board.control["slopes"]["bradley_terry"]
    fitted = ", ".join(f"{name} {value:+.3f}" for name, value in slopes.items())
    return [
        f"Controlled for {board.control['kind']} ({', '.join(board.control['covariates'])}): Elo from "
        f"Bradley-Terry with these covariates (slopes in log-odds: {fitted}), Nash on the pairs' win rates "
        "predicted with the covariates at 0, win rate the mean of those; head-to-head tests stay observed.",
        "",
    ]


def render_markdown(board: Leaderboard) -> str:
    lines = [f"# {board.name}", "", _summary(board), "", *_control_line(board)]
    lines += _markdown_table(*formatted_rows(board))
    if len(board.models) <= PAIR_TABLE_MODELS:
        lines += ["", "## Head to head", "", PAIRS_NOTE, "", *_markdown_table(*formatted_pairs(board))]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class HeatmapLayout:
    """Where the heatmap's grid sits, in inches: fixed margins, because tight_layout would render the
    whole figure a second time (seconds, at 129 models)."""

    n: int
    cell: float
    font: float
    dpi: int
    label: float  # room for the model names, left of and below the grid
    left: float  # the grid's left edge
    top: float  # room for the title, above the grid
    width: float
    height: float

    def cell_centre_pixels(self, row: int, column: int) -> tuple[float, float]:
        """(x, y) of a cell's centre in the PNG, y counted from the top."""
        return (self.left + (column + 0.5) * self.cell) * self.dpi, (
            self.top + (row + 0.5) * self.cell
        ) * self.dpi


def heatmap_layout(models: list[str]) -> HeatmapLayout:
    n = len(models)
    cell = 0.5 if n <= 10 else (0.34 if n <= 40 else 0.26)
    font = 8 if n <= 20 else (6 if n <= 60 else 4.5)
    label = max(len(m) for m in models) * (font + 1) * 0.62 / 72 + 0.6
    grid, top, right = cell * n, 0.9, 1.1
    width = max(label + grid + right, 5.0)
    left = label + (width - label - grid - right) / 2
    return HeatmapLayout(n, cell, font, 100 if n <= 60 else 80, label, left, top, width, label + grid + top)


def render_heatmap(board: Leaderboard) -> bytes:
    """The win-rate matrix as a PNG, models in table order, percentages in the cells; imputed cells pale,
    hatched and in grey italics."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as Outline

    layout = heatmap_layout(board.models)
    n, font, grid = layout.n, layout.font, layout.cell * layout.n
    width, height, left, label = layout.width, layout.height, layout.left, layout.label
    figure = plt.figure(figsize=(width, height), dpi=layout.dpi)
    axes = figure.add_axes((left / width, label / height, grid / width, grid / height))
    colours = plt.get_cmap("RdBu")(board.W)
    colours[board.imputed] = 0.55 * colours[board.imputed] + 0.45  # paler: an estimate, not a result
    axes.imshow(colours, interpolation="nearest", aspect="auto")
    cells = np.argwhere(board.imputed)
    if len(cells):
        # One outline made of all imputed squares, hatched at once (a patch per cell is slow).
        corners = np.array([(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5), (-0.5, -0.5)])
        vertices = (cells[:, None, ::-1] + corners[None]).reshape(-1, 2)
        codes = np.tile([Outline.MOVETO, *[Outline.LINETO] * 3, Outline.CLOSEPOLY], len(cells))
        outline = PathPatch(
            Outline(vertices, codes), facecolor="none", edgecolor="0.6", hatch="///", linewidth=0
        )
        outline.set_transform(axes.transData)
        axes.add_artist(outline)  # add_patch would walk all its segments to update the data limits
    axes.add_collection(_cell_numbers(board, font, figure.dpi, axes))
    axes.set_xticks(range(n), board.models, rotation=90, fontsize=font + 1)
    axes.set_yticks(range(n), board.models, fontsize=font + 1)
    axes.set_xlim(-0.5, n - 0.5)
    axes.set_ylim(n - 0.5, -0.5)
    axes.set_xlabel("opponent (column)")
    axes.set_ylabel("model (row)")
    note = "\nhatched, grey: never played, imputed (Bradley-Terry)" if len(cells) else ""
    axes.set_title(f"{board.name}\nP(row beats column), %{note}", fontsize=9)
    bar = figure.add_axes(((left + grid + 0.2) / width, label / height, 0.2 / width, grid / height))
    figure.colorbar(plt.cm.ScalarMappable(cmap="RdBu", norm=plt.Normalize(0, 1)), cax=bar)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return _palette_png(buffer.getvalue())


def _palette_png(png: bytes) -> bytes:
    """The same image with a 256-colour palette: about a third of the bytes (it is embedded in
    index.html too), and the figure has far fewer colours than that anyway."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        palette = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG")
    return buffer.getvalue()


def _cell_numbers(board: Leaderboard, font: float, dpi: float, axes: Any) -> Any:
    """All cell labels as one PathCollection of pre-shaped glyphs: a Text artist per cell would take
    about 40 s for Chatbot Arena's 129 x 129 matrix, this takes about 2."""
    from matplotlib.collections import PathCollection
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    shapes: dict[tuple[str, bool], Any] = {}

    def shape(text: str, italic: bool) -> Any:
        if (text, italic) not in shapes:
            path = TextPath(
                (0, 0), text, prop=FontProperties(size=font, style="italic" if italic else "normal")
            )
            box = path.get_extents()
            centre = Affine2D().translate(-(box.x0 + box.x1) / 2, -(box.y0 + box.y1) / 2)
            shapes[(text, italic)] = path.transformed(centre)
        return shapes[(text, italic)]

    paths, offsets, colours = [], [], []
    for (i, j), value in np.ndenumerate(board.W):
        imputed = bool(board.imputed[i, j])
        paths.append(shape(f"{100 * value:.0f}", imputed))
        offsets.append((j, i))
        colours.append("0.3" if imputed else ("white" if abs(value - 0.5) > 0.3 else "black"))
    return PathCollection(
        paths,
        offsets=offsets,
        offset_transform=axes.transData,
        transform=Affine2D().scale(dpi / 72.0),  # glyphs are shaped in points
        facecolors=colours,
        edgecolors="none",
    )


def _html_table(headings: list[str], rows: list[list[str]], css_class: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headings)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css_class}">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>'


def render_html(
    board: Leaderboard, heatmap_png: bytes, samples: dict[str, list[dict[str, Any]]] | None = None
) -> str:
    """One self-contained page (arena.page): the sortable, searchable table with interval bars, the
    zoomable heatmap, head-to-head details on click, the pairs' tests (small boards), heatmap.png inline."""
    from arena.page import render_page

    return render_page(board, heatmap_png, samples)


def render_all(
    board: Leaderboard,
    metadata: dict[str, Any] | None = None,
    samples: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, bytes]:
    """Every output file's content, keyed by file name. `metadata` (e.g. a tournament's settings and
    entrants) joins the board's keys in leaderboard.json, which is then indented in full; `samples` (a
    tournament's judged pairs, arena.page.samples) are shown on the page only."""
    heatmap = render_heatmap(board)
    texts = {
        "leaderboard.json": render_json(board)
        if metadata is None
        else json.dumps({**leaderboard_json(board), **metadata}, indent=2) + "\n",
        "leaderboard.md": render_markdown(board),
        "leaderboard.csv": render_csv(board),
        "winrates.csv": render_winrates_csv(board),
        "index.html": render_html(board, heatmap, samples),
    }
    return {name: heatmap if name == "heatmap.png" else texts[name].encode("utf-8") for name in FILES}


def publish(
    board: Leaderboard,
    out: str | Path,
    metadata: dict[str, Any] | None = None,
    samples: dict[str, list[dict[str, Any]]] | None = None,
) -> list[Path]:
    """Render everything, then write the six files (each atomically: temp file, then rename)."""
    contents = render_all(board, metadata, samples)
    written = []
    for name, data in contents.items():
        if name.endswith(".png"):
            written.append(atomic_write_bytes(Path(out) / name, data))
        else:
            written.append(atomic_write_text(Path(out) / name, data.decode("utf-8")))
    return written
