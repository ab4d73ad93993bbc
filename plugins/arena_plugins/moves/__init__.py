"""The `moves` task: a language task whose preferences are known exactly, and are not transitive.

Prompts are a few words ("Your move, Anna."); responses are short sentences whose first word is a move
("Rock waits by the old river."). The oracle judge prefers a well-formed response to a malformed one
(the rules of form are in `arena_plugins.moves.language`) and between two well-formed responses reads
P off a cyclic matrix over the moves: the non-transitive dice of KNOWN_ANSWERS.md section 2 (`dice`,
each move beats the next with probability 5/9) or hard rock-paper-scissors (`cycle`). The reference
policy's corpus is skewed in its moves (mu = (0.6, 0.3, 0.1) by default) and partly malformed, so
alignment has something to fix (form) and something to balance (moves); since the move game is known,
any policy's move distribution has an exact regularised exploitability. See docs/moves.md.

Plugin discovery imports this module: it stays free of torch (and of numpy until a number is asked for).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from arena.api import Range, Register, hookimpl
from arena_plugins.moves.language import MOVES, parse_move, prompt_pool
from arena_plugins.moves.report import MoveReport, move_report

Matrix = tuple[tuple[float, ...], ...]


def cyclic_matrix(p: float) -> Matrix:
    """P over MOVES where each move beats the next with probability p >= 1/2 (and loses to the one before).
    The lower entries are 1 - p, exact in floating point for p in [1/2, 1], so P[i][j] + P[j][i] == 1."""
    k = len(MOVES)
    rows = [[0.5] * k for _ in range(k)]
    for i in range(k):
        rows[i][(i + 1) % k], rows[(i + 1) % k][i] = p, 1.0 - p
    return tuple(tuple(row) for row in rows)


MATRICES: dict[str, Matrix] = {
    "dice": cyclic_matrix(5 / 9),  # dice {2,4,9}, {1,6,8}, {3,5,7}: KNOWN_ANSWERS.md section 2
    "cycle": cyclic_matrix(1.0),  # rock-paper-scissors
}
MatrixName = Literal["dice", "cycle"]
DICE_REFERENCE = (0.6, 0.3, 0.1)


@dataclass(frozen=True)
class MovesOracle:
    """The oracle judge: form first, then the move matrix. Ignores the prompt."""

    preferences: Matrix

    def preference(self, response_a: str, response_b: str) -> float:
        """P(a beats b): 1 or 0 when exactly one is well-formed, 1/2 when neither is, else P[move_a][move_b]."""
        a, b = parse_move(response_a), parse_move(response_b)
        if a is None or b is None:
            return 0.5 if a is None and b is None else (0.0 if a is None else 1.0)
        return self.preferences[MOVES.index(a)][MOVES.index(b)]

    def compare(
        self, prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]
    ) -> list[float]:
        from arena.api import check_batch

        check_batch(prompts, responses_a, responses_b)
        return [self.preference(a, b) for a, b in zip(responses_a, responses_b, strict=True)]


Positive = Range(0, low_open=True)
AtLeastOne = Range(1)


@dataclass
class MovesArgs:
    """`args:` of the `moves` task."""

    seed: int = 0  # prompt split, corpus, SFT rows, pairs and diagnostic samples all derive from it
    train_prompts: Annotated[int, AtLeastOne] = 64  # prompts the policies and judges train on
    eval_prompts: Annotated[int, AtLeastOne] = 32  # disjoint from the train prompts
    # The reference's move distribution (rock, scissors, paper) in its SFT corpus: mu of the move game.
    reference: list[Annotated[float, Positive]] = field(default_factory=lambda: list(DICE_REFERENCE))
    malformed: Annotated[float, Range(0, 0.95)] = 0.3  # share of the reference's responses that break form
    matrix: MatrixName = (
        "dice"  # the move game: dice (each beats the next 5/9) or cycle (hard rock-paper-scissors)
    )
    sft_rows: Annotated[int, AtLeastOne] = 2000  # completions_rows(): the reference's SFT data
    pairs: Annotated[int, AtLeastOne] = 2000  # pairs_rows(): oracle-labelled pairs on train prompts
    eval_pairs: Annotated[int, AtLeastOne] = 400  # pairs_rows(split="eval"): on eval prompts
    # The tau of the task's exploitability: in reports, and in training diagnostics beside the algorithm's.
    tau: Annotated[float, Positive] = 0.1
    diagnostic_samples: Annotated[int, AtLeastOne] = 64  # responses sampled per diagnostics() call
    max_new_tokens: Annotated[int, AtLeastOne] = 24  # longest response sampled for the task's diagnostics

    def check(self) -> tuple[str, str] | None:
        if len(self.reference) != len(MOVES):
            return "reference", f"expected {len(MOVES)} probabilities (for {', '.join(MOVES)})"
        if abs(sum(self.reference) - 1.0) > 1e-6:
            return "reference", f"expected probabilities summing to 1, got a sum of {sum(self.reference):g}"
        pool = len(prompt_pool())
        if self.train_prompts + self.eval_prompts > pool:
            return "eval_prompts", f"train_prompts + eval_prompts must be at most {pool} (the task's prompts)"
        return None


@dataclass
class MovesOracleArgs:
    """`args:` of the `moves-oracle` judge: which move matrix it reads."""

    matrix: MatrixName = "dice"  # as the moves task's: dice or cycle


def build_moves_task(args: MovesArgs) -> Any:
    from arena_plugins.moves.task import MovesTask

    return MovesTask(args)


def build_moves_oracle(args: MovesOracleArgs) -> MovesOracle:
    return MovesOracle(MATRICES[args.matrix])


@hookimpl
def register_tasks(register: Register) -> None:
    register(
        "moves",
        build_moves_task,
        config=MovesArgs,
        description="short sentences that play rock, scissors or paper: form first, then a cyclic matrix",
    )


@hookimpl
def register_judges(register: Register) -> None:
    register(
        "moves-oracle",
        build_moves_oracle,
        config=MovesOracleArgs,
        description="exact preferences of the moves task (form, then the move matrix)",
    )


__all__ = [
    "DICE_REFERENCE",
    "MATRICES",
    "MOVES",
    "MoveReport",
    "MovesArgs",
    "MovesOracle",
    "MovesOracleArgs",
    "build_moves_oracle",
    "build_moves_task",
    "cyclic_matrix",
    "move_report",
    "parse_move",
]
