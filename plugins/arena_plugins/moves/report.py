"""What a set of responses says about its policy on the `moves` task: how often it breaks form, which moves
its well-formed responses play, and how exploitable that move distribution is in the move game.

The move game is the 3x3 matrix P with the task's reference mu; a policy's strategy in it is its move
distribution among well-formed responses (malformed ones are counted apart, in `malformed`). Its
regularised exploitability (`arena.ratings.exploitability`, KNOWN_ANSWERS.md section 2) is zero exactly
at the regularised Nash equilibrium pi*_tau and positive elsewhere. numpy is imported only when a number
is computed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from arena_plugins.moves.language import MOVES, parse_move


@dataclass(frozen=True)
class MoveReport:
    """Counts of a set of responses, and the exact exploitability of its move distribution."""

    counts: tuple[int, ...]  # well-formed responses per move, in MOVES order
    malformed_count: int
    tau: float
    exploitability: float | None  # None when no response is well-formed (there is no move distribution)

    @property
    def total(self) -> int:
        return sum(self.counts) + self.malformed_count

    @property
    def malformed(self) -> float:
        """The share of responses that break a rule of form (NaN for no responses)."""
        return self.malformed_count / self.total if self.total else float("nan")

    @property
    def well_formed(self) -> float:
        return 1.0 - self.malformed

    @property
    def move_probs(self) -> list[float] | None:
        """The share of each move among well-formed responses (MOVES order); None when there are none."""
        played = sum(self.counts)
        return [count / played for count in self.counts] if played else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values: {samples, moves, counts, malformed_count, move_probs, malformed, tau, exploitability}."""
        return {
            "samples": self.total,
            "moves": list(MOVES),
            "counts": list(self.counts),
            "malformed_count": self.malformed_count,
            "move_probs": self.move_probs,
            "malformed": self.malformed if self.total else None,
            "tau": self.tau,
            "exploitability": self.exploitability,
        }


def move_equilibrium(
    preferences: Sequence[Sequence[float]], reference: Sequence[float], tau: float
) -> list[float]:
    """The regularised Nash equilibrium pi*_tau of the move game: the move distribution to aim for."""
    import numpy as np

    from arena.api import regularized_nash

    return regularized_nash(np.array(preferences), np.array(reference), tau).tolist()


def move_report(
    responses: Iterable[str],
    preferences: Sequence[Sequence[float]],
    reference: Sequence[float],
    tau: float,
) -> MoveReport:
    """Parse each response (`parse_move`) and count; the exploitability is that of the well-formed moves."""
    counts = [0] * len(MOVES)
    malformed = 0
    for response in responses:
        move = parse_move(response)
        if move is None:
            malformed += 1
        else:
            counts[MOVES.index(move)] += 1
    played = sum(counts)
    value = None
    if played:
        from arena.api import exploitability  # numpy and scipy only when a number is asked for

        value = float(exploitability(preferences, [c / played for c in counts], reference, tau))
    return MoveReport(tuple(counts), malformed, tau, value)
