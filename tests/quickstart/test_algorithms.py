"""The algorithm table pools each algorithm's training runs; its intervals resample replicates of the
pipeline (all of seed k's models together), then prompts.

Checked against an independent computation with plain loops over rounds, runs, prompts and matches,
from the same random draws (the draw order is part of the documented, seeded method).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from arena.quickstart.algorithms import algorithm_of, algorithm_table, replicate_of
from arena.ratings.nash import max_entropy_nash
from arena_plugins.moves.publish import MoveCounts

MOVES = ("Rock", "Scissors", "Paper")
CYCLE = [[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]]
ENTRANTS = [
    "reference",
    "reference-s1",
    "reference-s2",
    "alpha",
    "alpha-s1",
    "alpha-s2",
    "beta",
    "beta-s1",
    "beta-s2",
]
PROMPTS = ["p0", "p1", "p2", "p3"]


def task() -> SimpleNamespace:
    def report(responses: list[str]) -> SimpleNamespace:
        counts = tuple(responses.count(move) for move in MOVES)
        return SimpleNamespace(counts=counts, malformed_count=responses.count("bad"))

    return SimpleNamespace(moves=MOVES, preferences=CYCLE, report=report)


def tournament(seed: int = 7) -> tuple[pd.DataFrame, dict[str, dict[str, list[SimpleNamespace]]]]:
    """Random texts per entrant and prompt, and random soft outcomes for every pairing and prompt."""
    rng = np.random.default_rng(seed)
    texts = ["Rock", "Scissors", "Paper", "bad"]
    samples = {
        name: {p: [SimpleNamespace(text=texts[k]) for k in rng.integers(0, 4, size=3)] for p in PROMPTS}
        for name in ENTRANTS
    }
    rows = [
        {"model_a": a, "model_b": b, "p_a": float(rng.choice([0.0, 0.5, 1.0, 0.8])), "prompt_id": p}
        for i, a in enumerate(ENTRANTS)
        for b in ENTRANTS[i + 1 :]
        for p in range(len(PROMPTS))
        for _ in range(2)
    ]
    return pd.DataFrame(rows), samples


def pooled_by_loops(matches: pd.DataFrame, run_times: dict[str, float], prompt_times: list[float]) -> dict:
    """Algorithm-pair win rates from the drawn runs and prompts, one match at a time."""
    wins: dict[tuple[str, str], float] = {}
    played: dict[tuple[str, str], float] = {}
    for row in matches.itertuples():
        weight = run_times[row.model_a] * run_times[row.model_b] * prompt_times[row.prompt_id]
        g, h = algorithm_of(row.model_a), algorithm_of(row.model_b)
        if g == h:
            continue
        for first, second, points in ((g, h, row.p_a), (h, g, 1.0 - row.p_a)):
            wins[(first, second)] = wins.get((first, second), 0.0) + weight * points
            played[(first, second)] = played.get((first, second), 0.0) + weight
    return {pair: wins[pair] / played[pair] for pair in wins if played[pair] > 0}


def test_algorithm_of_strips_the_seed_suffix() -> None:
    assert [replicate_of(n) for n in ("nash-md", "nash-md-s2", "online-ipo-s10")] == [0, 2, 10]
    assert [algorithm_of(n) for n in ("nash-md", "nash-md-s2", "online-ipo-s10", "ipo")] == [
        "nash-md",
        "nash-md",
        "online-ipo",
        "ipo",
    ]


def test_point_estimate_pools_every_run_and_prompt() -> None:
    matches, samples = tournament()
    table = algorithm_table(MoveCounts(task()), matches, samples, rounds=20, seed=1)
    expected = pooled_by_loops(matches, dict.fromkeys(ENTRANTS, 1.0), [1.0] * len(PROMPTS))
    got = {(p["model"], p["opponent"]): p["win_rate"] for p in table["pairs"]}
    assert got.keys() == expected.keys()
    for pair, rate in expected.items():
        assert got[pair] == pytest.approx(rate, abs=1e-12)
    rows = {row["model"]: row for row in table["models"]}
    assert rows["beta"]["seeds"] == 3 and rows["beta"]["entrants"] == ["beta", "beta-s1", "beta-s2"]
    # Each replicate's own equilibrium, from its models alone.
    for replicate in table["replicates"]:
        k = replicate["seed"]
        alone = {name: float(replicate_of(name) == k) for name in ENTRANTS}
        rates = pooled_by_loops(matches, alone, [1.0] * len(PROMPTS))
        algorithms = list(dict.fromkeys(algorithm_of(n) for n in ENTRANTS))
        W = np.array([[rates.get((g, h), 0.5) for h in algorithms] for g in algorithms])
        expected_weights = dict(zip(algorithms, max_entropy_nash(W), strict=True))
        assert replicate["nash_weight"] == pytest.approx(expected_weights, abs=1e-9)
        run = "beta" + (f"-s{k}" if k else "")
        answers_k = [sample.text for p in PROMPTS for sample in samples[run][p]]
        assert replicate["malformed"]["beta"] == pytest.approx(
            answers_k.count("bad") / len(answers_k), abs=1e-12
        )
    # Malformed share pools the runs' answers: beta's three runs, every prompt.
    answers = [s.text for name in ("beta", "beta-s1", "beta-s2") for p in PROMPTS for s in samples[name][p]]
    assert rows["beta"]["malformed"] == pytest.approx(answers.count("bad") / len(answers), abs=1e-12)


def test_intervals_match_loops_over_the_same_draws() -> None:
    matches, samples = tournament()
    rounds, seed = 60, 3
    table = algorithm_table(MoveCounts(task()), matches, samples, rounds=rounds, seed=seed)
    algorithms = list(dict.fromkeys(algorithm_of(n) for n in ENTRANTS))
    rng = np.random.default_rng(seed)
    # The replicates first (jointly: seed k's models stay together), then the prompts: the documented order.
    replicate_draws = rng.multinomial(3, [1 / 3] * 3, size=rounds)
    prompt_draws = rng.multinomial(len(PROMPTS), [1 / len(PROMPTS)] * len(PROMPTS), size=rounds)
    weights, alpha_vs_reference = [], []
    for r in range(rounds):
        run_times = {name: float(replicate_draws[r][replicate_of(name)]) for name in ENTRANTS}
        rates = pooled_by_loops(matches, run_times, [float(t) for t in prompt_draws[r]])
        W = np.array([[rates.get((g, h), 0.5) for h in algorithms] for g in algorithms])
        weights.append(max_entropy_nash(W))
        alpha_vs_reference.append(rates[("alpha", "reference")])
    weights = np.array(weights)
    rows = {row["model"]: row for row in table["models"]}
    for g, algo in enumerate(algorithms):
        low, high = np.percentile(weights[:, g], [2.5, 97.5])
        assert rows[algo]["nash_weight_ci_low"] == pytest.approx(low, abs=1e-9)
        assert rows[algo]["nash_weight_ci_high"] == pytest.approx(high, abs=1e-9)
        assert rows[algo]["nash_support_share"] == pytest.approx(np.mean(weights[:, g] > 1e-9), abs=1e-12)
    pair = next(p for p in table["pairs"] if p["model"] == "alpha" and p["opponent"] == "reference")
    assert [pair["win_rate_ci_low"], pair["win_rate_ci_high"]] == pytest.approx(
        list(np.percentile(alpha_vs_reference, [2.5, 97.5])), abs=1e-12
    )


def test_a_table_is_reproducible_byte_for_byte() -> None:
    matches, samples = tournament()
    first = algorithm_table(MoveCounts(task()), matches, samples, rounds=50, seed=5)
    assert algorithm_table(MoveCounts(task()), matches, samples, rounds=50, seed=5) == first


def test_algorithms_with_different_replicates_are_refused() -> None:
    matches, samples = tournament()
    del samples["beta-s2"]
    with pytest.raises(ValueError, match="same replicates"):
        algorithm_table(MoveCounts(task()), matches[matches["model_b"] != "beta-s2"], samples, rounds=5)
