"""The oracle's rules of form and its move matrix, with exact values."""

from __future__ import annotations

from fractions import Fraction

import pytest

from arena.errors import ArenaError
from arena.judging import Judge
from arena.plugins import make_plugin_host
from arena.schema import FieldError, convert
from arena.tasks import Task
from arena_plugins.moves import MATRICES, MOVES, MovesArgs, MovesOracleArgs, parse_move
from arena_plugins.moves.language import MALFORMED_KINDS, corrupt, sentence

ROCK, SCISSORS, PAPER = (
    "Rock waits by the river.",
    "Scissors sit near the old gate.",
    "Paper hides under the tree.",
)
BROKEN = ["Rock waits by the river", "Rock waits waits by the river.", "Maybe rock waits by the river.", ""]


@pytest.fixture(scope="module")
def host():  # noqa: ANN201 - a PluginHost
    return make_plugin_host(environ={"ARENA_PLUGINS": "moves"}, warn=lambda message: None)


@pytest.mark.parametrize(
    ("response", "move"),
    [
        (ROCK, "Rock"),
        (" Scissors sit near the old gate.\n", "Scissors"),  # surrounding whitespace is stripped
        ("Paper wins today.", "Paper"),  # three words: the shortest sentence
        ("Paper wins.", None),  # two words: too short
        ("Rock one two three four five six seven eight nine ten.", None),  # eleven words: too long
        ("Rock one two three four five six seven eight nine.", "Rock"),  # ten words: the longest
        ("Rock wins again", None),  # no final period
        ("Rock wins again!", None),  # ends otherwise
        ("Rock wins again. Paper wins.", None),  # two sentences
        ("Rock waits by the river..", None),
        ("rock waits by the river.", None),  # the move must be capitalised
        ("Stone waits by the river.", None),  # not a move
        ("Maybe Rock waits by the river.", None),  # the move must come first
        ("Rock waits by the Waits.", None),  # repetition is case-insensitive
        ("Rock rock rolls away.", None),
        ("Rock waits  by the river.", None),  # double space
        ("Rock waits\nby the river.", None),  # two lines
        ("Rock waits, by the river.", None),  # letters only
        ("Rock beats paper today.", "Rock"),  # naming another move later is allowed: the first word counts
    ],
)
def test_rules_of_form(response: str, move: str | None) -> None:
    assert parse_move(response) == move


def test_the_reference_sentences_are_well_formed_and_every_corruption_breaks_them() -> None:
    import random

    rng = random.Random(0)
    for _ in range(500):
        move = rng.choice(MOVES)
        text = sentence(rng, move)
        assert parse_move(text) == move
        for kind in MALFORMED_KINDS:
            assert parse_move(corrupt(rng, text, kind)) is None, (kind, text)


def test_the_dice_matrix_counts_the_faces_and_the_cycle_is_rock_paper_scissors() -> None:
    faces = [(2, 4, 9), (1, 6, 8), (3, 5, 7)]  # Rock, Scissors, Paper are these dice in this order
    for i, a in enumerate(faces):
        for j, b in enumerate(faces):
            wins = Fraction(sum((x > y) for x in a for y in b), 9) if i != j else Fraction(1, 2)
            assert MATRICES["dice"][i][j] == float(wins)
    assert MATRICES["dice"][0][1] == 5 / 9 and MATRICES["dice"][1][0] == 1 - 5 / 9
    assert MATRICES["cycle"] == ((0.5, 1.0, 0.0), (0.0, 0.5, 1.0), (1.0, 0.0, 0.5))


def test_oracle_judge_exact_values(host) -> None:  # noqa: ANN001
    judge = host.judges.get("moves-oracle").build(MovesOracleArgs())
    assert isinstance(judge, Judge)
    a = [ROCK, SCISSORS, PAPER, ROCK, ROCK, BROKEN[0], BROKEN[1], ROCK, BROKEN[2]]
    b = [SCISSORS, PAPER, ROCK, PAPER, BROKEN[0], ROCK, BROKEN[2], "Rock sleeps under the hill.", BROKEN[3]]
    expected = [5 / 9, 5 / 9, 5 / 9, 1 - 5 / 9, 1.0, 0.0, 0.5, 0.5, 0.5]
    assert judge.compare(["Your move, Anna."] * len(a), a, b) == expected
    cycle = host.judges.get("moves-oracle").build(MovesOracleArgs(matrix="cycle"))
    assert cycle.compare(["p"] * 4, a[:4], b[:4]) == [1.0, 1.0, 1.0, 0.0]


def test_oracle_is_exactly_antisymmetric_and_ignores_the_prompt(host) -> None:  # noqa: ANN001
    judge = host.tasks.get("moves").build(MovesArgs()).oracle_judge()
    responses = [ROCK, SCISSORS, PAPER, *BROKEN, "Paper wins today."]
    a = [x for x in responses for _ in responses]
    b = [y for _ in responses for y in responses]
    forward = judge.compare(["Go on, Ben."] * len(a), a, b)
    backward = judge.compare(["Quick, Zoe."] * len(a), b, a)
    assert all(x + y == 1.0 for x, y in zip(forward, backward, strict=True))  # exactly, in floating point
    assert all(p == 0.5 for p, x, y in zip(forward, a, b, strict=True) if x == y)
    with pytest.raises(ValueError, match="equal lengths"):
        judge.compare(["p"], [ROCK, ROCK], [PAPER])


def test_the_task_is_a_task_and_its_args_are_checked(host) -> None:  # noqa: ANN001
    entry = host.tasks.get("moves")
    task = entry.build(MovesArgs())
    assert isinstance(task, Task) and task.name == "moves"
    with pytest.raises(FieldError, match="reference: expected 3 probabilities"):
        convert({"reference": [0.5, 0.5]}, entry.config, "task.args")
    with pytest.raises(FieldError, match="sum of 1.1"):
        convert({"reference": [0.6, 0.4, 0.1]}, entry.config, "task.args")
    with pytest.raises(FieldError, match="at most 192"):
        convert({"train_prompts": 180, "eval_prompts": 20}, entry.config, "task.args")
    with pytest.raises(FieldError, match="matrix"):
        convert({"matrix": "order"}, entry.config, "task.args")
    with pytest.raises(ArenaError, match="no split 'test'"):
        task.prompts("test")


def test_registration_is_light_and_recipes_name_the_task_and_judge(tmp_path) -> None:  # noqa: ANN001
    import subprocess
    import sys

    from arena.testing import run_arena

    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, arena_plugins.moves; print('torch' in sys.modules, 'numpy' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.split() == ["False", "False"]
    good = tmp_path / "cup.yaml"
    good.write_text(
        "kind: tournament\nname: cup\nentrants: [{name: a, model: a}, {name: b, model: b}]\n"
        "task: {name: moves, args: {eval_prompts: 8, matrix: cycle}}\n"
        "judge: {name: moves-oracle, args: {matrix: cycle}}\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("eval_prompts: 8", "reference: [1, 0, 0]"))
    assert run_arena(["recipes", "validate", str(good)], cwd=tmp_path).returncode == 0
    result = run_arena(["recipes", "validate", str(bad)], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"{bad}: task.args.reference.1: expected a value > 0, got 0.0"
    ]
