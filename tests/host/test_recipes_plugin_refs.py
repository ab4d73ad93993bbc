"""One `{name, args}` reference class for every plugin a recipe names: `PluginRef[Literal[kind]]`.

The same two keys and shorthand for each kind, the name checked against that kind's registry only, and the
same one-line errors as before the four classes were one.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import typing
from typing import Any, Literal

import pytest

from arena.errors import RecipeError
from arena.plugins import make_plugin_host
from arena.recipes import PluginRef, TournamentJudge, TournamentRecipe, TrainRecipe, parse_recipe

TOURNAMENT: dict[str, Any] = {
    "kind": "tournament",
    "name": "cup",
    "entrants": [{"name": "a", "model": "org/a"}, {"name": "b", "model": "org/b"}],
    "judge": {"name": "oracle", "args": {"task": "cycle3"}},
    "task": "cycle3",
}


@pytest.fixture(scope="module")
def registries() -> Any:
    return make_plugin_host(environ={}, warn=lambda message: None).registries


def test_each_kind_is_one_class_with_the_same_keys() -> None:
    hints = typing.get_type_hints(TournamentRecipe)
    for key, kind in (("task", "tasks"), ("backend", "backends"), ("executor", "executors")):
        ref = PluginRef[Literal[kind]]
        assert hints[key] == ref | None and ref is PluginRef[kind]  # cached: one class per kind
        assert issubclass(ref, PluginRef) and ref.__shorthand__ == "name"
        assert [f.name for f in dataclasses.fields(ref)] == ["name", "args"]
    assert typing.get_type_hints(TrainRecipe)["judge"] == PluginRef[Literal["judges"]] | None
    assert issubclass(TournamentJudge, PluginRef[Literal["judges"]])
    assert len({PluginRef[kind] for kind in ("judges", "backends", "executors", "tasks")}) == 4
    with pytest.raises(TypeError, match="expected one of the registry kinds"):
        PluginRef[Literal["judge"]]


def test_a_name_is_checked_against_its_own_registry_only(registries: Any) -> None:
    raw = {**TOURNAMENT, "backend": "hf", "executor": {"name": "local", "args": {}}}
    recipe = parse_recipe("cup.yaml", raw, registries=registries)
    assert isinstance(recipe, TournamentRecipe)
    assert (type(recipe.backend), recipe.backend.name) == (PluginRef["backends"], "hf")
    assert recipe.backend.args == registries["backends"].get("hf").config()  # the plugin's typed args
    assert type(recipe.executor) is PluginRef["executors"] and type(recipe.task) is PluginRef["tasks"]
    # `local` is an executor, not a backend: the backend registry refuses it, listing its own names.
    backends = ", ".join(registries["backends"].names())
    with pytest.raises(RecipeError) as caught:
        parse_recipe("cup.yaml", {**raw, "backend": "local"}, registries=registries)
    assert (
        str(caught.value) == f"cup.yaml: backend.name: unknown backend 'local'; expected one of: {backends}"
    )
    with pytest.raises(RecipeError) as caught:
        parse_recipe("cup.yaml", {k: v for k, v in raw.items() if k != "judge"}, registries=registries)
    assert str(caught.value) == "cup.yaml: judge: missing required key (a mapping or a name)"
    with pytest.raises(RecipeError) as caught:
        parse_recipe("cup.yaml", {**raw, "task": {"args": {}}}, registries=registries)
    assert str(caught.value) == "cup.yaml: task.name: missing required key (the name of a task)"


def test_a_resolved_recipe_copies_and_pickles(registries: Any) -> None:
    raw = {**TOURNAMENT, "backend": {"name": "hf", "args": {"device": "cpu"}}}
    recipe = parse_recipe("cup.yaml", raw, registries=registries)
    for again in (pickle.loads(pickle.dumps(recipe)), copy.deepcopy(recipe)):
        assert again == recipe and type(again.backend) is PluginRef["backends"]
        assert type(again.judge) is TournamentJudge
