"""Bootstrap Nash on Chatbot Arena's 129 models: 1000 rounds against the target of issue 14 (under 60 s).

    python benchmarks/ratings_nash_bootstrap.py                 # 1000 rounds, 30 rounds solved whole
    python benchmarks/ratings_nash_bootstrap.py --naive 100     # more rounds for the naive estimate

Times, in one process after a warm-up (imports, HiGHS start-up):
- the point estimate: win rates, the Bradley-Terry fit and one maximum-entropy Nash equilibrium;
- the Bradley-Terry bootstrap alone (1000 rounds), as before issue 14;
- the same bootstrap with every round's Nash equilibrium (arena.ratings.nash_bootstrap: certified
  restricted solves, the full solver where the certificate does not settle a round); the difference is
  what the Nash intervals cost;
- the naive alternative, the full solver on every round's 129 x 129 matrix, measured on --naive rounds
  and scaled to 1000 (it also checks that both give the same equilibria);
- with a quantal-response temperature (--temperature), the rounds' QRE as well;
- build_leaderboard, the whole board without rendering (bootstrap, Nash, QRE off, paired tests).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from arena.ratings import bradley_terry, max_entropy_nash, quantal_response_nash, read_matches
from arena.ratings.bradley_terry import BootstrapChunk
from arena.ratings.nash_bootstrap import NashBootstrap, RoundGames
from arena.ratings.table import build_leaderboard
from arena.ratings.winrates import win_rate_matrix

REPO = Path(__file__).resolve().parents[1]
CHATBOT_ARENA = REPO.parent / "shared" / "data" / "chatbot_arena_20240814" / "chatbotarena_20240814.json"
TARGET_SECONDS = 60.0


def seconds(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--naive", type=int, default=30, help="rounds solved whole for the naive estimate")
    parser.add_argument("--temperature", type=float, default=0.01, help="for the QRE timing")
    args = parser.parse_args()
    if not CHATBOT_ARENA.is_file():
        raise SystemExit(f"missing {CHATBOT_ARENA}: the benchmark needs ../shared/data")
    load = os.getloadavg()[0]
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, load {load:.1f}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '-')}")  # fmt: skip
    matches = read_matches(CHATBOT_ARENA)
    models, observed, _ = win_rate_matrix(matches)

    def point_estimate() -> tuple[np.ndarray, np.ndarray]:
        fit = bradley_terry(matches, bootstrap=0)
        W = np.where(np.isnan(observed), fit.win_probability(), observed)
        return W, max_entropy_nash(W)

    point_estimate()  # warm-up
    point_seconds = seconds(point_estimate)
    W, point = point_estimate()
    elo_seconds = seconds(lambda: bradley_terry(matches, bootstrap=args.rounds, seed=0))
    rounds = NashBootstrap(W, np.flatnonzero(point > 0))
    chunks: list[BootstrapChunk] = []

    def keep(chunk: BootstrapChunk) -> None:
        chunks.append(chunk)
        rounds.consume(chunk)

    both_seconds = seconds(lambda: bradley_terry(matches, bootstrap=args.rounds, seed=0, each_chunk=keep))
    nash_seconds = both_seconds - elo_seconds
    samples = rounds.samples()
    # The naive path: the full solver on the first rounds' whole matrices.
    games = RoundGames(chunks[0], len(models))
    matrices = [games.full(r) for r in range(min(args.naive, chunks[0].n.shape[0]))]
    start = time.perf_counter()
    naive = [max_entropy_nash(W_r) for W_r in matrices]
    naive_seconds = (time.perf_counter() - start) / len(matrices) * args.rounds
    difference = max(float(np.max(np.abs(p - samples.weight[r]))) for r, p in enumerate(naive))
    qre_point = quantal_response_nash(W, args.temperature)
    qre_rounds = NashBootstrap(W, np.flatnonzero(point > 0), args.temperature, qre_point)
    qre_seconds = seconds(lambda: [qre_rounds.consume(chunk) for chunk in chunks])
    board_seconds = seconds(
        lambda: build_leaderboard(matches, "Chatbot Arena", bootstrap=args.rounds, seed=0)
    )
    mixed = int(np.sum(np.sum(samples.weight > 0, axis=1) > 1))
    print(f"{len(models)} models, {matches.n_matches:,} matches, {args.rounds} rounds; point support "
          f"{int(np.sum(point > 0))} model(s); {mixed} rounds with a mixed equilibrium; "
          f"{samples.full_solves} rounds solved whole")  # fmt: skip
    print(f"naive check: {len(matrices)} rounds, largest weight difference {difference:.1e}")
    rows = [
        ("point estimate (win rates, Bradley-Terry, one Nash)", point_seconds),
        (f"Bradley-Terry bootstrap alone, {args.rounds} rounds", elo_seconds),
        (f"Bradley-Terry bootstrap + Nash per round, {args.rounds} rounds", both_seconds),
        ("  of which Nash per round (certified restricted solves)", nash_seconds),
        (f"  naive: full solver per round ({len(matrices)} measured, scaled)", naive_seconds),
        (f"  QRE per round, temperature {args.temperature:g}", qre_seconds),
        (f"build_leaderboard, {args.rounds} rounds (no rendering)", board_seconds),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    print(f"{'case':<{width}}  {'seconds':>8}  {'x point':>8}  {'/ target':>8}")
    for name, value in rows:
        print(f"{name:<{width}}  {value:8.2f}  {value / point_seconds:8.1f}  {value / TARGET_SECONDS:8.3f}")
    print(
        f"Nash per round: {naive_seconds / max(nash_seconds, 1e-9):.0f} times faster than the naive full solve"
    )


if __name__ == "__main__":
    main()
