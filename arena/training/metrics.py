"""metrics.jsonl: one JSON object per logged step, appended as training goes.

On resume the lines after the checkpoint's step are dropped first, so a resumed run's file equals an
uninterrupted run's.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from arena.io import atomic_write_text


class MetricsLog:
    def __init__(self, path: Path, *, resume_from_step: int | None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume_from_step is None:
            atomic_write_text(path, "")
        elif path.exists():
            kept = [line for line in path.read_text().splitlines() if _step_of(line) <= resume_from_step]
            atomic_write_text(path, "".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(_finite(record)) + "\n")
            stream.flush()


def _step_of(line: str) -> float:
    """The step of a line; a line cut short by a kill counts as after every checkpoint."""
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return math.inf


def read_metrics(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _finite(record: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN or infinity: write them as null rather than invalid JSON."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
