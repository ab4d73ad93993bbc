"""The leaderboard page: one self-contained index.html (no network at view time, works from file://).

The table is rendered here in table order, so the page reads without JavaScript; the board's numbers
are embedded once as JSON, and page.js (inlined with page.css) adds sorting, search, interval bars, the
zoomable win-rate heatmap and the head-to-head panel from them.
"""

from __future__ import annotations

from arena.page.render import add_columns, page_data, render_page

__all__ = ["add_columns", "page_data", "render_page"]
