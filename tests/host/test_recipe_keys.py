"""Every recipe key is read: changing it changes the run, or the run refuses it in one line (issue 14).

`recipe_keys()` lists every key of every recipe kind and of every built-in plugin's `args:` from their
dataclasses, so a key added without an entry in `KEYS` fails `test_every_key_has_a_proof`. Each entry
runs a small real run (in this process: `arena train`'s and `arena tournament`'s own functions on the
tiny models under recipes/) with the key changed, and compares it with the same run unchanged:

- `changes`: the run's outcome differs (metrics, weights, checkpoints, held-out metrics, samples, the
  board, the files written), echoes of the recipe itself (recipe.yaml, names in summaries) left out;
- `refused`: the run, or its validation, stops with a RecipeError on exactly that key;
- `read`: the run reads the key's field (a recorder on the dataclass), for the few keys whose effect this
  machine cannot show (a device on a CPU-only machine, remote code of a model that has none, a batch size
  that by design changes no number); each says why.

The vLLM backend's and the Ray executor's args are checked where they are consumed, with recording stand-ins
for `vllm` and `ray` (`tests/host/recipe_key_fakes.py`): a real engine or cluster costs minutes here.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import gc
import json
import os
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from arena.errors import ArenaError, RecipeError
from arena.plugins import make_plugin_host
from arena.recipes import RECIPE_KINDS, apply_override, parse_recipe
from arena.tiny import build_tiny_model
from arena.tournament.executor import PluginSpec
from tests.host.recipe_key_cases import IGNORED, KEYS, SCENARIOS, Proof, scenario
from tests.host.recipe_key_fakes import FakeJudgeVLLM, FakeRay, FakeVLLM, recording_reads

REPO = Path(__file__).resolve().parents[2]
RECIPE_FILE = "recipe.yaml"
pytestmark = pytest.mark.xdist_group("recipe-keys")


# -- which keys there are ---------------------------------------------------------------------------------


def _unwrap(hint: Any) -> Any:
    while typing.get_origin(hint) in (typing.Union, types.UnionType, typing.Annotated):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is list and dataclasses.is_dataclass(typing.get_args(hint)[0]):
        return typing.get_args(hint)[0]  # entrants: the keys of one item
    return hint


def _walk(cls: type, prefix: str, in_recipe: bool = False) -> Iterator[str]:
    hints = typing.get_type_hints(cls, include_extras=True)
    for field in dataclasses.fields(cls):
        hint = _unwrap(hints[field.name])
        if in_recipe and field.name == "args" and hint is Any:
            continue  # a plugin's own args: listed under the plugin
        if dataclasses.is_dataclass(hint):
            yield from _walk(hint, f"{prefix}.{field.name}", in_recipe)
        else:
            yield f"{prefix}.{field.name}"


def recipe_keys() -> set[str]:
    """'train.data.columns', 'tournament.entrants.model', 'algorithms.dpo.beta',
    'judges.reward-model.training.center_rewards', ...: every key a recipe can set."""
    keys = {key for kind, cls in RECIPE_KINDS.items() for key in _walk(cls, kind, in_recipe=True)}
    host = make_plugin_host(environ={}, warn=lambda message: None)
    for kind, registry in host.registries.items():
        for entry in registry:
            config = entry.config
            if config is None or not config.__module__.startswith(("arena.", "arena_plugins.")):
                continue  # takes no args, or not a built-in plugin
            keys.update(_walk(config, f"{kind}.{entry.name}"))
            training = getattr(config, "TrainingArgs", None)
            if training is not None:
                keys.update(_walk(training, f"{kind}.{entry.name}.training"))
    return keys


def test_every_key_has_a_proof() -> None:
    keys = recipe_keys()
    missing = sorted(keys - set(KEYS))
    assert not missing, f"recipe keys without a proof that a run reads them (add them to KEYS): {missing}"
    stale = sorted(set(KEYS) - keys)
    assert not stale, f"KEYS lists keys no recipe has: {stale}"
    assert len(keys) > 150  # the enumeration itself works: every kind and plugin contributes
    assert {proof.scenario for proof in KEYS.values()} <= set(SCENARIOS)


# -- running a scenario ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host() -> Any:
    # The run frees each model it loads (gc.collect); in one long-lived process that walks the whole heap
    # each time. Freezing what exists now keeps those collections short; it changes no result.
    gc.freeze()
    yield make_plugin_host(environ={}, warn=lambda message: None)
    gc.unfreeze()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A chat-completions stub for the `openai` judge's keys, and the two keys its recipes name."""
    from tests.judges.endpoint_stub import hashed_verdicts, serving

    with pytest.MonkeyPatch.context() as patch, serving(hashed_verdicts(), http_details=True) as stub:
        patch.setenv("ARENA_KEYS_JUDGE_KEY", "key-1")
        patch.setenv("ARENA_KEYS_JUDGE_KEY2", "key-2")
        yield stub.url


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, host: Any, endpoint: str) -> dict[str, str]:
    """The committed tiny models, a second game model (other weights, same tokenizer), two trained judges
    and the `openai` judge's endpoint (a stub)."""
    root = tmp_path_factory.mktemp("models")
    corpus = (REPO / "recipes" / "games" / "corpus.txt").read_text().splitlines()
    paths = {
        "game": str(REPO / "recipes" / "games" / "model"),
        "game2": str(build_tiny_model(root / "game2", corpus, seed=1)),
        "moves": str(REPO / "recipes" / "moves" / "sft"),
        "base": str(REPO / "recipes" / "moves" / "base"),
        "rm": str(REPO / "recipes" / "moves" / "reward-model"),
        "tour": str(REPO / "recipes" / "tournament" / "models"),
        "endpoint": endpoint,
    }
    # A second reward model, and two preference models, trained here by judge recipes.
    for name, judge, seed in (
        ("rm2", "reward-model", 0),
        ("pm", "preference-model", 0),
        ("pm2", "preference-model", 1),
    ):
        raw = scenario("judge-rm", paths)
        raw.update(judge=judge, args={}, output=str(root / name))
        raw["training"].update(steps=2, seed=seed)
        run_scenario(host, raw, root / f"run-{name}")
        paths[name] = str(root / name / "final")
    return paths


_BASELINES: dict[str, Any] = {}


def run_scenario(host: Any, raw: dict[str, Any], workdir: Path) -> Any:
    """Parse and run a recipe in `workdir` as `arena train` / `arena tournament` would; its outcome."""
    from accelerate.state import AcceleratorState

    from arena.recipes import TournamentRecipe
    from arena.tournament.run import run_tournament
    from arena.training.loop import train

    # accelerate keeps one state per process, mixed precision included; each `arena train` is a process.
    AcceleratorState._reset_state(reset_partial_state=True)
    with inside(workdir):
        recipe = parse_recipe(RECIPE_FILE, raw, registries=host.registries)
        if isinstance(recipe, TournamentRecipe):
            result = tournament_outcome(run_tournament(recipe, RECIPE_FILE, host))
        else:
            result = training_outcome(train(recipe, RECIPE_FILE, host))
    return {"result": result, "files": files_outcome(workdir)}


@contextlib.contextmanager
def inside(workdir: Path) -> Iterator[None]:
    """A fresh working directory holding the inputs, where relative paths of the recipe are read."""
    workdir.mkdir(parents=True)
    write_inputs(workdir)
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        yield
    finally:
        os.chdir(cwd)


def write_inputs(workdir: Path) -> None:
    rows = [
        {"prompt": f"Pick one: {i}", "good": "red", "good2": "green", "bad": "blue", "label": 0.5 + i / 20}
        for i in range(6)
    ]
    (workdir / "pairs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (workdir / "pairs2.jsonl").write_text(
        "".join(json.dumps({**row, "good": "green"}) + "\n" for row in rows)
    )
    questions = ["Pick one:", "Your move, Anna.", "Pick one: now", "Choose."]
    for name, texts in (("prompts.jsonl", questions), ("prompts2.jsonl", [q.upper() for q in questions])):
        (workdir / name).write_text(
            "".join(json.dumps({"question": q, "prompt": q[::-1]}) + "\n" for q in texts)
        )
    (workdir / "prompts.txt").write_text("\n".join(questions) + "\n")
    for name, move in (
        ("outputs.jsonl", "rock"),
        ("outputs2.jsonl", "paper"),
    ):  # files of outputs as entrants
        (workdir / name).write_text(
            "".join(json.dumps({"prompt": q, "text": move}) + "\n" for q in questions)
        )
    (workdir / "not-a-model").mkdir()  # a folder, but no model in it
    (workdir / "not-a-model" / "notes.txt").write_text("weights to come\n")


_ECHOES = {"name", "algorithm", "judge", "steps", "wall_seconds", "seconds", "entrants", "samples_per_prompt"}


def training_outcome(summary: dict[str, Any]) -> dict[str, Any]:
    result = {k: v for k, v in summary.items() if k not in _ECHOES}
    result["final"] = {k: v for k, v in summary["final"].items() if k != "examples_per_second"}
    return result


def tournament_outcome(summary: dict[str, Any]) -> dict[str, Any]:
    samples = {
        entrant: {
            prompt: [(s.text, s.token_ids, s.logprob) for s in batch] for prompt, batch in by_prompt.items()
        }
        for entrant, by_prompt in summary["samples"].items()
    }
    kept = {
        k: v for k, v in summary.items() if k not in _ECHOES | {"board", "samples", "backend", "leaderboard"}
    }
    return {**kept, "samples": samples}


def files_outcome(workdir: Path) -> dict[str, Any]:
    """Every file the run wrote: its path, and the content of those that hold results (not echoes)."""
    import hashlib

    outcome: dict[str, Any] = {}
    for path in sorted(workdir.rglob("*")):
        if not path.is_file() or path.parent == workdir:  # the inputs
            continue
        name = str(path.relative_to(workdir))
        if path.name == "metrics.jsonl":
            lines = [json.loads(line) for line in path.read_text().splitlines()]
            outcome[name] = [{k: v for k, v in line.items() if k != "examples_per_second"} for line in lines]
        elif path.name == "leaderboard.json":
            board = json.loads(path.read_text())
            for echo in ("name", "source", "judges", "tournament"):
                board.pop(echo, None)
            for entrant in board.get("entrants", {}).values():
                entrant.pop("model", None)
            outcome[name] = board
        elif path.suffix == ".safetensors":
            outcome[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            outcome[name] = None  # recipe.yaml (an echo), renderings of the board, the store
    return outcome


def outcome_or_error(host: Any, raw: dict[str, Any], workdir: Path) -> Any:
    try:
        return run_scenario(host, raw, workdir)
    except ArenaError as exc:
        return exc


# -- the proofs -----------------------------------------------------------------------------------------


def _perturbed(proof: Proof, models: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    base = scenario(proof.scenario, models)
    changed = copy.deepcopy(base)
    for path, value in proof.set.items():
        apply_override(RECIPE_FILE, changed, path, value(models) if callable(value) else value)
    return base, changed


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(KEYS))
def test_changing_a_key_changes_the_run_or_is_refused(
    key: str, host: Any, models: dict[str, str], tmp_path: Path
) -> None:
    proof = KEYS[key]
    if proof.scenario in STAND_INS:
        return check_stand_in(key, proof, host, models, tmp_path)
    base, changed = _perturbed(proof, models)
    if proof.effect == "read":
        with recording_reads(proof.reader) as reads:
            run_scenario(host, changed, tmp_path / "changed")
        assert (proof.reader.__name__, key.rsplit(".", 1)[1]) in reads, f"{key} set, never read by the run"
        return
    after = outcome_or_error(host, changed, tmp_path / "changed")
    if proof.effect == "refused":
        assert isinstance(after, RecipeError), f"{key}: expected a RecipeError, the run gave {type(after)}"
        assert after.key == proof.refused_key, str(after)
        return
    if proof.scenario not in _BASELINES:
        _BASELINES[proof.scenario] = outcome_or_error(host, base, tmp_path / "base")
    before = _BASELINES[proof.scenario]
    assert not isinstance(before, Exception), f"scenario {proof.scenario} fails: {before}"
    assert not isinstance(after, Exception), f"{key} changed: the run failed: {after}"
    assert after != before, f"{key} changed to {proof.set}, and the run did exactly the same"


def check_stand_in(key: str, proof: Proof, host: Any, models: dict[str, str], tmp_path: Path) -> None:
    """vLLM's and Ray's args, where they are consumed: what reaches `vllm.LLM` / Ray changes."""
    base, changed = _perturbed(proof, models)
    run: Callable[[dict[str, Any], Any], Any] = STAND_INS[proof.scenario]
    with inside(tmp_path / "base"):
        before = run(base, host)
    with inside(tmp_path / "changed"):
        after = run(changed, host)
    if proof.effect == "refused":
        assert isinstance(after, RecipeError) and after.key == proof.refused_key, str(after)
        return
    assert not isinstance(before, Exception) and not isinstance(after, Exception), (before, after)
    assert after != before, f"{key} changed to {proof.set}, and nothing that reached the engine changed"


def run_vllm(raw: dict[str, Any], host: Any) -> Any:
    """What `vllm.LLM` receives for the recipe's backend args (a GPU claimed, so every branch is taken)."""
    import torch

    from arena.generation import vllm as backend

    try:
        recipe = parse_recipe(RECIPE_FILE, raw, registries=host.registries)
    except RecipeError as exc:
        return exc
    fake, threads = FakeVLLM(), torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.cuda, "is_available", lambda: True)
        engine = backend._start_engine(fake, recipe.entrants[0].model, recipe.backend.args, ())
    set_threads = torch.get_num_threads()
    torch.set_num_threads = engine.restore_set_num_threads
    torch.set_num_threads(threads)
    return {**fake.kwargs, "threads": set_threads}


def run_vllm_judge(raw: dict[str, Any], host: Any) -> Any:
    """The `vllm` judge's run on a stand-in engine: what reaches `vllm.LLM` and `generate`, and the verdicts
    and counters that follow (the stand-in's replies hash the prompt tokens and the sampling params)."""
    import torch

    from arena.generation import vllm as backend
    from arena.policy import load_tokenizer

    try:
        recipe = parse_recipe(RECIPE_FILE, raw, registries=host.registries)
    except RecipeError as exc:
        return exc
    fake, threads = FakeJudgeVLLM(load_tokenizer(recipe.judge.args.model)), torch.get_num_threads()
    prompts = ["Pick one:", "Your move, Anna."]
    first, second = ["rock, then paper, then scissors again", "paper"], ["scissors", "rock and rock and rock"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.cuda, "is_available", lambda: True)
        patch.setattr(backend, "import_vllm", lambda: fake)
        judge = host.judges.get("vllm").build(recipe.judge.args)
        try:
            verdicts = judge.compare(prompts, first, second)
        finally:
            engine, backend._ENGINE = backend._ENGINE, None  # the stand-in has nothing to shut down
    set_threads = torch.get_num_threads()
    if engine is not None:
        torch.set_num_threads = engine.restore_set_num_threads
    torch.set_num_threads(threads)
    return {
        **fake.kwargs,
        "threads": set_threads,
        "params": fake.params,
        "compare": verdicts,
        **judge.counters(),
    }


def run_ray(raw: dict[str, Any], host: Any) -> Any:
    """What the Ray executor asks of Ray: where it connects, the actors it starts, how many blocks it queues."""
    from arena.generation.base import SamplingSettings
    from arena.tournament.executor import GenerationBlock
    from arena_plugins.backends import ray_executor

    try:
        recipe = parse_recipe(RECIPE_FILE, raw, registries=host.registries)
    except RecipeError as exc:
        return exc
    fake = FakeRay(cpus=16.0, gpus=4.0)
    values = {
        "entrant": "a",
        "model": "m",
        "fingerprint": "f",
        "prompts": ("p",),
        "sampling": SamplingSettings(),
    }
    blocks = [
        GenerationBlock(
            **{
                f.name: index if f.name == "index" else values[f.name]
                for f in dataclasses.fields(GenerationBlock)
            }
        )
        for index in range(12)
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ray_executor, "_import_ray", lambda: fake)
        executor = host.executors.get("ray").build(recipe.executor.args)
        try:
            executor.open_judge(host, PluginSpec("game-oracle"))
            executor.pointwise()
            list(executor.generate(host, PluginSpec("hf"), blocks, 1))
        except ArenaError as exc:
            return {"error": str(exc)}
        finally:
            executor.close()
    return fake.summary()


# -- keys a run would ignore, refused; data.eval_fraction evaluated ------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("what", "name", "values", "key"), IGNORED, ids=[case[0] for case in IGNORED])
def test_a_key_the_run_would_ignore_is_refused_in_one_line(
    what: str, name: str, values: dict[str, Any], key: str, host: Any, models: dict[str, str], tmp_path: Path
) -> None:
    raw = scenario(name, models)
    for path, value in values.items():
        apply_override(RECIPE_FILE, raw, path, value(models) if callable(value) else value)
    after = outcome_or_error(host, raw, tmp_path / "run")
    assert isinstance(after, RecipeError), f"{what}: the run gave {after!r}"
    assert (after.key, str(after).startswith(f"{RECIPE_FILE}: {key}: "), "\n" in str(after)) == (
        key,
        True,
        False,
    )
    assert not (tmp_path / "run" / "runs").exists() and not (tmp_path / "run" / "leaderboards").exists()


@pytest.mark.slow
def test_eval_fraction_on_dpo_holds_out_prompts_and_reports_their_loss(
    host: Any, models: dict[str, str], tmp_path: Path
) -> None:
    """Before, a DPO recipe's data.eval_fraction was accepted and ignored. The held-out loss and accuracy are
    checked against DPO's loss computed here from the saved model, the initial one and plain logits."""
    import math
    import random

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    columns = {"chosen": "good", "rejected": "bad"}
    raw = {"kind": "train", "name": "keys", "algorithm": "dpo", "args": {"beta": 0.5}, "policy": models["game"],
           "data": {"path": "pairs.jsonl", "columns": columns, "eval_fraction": 0.5},
           "training": {"steps": 2, "batch_size": 3, "learning_rate": 0.05}}  # fmt: skip
    run_scenario(host, raw, tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "runs" / "keys" / "summary.json").read_text())
    rows = [json.loads(line) for line in (tmp_path / "run" / "pairs.jsonl").read_text().splitlines()]
    # Every row has its own prompt: half of the 6 prompts, drawn with training.seed (0), are held out.
    held_out = set(random.Random(0).sample([row["prompt"] for row in rows], 3))
    assert (summary["examples"], summary["eval"]["pairs"], summary["eval"]["prompts"]) == (3, 3, 3)

    tokenizer = AutoTokenizer.from_pretrained(models["game"])
    assert tokenizer.chat_template is None  # prompts are their plain tokens, BOS first
    trained = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "runs" / "keys" / "final")
    initial = AutoModelForCausalLM.from_pretrained(models["game"])

    def logprob(model: Any, prompt: str, completion: str) -> float:
        prompt_ids = tokenizer(prompt)["input_ids"]
        ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        with torch.no_grad():
            logits = model(torch.tensor([prompt_ids + ids])).logits[0].double().log_softmax(-1)
        return sum(float(logits[len(prompt_ids) - 1 + i, token]) for i, token in enumerate(ids))

    losses, right = [], 0
    for row in (row for row in rows if row["prompt"] in held_out):
        h = sum(
            sign
            * (logprob(trained, row["prompt"], row[column]) - logprob(initial, row["prompt"], row[column]))
            for sign, column in ((1, "good"), (-1, "bad"))
        )
        p = row["label"]  # a soft label: P(chosen preferred)
        losses.append(p * math.log1p(math.exp(-0.5 * h)) + (1 - p) * math.log1p(math.exp(0.5 * h)))
        right += h > 0
    assert summary["eval"]["loss"] == pytest.approx(sum(losses) / 3, abs=1e-5)
    assert summary["eval"]["accuracy"] == pytest.approx(right / 3)


@pytest.mark.slow
def test_eval_fraction_on_an_online_algorithm_evaluates_on_the_held_out_prompts(
    host: Any, models: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Online algorithms train on the other prompts and measure P(policy beats reference) on these."""
    import random

    from arena.training.online import OnlineAlgorithm

    evaluated: list[list[str]] = []
    original = OnlineAlgorithm.evaluate

    def recording(self: OnlineAlgorithm) -> dict[str, Any]:
        evaluated.append(list(self.eval_prompts))
        return original(self)

    monkeypatch.setattr(OnlineAlgorithm, "evaluate", recording)
    raw = scenario("online-text", models)
    del raw["task"]  # its prompts would be the eval prompts otherwise; here they come from the data
    raw["data"] = {"path": "prompts.jsonl", "columns": {"prompt": "question"}, "eval_fraction": 0.5}
    run_scenario(host, raw, tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "runs" / "keys" / "summary.json").read_text())
    questions = [
        json.loads(line)["question"] for line in (tmp_path / "run" / "prompts.jsonl").read_text().splitlines()
    ]
    # Half of the 4 distinct prompts, drawn with training.seed (0), as data.eval_fraction says.
    assert len(evaluated) == 1 and sorted(evaluated[0]) == sorted(random.Random(0).sample(questions, 2))
    assert summary["examples"] == 2 and 0.0 <= summary["preference_vs_reference"] <= 1.0


STAND_INS: dict[str, Callable[[dict[str, Any], Any], Any]] = {
    "vllm": run_vllm,
    "ray": run_ray,
    "vllm-judge": run_vllm_judge,
}
