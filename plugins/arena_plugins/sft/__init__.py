"""SFT: next-token loss on completions, the prompt masked. Registration and args only; the loss is in
`arena_plugins.sft.loss` (no torch at import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from arena.api import Register, hookimpl


@dataclass
class SFTArgs:
    """Next-token loss on completions; prompt tokens are masked."""

    average: Literal["token", "sequence"] = "token"  # mean over all completion tokens, or per sequence


@hookimpl
def register_algorithms(register: Register) -> None:
    register("sft", "arena_plugins.sft.loss:SFT", config=SFTArgs, description="supervised fine-tuning")
