"""The built-in matrix games: matrices from KNOWN_ANSWERS.md, and their oracle judges."""

from __future__ import annotations

import pytest

from arena.errors import ArenaError
from arena.judging import Judge
from arena.plugins import make_plugin_host
from arena.tasks import Task
from arena_plugins.games import GameArgs, GameOracleArgs


@pytest.fixture(scope="module")
def host():  # noqa: ANN201 - a PluginHost
    return make_plugin_host(environ={"ARENA_PLUGINS": "games"}, warn=lambda message: None)


def test_dice_matrix_and_reference_match_the_paper(host) -> None:  # noqa: ANN001
    task = host.tasks.get("dice").build(GameArgs())
    assert isinstance(task, Task)
    assert task.prompts() == ["Pick one:"]
    dice = task.game
    assert dice.reference == (0.6, 0.3, 0.1)
    # Dice {2,4,9}, {1,6,8}, {3,5,7}: count the 9 face pairs directly.
    faces = [(2, 4, 9), (1, 6, 8), (3, 5, 7)]
    for i, a in enumerate(faces):
        for j, b in enumerate(faces):
            wins = sum((x > y) + 0.5 * (x == y) for x in a for y in b) / 9
            expected = 0.5 if i == j else wins
            assert dice.preferences[i][j] == pytest.approx(expected, abs=1e-15)
    assert dice.preferences[0][1] == pytest.approx(5 / 9, abs=1e-15)


def test_oracle_judge_reads_the_matrix_in_both_orders(host) -> None:  # noqa: ANN001
    judge = host.judges.get("game-oracle").build(GameOracleArgs(game="dice"))
    assert isinstance(judge, Judge)
    prompts = ["Pick one:"] * 4
    a = ["red", "green", " blue ", "red"]
    b = ["green", "red", "red", "red"]
    assert judge.compare(prompts, a, b) == pytest.approx([5 / 9, 4 / 9, 5 / 9, 0.5], abs=1e-15)
    forward = judge.compare(prompts, a, b)
    backward = judge.compare(prompts, b, a)
    assert [x + y for x, y in zip(forward, backward, strict=True)] == pytest.approx([1.0] * 4, abs=1e-15)


def test_responses_that_are_not_actions_lose(host) -> None:  # noqa: ANN001
    judge = host.judges.get("game-oracle").build(GameOracleArgs(game="cycle3"))
    assert judge.compare(["p"] * 3, ["rock", "banana", "banana"], ["banana", "rock", "kiwi"]) == [
        1.0,
        0.0,
        0.5,
    ]


def test_cycle_and_total_order(host) -> None:  # noqa: ANN001
    cycle = host.tasks.get("cycle3").build(GameArgs()).game
    assert [
        cycle.preference(x, y) for x, y in [("rock", "scissors"), ("scissors", "paper"), ("paper", "rock")]
    ] == [
        1.0,
        1.0,
        1.0,
    ]
    order = host.tasks.get("order3").build(GameArgs()).game
    assert order.preference("red", "blue") == 1.0 and order.preference("blue", "green") == 0.0


def test_reference_override_and_its_errors(host) -> None:  # noqa: ANN001
    entry = host.tasks.get("two-actions")
    assert entry.build(GameArgs(reference=[0.25, 0.75])).game.reference == (0.25, 0.75)
    with pytest.raises(
        ArenaError, match=r"^args.reference: expected 2 probabilities for game 'two-actions', got 3$"
    ):
        entry.build(GameArgs(reference=[0.2, 0.3, 0.5]))


def test_preference_pairs_are_the_datasets_of_the_ipo_paper(host) -> None:  # noqa: ANN001
    order = host.tasks.get("order3").build(GameArgs())
    assert [(r["chosen"], r["rejected"], r["label"]) for r in order.pairs_rows()] == [
        ("red", "green", 1.0),
        ("red", "blue", 1.0),
        ("green", "blue", 1.0),
    ]
    cycle = host.tasks.get("cycle3").build(GameArgs())
    assert [(r["chosen"], r["rejected"]) for r in cycle.pairs_rows()] == [
        ("rock", "scissors"),
        ("scissors", "paper"),
        ("paper", "rock"),
    ]
    dice = host.tasks.get("dice").build(GameArgs())
    assert [r["label"] for r in dice.pairs_rows()] == pytest.approx([5 / 9] * 3, abs=1e-15)


@pytest.mark.parametrize(
    ("tau", "expected"),
    [(1.0, (0.6065, 0.2918, 0.1018)), (0.1, (0.6437, 0.2285, 0.1278)), (0.01, (0.4207, 0.2385, 0.3409))],
)
def test_dice_equilibrium_is_the_papers(host, tau: float, expected: tuple[float, ...]) -> None:  # noqa: ANN001
    dice = host.tasks.get("dice").build(GameArgs())
    assert dice.equilibrium(tau) == pytest.approx(list(expected), abs=1e-4)


def test_matrix_game_from_the_recipe(host) -> None:  # noqa: ANN001
    from arena_plugins.games import MatrixGameArgs

    task = host.tasks.get("matrix-game").build(
        MatrixGameArgs(actions=["a", "b"], preferences=[[0.5, 0.8], [0.2, 0.5]])
    )
    assert task.game.reference == (0.5, 0.5)
    assert task.oracle_judge().compare(["p"], ["a"], ["b"]) == [0.8]
    bad = MatrixGameArgs(actions=["a", "b"], preferences=[[0.5, 0.8], [0.3, 0.5]])
    assert bad.check() == ("preferences.0.1", "expected P[0][1] + P[1][0] = 1")


def test_judge_batches_must_line_up(host) -> None:  # noqa: ANN001
    judge = host.judges.get("game-oracle").build(GameOracleArgs(game="dice"))
    with pytest.raises(ValueError, match="equal lengths, got 1 prompts, 2 responses a and 1 responses b"):
        judge.compare(["p"], ["red", "red"], ["green"])


def test_three_rater_population_game_and_its_closed_form_equilibrium(host) -> None:  # noqa: ANN001
    """P is the weight of the raters ranking i above j; its Nash equilibrium (0.5, 0.2, 0.3) in closed form
    agrees with the maximum-entropy LP of the ratings code and makes every action's win rate 1/2."""
    import numpy as np
    from scipy.optimize import linprog

    from arena_plugins.games import RATERS3_NASH

    game = host.tasks.get("raters3").build(GameArgs()).game
    w1, w2, w3 = 0.40, 0.35, 0.25
    # red > green > blue (w1), green > blue > red (w2), blue > red > green (w3)
    assert game.preference("red", "green") == pytest.approx(w1 + w3)
    assert game.preference("green", "blue") == pytest.approx(w1 + w2)
    assert game.preference("blue", "red") == pytest.approx(w2 + w3)
    assert game.preference("green", "red") == pytest.approx(w2)
    P = np.array(game.preferences)
    assert RATERS3_NASH == pytest.approx((0.5, 0.2, 0.3), abs=1e-12)
    assert P @ np.array(RATERS3_NASH) == pytest.approx([0.5] * 3, abs=1e-12)
    # An independent LP: maximise v subject to (P^T pi)_j >= v for every j, pi on the simplex.
    lp = linprog(
        c=[0, 0, 0, -1],
        A_ub=np.hstack([-P.T, np.ones((3, 1))]),
        b_ub=np.zeros(3),
        A_eq=[[1, 1, 1, 0]],
        b_eq=[1],
        bounds=[(0, 1)] * 3 + [(None, None)],
    )
    assert lp.x[:3] == pytest.approx(RATERS3_NASH, abs=1e-8) and lp.x[3] == pytest.approx(0.5, abs=1e-9)
    assert game.reference == pytest.approx((1 / 3, 1 / 3, 1 / 3))


def test_population_pairs_are_every_ordered_pair_weighted_by_the_reference(host) -> None:  # noqa: ANN001
    """`pairs: population` is the law of a pair sampled from mu: (i, j), i != j, weight mu(i) mu(j), label
    P[i][j]; the default stays IPO's D datasets (preferred pairs once, no weights)."""
    from itertools import permutations

    actions, mu = ("red", "green", "blue"), (0.6, 0.3, 0.1)
    faces = {"red": (2, 4, 9), "green": (1, 6, 8), "blue": (3, 5, 7)}
    expected = [
        (
            a,
            b,
            sum(x > y for x in faces[a] for y in faces[b]) / 9,
            mu[actions.index(a)] * mu[actions.index(b)],
        )
        for a, b in permutations(actions, 2)
    ]
    rows = host.tasks.get("dice").build(GameArgs(pairs="population")).pairs_rows()
    got = sorted((r["chosen"], r["rejected"], r["label"], r["weight"]) for r in rows)
    assert [g[:2] for g in got] == [e[:2] for e in sorted(expected)]
    assert [x for g in got for x in g[2:]] == pytest.approx(
        [x for e in sorted(expected) for x in e[2:]], abs=1e-15
    )
    assert sum(r["weight"] for r in rows) == pytest.approx(1 - sum(m * m for m in mu), abs=1e-15)
    assert GameArgs().pairs == "preferred"
    preferred = host.tasks.get("dice").build(GameArgs()).pairs_rows()
    assert all("weight" not in r for r in preferred) and len(preferred) == 3


def test_matrix_game_population_pairs_use_its_reference(host) -> None:  # noqa: ANN001
    from arena_plugins.games import MatrixGameArgs

    args = MatrixGameArgs(
        actions=["a", "b"], preferences=[[0.5, 0.8], [0.2, 0.5]], reference=[0.25, 0.75], pairs="population"
    )
    rows = host.tasks.get("matrix-game").build(args).pairs_rows()
    assert [(r["chosen"], r["rejected"], r["label"], r["weight"]) for r in rows] == [
        ("a", "b", 0.8, 0.1875),
        ("b", "a", 0.2, 0.1875),
    ]
