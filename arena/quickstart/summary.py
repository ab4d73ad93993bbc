"""The quickstart's closing terminal output: what each stage did, then the first tournament's ranking with
its task's columns."""

from __future__ import annotations

from typing import Any

from arena import console
from arena.quickstart.plan import QuickstartOptions


def print_summary(out: Any, summary: dict[str, Any], options: QuickstartOptions) -> None:
    stage_rows = [
        [r.stage.name, "reused" if r.reused else "ran", f"{r.seconds:.1f}", r.outcome]
        for r in summary["results"]
    ]
    out.print(console.table("arena quickstart: stages", ["stage", "", "seconds", "result"], stage_rows))
    ranking = next((r.ranking for r in summary["results"] if r.ranking is not None), None)
    if ranking is not None:
        title, headings, cells = ranking
        out.print(console.table(title, headings, cells))
        out.print(
            f"published to {options.publish_to}/ (README.md, heatmap.png, training-curves.png, index.html)"
        )
    out.print(f"{len(summary['results'])} stages in {summary['seconds']:.1f} s; runs in {options.out}/")
