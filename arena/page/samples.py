"""A few judged sample pairs per pair of entrants, for the page's head-to-head panel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# The page carries at most this many samples in all (a few per pair on small boards, one on large ones,
# none past MAX_PAIRS), each response cut to MAX_CHARS: the page stays a few hundred kB.
TOTAL_SAMPLES = 600
PER_PAIR = 3
MAX_PAIRS = 2000
MAX_CHARS = 600


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + " [...]"


def sample_pairs(rows: Sequence[dict[str, Any]], prompts: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """`"a|b"` -> the first judged pairs of a's and b's responses in the tournament's order (responses that
    differ first, as identical ones are a tie by definition), with P(a's response wins)."""
    by_pair: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_pair.setdefault(f"{row['model_a']}|{row['model_b']}", []).append(row)
    if not by_pair or len(by_pair) > MAX_PAIRS:
        return {}
    per_pair = max(1, min(PER_PAIR, TOTAL_SAMPLES // len(by_pair)))
    chosen = {}
    for key, pair_rows in by_pair.items():
        ordered = sorted(
            pair_rows, key=lambda r: r["response_a"] == r["response_b"]
        )  # stable: differing first
        chosen[key] = [
            {
                "prompt": _cut(prompts[int(r["prompt_id"])]),
                "response_a": _cut(r["response_a"]),
                "response_b": _cut(r["response_b"]),
                "p_a": float(r["p_a"]),
            }
            for r in ordered[:per_pair]
        ]
    return chosen
