"""Discovery through entry points, allow/block lists, and broken plugins isolated and reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from arena.plugins import make_plugin_host
from arena.testing import run_arena

BROKEN = {"broken-import", "raises-in-hook", "duplicate-name"}


def plugins_json(env: dict[str, str]) -> tuple[dict[str, dict], str]:
    result = run_arena(["plugins", "--json"], env=env)
    assert result.returncode == 0, result.stderr
    return {item["name"]: item for item in json.loads(result.stdout)}, result.stderr


def test_builtin_games_plugin_is_discovered_through_its_entry_point() -> None:
    host = make_plugin_host(environ={}, warn=lambda message: None)
    games = next(info for info in host.plugins if info.name == "games")
    assert games.error is None
    assert games.provides["tasks"] == ["cycle3", "dice", "matrix-game", "order3", "raters3", "two-actions"]
    assert games.provides["judges"] == ["game-oracle", "reward-table"]
    assert host.tasks.get("dice").plugin == "games"


def test_every_hook_registers_into_its_registry(with_plugins: dict[str, str]) -> None:
    host = make_plugin_host(environ={"ARENA_PLUGINS": "fixture,games"}, warn=lambda message: None)
    assert host.algorithms.names() == ["pairwise-fixture"]
    assert host.backends.names() == ["echo-fixture"]
    assert "game-oracle" in host.judges.names()
    # The lazy "module:attribute" factory resolves only when built.
    backend = host.backends.get("echo-fixture").build()
    assert backend.generate(["hi"], n=2) == [["hi", "hi"]]
    algorithm = host.algorithms.get("pairwise-fixture").build()
    assert algorithm.args.beta == 0.1


def test_broken_plugins_are_reported_and_do_not_break_the_others(with_plugins: dict[str, str]) -> None:
    plugins, stderr = plugins_json(with_plugins)
    assert set(plugins) >= {"games", "fixture", *BROKEN}
    for item in plugins.values():
        assert set(item) == {
            "name",
            "version",
            "algorithms",
            "judges",
            "backends",
            "tasks",
            "executors",
            "error",
        }

    assert plugins["broken-import"]["error"] == (
        "failed to load: ModuleNotFoundError: No module named 'a_module_that_does_not_exist'"
    )
    # A hook that raises: the plugin contributes nothing, not even what it registered before raising.
    assert (
        plugins["raises-in-hook"]["error"] == "raised in register_judges: RuntimeError: judge weights missing"
    )
    assert plugins["raises-in-hook"]["tasks"] == []
    # A taken name: rejected with both plugins named; the plugin's other names stay.
    assert plugins["duplicate-name"]["error"] == (
        "task 'dice' is registered by both plugin 'games' and plugin 'duplicate-name'; "
        "the one from 'games' is kept"
    )
    assert plugins["duplicate-name"]["tasks"] == ["unique-task"]
    assert plugins["games"]["tasks"] == ["cycle3", "dice", "matrix-game", "order3", "raters3", "two-actions"]
    assert plugins["games"]["error"] is None
    assert plugins["fixture"] == {
        "name": "fixture",
        "version": "1.0",
        "algorithms": ["pairwise-fixture"],
        "judges": [],
        "backends": ["echo-fixture"],
        "tasks": [],
        "executors": [],
        "error": None,
    }

    warnings = stderr.splitlines()
    assert warnings == [
        "arena: warning: plugin 'broken-import' failed to load: "
        "ModuleNotFoundError: No module named 'a_module_that_does_not_exist'",
        "arena: warning: plugin 'duplicate-name': task 'dice' is registered by both plugin 'games' "
        "and plugin 'duplicate-name'; the one from 'games' is kept",
        "arena: warning: plugin 'raises-in-hook' raised in register_judges: "
        "RuntimeError: judge weights missing",
    ]


def test_allow_list_loads_only_the_named_plugins(with_plugins: dict[str, str]) -> None:
    plugins, stderr = plugins_json({**with_plugins, "ARENA_PLUGINS": "fixture, games"})
    assert sorted(plugins) == ["fixture", "games"]
    assert stderr == ""


def test_allow_list_warns_about_a_name_that_is_not_installed(with_plugins: dict[str, str]) -> None:
    plugins, stderr = plugins_json({**with_plugins, "ARENA_PLUGINS": "games,gmaes"})
    assert sorted(plugins) == ["games"]
    assert stderr.strip() == "arena: warning: ARENA_PLUGINS names plugin 'gmaes', which is not installed"


def test_block_list_skips_the_named_plugins(with_plugins: dict[str, str]) -> None:
    plugins, stderr = plugins_json({**with_plugins, "ARENA_DISABLE_PLUGINS": ",".join(sorted(BROKEN))})
    assert "games" in plugins and "fixture" in plugins
    assert not set(plugins) & BROKEN
    assert stderr == ""


def test_block_list_wins_over_allow_list(with_plugins: dict[str, str]) -> None:
    host = make_plugin_host(
        environ={"ARENA_PLUGINS": "games,fixture", "ARENA_DISABLE_PLUGINS": "games"}, warn=lambda m: None
    )
    assert [info.name for info in host.plugins] == ["fixture"]
    assert len(host.tasks) == 0


def test_nothing_is_discovered_at_import_time(with_plugins: dict[str, str]) -> None:
    code = (
        "import sys, arena, arena.plugins, arena.cli, arena.recipes\n"
        "print(sorted(m for m in sys.modules if m.startswith(('arena_plugins.', 'arena_fixture'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **with_plugins}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("table", [True, False])
def test_plugins_command_shows_errors(with_plugins: dict[str, str], table: bool) -> None:
    args = ["plugins"] if table else ["plugins", "--json"]
    # Wide enough that rich never folds the error cell of the table.
    result = run_arena(args, env={**with_plugins, "ARENA_PLUGINS": "broken-import,games", "COLUMNS": "400"})
    assert result.returncode == 0
    assert "No module named 'a_module_that_does_not_exist'" in result.stdout
    assert "\x1b[" not in result.stdout  # NO_COLOR is honoured


def _table_rows(stdout: str) -> list[list[str]]:
    """The body rows of every table rich printed, each as its stripped cells."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in stdout.splitlines()
        if line.startswith("│")
    ]


def test_plugins_table_shows_every_entry_with_its_description(with_plugins: dict[str, str]) -> None:
    env = {**with_plugins, "ARENA_PLUGINS": "fixture,games,broken-import", "COLUMNS": "400"}
    result = run_arena(["plugins"], env=env)
    assert result.returncode == 0, result.stderr
    rows = _table_rows(result.stdout)
    assert ["pairwise-fixture", "fixture", "test algorithm"] in rows
    assert ["echo-fixture", "fixture", "test backend"] in rows
    assert ["cycle3", "games", "matrix game, actions rock, scissors, paper"] in rows
    assert ["oracle", "arena", "a task's exact preferences"] in rows  # the host's own judge
    assert ["fixture", "1.0", ""] in rows
    assert [
        "broken-import",
        "1.0",
        "failed to load: ModuleNotFoundError: No module named 'a_module_that_does_not_exist'",
    ] in rows
    titles = [line for line in result.stdout.splitlines() if line and line[0].isalpha()]
    assert titles == [
        "Algorithms",
        "Judges",
        "Backends",
        "Tasks",
        "Arena plugins",
        "arena plugins NAME shows an entry's args; --reference shows every entry's, as markdown",
    ]


def test_plugins_name_shows_a_third_party_entry_and_plugin(with_plugins: dict[str, str]) -> None:
    env = {**with_plugins, "ARENA_PLUGINS": "fixture"}
    entry = run_arena(["plugins", "pairwise-fixture"], env=env)
    assert entry.returncode == 0, entry.stderr
    # No comments beside its fields: type and default only.
    assert entry.stdout.splitlines() == [
        "pairwise-fixture (algorithm, plugin fixture)",
        "  test algorithm",
        "args:",
        "  beta: float > 0, default 0.1",
        "  loss: 'sigmoid' | 'hinge', default \"sigmoid\"",
    ]
    plugin = run_arena(["plugins", "fixture"], env=env)
    assert plugin.stdout.splitlines() == [
        "fixture (plugin, version 1.0)",
        "  algorithm pairwise-fixture: test algorithm",
        "  backend echo-fixture: test backend",
    ]
    broken = run_arena(["plugins", "broken-import"], env={**with_plugins, "ARENA_PLUGINS": "broken-import"})
    assert broken.stdout.splitlines() == [
        "broken-import (plugin, version 1.0)",
        "  error: failed to load: ModuleNotFoundError: No module named 'a_module_that_does_not_exist'",
        "  provides nothing",
    ]
