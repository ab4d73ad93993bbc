"""The reference policy's data: move frequencies, malformed share, determinism, prompt splits, pairs, and
the exact exploitability of the reference's move distribution (KNOWN_ANSWERS.md section 2)."""

from __future__ import annotations

import math

import pytest

from arena_plugins.moves import DICE_REFERENCE, MOVES, MovesArgs, parse_move
from arena_plugins.moves.language import prompt_pool
from arena_plugins.moves.task import MovesTask

SIZE = 20_000


def binomial_tolerance(p: float, n: int) -> float:
    """Four standard deviations of a share estimated from n independent draws: a correct generator lands
    outside with probability 2 * Phi(-4) = 6e-5 per check (normal approximation, n p (1 - p) >= 400 here)."""
    return 4 * math.sqrt(p * (1 - p) / n)


def test_corpus_moves_follow_mu_and_the_malformed_share_within_a_binomial_bound() -> None:
    task = MovesTask(MovesArgs(seed=3))
    rows = task.completions_rows(SIZE)
    moves = [parse_move(row["completion"]) for row in rows]
    malformed = moves.count(None) / SIZE
    # Tolerances at n = 20000: 0.0130 on the malformed share (p = 0.3), 0.0139 / 0.0127 / 0.0085 on the
    # shares of Rock / Scissors / Paper among all rows (p = 0.7 mu).
    assert abs(malformed - 0.3) <= binomial_tolerance(0.3, SIZE)
    for move, mu in zip(MOVES, DICE_REFERENCE, strict=True):
        p = (1 - 0.3) * mu  # well-formed and playing this move: corruption is independent of the move
        assert abs(moves.count(move) / SIZE - p) <= binomial_tolerance(p, SIZE), move
    # Every line of the tokenizer corpus is a prompt followed by one response.
    lines = task.corpus(50)
    assert len(lines) == 50 + 32
    assert all(line.split(".", 1)[0] + "." in prompt_pool() for line in lines)


def test_other_mu_and_malformed_shares_are_followed_too() -> None:
    task = MovesTask(MovesArgs(reference=[0.2, 0.2, 0.6], malformed=0.0, matrix="cycle"))
    report = task.report(task.responses(SIZE))
    assert report.malformed_count == 0 and report.total == SIZE
    for share, mu in zip(report.move_probs or [], (0.2, 0.2, 0.6), strict=True):
        assert abs(share - mu) <= binomial_tolerance(mu, SIZE)


def test_same_seed_same_data_other_seed_other_data() -> None:
    one, two, other = MovesTask(MovesArgs(seed=1)), MovesTask(MovesArgs(seed=1)), MovesTask(MovesArgs(seed=2))
    assert one.corpus(200) == two.corpus(200)
    assert one.completions_rows() == two.completions_rows()
    assert one.pairs_rows() == two.pairs_rows() and one.pairs_rows("eval") == two.pairs_rows("eval")
    assert one.prompts("eval") == two.prompts("eval")
    assert one.corpus(200) != other.corpus(200) and one.prompts() != other.prompts()

    # A seed given to a call overrides the task's for the draws (the prompt split stays the task's).
    def responses(rows: list[dict]) -> list[str]:
        return [row["completion"] for row in rows]

    assert responses(one.completions_rows(200, seed=2)) == responses(other.completions_rows(200))


def test_prompt_splits_are_disjoint_and_sized() -> None:
    task = MovesTask(MovesArgs(train_prompts=150, eval_prompts=42))
    train, held_out = task.prompts("train"), task.prompts("eval")
    assert (len(train), len(held_out)) == (150, 42)
    assert len(set(train)) == 150 and len(set(held_out)) == 42 and not set(train) & set(held_out)
    assert all(len(p.split()) <= 4 for p in train + held_out)  # a few words
    assert {row["prompt"] for row in task.completions_rows(2000)} <= set(train)
    assert {row["prompt"] for row in task.pairs_rows("eval")} <= set(held_out)


def test_pairs_are_labelled_by_the_oracle_and_never_ties() -> None:
    task = MovesTask(MovesArgs(pairs=3000, eval_pairs=100))
    rows, oracle = task.pairs_rows(), task.oracle_judge()
    assert len(rows) == 3000 and len(task.pairs_rows("eval")) == 100
    labels = oracle.compare(
        [r["prompt"] for r in rows], [r["chosen"] for r in rows], [r["rejected"] for r in rows]
    )
    assert labels == [r["label"] for r in rows]
    assert (
        set(labels) <= {0.0, 1.0, 5 / 9, 1 - 5 / 9} and 0.0 not in labels
    )  # a malformed response is never chosen
    # The order is a draw of the oracle's preference: among pairs of two well-formed moves, the winner of the
    # 5/9 matchup is `chosen` 5/9 of the time.
    soft = [r["label"] for r in rows if r["label"] not in (0.0, 1.0)]
    share = soft.count(5 / 9) / len(soft)
    assert abs(share - 5 / 9) <= binomial_tolerance(5 / 9, len(soft))


@pytest.mark.parametrize(("tau", "expected"), [(0.1, 0.0016), (0.05, 0.0030), (0.01, 0.0086)])
def test_reference_exploitability_is_the_known_answer(tau: float, expected: float) -> None:
    task = MovesTask()
    mu = list(DICE_REFERENCE)
    # Independently: tau log sum_y mu(y) exp(P(y > mu) / tau) + tau KL(mu || mu) - 1/2, with the dice.
    p = [[1 / 2, 5 / 9, 4 / 9], [4 / 9, 1 / 2, 5 / 9], [5 / 9, 4 / 9, 1 / 2]]
    by_hand = (
        tau
        * math.log(sum(m * math.exp(sum(p[y][z] * mu[z] for z in range(3)) / tau) for y, m in enumerate(mu)))
        - 0.5
    )
    assert task.exploitability(mu, tau) == pytest.approx(by_hand, abs=1e-12)
    assert task.exploitability(mu, tau) == pytest.approx(expected, abs=5e-5)
    # At the regularised equilibrium (KNOWN_ANSWERS.md's table) it is zero.
    assert task.exploitability(task.equilibrium(tau), tau) == pytest.approx(0.0, abs=1e-12)


def test_report_of_texts() -> None:
    task = MovesTask()
    texts = (
        ["Rock waits by the river."] * 6
        + ["Scissors sit near the gate."] * 3
        + ["Paper wins today."]
        + ["junk"] * 5
    )
    report = task.report(texts)
    assert report.counts == (6, 3, 1) and report.malformed_count == 5 and report.malformed == 1 / 3
    assert report.move_probs == [0.6, 0.3, 0.1]
    assert report.exploitability == pytest.approx(0.0015762143, abs=1e-9)  # the reference's, at tau = 0.1
    assert task.report(["junk"]).to_dict() == {
        "samples": 1,
        "moves": ["Rock", "Scissors", "Paper"],
        "counts": [0, 0, 0],
        "malformed_count": 1,
        "move_probs": None,
        "malformed": 1.0,
        "tau": 0.1,
        "exploitability": None,
    }
    # A large sample of the reference corpus: its exploitability is near the exact 0.0016.
    assert task.report(task.responses(SIZE)).exploitability == pytest.approx(0.0016, abs=3e-4)
    assert task.equilibrium(0.1) == pytest.approx([0.6437, 0.2285, 0.1278], abs=1e-4)
