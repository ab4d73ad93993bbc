"""Typed registries: lookup with did-you-mean, duplicates named, malformed entries refused."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from arena.registry import DuplicateNameError, Entry, InvalidEntryError, Registry, UnknownNameError


@dataclass
class Args:
    beta: float = 0.5


def judge(name: str, plugin: str = "one", factory: object = dict, config: type | None = None) -> Entry:
    return Entry(name, factory, config, plugin)  # type: ignore[arg-type]


def test_get_returns_the_entry_and_names_are_sorted() -> None:
    registry: Registry = Registry("judges")
    registry.add(judge("shorter"))
    registry.add(judge("longer"))
    assert registry.get("shorter").plugin == "one"
    assert registry.names() == ["longer", "shorter"]
    assert len(registry) == 2 and "longer" in registry and "other" not in registry


def test_unknown_name_suggests_the_closest() -> None:
    registry: Registry = Registry("judges")
    registry.add(judge("shorter"))
    registry.add(judge("reward-model"))
    with pytest.raises(UnknownNameError) as caught:
        registry.get("shortr")
    assert (
        str(caught.value) == "unknown judge 'shortr' (did you mean 'shorter'?); known: reward-model, shorter"
    )
    with pytest.raises(UnknownNameError) as caught:
        registry.get("zzz")
    assert str(caught.value) == "unknown judge 'zzz'; known: reward-model, shorter"


def test_empty_registry_says_none_is_known() -> None:
    with pytest.raises(UnknownNameError, match=r"^unknown algorithm 'dpo'; known: none$"):
        Registry("algorithms").get("dpo")


def test_duplicate_names_both_plugins() -> None:
    registry: Registry = Registry("tasks")
    registry.add(judge("dice", plugin="games"))
    with pytest.raises(DuplicateNameError) as caught:
        registry.add(judge("dice", plugin="casino"))
    assert str(caught.value) == (
        "task 'dice' is registered by both plugin 'games' and plugin 'casino'; the one from 'games' is kept"
    )
    assert registry.get("dice").plugin == "games"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (judge(""), "plugin 'one' registered a judge with an invalid name ''"),
        (judge(" padded"), "plugin 'one' registered a judge with an invalid name ' padded'"),
        (
            judge("x", factory=42),
            "plugin 'one': judge 'x': factory must be callable or 'module:attribute', got 42",
        ),
        (
            judge("x", config=dict),
            "plugin 'one': judge 'x': config must be a dataclass type, got <class 'dict'>",
        ),
    ],
)
def test_malformed_entries_are_refused(entry: Entry, message: str) -> None:
    with pytest.raises(InvalidEntryError) as caught:
        Registry("judges").add(entry)
    assert str(caught.value) == message


def test_build_passes_the_config_and_resolves_lazy_factories() -> None:
    entry = Entry("frac", "fractions:Fraction", None, "stdlib")
    assert entry.build() == 0  # Fraction() is 0: the string was imported and called
    with_config = Entry("args", lambda args: args.beta * 2, Args, "one")
    assert with_config.build(Args(beta=1.5)) == 3.0
    assert with_config.build() == 1.0  # the config's defaults


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown registry kind 'models'"):
        Registry("models")
