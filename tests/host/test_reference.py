"""`arena plugins --reference`: every built-in object and each of its args, documented from the code.

docs/reference.md is that output; a new arg without a comment, or a changed default, fails here until the
file is regenerated (the command is in the test's message).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from arena.reference import config_docs, field_comments, type_text
from arena.schema import PluginName, Range
from arena.testing import run_arena

REPO = Path(__file__).resolve().parents[2]
# The entry points in pyproject.toml.
BUILTIN = "sft,dpo,ppo,nash_md,self_play,judges,backends,games,moves,group,last_iterate"
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


def test_type_text_names_the_type_with_its_checks() -> None:
    hints = {arg.name: arg.type for arg in config_docs(Inherited)}
    assert hints == {"above": "int", "beside": "float in [0, 1]", "spread": "list[str]", "bare": "'x' | 'y'"}
    assert type_text(Annotated[float, Range(0, low_open=True)] | None) == "float > 0 | None"
    assert type_text(Annotated[float, Range(0, 1, low_open=True)]) == "float in (0, 1]"
    assert type_text(Annotated[int, Range(high=9)]) == "int <= 9"
    assert type_text(Annotated[str, PluginName("tasks")]) == "str (the name of a task)"
    assert type_text(dict[str, Any]) == "dict[str, any]"
    assert type_text(tuple[int, ...]) == "tuple[int, ...]"


def test_plugins_name_prints_the_entry_its_args_types_defaults_and_help() -> None:
    result = run_arena(["plugins", "ppo"], env={"ARENA_PLUGINS": BUILTIN})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:6] == [
        "ppo (algorithm, plugin ppo)",
        "  PPO against a reward model (RLHF)",
        "  PPO with a KL penalty to the reference (RLHF): reward from a pointwise judge at the last token.",
        "args:",
        "  tau: float > 0, default 0.05",
        "      per-token KL coefficient",
    ]
    assert lines[-4:] == [
        "  whiten_advantages: bool, default true",
        "      normalise advantages to mean 0, std 1 per rollout",
        "  value_head: 'shared' | 'separate', default \"shared\"",
        "      separate: a value model copied from the reference",
    ]
    # Every field of the dataclass that validates a PPO recipe, in order, and nothing else (plugin `ppo`
    # provides only algorithm `ppo`, so no plugin block follows).
    from arena_plugins.ppo import PPOArgs

    shown = [line.split(":")[0].strip() for line in lines[4:] if not line.startswith("      ")]
    assert shown == [f.name for f in dataclasses.fields(PPOArgs)]


def test_plugins_name_shows_required_args_and_args_none() -> None:
    oracle = run_arena(["plugins", "oracle"], env={"ARENA_PLUGINS": BUILTIN})
    assert oracle.stdout.splitlines() == [
        "oracle (judge, plugin arena)",
        "  a task's exact preferences",
        "  `args:` of the `oracle` judge: a task's exact preferences (its `oracle_judge()`).",
        "args:",
        "  task: str (the name of a task), required",
        "      the task whose exact preferences judge",
        "  args: any, default {}",
        "      the task's own args, checked when the judge is built",
    ]
    local = run_arena(["plugins", "local"], env={"ARENA_PLUGINS": BUILTIN})
    assert local.stdout.splitlines() == [
        "local (executor, plugin backends)",
        "  this process, one engine at a time (the default)",
        "args: none",
    ]


def test_a_plugin_name_lists_its_entries_after_an_entry_of_that_name() -> None:
    dpo = run_arena(["plugins", "dpo"], env={"ARENA_PLUGINS": BUILTIN})
    assert dpo.returncode == 0, dpo.stderr
    entry, plugin = dpo.stdout.split("\n\n")
    assert entry.splitlines()[0] == "dpo (algorithm, plugin dpo)"
    assert "  beta: float > 0, default 0.1" in entry.splitlines()
    assert plugin.splitlines() == [
        "dpo (plugin, version 0.1.0)",
        "  algorithm dpo: direct preference optimisation (Rafailov et al. 2023); cDPO, robust and hinge variants",
        "  algorithm ipo: identity preference optimisation (Azar et al. 2023)",
    ]
    games = run_arena(["plugins", "games"], env={"ARENA_PLUGINS": BUILTIN})
    assert games.stdout.splitlines() == [
        "games (plugin, version 0.1.0)",
        "  judge game-oracle: exact preferences of a matrix game",
        "  judge reward-table: fixed rewards per response text",
        "  task cycle3: matrix game, actions rock, scissors, paper",
        "  task dice: matrix game, actions red, green, blue",
        "  task matrix-game: a matrix game from the recipe",
        "  task order3: matrix game, actions red, green, blue",
        "  task raters3: matrix game, actions red, green, blue",
        "  task two-actions: matrix game, actions yes, no",
    ]


def test_plugins_name_json_gives_the_args_as_data() -> None:
    result = run_arena(["plugins", "matrix-game", "--json"], env={"ARENA_PLUGINS": BUILTIN})
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["name"], document["plugin"]) == ("matrix-game", None)
    [entry] = document["entries"]
    assert {k: entry[k] for k in ("kind", "name", "plugin", "description")} == {
        "kind": "task",
        "name": "matrix-game",
        "plugin": "games",
        "description": "a matrix game from the recipe",
    }
    args = {arg["name"]: arg for arg in entry["args"]}
    assert list(args) == ["actions", "preferences", "reference", "prompt", "pairs"]
    assert args["actions"] == {
        "name": "actions",
        "type": "list[str]",
        "expected": "a list",
        "required": True,
        "default": None,
        "help": "one token each: the responses a policy can give",
    }
    assert (args["prompt"]["default"], args["prompt"]["required"]) == ("Pick one:", False)
    assert args["reference"]["type"] == "list[float > 0] | None"
    moves = json.loads(run_arena(["plugins", "moves", "--json"], env={"ARENA_PLUGINS": BUILTIN}).stdout)
    assert [e["kind"] for e in moves["entries"]] == ["task"]
    assert moves["entries"][0]["args"][3]["default"] == [0.6, 0.3, 0.1]
    assert (moves["plugin"]["judges"], moves["plugin"]["tasks"]) == (["moves-oracle"], ["moves"])


def test_an_unknown_name_is_one_line_with_did_you_mean_and_exit_2() -> None:
    result = run_arena(["plugins", "ppoo"], env={"ARENA_PLUGINS": BUILTIN})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "unknown plugin, algorithm, judge, backend, task or executor 'ppoo' (did you mean 'ppo'?); "
        "`arena plugins` lists them"
    ]
    both = run_arena(["plugins", "ppo", "--reference"], env={"ARENA_PLUGINS": BUILTIN})
    assert both.returncode == 2 and "--reference prints every entry; give it no NAME" in both.stderr
