"""Typed registries that plugins fill through their `register` callbacks.

One registry per kind (algorithms, judges, backends, tasks, executors). An entry names the plugin that added it,
so a duplicate name is rejected with both plugins named, and `arena plugins` can say who provides what.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from arena.errors import ArenaError, did_you_mean

T = TypeVar("T")

KINDS: tuple[str, ...] = ("algorithms", "judges", "backends", "tasks", "executors")
SINGULAR: dict[str, str] = {
    "algorithms": "algorithm",
    "judges": "judge",
    "backends": "backend",
    "tasks": "task",
    "executors": "executor",
}


class UnknownNameError(ArenaError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateNameError(ArenaError):
    pass


class InvalidEntryError(ArenaError):
    pass


@dataclass(frozen=True)
class Entry(Generic[T]):
    """What a plugin registered under one name.

    `factory` builds the object from its validated config. It may be a callable or a
    "module:attribute" string, resolved on first use, so that registering (and `arena --help`,
    `arena plugins`, recipe validation) never imports torch.
    `config` is the dataclass describing the recipe's `args:` section (None: takes no args).
    """

    name: str
    factory: Callable[..., T] | str
    config: type | None
    plugin: str
    description: str = ""

    def load(self) -> Callable[..., T]:
        if callable(self.factory):
            return self.factory
        module_name, _, attribute = self.factory.partition(":")
        return getattr(importlib.import_module(module_name), attribute)

    def build(self, config: Any = None) -> T:
        """Instantiate the plugin object; `config` is an instance of `self.config` (or None)."""
        factory = self.load()
        if self.config is None:
            return factory()
        return factory(config if config is not None else self.config())


class Registry(Generic[T]):
    """Name -> Entry for one kind of plugin object."""

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown registry kind {kind!r}; expected one of {KINDS}")
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    @property
    def singular(self) -> str:
        return SINGULAR[self.kind]

    def add(self, entry: Entry[T]) -> None:
        _check_entry(self.singular, entry)
        taken = self._entries.get(entry.name)
        if taken is not None:
            raise DuplicateNameError(
                f"{self.singular} '{entry.name}' is registered by both plugin '{taken.plugin}' "
                f"and plugin '{entry.plugin}'; the one from '{taken.plugin}' is kept"
            )
        self._entries[entry.name] = entry

    def get(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownNameError(
                f"unknown {self.singular} '{name}'{did_you_mean(name, self._entries)}; known: {known}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def by_plugin(self, plugin: str) -> list[str]:
        return sorted(name for name, entry in self._entries.items() if entry.plugin == plugin)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._entries)


def _check_entry(singular: str, entry: Entry[Any]) -> None:
    """Reject malformed registrations at registration time, naming the plugin."""
    who = f"plugin '{entry.plugin}'"
    if not isinstance(entry.name, str) or not entry.name or entry.name != entry.name.strip():
        raise InvalidEntryError(f"{who} registered a {singular} with an invalid name {entry.name!r}")
    if not (callable(entry.factory) or (isinstance(entry.factory, str) and ":" in entry.factory)):
        raise InvalidEntryError(
            f"{who}: {singular} '{entry.name}': factory must be callable or 'module:attribute', "
            f"got {entry.factory!r}"
        )
    if entry.config is not None and not (
        isinstance(entry.config, type) and dataclasses.is_dataclass(entry.config)
    ):
        raise InvalidEntryError(
            f"{who}: {singular} '{entry.name}': config must be a dataclass type, got {entry.config!r}"
        )
