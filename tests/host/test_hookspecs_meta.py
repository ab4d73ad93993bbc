"""Keep the plugin surface honest (after datasette): every hook is documented and exercised by a test."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from arena import hookspecs

REPO = Path(__file__).resolve().parents[2]
HOOKS = sorted(
    name
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(function, "arena_spec")
)


def test_the_five_hooks() -> None:
    assert HOOKS == [
        "register_algorithms",
        "register_backends",
        "register_executors",
        "register_judges",
        "register_tasks",
    ]


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    docs = (REPO / "docs" / "plugins.md").read_text()
    assert re.search(rf"^### {hook}$", docs, re.MULTILINE), f"docs/plugins.md has no section for {hook}"
    assert inspect.getdoc(getattr(hookspecs, hook)), f"{hook} has no docstring"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_implemented_by_a_plugin_that_a_test_loads(hook: str) -> None:
    """Some plugin the tests load implements the hook (built-ins, the example, the test fixtures)."""
    this_file = Path(__file__).resolve()
    sources = [p for p in (REPO / "tests").rglob("*.py") if p.resolve() != this_file]
    sources += list((REPO / "plugins").rglob("*.py"))
    implementers = [p for p in sources if re.search(rf"def {hook}\(", p.read_text())]
    assert implementers, f"no plugin implements {hook}"
    registry = hook.removeprefix("register_")
    tests = [p for p in sources if p.is_relative_to(REPO / "tests")]
    assert any(re.search(rf"\b(host\.{registry}|\"{registry}\"|{hook})\b", p.read_text()) for p in tests), (
        f"no test looks at the {registry} registry"
    )
