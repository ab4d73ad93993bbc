"""Timings of the ratings against the targets of issue 3.

    python benchmarks/ratings.py            # everything (about 2 minutes on 2 cores)
    python benchmarks/ratings.py --quick    # Nash and the 50-model bootstrap only

- max_entropy_nash on random win-rate matrices of 10, 50 and 200 models (target: 200 under 2 s);
- bradley_terry with 1000 bootstrap rounds on 100k random matches among 10, 50 and 200 models
  (target: 50 models under 10 s);
- the whole `arena leaderboard` (a fresh process, as a user runs it) on Chatbot Arena's 129-model counts
  with 1000 bootstrap rounds (target: under 60 s).

Each figure is the median of --repeats runs after one warm-up run (the leaderboard: a single run).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from arena.ratings import bradley_terry, max_entropy_nash

REPO = Path(__file__).resolve().parents[1]
CHATBOT_ARENA = REPO.parent / "shared" / "data" / "chatbot_arena_20240814" / "chatbotarena_20240814.json"


def random_win_rates(n: int, seed: int) -> np.ndarray:
    upper = np.triu(np.random.default_rng(seed).random((n, n)), 1)
    W = upper + np.tril(1.0 - upper.T, -1)
    np.fill_diagonal(W, 0.5)
    return W


def random_matches(n_models: int, n_matches: int, seed: int) -> pd.DataFrame:
    """Matches between random pairs, won according to random Bradley-Terry strengths, 10% ties."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0.0, 1.0, n_models)
    a = rng.integers(0, n_models, n_matches)
    b = (a + rng.integers(1, n_models, n_matches)) % n_models
    win = 1.0 / (1.0 + np.exp(strength[b] - strength[a]))
    outcome = np.where(rng.random(n_matches) < 0.1, 0.5, (rng.random(n_matches) < win).astype(float))
    names = np.array([f"model-{i:03d}" for i in range(n_models)])
    return pd.DataFrame({"model_a": names[a], "model_b": names[b], "p_a": outcome})


def timed(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up: imports, HiGHS start-up, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def leaderboard_seconds(bootstrap: int) -> float:
    if not CHATBOT_ARENA.is_file():
        raise SystemExit(f"missing {CHATBOT_ARENA}: the leaderboard benchmark needs ../shared/data")
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "arena", "leaderboard", str(CHATBOT_ARENA), "--out", out,
                   "--bootstrap", str(bootstrap), "--name", "Chatbot Arena 2024-08-14"]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="Nash and the 50-model bootstrap only")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    machine = platform.processor() or platform.machine()
    print(f"# {machine}, {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}")
    rows: list[tuple[str, float, float | None]] = []
    for n in (10, 50, 200):
        W = random_win_rates(n, seed=n)
        rows.append((f"max_entropy_nash, {n} models", timed(lambda W=W: max_entropy_nash(W), args.repeats),
                     2.0 if n == 200 else None))  # fmt: skip
    for n in (50,) if args.quick else (10, 50, 200):
        matches = random_matches(n, 100_000, seed=n)
        seconds = timed(
            lambda m=matches: bradley_terry(m, bootstrap=1000, seed=0), 1 if n == 200 else args.repeats
        )
        rows.append(
            (
                f"bradley_terry 1000 bootstrap rounds, {n} models, 100k matches",
                seconds,
                10.0 if n == 50 else None,
            )
        )
    if not args.quick:
        rows.append(
            ("arena leaderboard, Chatbot Arena 129 models, 1000 rounds", leaderboard_seconds(1000), 60.0)
        )
    width = max(len(name) for name, _, _ in rows)
    print(f"{'case':<{width}}  {'seconds':>8}  {'target':>7}  {'time/target':>11}")
    for name, seconds, target in rows:
        ratio = f"{seconds / target:.3f}" if target else "-"
        print(f"{name:<{width}}  {seconds:8.3f}  {target if target else '-':>7}  {ratio:>11}")


if __name__ == "__main__":
    main()
