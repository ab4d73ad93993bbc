"""The plugin host: discover plugins through the `arena` entry-point group and fill the registries.

Nothing is discovered at import time; call `make_plugin_host()`. A plugin that fails to import, raises
in a hook or registers a name that is taken is reported (a one-line warning and its `error` in
`arena plugins`) and never stops the others from loading.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy

from arena import hookspecs
from arena.errors import ArenaError
from arena.registry import KINDS, Entry, Registry
from arena.tasks import Task, check_task

ENTRY_POINT_GROUP = "arena"
ALLOW_ENV = "ARENA_PLUGINS"
BLOCK_ENV = "ARENA_DISABLE_PLUGINS"
BUILTIN_DISTRIBUTION = "nash-arena"  # pyproject.toml's name (`arena` on the public index is another project)


@dataclass
class PluginInfo:
    """One plugin as `arena plugins` reports it."""

    name: str
    version: str | None
    error: str | None = None
    provides: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in KINDS})

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, **self.provides, "error": self.error}


@dataclass
class PluginHost:
    manager: pluggy.PluginManager
    registries: dict[str, Registry[Any]]
    plugins: list[PluginInfo]
    warnings: list[str]

    @property
    def algorithms(self) -> Registry[Any]:
        return self.registries["algorithms"]

    @property
    def judges(self) -> Registry[Any]:
        return self.registries["judges"]

    @property
    def backends(self) -> Registry[Any]:
        return self.registries["backends"]

    @property
    def tasks(self) -> Registry[Any]:
        return self.registries["tasks"]

    @property
    def executors(self) -> Registry[Any]:
        return self.registries["executors"]

    def build_task(self, name: str, config: Any = None) -> Task:
        """The task `name` from its validated args, checked once against the task contract."""
        return check_task(self.tasks.get(name).build(config), name)


def make_plugin_host(
    *,
    extra_plugins: Iterable[tuple[str, ModuleType | object]] = (),
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> PluginHost:
    """Load the installed plugins (subject to the allow/block lists) plus `extra_plugins`."""
    environ = os.environ if environ is None else environ
    manager = pluggy.PluginManager("arena")
    manager.add_hookspecs(hookspecs)
    host = PluginHost(manager, {kind: Registry(kind) for kind in KINDS}, [], [])

    allowed = _name_list(environ.get(ALLOW_ENV))
    blocked = _name_list(environ.get(BLOCK_ENV))
    candidates = [(ep.name, ep) for ep in _entry_points()] + list(extra_plugins)
    seen = {name for name, _ in candidates}
    for name in sorted((allowed or set()) - seen):
        host.warnings.append(f"{ALLOW_ENV} names plugin '{name}', which is not installed")
    for name, source in candidates:
        if (allowed is not None and name not in allowed) or name in (blocked or set()):
            continue
        _load_one(host, name, source)

    _add_host_entries(host)
    for message in host.warnings:
        (warn or _default_warn)(message)
    return host


def _add_host_entries(host: PluginHost) -> None:
    """What the host registers itself: the `oracle` judge, which reads any task through these registries."""
    from arena.oracle import oracle_entry

    entry = oracle_entry(host)
    if entry.name not in host.judges:  # a plugin took the name first: it keeps it (as for any duplicate)
        host.judges.add(entry)


def _entry_points() -> list[EntryPoint]:
    """Entry points of the group, built-ins first, each name once (an editable install can list twice)."""
    unique: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        unique.setdefault(ep.name, ep)

    def builtin_first(ep: EntryPoint) -> tuple[bool, str]:
        dist = ep.dist.name if ep.dist is not None else ""
        # Metadata may spell the name nash_arena (an egg-info) or nash-arena (a wheel): compare as pip does.
        return (re.sub(r"[-_.]+", "-", dist).lower() != BUILTIN_DISTRIBUTION, ep.name)

    return sorted(unique.values(), key=builtin_first)


def _load_one(host: PluginHost, name: str, source: EntryPoint | ModuleType | object) -> None:
    version = _version_of(source)
    info = PluginInfo(name=name, version=version)
    host.plugins.append(info)
    try:
        plugin = source.load() if isinstance(source, EntryPoint) else source
        host.manager.register(plugin, name=name)
    except Exception as exc:  # a broken plugin must not break the others
        _fail(host, info, f"failed to load: {_one_line(exc)}")
        return

    # Staged per plugin: a plugin whose hook raises contributes nothing (no half-registered plugin).
    staged: list[tuple[str, Entry[Any]]] = []
    for kind in KINDS:
        caller = getattr(host.manager.hook, f"register_{kind}")
        for impl in caller.get_hookimpls():
            if impl.plugin_name != name:
                continue

            def register(
                entry_name: str,
                factory: Any,
                *,
                config: type | None = None,
                description: str = "",
                _kind: str = kind,
            ) -> None:
                staged.append((_kind, Entry(entry_name, factory, config, name, description)))

            try:
                impl.function(**({"register": register} if "register" in impl.argnames else {}))
            except Exception as exc:
                _fail(host, info, f"raised in register_{kind}: {_one_line(exc)}")
                host.manager.unregister(name=name)
                return

    problems: list[str] = []
    for kind, entry in staged:
        try:
            host.registries[kind].add(entry)
        except ArenaError as exc:
            problems.append(str(exc))
            continue
        info.provides[kind].append(entry.name)
    for names in info.provides.values():
        names.sort()
    if problems:
        _fail(host, info, "; ".join(problems))


def _fail(host: PluginHost, info: PluginInfo, message: str) -> None:
    info.error = message
    host.warnings.append(
        f"plugin '{info.name}' {message}"
        if message.startswith(("failed", "raised"))
        else f"plugin '{info.name}': {message}"
    )


def _version_of(source: EntryPoint | ModuleType | object) -> str | None:
    if isinstance(source, EntryPoint):
        return source.dist.version if source.dist is not None else None
    return getattr(source, "__version__", None)


def _name_list(value: str | None) -> set[str] | None:
    if value is None or not value.strip():
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _default_warn(message: str) -> None:
    from arena.console import warn

    warn(message)
