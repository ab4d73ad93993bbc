"""Bootstrap Nash: every round equals the full solver on the round's own matrix (rebuilt here from the
Bradley-Terry bootstrap's rounds), the rounds are the Elo bootstrap's, prompts stay together, and ties."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from arena.leaderboard import render_json, render_markdown
from arena.ratings import bradley_terry, max_entropy_nash, quantal_response_nash, read_matches
from arena.ratings.bradley_terry import BootstrapChunk
from arena.ratings.matches import matches_from_frame
from arena.ratings.nash_bootstrap import NashBootstrap
from arena.ratings.table import Leaderboard, build_leaderboard
from arena.ratings.winrates import win_rate_matrix


def round_matrices(chunks: list[BootstrapChunk], n_models: int) -> list[np.ndarray]:
    """Each round's W with plain loops: the round's own rate where it drew the pair, else its fit."""
    matrices = []
    for chunk in chunks:
        for r in range(chunk.n.shape[0]):
            s = chunk.strength[r]
            W = np.empty((n_models, n_models))
            for i in range(n_models):
                for j in range(n_models):
                    W[i, j] = 0.5 if i == j else 1.0 / (1.0 + math.exp(s[j] - s[i]))
            for pair, (i, j) in enumerate(zip(chunk.first, chunk.second, strict=True)):
                if chunk.n[r, pair] > 0:
                    W[i, j] = chunk.points[r, pair] / chunk.n[r, pair]
                    W[j, i] = 1.0 - W[i, j]
            matrices.append(W)
    return matrices


def cyclic_battles(seed: int, n: int = 1500) -> pd.DataFrame:
    """Six models: three in a near-balanced cycle at the top (so rounds disagree on the support), three
    weaker; prompts of five matches each; one pair never played."""
    rng = np.random.default_rng(seed)
    names = ["rock", "paper", "scissors", "dull", "weak", "weakest"]
    beats = {("paper", "rock"): 0.56, ("scissors", "paper"): 0.56, ("rock", "scissors"): 0.55}
    strength = {"dull": -0.3, "weak": -0.6, "weakest": -1.0}
    rows = []
    for k in range(n):
        a, b = rng.choice(len(names), size=2, replace=False)
        a, b = names[a], names[b]
        if {a, b} == {"weakest", "rock"}:
            continue
        if (a, b) in beats:
            win = beats[(a, b)]
        elif (b, a) in beats:
            win = 1.0 - beats[(b, a)]
        else:
            win = 1.0 / (1.0 + math.exp(strength.get(b, 0.0) - strength.get(a, 0.0)))
        rows.append({"model_a": a, "model_b": b, "p_a": float(rng.random() < win), "prompt_id": k // 5})
    return pd.DataFrame(rows)


def rounds_and_chunks(
    matches: Any, rounds: int, seed: int
) -> tuple[list[str], np.ndarray, np.ndarray, Any, list[BootstrapChunk]]:
    """(models, the point estimate's W and equilibrium, NashBootstrap's samples, the Bradley-Terry chunks
    they were computed from), so a test can solve each round again on its own."""
    models, observed, _ = win_rate_matrix(matches)
    fit = bradley_terry(matches, bootstrap=0)
    W = np.where(np.isnan(observed), fit.win_probability(), observed)
    point = max_entropy_nash(W)
    nash_rounds = NashBootstrap(W, np.flatnonzero(point > 0))
    chunks: list[BootstrapChunk] = []

    def both(chunk: BootstrapChunk) -> None:
        chunks.append(chunk)
        nash_rounds.consume(chunk)

    bradley_terry(matches, bootstrap=rounds, seed=seed, each_chunk=both)
    return models, W, point, nash_rounds.samples(), chunks


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_round_equals_the_full_solver(seed: int) -> None:
    matches = matches_from_frame(cyclic_battles(seed))
    models, W, point, samples, chunks = rounds_and_chunks(matches, rounds=120, seed=seed)
    supports = set()
    for r, W_r in enumerate(round_matrices(chunks, len(models))):
        expected = max_entropy_nash(W_r)
        np.testing.assert_allclose(samples.weight[r], expected, atol=1e-9, err_msg=f"round {r}")
        np.testing.assert_allclose(samples.rating[r], (W_r - 0.5) @ expected, atol=1e-9)
        supports.add(tuple(np.flatnonzero(expected > 1e-9)))
    # The data make the rounds disagree: the certificate had to grow the point support, or give up.
    assert len(supports) > 2
    assert any(set(s) - set(np.flatnonzero(point > 0)) for s in supports)


def test_quantal_response_rounds_equal_a_cold_solve() -> None:
    """With a temperature each round also gets the quantal-response equilibrium, followed from the point
    estimate's: the same as solving the round's matrix from scratch."""
    matches = matches_from_frame(cyclic_battles(3))
    models, observed, _ = win_rate_matrix(matches)
    fit = bradley_terry(matches, bootstrap=0)
    W = np.where(np.isnan(observed), fit.win_probability(), observed)
    point = max_entropy_nash(W)
    temperature = 0.02
    rounds = NashBootstrap(W, np.flatnonzero(point > 0), temperature, quantal_response_nash(W, temperature))
    chunks: list[BootstrapChunk] = []

    def both(chunk: BootstrapChunk) -> None:
        chunks.append(chunk)
        rounds.consume(chunk)

    bradley_terry(matches, bootstrap=50, seed=0, each_chunk=both)
    samples = rounds.samples()
    assert samples.qre_weight is not None and samples.qre_rating is not None
    for r, W_r in enumerate(round_matrices(chunks, len(models))):
        expected = quantal_response_nash(W_r, temperature)
        np.testing.assert_allclose(samples.qre_weight[r], expected, atol=1e-12, err_msg=f"round {r}")
        np.testing.assert_allclose(samples.qre_rating[r], (W_r - 0.5) @ expected, atol=1e-12)


def test_rounds_that_the_certificate_cannot_settle_use_the_full_solver() -> None:
    """Point support {0}; every round's equilibrium plays all five (a balanced cycle): the candidate
    support outgrows half the models and the round is solved whole."""
    rows = []
    names = ["a", "b", "c", "d", "e"]
    for k in range(400):
        for i in range(5):
            for step in (1, 2):
                j = (i + step) % 5
                # i beats the next two in the cycle; model a slightly better than the rest everywhere.
                edge = 0.62 + (0.08 if i == 0 else 0.0) - (0.08 if j == 0 else 0.0)
                rows.append({"model_a": names[i], "model_b": names[j], "p_a": edge, "prompt_id": k})
    frame = pd.DataFrame(rows)
    rng = np.random.default_rng(0)
    frame["p_a"] = np.clip(frame["p_a"] + rng.normal(0, 0.3, len(frame)), 0, 1)
    matches = matches_from_frame(frame)
    board = build_leaderboard(matches, "cycle", bootstrap=40, seed=0)
    chunks: list[BootstrapChunk] = []
    bradley_terry(matches, bootstrap=40, seed=0, each_chunk=chunks.append)
    assert board.nash_samples is not None and board.nash_samples.full_solves > 0
    for r, W_r in enumerate(round_matrices(chunks, 5)):
        np.testing.assert_allclose(board.nash_samples.weight[r], max_entropy_nash(W_r), atol=1e-9)


def test_the_rounds_are_the_elo_bootstrap_rounds() -> None:
    """Two models: in each round the equilibrium is pure on the one with the higher Elo in that round."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {"model_a": "x", "model_b": "y", "p_a": (rng.random(60) < 0.55).astype(float), "prompt_id": range(60)}
    )
    board = build_leaderboard(matches_from_frame(frame), "two", bootstrap=400, seed=3)
    samples = board.nash_samples
    assert samples is not None and samples.rounds == 400
    order = list(board.fit.models)
    elo_gap = board.fit.bootstrap_elo[:, order.index("x")] - board.fit.bootstrap_elo[:, order.index("y")]
    decided = np.abs(elo_gap) > 1e-6  # a round drawn exactly even is a tie: uniform weights
    x_weight = samples.weight[:, order.index("x")]
    np.testing.assert_array_equal(x_weight[decided], (elo_gap[decided] > 0).astype(float))
    assert 0.2 < decided.mean() and (elo_gap > 0).mean() < 0.95  # both outcomes occur


def test_prompts_stay_together() -> None:
    """Ten identical matches per prompt: resampled by prompt, the loser's Nash rating interval has the
    width of 60 independent outcomes; with the prompt ids dropped, of 600."""
    rng = np.random.default_rng(11)
    outcome = np.repeat((rng.random(60) < 0.25).astype(float), 10)  # x loses every round
    frame = pd.DataFrame(
        {"model_a": "x", "model_b": "y", "p_a": outcome, "prompt_id": np.repeat(range(60), 10)}
    )
    widths = {}
    for label, data in (("prompt", frame), ("match", frame.drop(columns="prompt_id"))):
        board = build_leaderboard(matches_from_frame(data), label, bootstrap=1000, seed=0)
        loser = next(row for row in board.rows if row["model"] == "x")
        widths[label] = loser["nash_rating_ci_high"] - loser["nash_rating_ci_low"]
        assert json_block(board)["resampled_by"] == label
    sd = outcome.std()
    assert widths["prompt"] == pytest.approx(2 * 1.96 * sd / math.sqrt(60), rel=0.15)
    assert widths["match"] == pytest.approx(2 * 1.96 * sd / math.sqrt(600), rel=0.15)


def json_block(board: Leaderboard) -> dict[str, Any]:
    return json.loads(render_json(board))["nash_bootstrap"]


def test_tied_for_top_follows_the_documented_overlap_rule() -> None:
    board = build_leaderboard(matches_from_frame(cyclic_battles(0)), "cycle", bootstrap=200, seed=0)
    leader = board.rows[0]
    for row in board.rows:
        overlap = (
            row["nash_rating_ci_low"] <= leader["nash_rating_ci_high"]
            and leader["nash_rating_ci_low"] <= row["nash_rating_ci_high"]
        )
        assert row["tied_for_top"] == overlap
    elo_leader = max(board.rows, key=lambda r: r["elo"])
    for row in board.rows:
        overlap = (
            row["elo_ci_low"] <= elo_leader["elo_ci_high"] and elo_leader["elo_ci_low"] <= row["elo_ci_high"]
        )
        assert row["elo_tied_for_top"] == overlap
    block = json_block(board)
    assert block["tied_for_top"] == [r["model"] for r in board.rows if r["tied_for_top"]]
    assert 1 < len(block["tied_for_top"]) < len(board.rows)  # the cycle is tied, the weak models are not
    # Shares and intervals summarise the per-round samples.
    samples = board.nash_samples
    assert samples is not None
    index = {m: i for i, m in enumerate(board.fit.models)}  # samples are in Matches.models order
    for row in board.rows:
        weights = samples.weight[:, index[row["model"]]]
        assert row["nash_support_share"] == pytest.approx(float(np.mean(weights > 0)), abs=1e-15)
        assert row["nash_weight_ci_low"] == pytest.approx(float(np.percentile(weights, 2.5)), abs=1e-15)
        assert 0 <= row["nash_weight_ci_low"] <= row["nash_weight_ci_high"] <= 1
        assert row["nash_rating_ci_high"] <= 0


def test_without_bootstrap_ties_are_equal_point_values() -> None:
    board = build_leaderboard(matches_from_frame(cyclic_battles(0)), "cycle", bootstrap=0)
    support = set(board.support)
    assert {r["model"] for r in board.rows if r["tied_for_top"]} == support
    assert all(
        math.isnan(r["nash_rating_ci_low"]) and math.isnan(r["nash_support_share"]) for r in board.rows
    )
    assert "No bootstrap" in render_markdown(board)


def test_seeded_and_deterministic() -> None:
    matches = matches_from_frame(cyclic_battles(1))
    first = render_json(build_leaderboard(matches, "x", bootstrap=150, seed=4, nash_temperature=0.05))
    again = render_json(build_leaderboard(matches, "x", bootstrap=150, seed=4, nash_temperature=0.05))
    other = render_json(build_leaderboard(matches, "x", bootstrap=150, seed=5, nash_temperature=0.05))
    assert first == again and first != other


@pytest.mark.slow  # about 10 s: 60 rounds, and 12 of them solved whole for the comparison
def test_chatbot_arena_rounds_equal_the_full_solver(chatbot_arena_json: Path) -> None:
    matches = read_matches(chatbot_arena_json)
    n = len(matches.models)
    models, W, point, samples, chunks = rounds_and_chunks(matches, rounds=60, seed=0)
    matrices = round_matrices(chunks, n)
    mixed = [r for r in range(60) if np.sum(samples.weight[r] > 0) > 1]
    assert mixed, "some rounds have a mixed equilibrium"
    for r in [*range(6), *mixed[:6]]:
        expected = max_entropy_nash(matrices[r])
        np.testing.assert_allclose(samples.weight[r], expected, atol=1e-9, err_msg=f"round {r}")
