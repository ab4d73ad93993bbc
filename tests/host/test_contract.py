"""The plugin contract (arena.api): declared abilities are verified once where a task is built, objects that
are not the contract's types are refused in one line, and what `arena train` refuses before any model
loads, `arena recipes validate` refuses too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from arena.api import Algorithm, ArenaError, Judge, PointwiseJudge, Task
from arena.errors import RecipeError, RecipeKeyError, recipe_errors
from arena.plugins import make_plugin_host
from arena.recipes import parse_recipe
from arena.registry import Entry
from arena.tasks import ABILITIES, abilities, check_task
from arena.testing import run_arena

from .test_recipes import fake_model


class PromptsOnly(Task):
    name = "prompts-only"

    def prompts(self, split: str = "train") -> list[str]:
        return ["Say something."]


class ClaimsPairs(PromptsOnly):
    provides_pairs = True  # declared, never implemented


class HasPairs(PromptsOnly):
    provides_pairs = True
    provides_oracle = True

    def pairs_rows(self, split: str = "train") -> list[dict[str, Any]]:
        return [{"prompt": "Say something.", "chosen": " yes", "rejected": " no", "label": 1.0}]

    def oracle_judge(self) -> Judge:
        raise AssertionError("not called by these tests")


def test_every_ability_flag_names_a_method_of_the_base_class() -> None:
    for flag, method in ABILITIES.items():
        assert getattr(Task, flag) is False, flag
        assert callable(getattr(Task, method)), method


def test_a_declared_ability_without_its_method_is_one_line_where_the_task_is_built() -> None:
    with pytest.raises(ArenaError) as refused:
        check_task(ClaimsPairs(), "claims-pairs")
    assert (
        str(refused.value)
        == "task 'claims-pairs' declares provides_pairs but does not implement pairs_rows()"
    )
    assert check_task(HasPairs(), "has-pairs").provides_pairs
    assert abilities(HasPairs()) == ["provides_pairs", "provides_oracle"]
    assert abilities(PromptsOnly()) == []


def test_a_factory_that_returns_no_task_is_refused_by_the_host() -> None:
    host = make_plugin_host(environ={"ARENA_PLUGINS": "games"}, warn=lambda message: None)
    host.tasks.add(Entry("plain-object", lambda: object(), None, "fixture"))
    with pytest.raises(ArenaError) as refused:
        host.build_task("plain-object")
    assert str(refused.value) == (
        "task 'plain-object': its factory returned object, which is not an arena.api.Task "
        "(subclass it and declare the task's abilities)"
    )
    assert host.build_task("cycle3").provides_game_rollouts  # the built-in games declare theirs


def test_the_game_tasks_declare_exactly_what_they_implement() -> None:
    host = make_plugin_host(environ={"ARENA_PLUGINS": "games,moves"}, warn=lambda message: None)
    game = host.build_task("dice")
    assert abilities(game) == [
        "provides_pairs",
        "provides_completions",
        "provides_oracle",
        "prepares_policy",
        "provides_diagnostics",
        "provides_game_rollouts",
    ]
    assert game.pairs_rows(split="eval") == []  # a game's one prompt: no held-out pairs
    moves = host.build_task("moves")
    assert {"provides_pairs", "provides_oracle", "provides_corpus"} <= set(abilities(moves))
    assert not moves.provides_game_rollouts


def test_the_host_builds_the_oracle_judge_from_the_registries_it_holds() -> None:
    host = make_plugin_host(environ={"ARENA_PLUGINS": "games"}, warn=lambda message: None)
    entry = host.judges.get("oracle")
    assert entry.plugin == "arena"
    judge = entry.build(entry.config(task="cycle3"))
    # rock beats scissors, scissors beat paper, paper beats rock (KNOWN_ANSWERS.md: cycle3)
    assert judge.compare(["Pick one:"] * 3, ["rock", "scissors", "paper"], ["scissors", "paper", "rock"]) == [
        1.0,
        1.0,
        1.0,
    ]


def test_a_key_error_is_named_with_the_file_once_at_the_boundary() -> None:
    with pytest.raises(RecipeError) as named, recipe_errors("cup.yaml"):
        raise RecipeKeyError("judge.max_unreadable", "expected at most 0.05")
    assert str(named.value) == "cup.yaml: judge.max_unreadable: expected at most 0.05"
    assert (named.value.file, named.value.key) == ("cup.yaml", "judge.max_unreadable")


def test_the_builtin_algorithms_are_the_contract_s_algorithms_with_their_abilities() -> None:
    from arena_plugins.dpo.losses import DPO
    from arena_plugins.nash_md.algorithm import NashMD
    from arena_plugins.ppo.algorithm import PPO
    from arena_plugins.sft.loss import SFT

    assert all(issubclass(cls, Algorithm) for cls in (DPO, NashMD, PPO, SFT))
    assert (DPO.data, DPO.needs_reference, DPO.judge_use) == ("pairs", True, None)
    assert (SFT.data, SFT.needs_reference) == ("completions", False)
    assert (NashMD.data, NashMD.judge_use, NashMD.evaluates_prompts) == ("prompts", "compare", True)
    assert PPO.judge_use == "score"


def test_ppo_refuses_a_judge_that_only_compares_before_training(tmp_path: Path) -> None:
    """PPO reads rewards: a judge without score() is one line on `judge` (it used to fail mid-step)."""
    from arena.training.objective import _training_judge, build_algorithm

    host = make_plugin_host(environ={"ARENA_PLUGINS": "games,ppo"}, warn=lambda message: None)
    model = fake_model(tmp_path / "tiny")
    raw = {
        "kind": "train",
        "name": "ppo-cycle",
        "algorithm": "ppo",
        "policy": str(model),
        "task": "cycle3",
        "judge": {"name": "game-oracle", "args": {"game": "cycle3"}},
    }
    recipe = parse_recipe("ppo.yaml", raw, registries=host.registries)
    algorithm = build_algorithm(recipe, host)
    with pytest.raises(RecipeKeyError) as refused:
        _training_judge(recipe, algorithm, host.build_task("cycle3"), host)
    assert str(refused.value) == (
        "judge: expected a pointwise judge (one with score(), e.g. reward-model): ppo trains on rewards, "
        "and judge 'game-oracle' only compares"
    )
    scored = dict(raw, judge={"name": "reward-table", "args": {"rewards": {"rock": 1.0}}})
    recipe = parse_recipe("ppo.yaml", scored, registries=host.registries)
    assert isinstance(_training_judge(recipe, algorithm, None, host), PointwiseJudge)


def test_recipes_validate_refuses_what_arena_train_would_ignore(tmp_path: Path) -> None:
    fake_model(tmp_path / "models" / "tiny")
    (tmp_path / "dpo.yaml").write_text(
        "kind: train\nname: dpo-dice\nalgorithm: dpo\npolicy: models/tiny\ntask: dice\n"
        "generation: {max_new_tokens: 4}\n"
    )
    (tmp_path / "ok.yaml").write_text(
        "kind: train\nname: dpo-ok\nalgorithm: dpo\npolicy: models/tiny\ntask: dice\n"
    )
    env = {"ARENA_PLUGINS": "games,dpo"}
    result = run_arena(["recipes", "validate", "dpo.yaml", "ok.yaml"], cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "dpo.yaml: generation: expected no generation settings: dpo samples nothing (it trains on pairs)"
    ]
    assert result.stdout.strip() == "ok.yaml: ok (train recipe 'dpo-ok')"


def test_a_worker_loads_only_the_plugin_that_registered_what_it_builds() -> None:
    from arena.tournament.run import plugin_spec

    host = make_plugin_host(environ={"ARENA_PLUGINS": "games,backends"}, warn=lambda message: None)
    assert plugin_spec(host.judges, "game-oracle", None).plugins == ("games",)
    assert plugin_spec(host.backends, "hf", None).plugins == ("backends",)
    # The host's oracle reads a task from any plugin: its workers discover them all.
    assert plugin_spec(host.judges, "oracle", None).plugins is None
