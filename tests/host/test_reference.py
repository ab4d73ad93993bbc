"""`arena plugins --reference`: every built-in object and each of its args, documented from the code.

docs/reference.md is that output; a new arg without a comment, or a changed default, fails here until the
file is regenerated (the command is in the test's message).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from arena.reference import config_docs, field_comments
from arena.schema import Range
from arena.testing import run_arena

REPO = Path(__file__).resolve().parents[2]
BUILTIN = "sft,dpo,ppo,nash_md,self_play,judges,backends,games,moves"  # the entry points in pyproject.toml
REGENERATE = f"ARENA_PLUGINS={BUILTIN} arena plugins --reference > docs/reference.md"


@dataclass
class Documented:
    """A config whose fields are documented three ways."""

    # Above: one line,
    # and a second.
    above: int = 1
    beside: Annotated[float, Range(0, 1)] = 0.5  # beside the field
    spread: list[str] = field(
        default_factory=lambda: ["a"]  # inside a definition over several lines
    )
    bare: Literal["x", "y"] = "x"


@dataclass
class Inherited(Documented):
    beside: Annotated[float, Range(0, 1)] = 0.25  # the subclass's own word wins


def test_comments_above_beside_and_inside_a_definition_are_read() -> None:
    assert field_comments(Documented) == {
        "above": "Above: one line, and a second.",
        "beside": "beside the field",
        "spread": "inside a definition over several lines",
    }


def test_config_docs_give_expected_default_and_inherited_comments() -> None:
    docs = {doc.name: doc for doc in config_docs(Inherited)}
    assert list(docs) == ["above", "beside", "spread", "bare"]
    assert (docs["beside"].default, docs["beside"].comment) == ("0.25", "the subclass's own word wins")
    assert docs["above"].comment == "Above: one line, and a second."
    assert (docs["spread"].default, docs["bare"].expected, docs["bare"].comment) == (
        '["a"]',
        "one of 'x', 'y'",
        "",
    )
    assert config_docs(None) == []


def test_docs_reference_is_the_command_output_and_every_arg_says_what_it_does() -> None:
    result = run_arena(["plugins", "--reference"], cwd=REPO, env={"ARENA_PLUGINS": BUILTIN})
    assert result.returncode == 0, result.stderr
    assert (REPO / "docs" / "reference.md").read_text() == result.stdout, f"regenerate: {REGENERATE}"
    rows = [line for line in result.stdout.splitlines() if line.startswith("| `")]
    undocumented = [row for row in rows if row.rstrip().endswith("|  |")]
    assert not undocumented, f"args without a comment in their dataclass: {undocumented}"
    # Every registered object has a section, and the args people look for are where they expect them.
    sections = re.findall(r"^### `([^`]+)` \((\w+), plugin `(\w+)`\)$", result.stdout, flags=re.M)
    names = {name for name, _, _ in sections}
    assert {"dpo", "ipo", "ppo", "nash-md", "online-ipo", "ipo-md", "sppo", "online-dpo", "sft"} <= names
    assert {"hf", "vllm", "local", "ray", "llm", "reward-model", "preference-model", "moves"} <= names
    ppo = result.stdout.split("### `ppo`")[1].split("### ")[0]
    assert "| `tau` | a number | `0.05` | per-token KL coefficient |" in ppo
