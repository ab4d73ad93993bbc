"""The task contract (re-exported by `arena.api`): prompts, and whatever else a task can do, named.

A task always has prompts. Everything else is an ability it declares with a class flag, so the host
knows what a task can do before it builds a model, and never probes an object in its loops:

    flag                      method it promises                     used by
    provides_pairs            pairs_rows(split)                      DPO/IPO and judges without `data`
    provides_completions      completions_rows()                     SFT without `data`
    provides_oracle           oracle_judge()                         online algorithms without a judge
    prepares_policy           prepare_policy(policy)                 `arena train`, before the reference is copied
    provides_diagnostics      diagnostics(policy, kl_coefficient)    each logged step of metrics.jsonl
    provides_game_rollouts    game_rollouts(policy, reference)       online algorithms (exact one-token actions)
    provides_corpus           corpus()                               a tiny model's tokenizer (the quickstart)
    provides_report           tournament_report(result)              files beside a published tournament

`check_task` verifies once, where a task is built, that every declared ability has its method.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

from arena.errors import ArenaError

if TYPE_CHECKING:
    from arena.judging import Judge

Rows = list[dict[str, Any]]

# flag -> the method it promises
ABILITIES: dict[str, str] = {
    "provides_pairs": "pairs_rows",
    "provides_completions": "completions_rows",
    "provides_oracle": "oracle_judge",
    "prepares_policy": "prepare_policy",
    "provides_diagnostics": "diagnostics",
    "provides_game_rollouts": "game_rollouts",
    "provides_corpus": "corpus",
    "provides_report": "tournament_report",
}


class Task(abc.ABC):
    """Subclass it, set `name`, implement `prompts`, and declare (and implement) any ability below."""

    name: str  # set by the subclass (a class attribute, or a field of a dataclass task)
    provides_pairs: ClassVar[bool] = False
    provides_completions: ClassVar[bool] = False
    provides_oracle: ClassVar[bool] = False
    prepares_policy: ClassVar[bool] = False
    provides_diagnostics: ClassVar[bool] = False
    provides_game_rollouts: ClassVar[bool] = False
    provides_corpus: ClassVar[bool] = False
    provides_report: ClassVar[bool] = False
    # Completions are followed by the tokenizer's EOS when tokenised for training (a game's one-token
    # actions are not: nothing follows them).
    completions_end_with_eos: ClassVar[bool] = True

    @abc.abstractmethod
    def prompts(self, split: str = "train") -> list[str]:
        """The task's prompts for a split ("train", "eval"; a task without an eval split may return [])."""

    # The abilities' methods: never called unless the task declares the ability (check_task verifies it
    # implements them), so the base's versions only say which one was missing.
    def pairs_rows(self, split: str = "train") -> Rows:
        """Preference rows {prompt, chosen, rejected, label}; label = P(chosen preferred), 1.0 if hard.
        `split="eval"` gives held-out rows, or [] when the task has none."""
        raise NotImplementedError

    def completions_rows(self) -> Rows:
        """SFT rows {prompt, completion}."""
        raise NotImplementedError

    def oracle_judge(self) -> Judge:
        """The judge that knows the true preferences."""
        raise NotImplementedError

    def prepare_policy(self, policy: Any) -> None:
        """Change a freshly loaded policy before training (e.g. a game sets its action distribution to mu)."""
        raise NotImplementedError

    def diagnostics(self, policy: Any, kl_coefficient: float | None) -> dict[str, Any]:
        """Fields for each logged step of metrics.jsonl (e.g. action probabilities, exploitability)."""
        raise NotImplementedError

    def game_rollouts(self, policy: Any, reference: Any) -> Any:
        """A `Rollouts` over the task's one-token actions, sampled and scored exactly."""
        raise NotImplementedError

    def corpus(self) -> list[str]:
        """Lines to train a tiny model's tokenizer on (every word the task's prompts and responses use)."""
        raise NotImplementedError

    def tournament_report(self, result: Any) -> Any:
        """Files the task adds beside a published tournament (see `arena.api.TournamentReport`)."""
        raise NotImplementedError


def check_task(task: object, name: str) -> Task:
    """`task` as built by plugin `name`'s factory: a Task whose declared abilities all have their method."""
    if not isinstance(task, Task):
        raise ArenaError(
            f"task '{name}': its factory returned {type(task).__name__}, which is not an arena.api.Task "
            "(subclass it and declare the task's abilities)"
        )
    for flag, method in ABILITIES.items():
        if getattr(type(task), flag) and getattr(type(task), method) is getattr(Task, method):
            raise ArenaError(f"task '{name}' declares {flag} but does not implement {method}()")
    return task


def abilities(task: Task | None) -> list[str]:
    """The abilities a task declares (for `arena plugins` and error messages)."""
    return [flag for flag in ABILITIES if task is not None and getattr(type(task), flag)]
