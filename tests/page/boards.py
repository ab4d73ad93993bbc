"""A small board for the page's tests: five models in a cycle plus a strong one that never meets one of
them (so the heatmap has imputed cells), matches paired by prompt."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from arena.leaderboard import publish
from arena.ratings import read_matches
from arena.ratings.table import Leaderboard, build_leaderboard

MODELS = ("paper", "rock", "scissors", "lizard", "spock")
# P(first beats second): a cycle among paper/rock/scissors, lizard beats paper, spock beats everyone.
EDGES = {
    ("paper", "rock"): 0.75,
    ("rock", "scissors"): 0.7,
    ("scissors", "paper"): 0.72,
    ("lizard", "paper"): 0.65,
}
NEVER = {("spock", "lizard"), ("lizard", "spock")}


def write_matches(path: Path, seed: int = 0, n: int = 900) -> Path:
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model_a", "model_b", "winner", "prompt_id"])
        for k in range(n):
            a, b = (str(m) for m in rng.choice(MODELS, size=2, replace=False))
            if (a, b) in NEVER:
                continue
            p = (
                0.8
                if a == "spock"
                else 0.2
                if b == "spock"
                else EDGES.get((a, b), 1 - EDGES.get((b, a), 0.5))
            )
            writer.writerow([a, b, "model_a" if rng.random() < p else "model_b", f"prompt-{k % 40}"])
    return path


def small_board(folder: Path) -> Leaderboard:
    """Build and publish the board (with the quantal-response columns) into `folder`."""
    matches = read_matches(write_matches(folder / "matches.csv"))
    board = build_leaderboard(matches, "five <models>", bootstrap=40, seed=0, nash_temperature=0.05)
    publish(board, folder / "board")
    return board
