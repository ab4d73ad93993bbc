"""The `moves` task object: prompts, the reference policy's data, the oracle, and move diagnostics.

Everything random is drawn from `random.Random` streams named by (seed, purpose), so the same args give
the same prompts, corpus, SFT rows and pairs on every machine, and the streams never share draws. Torch
is imported only by `sample` and `diagnostics`, which generate with the `hf` backend.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from arena.api import ArenaError, Task
from arena_plugins.moves import MATRICES, Matrix, MovesArgs, MovesOracle
from arena_plugins.moves.language import MOVES, parse_move, sample_response, split_prompts
from arena_plugins.moves.report import MoveReport, move_equilibrium, move_report

if TYPE_CHECKING:
    from arena.api import TournamentReport, TournamentResult

SPLITS = ("train", "eval")


class MovesTask(Task):
    """Rock, scissors or paper in a sentence, judged on form and then by a cyclic matrix (docs/moves.md)."""

    provides_pairs = True
    provides_completions = True
    provides_oracle = True
    provides_diagnostics = True
    provides_corpus = True
    provides_report = True
    name = "moves"
    moves = MOVES
    completions_end_with_eos = True  # a response is a sentence followed by EOS

    def __init__(self, args: MovesArgs | None = None) -> None:
        self.args = args or MovesArgs()
        problem = self.args.check()
        if problem is not None:
            raise ArenaError(f"task 'moves': args.{problem[0]}: {problem[1]}")
        self.preferences: Matrix = MATRICES[self.args.matrix]
        self.reference: tuple[float, ...] = tuple(float(x) for x in self.args.reference)
        self.tau = self.args.tau
        train, held_out = split_prompts(self.args.seed, self.args.train_prompts, self.args.eval_prompts)
        self._splits = {"train": train, "eval": held_out}

    # -- prompts and the oracle -------------------------------------------------------------------------

    def prompts(self, split: str = "train") -> list[str]:
        """The prompts of a split ("train" or "eval"); the two never share a prompt."""
        return list(self._splits[_check_split(split)])

    def oracle_judge(self) -> MovesOracle:
        return MovesOracle(self.preferences)

    @staticmethod
    def parse_move(response: str) -> str | None:
        return parse_move(response)

    # -- the reference policy's data --------------------------------------------------------------------

    def responses(self, count: int, seed: int | None = None, purpose: str = "responses") -> list[str]:
        """`count` responses of the reference policy (skewed moves, `args.malformed` of them malformed)."""
        rng = self._rng(seed, purpose)
        return [sample_response(rng, self.reference, self.args.malformed) for _ in range(count)]

    def completions_rows(
        self, size: int | None = None, seed: int | None = None, split: str = "train"
    ) -> list[dict[str, Any]]:
        """SFT rows {prompt, completion} of the reference policy on the split's prompts (`args.sft_rows`).
        The completion starts with a space: the prompt and it are tokenised apart, and the corpus has them
        joined by one space, so the tokenizer's words are the same in both."""
        rng = self._rng(seed, f"completions:{_check_split(split)}")
        prompts = self._splits[split]
        rows = []
        for _ in range(self.args.sft_rows if size is None else size):
            prompt = rng.choice(prompts)
            rows.append({"prompt": prompt, "completion": " " + sample_response(rng, *self._policy())})
        return rows

    def corpus(self, size: int | None = None, seed: int | None = None) -> list[str]:
        """Lines "prompt response" to train a tokenizer on (`arena.tiny.build_tiny_model`) or to read:
        the SFT rows joined, on the train prompts, followed by every eval prompt once so its words are known."""
        lines = [row["prompt"] + row["completion"] for row in self.completions_rows(size, seed)]
        return lines + self.prompts("eval")

    def pairs_rows(
        self, split: str = "train", size: int | None = None, seed: int | None = None
    ) -> list[dict[str, Any]]:
        """Preference pairs {prompt, chosen, rejected, label} for offline DPO/IPO and judge training.

        Both responses are drawn from the reference policy; pairs the oracle calls a tie (P = 1/2) are
        drawn again. The order is a draw of the oracle's own preference (the first response is `chosen`
        with probability P(first beats second)), as a human labeller's would be, and `label` is the exact
        P(chosen beats rejected), so a soft-label loss sees the truth and a hard-label one a fair sample.
        """
        split = _check_split(split)
        count = size if size is not None else (self.args.pairs if split == "train" else self.args.eval_pairs)
        rng = self._rng(seed, f"pairs:{split}")
        oracle, prompts = self.oracle_judge(), self._splits[split]
        rows: list[dict[str, Any]] = []
        while len(rows) < count:
            prompt = rng.choice(prompts)
            first, second = (" " + sample_response(rng, *self._policy()) for _ in range(2))
            p = oracle.preference(first, second)
            if p == 0.5:
                continue
            if rng.random() < p:
                rows.append({"prompt": prompt, "chosen": first, "rejected": second, "label": p})
            else:
                rows.append({"prompt": prompt, "chosen": second, "rejected": first, "label": 1.0 - p})
        return rows

    # -- exact answers ----------------------------------------------------------------------------------

    def equilibrium(self, tau: float | None = None) -> list[float]:
        """The regularised Nash equilibrium pi*_tau of the move game (P, mu), over MOVES."""
        return move_equilibrium(self.preferences, self.reference, self.tau if tau is None else tau)

    def exploitability(self, move_probs: list[float], tau: float | None = None) -> float:
        """The exact regularised exploitability of a move distribution (over MOVES) in the move game."""
        from arena.api import exploitability

        return float(
            exploitability(self.preferences, move_probs, self.reference, self.tau if tau is None else tau)
        )

    def report(self, responses: list[str], tau: float | None = None) -> MoveReport:
        """Malformed share, move distribution and its exploitability, from generated texts (e.g. a tournament's)."""
        return move_report(responses, self.preferences, self.reference, self.tau if tau is None else tau)

    def tournament_report(self, result: TournamentResult) -> TournamentReport:
        """Each entrant's moves (moves.csv/json), the columns the algorithm table pools, and the README's
        sentences and claims about them (`arena_plugins.moves.publish`)."""
        from arena_plugins.moves.publish import tournament_report

        return tournament_report(self, result)

    # -- a policy's responses (torch) -------------------------------------------------------------------

    def sample(
        self, model: Any, samples: int | None = None, seed: int | None = None, split: str = "eval"
    ) -> list[str]:
        """Sample `samples` responses (`args.diagnostic_samples`) from a Policy or a model directory with the
        `hf` backend at temperature 1, over the split's prompts in turn. Seeded: the same model gives the
        same texts, and the caller's random state is untouched."""
        from arena.api import HFBackend, HFBackendConfig, SamplingSettings

        count = self.args.diagnostic_samples if samples is None else samples
        prompts = self._splits[_check_split(split)]
        batch = [prompts[i % len(prompts)] for i in range(count)]
        sampling = SamplingSettings(
            max_new_tokens=self.args.max_new_tokens,
            temperature=1.0,
            seed=self.args.seed if seed is None else seed,
        )
        backend = HFBackend(HFBackendConfig(batch_size=min(count, 64)))
        try:
            return [row[0].text for row in backend.generate(model, batch, 1, sampling)]
        finally:
            backend.close()

    def diagnostics(self, policy: Any, tau: float | None) -> dict[str, Any]:
        """For the Trainer's metrics.jsonl: move_probs (MOVES order, among well-formed samples), malformed
        share and exploitability at tau (the algorithm's KL coefficient, else `args.tau`); when the two
        differ, also `exploitability_task_tau` at `args.tau` (the task's own tau is never ignored)."""
        report = self.report(self.sample(policy), tau)
        result = {
            "move_probs": report.move_probs,
            "malformed": report.malformed,
            "exploitability": report.exploitability,
            # what move_probs' entries are, and the known answer pi*_tau `arena plot` draws them against
            "actions": list(MOVES),
            "equilibrium": self.equilibrium(tau),
        }
        if tau is not None and tau != self.tau:
            probs = report.move_probs
            result["exploitability_task_tau"] = self.exploitability(probs) if probs is not None else None
        return result

    # -- helpers ----------------------------------------------------------------------------------------

    def _policy(self) -> tuple[tuple[float, ...], float]:
        return self.reference, self.args.malformed

    def _rng(self, seed: int | None, purpose: str) -> random.Random:
        return random.Random(f"moves:{self.args.seed if seed is None else seed}:{purpose}")


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ArenaError(f"task 'moves' has no split '{split}' (expected one of {', '.join(SPLITS)})")
    return split
