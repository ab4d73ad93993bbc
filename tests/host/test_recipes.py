"""Recipes: validated before any work starts; every malformed recipe gives one exact line and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from arena.errors import RecipeError
from arena.plugins import make_plugin_host
from arena.recipes import TrainRecipe, load_recipe, output_dir, save_resolved
from arena.schema import to_plain
from arena.testing import run_arena

TRAIN = """\
kind: train
name: fixture-run
algorithm: pairwise-fixture
policy: models/tiny
args:
  beta: 0.2
task: dice
training:
  steps: 10
  learning_rate: 1e-4
"""

TOURNAMENT = """\
kind: tournament
name: cup
entrants:
  - {name: first, model: models/tiny}
  - {name: second, model: models/tiny}
prompts: prompts.jsonl
judge: {name: game-oracle, args: {game: dice}}
backend: echo-fixture
"""

JUDGE = """\
kind: judge
name: rm
judge: game-oracle
args: {game: cycle3}
backbone: models/tiny
data: {path: prompts.jsonl, limit: 10}
"""


MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def fake_model(directory: Path, files: tuple[str, ...] = MODEL_FILES) -> Path:
    """The files validation looks for in a model directory (it reads their names, never their contents)."""
    directory.mkdir(parents=True)
    for name in files:
        (directory / name).write_text("{}")
    return directory


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    fake_model(tmp_path / "models" / "tiny")
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "Pick one:"}\n')
    (tmp_path / "prompts.txt").write_text("Pick one:\n")
    return tmp_path


@pytest.fixture
def env(with_plugins: dict[str, str]) -> dict[str, str]:
    """The fixture plugin (an algorithm, a backend) and the built-ins; not the deliberately broken ones."""
    return {**with_plugins, "ARENA_PLUGINS": "fixture,games"}


# (name, base recipe, text replaced -> replacement, expected line after "FILE: ")
MALFORMED: list[tuple[str, str, str, str, str]] = [
    (
        "missing-kind",
        TRAIN,
        "kind: train\n",
        "",
        "kind: missing required key (one of train, judge, tournament)",
    ),
    (
        "unknown-kind",
        TRAIN,
        "kind: train",
        "kind: trian",
        "kind: expected one of train, judge, tournament, got 'trian' (did you mean 'train'?)",
    ),
    ("unknown-top-key", TRAIN, "training:", "trainig:", "trainig: unknown key (did you mean 'training'?)"),
    (
        "moved-key",
        TOURNAMENT,
        "backend: echo-fixture",
        "backend: echo-fixture\nbootstrap: 10",
        "bootstrap: unknown key (it moved: write ratings: {bootstrap: N})",
    ),
    (
        "unknown-nested-key",
        TRAIN,
        "learning_rate: 1e-4",
        "learning_rat: 1e-4",
        "training.learning_rat: unknown key (did you mean 'learning_rate'?)",
    ),
    ("wrong-type-int", TRAIN, "steps: 10", "steps: ten", "training.steps: expected an integer, got 'ten'"),
    ("wrong-type-float", TRAIN, "1e-4", "fast", "training.learning_rate: expected a number, got 'fast'"),
    ("out-of-range", TRAIN, "steps: 10", "steps: 0", "training.steps: expected a value > 0, got 0"),
    (
        "missing-required",
        TRAIN,
        "policy: models/tiny\n",
        "",
        "policy: missing required key (a model directory or a hub id)",
    ),
    (
        "unknown-algorithm",
        TRAIN,
        "algorithm: pairwise-fixture",
        "algorithm: pairwise-fixtur",
        "algorithm: unknown algorithm 'pairwise-fixtur' (did you mean 'pairwise-fixture'?); "
        "expected one of: pairwise-fixture",
    ),
    (
        "missing-local-path",
        TRAIN,
        "policy: models/tiny",
        "policy: models/small",
        "policy: no such model directory 'models/small' (nor a hub id)",
    ),
    (
        "missing-absolute-path",
        TRAIN,
        "policy: models/tiny",
        "policy: /nonexistent/model",
        "policy: no such model directory '/nonexistent/model' (nor a hub id)",
    ),
    ("plugin-args-range", TRAIN, "beta: 0.2", "beta: -1", "args.beta: expected a value > 0, got -1.0"),
    ("plugin-args-unknown", TRAIN, "beta: 0.2", "bta: 0.2", "args.bta: unknown key (did you mean 'beta'?)"),
    (
        "schedule-literal",
        TRAIN,
        "steps: 10",
        "steps: 10\n  schedule: cosin",
        "training.schedule: expected one of 'constant', 'linear', 'cosine', got 'cosin' "
        "(did you mean 'cosine'?)",
    ),
    (
        "task-args",
        TRAIN,
        "task: dice",
        "task: {name: dice, args: {reference: [0.5, 0.6, 0.1]}}",
        "task.args.reference: expected probabilities summing to 1, got a sum of 1.2",
    ),
    (
        "bad-name",
        TRAIN,
        "name: fixture-run",
        "name: ../escape",
        "name: expected a plain name usable as a directory, got '../escape'",
    ),
    (
        "one-entrant",
        TOURNAMENT,
        "  - {name: second, model: models/tiny}\n",
        "",
        "entrants: expected at least 2 entrants, got 1",
    ),
    (
        "duplicate-entrant",
        TOURNAMENT,
        "name: second",
        "name: first",
        "entrants.1.name: duplicate entrant name 'first'",
    ),
    (
        "entrant-path",
        TOURNAMENT,
        "{name: second, model: models/tiny}",
        "{name: second, model: ./second}",
        "entrants.1.model: no such model directory './second' (nor a hub id)",
    ),
    (
        "unknown-judge",
        TOURNAMENT,
        "name: game-oracle",
        "name: game-oracel",
        # `oracle` is the host's own (any task's exact preferences): there whatever plugins are loaded.
        "judge.name: unknown judge 'game-oracel' (did you mean 'game-oracle'?); expected one of: game-oracle, "
        "oracle, reward-table",
    ),
    (
        "judge-args-literal",
        TOURNAMENT,
        "game: dice",
        "game: poker",
        "judge.args.game: expected one of 'dice', 'two-actions', 'order3', 'cycle3', 'raters3', got 'poker'",
    ),
    (
        "backend-takes-no-args",
        TOURNAMENT,
        "backend: echo-fixture",
        "backend: {name: echo-fixture, args: {threads: 2}}",
        "backend.args.threads: unknown key (fixture's 'echo-fixture' takes no args)",
    ),
    (
        "entrants-not-list",
        TOURNAMENT,
        "entrants:\n  - {name: first, model: models/tiny}\n  - {name: second, model: models/tiny}\n",
        "entrants: everyone\n",
        "entrants: expected a list, got 'everyone'",
    ),
    (
        "missing-prompts",
        TOURNAMENT,
        "prompts: prompts.jsonl\n",
        "",
        "prompts: missing required key (or name a `task` that provides prompts)",
    ),
    (
        "bool-type",
        TOURNAMENT,
        "backend: echo-fixture",
        "backend: true",
        "backend: expected a mapping or a name, got True",
    ),
    (
        "judge-needs-data",
        JUDGE,
        "data: {path: prompts.jsonl, limit: 10}\n",
        "",
        "data: missing required key (a judge recipe needs `data` or a `task` that provides it)",
    ),
    ("data-limit", JUDGE, "limit: 10", "limit: 1.5", "data.limit: expected an integer, got 1.5"),
    # Keys that a run would have ignored (issue 14): refused where the recipe says so.
    (
        "train-backend",
        TRAIN,
        "task: dice",
        "task: dice\nbackend: echo-fixture",
        "backend: expected no backend on a train recipe: online algorithms sample with Arena's own "
        "KV-cached sampler or vLLM, chosen by `generation: {backend: hf | vllm}`",
    ),
    (
        "train-generation-seed",
        TRAIN,
        "task: dice",
        "task: dice\ngeneration: {seed: 3}",
        "generation.seed: expected no seed on a train recipe: rollouts are seeded from training.seed, step by "
        "step, so that a resumed run samples what an uninterrupted one would",
    ),
    (
        "greedy-top-k",
        TOURNAMENT,
        "backend: echo-fixture",
        "backend: echo-fixture\ngeneration: {temperature: 0, top_k: 5}",
        "generation.top_k: expected no top_k with temperature 0 (greedy decoding takes the most likely token)",
    ),
    (
        "keep-checkpoints-alone",
        TRAIN,
        "steps: 10",
        "steps: 10\n  keep_checkpoints: 5",
        "training.keep_checkpoints: expected save_every > 0 beside it (without it only the final checkpoint "
        "is written)",
    ),
    (
        "prompts-and-task",
        TOURNAMENT,
        "prompts: prompts.jsonl",
        "prompts: prompts.jsonl\ntask: dice",
        "task: expected `prompts` or a `task` that provides them, not both",
    ),
    (
        "txt-prompts-column",
        TOURNAMENT,
        "prompts: prompts.jsonl",
        "prompts: {path: prompts.txt, column: text}",
        "prompts.column: expected no column for a .txt file (it holds one prompt per line)",
    ),
    (
        "judge-data-and-task",
        JUDGE,
        "backbone: models/tiny",
        "backbone: models/tiny\ntask: dice",
        "task: expected `data` or a `task` that provides the pairs, not both",
    ),
    ("top-level-list", "- kind: train\n", "", "", "expected a mapping of keys to values at the top level"),
    ("invalid-yaml", TRAIN, "args:\n  beta: 0.2", "args:\n  beta: [0.2", None),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("name", "base", "old", "new", "expected"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_recipe_gives_one_line_and_exit_code_2(
    workdir: Path,
    env: dict[str, str],
    name: str,
    base: str,
    old: str,
    new: str,
    expected: str | None,
) -> None:
    assert old in base, "the test's replacement must apply"
    (workdir / f"{name}.yaml").write_text(base.replace(old, new, 1))
    result = run_arena(["recipes", "validate", f"{name}.yaml"], cwd=workdir, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    if expected is None:  # a YAML syntax error: the position and the parser's words
        expected = "line 7, column 5: invalid YAML (expected ',' or ']', but got ':')"
    assert result.stderr == f"{name}.yaml: {expected}\n"


def test_valid_recipes_pass(workdir: Path, env: dict[str, str]) -> None:
    for name, text in [("train", TRAIN), ("tournament", TOURNAMENT), ("judge", JUDGE)]:
        (workdir / f"{name}.yaml").write_text(text)
    result = run_arena(
        ["recipes", "validate", "train.yaml", "tournament.yaml", "judge.yaml"], cwd=workdir, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "train.yaml: ok (train recipe 'fixture-run')",
        "tournament.yaml: ok (tournament recipe 'cup')",
        "judge.yaml: ok (judge recipe 'rm')",
    ]


def test_validate_reports_every_bad_file_and_exits_2(workdir: Path, env: dict[str, str]) -> None:
    (workdir / "good.yaml").write_text(TRAIN)
    (workdir / "bad.yaml").write_text(TRAIN.replace("steps: 10", "steps: many"))
    result = run_arena(["recipes", "validate", "bad.yaml", "good.yaml", "absent.yaml"], cwd=workdir, env=env)
    assert result.returncode == 2
    assert result.stdout == "good.yaml: ok (train recipe 'fixture-run')\n"
    assert result.stderr.splitlines() == [
        "bad.yaml: training.steps: expected an integer, got 'many'",
        "absent.yaml: no such recipe file",
    ]


def test_set_overrides_any_key_and_show_prints_the_resolved_recipe(
    workdir: Path, env: dict[str, str]
) -> None:
    (workdir / "tournament.yaml").write_text(TOURNAMENT)
    result = run_arena(
        [
            "recipes",
            "show",
            "tournament.yaml",
            "--set",
            "generation.temperature=0.7",
            "--set",
            "entrants.1.name=third",
            "--set",
            "judge.args.game=cycle3",
        ],
        cwd=workdir,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert resolved["generation"] == {
        "max_new_tokens": 128,
        "temperature": 0.7,
        "top_p": 1.0,
        "top_k": 0,
        "seed": 0,
    }
    assert [e["name"] for e in resolved["entrants"]] == ["first", "third"]
    assert resolved["judge"] == {"name": "game-oracle", "args": {"game": "cycle3"}, "max_unreadable": 0.05}
    assert resolved["backend"] == {"name": "echo-fixture", "args": {}}
    assert resolved["prompts"] == {
        "path": "prompts.jsonl",
        "column": "prompt",
        "split": "train",
        "limit": None,
    }
    assert resolved["samples_per_prompt"] == 1


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("training.steps", "--set: expected key.path=value, got 'training.steps'"),
        ("training.steps=-3", "training.steps: expected a value > 0, got -3"),
        ("training.stepz=3", "training.stepz: unknown key (did you mean 'steps'?)"),
        ("name.first=x", "name: --set name.first: is not a mapping or a list"),
    ],
)
def test_bad_overrides_give_one_line(
    workdir: Path, env: dict[str, str], override: str, expected: str
) -> None:
    (workdir / "train.yaml").write_text(TRAIN)
    result = run_arena(["recipes", "validate", "train.yaml", "--set", override], cwd=workdir, env=env)
    assert (result.returncode, result.stderr) == (2, f"train.yaml: {expected}\n")


def test_list_index_override_out_of_range(workdir: Path, env: dict[str, str]) -> None:
    (workdir / "t.yaml").write_text(TOURNAMENT)
    result = run_arena(["recipes", "validate", "t.yaml", "--set", "entrants.5.name=x"], cwd=workdir, env=env)
    assert (result.returncode, result.stderr) == (
        2,
        "t.yaml: entrants.5: expected a list index below 2 in --set entrants.5.name\n",
    )


def test_typed_recipe_objects(workdir: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workdir)
    (workdir / "train.yaml").write_text(TRAIN)
    host = make_plugin_host(environ={"ARENA_PLUGINS": "fixture,games"}, warn=lambda message: None)
    recipe = load_recipe("train.yaml", ["training.batch_size=4"], registries=host.registries)
    assert isinstance(recipe, TrainRecipe)
    assert recipe.training.learning_rate == 1e-4  # YAML reads 1e-4 as a string; the schema reads a number
    assert recipe.training.batch_size == 4
    assert (
        type(recipe.args).__name__ == "PairwiseArgs"
        and recipe.args.beta == 0.2
        and recipe.args.loss == "sigmoid"
    )
    assert recipe.task is not None and recipe.task.name == "dice" and recipe.task.args.reference is None
    game = host.tasks.get("dice").build(recipe.task.args).game
    assert game.reference == (0.6, 0.3, 0.1)
    with pytest.raises(RecipeError) as caught:
        load_recipe("train.yaml", ["kind=judge"], registries=host.registries, expect="train")
    assert str(caught.value) == "train.yaml: kind: expected a train recipe here, got a judge recipe"


def test_hub_ids_are_accepted_without_a_network(workdir: Path, env: dict[str, str]) -> None:
    (workdir / "train.yaml").write_text(
        TRAIN.replace("policy: models/tiny", "policy: Qwen/Qwen2.5-0.5B-Instruct")
    )
    result = run_arena(["recipes", "validate", "train.yaml"], cwd=workdir, env=env)
    assert result.returncode == 0, result.stderr


def test_resolved_recipe_is_saved_atomically_and_reloads_identically(
    workdir: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workdir)
    (workdir / "train.yaml").write_text(TRAIN)
    host = make_plugin_host(environ={"ARENA_PLUGINS": "fixture,games"}, warn=lambda message: None)
    recipe = load_recipe("train.yaml", ["training.steps=3"], registries=host.registries)
    saved = save_resolved(recipe, output_dir(recipe))
    assert saved == Path("runs/fixture-run/recipe.yaml")
    assert sorted(p.name for p in saved.parent.iterdir()) == ["recipe.yaml"]  # no temp file left behind
    reloaded = load_recipe(str(saved), registries=host.registries)
    assert to_plain(reloaded) == to_plain(recipe)
    assert yaml.safe_load(saved.read_text())["training"]["steps"] == 3
    assert yaml.safe_load(saved.read_text())["args"] == {"beta": 0.2, "loss": "sigmoid"}


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        (("model.safetensors", "tokenizer.json"), "no config.json"),
        (("config.json", "tokenizer.json"), "no weights (model.safetensors or pytorch_model.bin)"),
        (
            ("config.json", "model.safetensors"),
            "no tokenizer (tokenizer.json, tokenizer.model or vocab.json)",
        ),
    ],
)
def test_a_folder_that_is_not_a_model_fails_validation(
    workdir: Path, env: dict[str, str], files: tuple[str, ...], problem: str
) -> None:
    """Before, any existing folder passed and the run failed with transformers' first line (issue 14)."""
    fake_model(workdir / "models" / "half", files)
    (workdir / "train.yaml").write_text(TRAIN.replace("policy: models/tiny", "policy: models/half"))
    result = run_arena(["recipes", "validate", "train.yaml"], cwd=workdir, env=env)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "train.yaml: policy: expected a model directory (config.json, weights and a tokenizer); "
        f"'models/half' has {problem}\n"
    )


def test_an_entrant_may_be_a_run_directory_whose_final_is_a_model(workdir: Path, env: dict[str, str]) -> None:
    fake_model(workdir / "runs" / "good" / "final")
    fake_model(workdir / "runs" / "bad" / "final", ("config.json", "tokenizer.json"))
    text = TOURNAMENT.replace("{name: second, model: models/tiny}", "{name: second, model: runs/good}")
    (workdir / "good.yaml").write_text(text)
    (workdir / "bad.yaml").write_text(text.replace("runs/good", "runs/bad"))
    result = run_arena(["recipes", "validate", "good.yaml", "bad.yaml"], cwd=workdir, env=env)
    assert result.stdout == "good.yaml: ok (tournament recipe 'cup')\n"
    assert result.stderr == (
        "bad.yaml: entrants.1.model: expected a model directory (config.json, weights and a tokenizer); "
        "'runs/bad/final' has no weights (model.safetensors or pytorch_model.bin)\n"
    )


def test_loading_what_is_not_a_model_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At load time too (a path that appeared after validation, a hub id): one line that says why, not
    transformers' first line ("Couldn't instantiate the backend tokenizer from one of:")."""
    from arena.errors import ArenaError
    from arena.policy import load_policy

    half = fake_model(tmp_path / "half", ("config.json", "model.safetensors"))
    with pytest.raises(ArenaError) as caught:
        load_policy(half)
    assert str(caught.value) == (
        f"'{half}' is not a model directory (config.json, weights and a tokenizer): it has no tokenizer "
        "(tokenizer.json, tokenizer.model or vocab.json)"
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ArenaError) as caught:
        load_policy("arena-test/no-such-model")
    assert str(caught.value) == (
        "cannot load the tokenizer of 'arena-test/no-such-model': no local directory of that name, and the hub "
        "id is not in the Hugging Face cache (HF_HUB_OFFLINE is set, so nothing is downloaded)"
    )
