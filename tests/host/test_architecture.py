"""The "never" rules of docs/architecture.md, checked on the source (imports read with `ast`, nothing run)
except the last, which imports the registration modules in a fresh interpreter to see what they pull in.

1. A built-in plugin imports from the host only `arena.api` (stdlib, third-party and `arena_plugins.*` are
   its own business), and names no other host module in a lazy "module:attr" string.
2. The host (arena/**) never imports `arena_plugins`, nor names it in a "module:attr" string.
3. Registration modules (plugins/arena_plugins/*/__init__.py), `arena.api` and registering every plugin
   never import torch.
4. The third-party example plugin imports only `arena.api` from Arena (and no built-in plugin).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOST = REPO / "arena"
BUILTIN = REPO / "plugins" / "arena_plugins"
EXAMPLE = REPO / "plugins" / "examples" / "arena-example-plugin"
CONTRACT = "arena.api"

# A string that names a module the way a lazy factory or importlib does: "a.b", "a:attr" or "a.b:attr"
# (a bare word such as the entry-point group "arena" is a name, not an import).
MODULE_STRING = re.compile(r"^[A-Za-z_]\w*((\.\w+)+(:\w+)?|:\w+)$")


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) for every absolute import and every module-naming string constant in `source`.

    `from arena import x` yields `arena.x` when x could be a module and `arena` for the names in it, so
    `from arena import hookimpl` is seen as importing `arena` itself. Relative imports stay inside the
    package that makes them and are skipped.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_STRING.match(node.value)
        ):
            found.append((node.lineno, node.value.partition(":")[0]))
    return found


def is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def host_modules_used(source: str) -> list[tuple[int, str]]:
    """The (line, module) of every name from the host (`arena` and below) that is not the contract."""
    return [
        (line, module)
        for line, module in imported_modules(source)
        if is_within(module, "arena") and not is_within(module, CONTRACT)
    ]


def violations(files: list[Path], bad: Callable[[str], list[tuple[int, str]]]) -> list[str]:
    found = []
    for path in files:
        for line, module in bad(path.read_text()):
            found.append(f"{path.relative_to(REPO)}:{line}: {module}")
    return found


def python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "build" not in p.relative_to(root).parts)


def test_the_checker_sees_every_form_of_import() -> None:
    source = (
        "import os, arena.training.loop\n"
        "from arena import hookimpl\n"
        "from arena.api import Task, hookimpl\n"
        "from arena import api\n"
        "from .algorithm import PPO\n"
        "def later():\n"
        "    from arena.schema import Range\n"
        "    import arena_plugins.games.actions\n"
        "FACTORY = 'arena.generation.hf:HFBackend'\n"
        "OK = 'arena.api:Task'\n"
        "GROUP = 'arena'\n"
        "TEXT = 'a sentence that mentions arena.training, not a module string'\n"
    )
    assert host_modules_used(source) == [
        (1, "arena.training.loop"),
        (2, "arena.hookimpl"),
        (7, "arena.schema.Range"),
        (9, "arena.generation.hf"),
    ]
    assert [m for _, m in imported_modules(source) if is_within(m, "arena_plugins")] == [
        "arena_plugins.games.actions"
    ]
    assert not is_within("arena_plugins.x", "arena")  # a prefix of the name is not the package


def test_builtin_plugins_import_only_the_contract_from_the_host() -> None:
    files = python_files(BUILTIN)
    assert len(files) > 20 and BUILTIN / "ppo" / "algorithm.py" in files
    assert violations(files, host_modules_used) == [], (
        "built-in plugins must import the host through arena.api"
    )
    # The contract is what they do import: the rule is not passing because nothing was read.
    users = [p for p in files if any(is_within(m, CONTRACT) for _, m in imported_modules(p.read_text()))]
    assert len(users) >= 10


def test_the_host_never_imports_a_builtin_plugin() -> None:
    def plugin_modules(source: str) -> list[tuple[int, str]]:
        return [(line, m) for line, m in imported_modules(source) if is_within(m, "arena_plugins")]

    files = python_files(HOST)
    assert len(files) > 50
    assert violations(files, plugin_modules) == [], "the host must not know a built-in plugin"


def test_the_example_plugin_imports_only_the_contract() -> None:
    def not_the_contract(source: str) -> list[tuple[int, str]]:
        return [
            (line, m)
            for line, m in imported_modules(source)
            if (is_within(m, "arena") and not is_within(m, CONTRACT)) or is_within(m, "arena_plugins")
        ]

    files = python_files(EXAMPLE)
    assert files, f"no Python files under {EXAMPLE}"
    assert violations(files, not_the_contract) == []
    assert any(is_within(m, CONTRACT) for p in files for _, m in imported_modules(p.read_text()))


def test_registration_and_the_contract_never_import_torch() -> None:
    packages = sorted(p.parent.name for p in BUILTIN.glob("*/__init__.py"))
    assert {
        "dpo",
        "ppo",
        "nash_md",
        "self_play",
        "sft",
        "judges",
        "backends",
        "games",
        "moves",
        "group",
        "last_iterate",
    } <= set(packages)
    modules = ["arena.api", "arena_plugins", *(f"arena_plugins.{name}" for name in packages)]
    code = (
        f"import sys, importlib\n"
        f"for name in {modules!r}:\n"
        f"    importlib.import_module(name)\n"
        f"from arena.plugins import make_plugin_host\n"
        f"host = make_plugin_host()\n"  # every register_* hook of every plugin has run
        f"assert not [p.error for p in host.plugins if p.error], [p.error for p in host.plugins]\n"
        f"print(len(host.plugins), sum(len(r) for r in host.registries.values()), 'torch' in sys.modules)\n"
    )
    env = {**os.environ, "ARENA_PLUGINS": ",".join(packages)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    plugins, entries, torch_imported = done.stdout.split()
    assert (int(plugins), torch_imported) == (len(packages), "False")
    assert int(entries) >= 25  # every built-in algorithm, judge, backend, task and executor registered
