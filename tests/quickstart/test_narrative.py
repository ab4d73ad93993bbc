"""The quickstart README's claims come from intervals: ties are named as ties, leads only when disjoint.

Boards here are small hand-written leaderboard.json contents, so each rule is checked on its own; the
moves intervals are checked against an independent bootstrap written out with plain loops.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from arena.api import Interval, best_and_tied
from arena.quickstart.narrative import elo_claim, nash_claim, reference_claim, what_it_shows
from arena_plugins.moves import MovesArgs
from arena_plugins.moves.intervals import moves_intervals
from arena_plugins.moves.publish import moves_claims, readme_text, report_claims, spread_claim
from arena_plugins.moves.task import MovesTask

ROCK_PAPER_SCISSORS = [[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]]  # rock > scissors > paper > rock


def model(
    name: str, rating: tuple[float, float, float], elo: tuple[float, float, float], share: float
) -> dict:
    return {
        "model": name,
        "nash_rating": rating[0],
        "nash_rating_ci_low": rating[1],
        "nash_rating_ci_high": rating[2],
        "nash_weight": 1.0 if rating[0] == 0 else 0.0,
        "nash_weight_ci_low": 0.0,
        "nash_weight_ci_high": 1.0,
        "nash_support_share": share,
        "elo": elo[0],
        "elo_ci_low": elo[1],
        "elo_ci_high": elo[2],
        "win_rate": 0.5,
    }


def pair(a: str, b: str, rate: float, low: float, high: float) -> list[dict[str, Any]]:
    return [
        {"model": a, "opponent": b, "win_rate": rate, "win_rate_ci_low": low, "win_rate_ci_high": high},
        {
            "model": b,
            "opponent": a,
            "win_rate": 1 - rate,
            "win_rate_ci_low": 1 - high,
            "win_rate_ci_high": 1 - low,
        },
    ]


def board(tied: list[str], elo_tied: list[str]) -> dict[str, Any]:
    return {
        "models": [
            model("nash-md", (0.0, -0.01, 0.0), (1083.0, 1060.0, 1100.0), 0.62),
            model("online-ipo", (-0.002, -0.02, 0.0), (1045.0, 1030.0, 1065.0), 0.48),
            model("reference", (-0.15, -0.18, -0.12), (957.0, 940.0, 975.0), 0.0),
        ],
        "pairs": pair("nash-md", "online-ipo", 0.51, 0.47, 0.55)
        + pair("nash-md", "reference", 0.70, 0.64, 0.76)
        + pair("online-ipo", "reference", 0.66, 0.60, 0.72),
        "nash_bootstrap": {"tied_for_top": tied},
        "bradley_terry": {"tied_for_top": elo_tied},
    }


def test_overlapping_nash_intervals_are_a_tie_not_a_winner() -> None:
    claim = nash_claim(board(["nash-md", "online-ipo"], ["nash-md"]))
    assert "`nash-md` and `online-ipo` are statistically tied at the top" in claim
    assert "`nash-md` [-0.0100, 0.0000], `online-ipo` [-0.0200, 0.0000]" in claim
    assert "`nash-md` 62%, `online-ipo` 48%" in claim
    assert "leads" not in claim


def test_a_lead_is_claimed_only_alone_and_names_the_runner_up() -> None:
    claim = nash_claim(board(["nash-md"], ["nash-md"]))
    assert claim.startswith("- **Nash**: `nash-md` leads alone")
    assert "`online-ipo`: [-0.0200, 0.0000]" in claim
    assert "62% of the bootstrap rounds" in claim
    assert "`nash-md` leads Elo alone (`nash-md` [1060.0, 1100.0])" in elo_claim(
        board(["nash-md"], ["nash-md"])
    )


def test_head_to_head_claims_need_the_win_rate_interval_beyond_one_half() -> None:
    data = board(["nash-md"], ["nash-md"])
    assert "`nash-md` and `online-ipo` beat the reference head to head" in reference_claim(data, "reference")
    # Narrow the online-ipo interval across 1/2: it can no longer be told from the reference.
    data["pairs"] = pair("nash-md", "online-ipo", 0.51, 0.47, 0.55) + pair(
        "nash-md", "reference", 0.7, 0.64, 0.76
    )
    data["pairs"] += pair("online-ipo", "reference", 0.52, 0.49, 0.55)
    claim = reference_claim(data, "reference")
    assert "`nash-md` beats the reference head to head" in claim
    assert "`online-ipo` cannot be told from it" in claim


def test_extremes_of_the_moves_are_ties_when_intervals_overlap() -> None:
    rows = [
        {"model": "online-ipo", "exploitability": 0.05, "exploitability_ci_low": 0.03,
         "exploitability_ci_high": 0.08, "malformed": 0.06, "malformed_ci_low": 0.03, "malformed_ci_high": 0.09},
        {"model": "nash-md", "exploitability": 0.11, "exploitability_ci_low": 0.07,
         "exploitability_ci_high": 0.16, "malformed": 0.05, "malformed_ci_low": 0.02, "malformed_ci_high": 0.08},
        {"model": "reference", "exploitability": 0.10, "exploitability_ci_low": 0.085,
         "exploitability_ci_high": 0.13, "malformed": 0.28, "malformed_ci_low": 0.22, "malformed_ci_high": 0.34},
        {"model": "dpo", "exploitability": 0.29, "exploitability_ci_low": 0.24,
         "exploitability_ci_high": 0.33, "malformed": 0.06, "malformed_ci_low": 0.03, "malformed_ci_high": 0.09},
    ]  # fmt: skip
    claims = moves_claims(rows, "reference")
    assert claims[0].startswith(
        "- **Exploitability**: `online-ipo` and `nash-md` are tied for the least exploitable"
    )
    assert claims[1].startswith("- `dpo` became *more* exploitable than the reference")
    assert claims[2].startswith("- **Form**: `reference` is the most often malformed alone")


def test_best_and_tied_orders_the_best_first() -> None:
    values = {"a": 0.3, "b": 0.1, "c": 0.2}
    spans = {"a": Interval(0.25, 0.35), "b": Interval(0.05, 0.15), "c": Interval(0.14, 0.26)}
    assert best_and_tied(values, spans, lowest=True) == ["b", "c"]
    assert best_and_tied(values, spans, lowest=False) == ["a", "c"]


def test_moves_intervals_match_an_independent_bootstrap() -> None:
    """The same multinomial prompt weights, summed with loops over prompts and samples."""
    task = SimpleNamespace(moves=("Rock", "Scissors", "Paper"), preferences=ROCK_PAPER_SCISSORS)
    texts = {
        "p0": ["Rock", "Rock", "bad"],
        "p1": ["Paper", "Scissors", "Rock"],
        "p2": ["bad", "bad", "Paper"],
    }

    def report(responses: list[str]) -> SimpleNamespace:
        counts = tuple(responses.count(move) for move in task.moves)
        return SimpleNamespace(counts=counts, malformed_count=responses.count("bad"))

    task.report = report
    samples = {"x": {p: [SimpleNamespace(text=t) for t in ts] for p, ts in texts.items()}}
    got = moves_intervals(task, samples, rounds=200, seed=3)["x"]
    weights = np.random.default_rng(3).multinomial(3, [1 / 3] * 3, size=200)
    malformed, edges = [], []
    for round_weights in weights:
        counts = {move: 0.0 for move in (*task.moves, "bad")}
        for times, prompt in zip(round_weights, sorted(texts), strict=True):
            for text in texts[prompt]:
                counts[text] += times
        total = sum(counts.values())
        played = total - counts["bad"]
        malformed.append(counts["bad"] / total)
        probs = [counts[m] / played for m in task.moves]
        edges.append(max(sum(p * row[j] for j, p in enumerate(probs)) for row in ROCK_PAPER_SCISSORS) - 0.5)
    assert got["malformed"] == pytest.approx(list(np.percentile(malformed, [2.5, 97.5])), abs=1e-12)
    assert got["exploitability"] == pytest.approx(list(np.percentile(edges, [2.5, 97.5])), abs=1e-12)


def test_what_it_shows_reads_every_kind_of_claim() -> None:
    rows = [
        {"model": name, "exploitability": e, "exploitability_ci_low": e - 0.01, "exploitability_ci_high": e + 0.01,
         "malformed": m, "malformed_ci_low": m - 0.01, "malformed_ci_high": m + 0.01}
        for name, e, m in (("nash-md", 0.1, 0.05), ("online-ipo", 0.05, 0.06), ("reference", 0.2, 0.3))
    ]  # fmt: skip
    no_cycle = readme_text(MovesTask(MovesArgs(matrix="cycle"))).no_cycle
    lines = what_it_shows(board(["nash-md", "online-ipo"], ["nash-md"]), rows, no_cycle, report_claims)
    assert [line.split("**")[1] for line in lines if line.startswith("- **")] == [
        "Nash",
        "Elo",
        "Against the reference",
        "No cycle",
        "Exploitability",
        "Form",
    ]


def test_the_widest_spread_between_replicates_is_named_with_every_value() -> None:
    data = board(["nash-md"], ["nash-md"])
    assert spread_claim(data) is None  # a board of models has no replicates
    data["replicates"] = [
        {"seed": 0, "malformed": {"ppo": 0.473, "dpo": 0.059}, "nash_support": ["dpo"]},
        {"seed": 1, "malformed": {"ppo": 0.148, "dpo": 0.055}, "nash_support": ["dpo"]},
    ]
    assert spread_claim(data).startswith(
        "- **Between replicates**: `ppo`'s malformed share differs most: 0.473 (seed 0), 0.148 (seed 1)."
    )
    assert nash_claim(data).endswith("Each replicate of the pipeline alone: seed 0: `dpo`; seed 1: `dpo`.")
