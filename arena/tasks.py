"""The task protocol: prompts, and where the truth is known, an oracle judge."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from arena.judging import Judge


@runtime_checkable
class Task(Protocol):
    name: str

    def prompts(self, split: str = "train") -> list[str]:
        """The task's prompts for a split ("train", "eval")."""
        ...

    def oracle_judge(self) -> Judge | None:
        """The judge that knows the true preferences, or None when the task has none."""
        ...
