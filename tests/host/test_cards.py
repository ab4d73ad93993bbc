"""Model cards (arena.cards): every final/ gets README.md with the hub's front matter, the recipe's
settings and summary.json's metrics; the command in the card trains the same model again."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from arena.cards import model_card, write_model_card
from arena.testing import run_arena
from arena.tournament.fingerprint import model_fingerprint

RECIPE_YAML = """\
kind: train
name: tiny-dpo
algorithm: dpo
policy: Qwen/Qwen2.5-0.5B
reference: null
args: {beta: 0.1, loss: sigmoid}
task: null
data: {path: trl-lib/ultrafeedback_binarized, split: train, columns: {prompt: question}, limit: 100,
  eval_fraction: 0.0}
judge: null
training: {steps: 3, batch_size: 4, gradient_accumulation: 2, learning_rate: 0.0005, warmup_steps: 1,
  schedule: cosine, weight_decay: 0.0, precision: auto, dtype: fp32, seed: 7}
lora: null
output: runs/tiny-dpo
"""
SUMMARY: dict[str, Any] = {
    "name": "tiny-dpo",
    "algorithm": "dpo",
    "steps": 3,
    "resumed_from_step": None,
    "processes": 2,
    "examples": 100,
    "truncated_examples": 0,
    "wall_seconds": 1.25,
    "final": {"loss": 0.6875, "accuracy": 0.75, "learning_rate": 0.0},
    "parallelism": "replicated",
    "eval": {"pairs": 8, "accuracy": 0.625},
}


def split_card(text: str) -> tuple[dict[str, Any], str]:
    assert text.startswith("---\n")
    front, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(front), body


def table(body: str) -> dict[str, str]:
    """metric -> value cell of every `| metric | value |` row in the card."""
    rows = dict(re.findall(r"^\| (\w+) \| ([^|]+) \|$", body, re.MULTILINE))
    rows.pop("metric")  # the header
    return rows


def test_front_matter_names_hub_ids_and_the_algorithm() -> None:
    front, body = split_card(model_card(yaml.safe_load(RECIPE_YAML), SUMMARY))
    assert front == {
        "base_model": "Qwen/Qwen2.5-0.5B",
        "library_name": "transformers",
        "tags": ["arena", "dpo"],
        "datasets": ["trl-lib/ultrafeedback_binarized"],
    }
    assert "- Steps: 3\n" in body
    assert "- Batch: 4 examples per step (gradient accumulation 2)" in body
    assert "- Learning rate: 0.0005 (cosine schedule, 1 warm-up steps" in body
    assert "split `train`, columns `{prompt: question}`, first 100 rows" in body
    assert "- Arguments: `{beta: 0.1, loss: sigmoid}`" in body
    rows = table(body)
    assert (rows["loss"].strip(), rows["accuracy"].strip(), rows["pairs"].strip()) == ("0.6875", "0.625", "8")
    # two processes: the command relaunches as many
    expected = (
        "arena train runs/tiny-dpo/final/recipe.yaml --set output=runs/tiny-dpo-reproduced "
        "--launcher accelerate --num-processes 2"
    )
    assert f"```bash\n{expected}\n```" in body


def test_an_adapter_of_a_local_base_with_a_licence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "org" / "base"  # exists on disk: a path, never named as a hub id
    base.mkdir(parents=True)
    (base / "README.md").write_text("---\nlicense: apache-2.0\n---\n# base\n")
    monkeypatch.chdir(tmp_path)
    recipe = yaml.safe_load(RECIPE_YAML)
    recipe.update(policy="org/base", data={"path": "pairs.jsonl", "split": "train"})
    recipe["lora"] = {"r": 8, "alpha": 16.0, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
    front, body = split_card(model_card(recipe, SUMMARY, is_adapter=True))
    assert front == {"library_name": "peft", "tags": ["arena", "dpo", "lora"], "license": "apache-2.0"}
    assert "- LoRA: r 8, alpha 16, dropout 0, target modules `[q_proj, v_proj]`" in body
    assert "- Data: `pairs.jsonl`, split `train`" in body


def test_a_run_without_its_summary_is_one_clear_error(tmp_path: Path) -> None:
    from arena.errors import ArenaError

    (tmp_path / "final").mkdir()
    (tmp_path / "recipe.yaml").write_text(RECIPE_YAML)
    with pytest.raises(ArenaError, match=r"summary\.json': missing"):
        write_model_card(tmp_path)
    assert not (tmp_path / "final" / "README.md").exists()


PAIRS = [
    ("The cat", "sat on the mat.", "ran away fast."),
    ("A dog", "barked at the moon.", "slept all day."),
    ("The sun", "rose over the hills.", "fell into the sea."),
    ("Birds", "sing in the morning.", "eat the seeds."),
]

TRAIN_RECIPE = """\
kind: train
name: carded
algorithm: dpo
args: {{beta: 0.5}}
policy: {model}
data: pairs.jsonl
training:
  steps: 3
  batch_size: 4
  learning_rate: 0.01
  log_every: 1
  seed: 3
"""


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from arena.tiny import SAMPLE_CORPUS, build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("card-model") / "tiny", list(SAMPLE_CORPUS), seed=0)


@pytest.mark.slow
def test_a_trained_run_gets_its_card_and_the_card_reproduces_it(tmp_path: Path, tiny_model: Path) -> None:
    rows = [json.dumps({"prompt": p, "chosen": c, "rejected": r}) for p, c, r in PAIRS]
    (tmp_path / "pairs.jsonl").write_text("\n".join(rows) + "\n")
    (tmp_path / "recipe.yaml").write_text(TRAIN_RECIPE.format(model=tiny_model))
    env = {"OMP_NUM_THREADS": "1"}
    result = run_arena(["train", "recipe.yaml"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "carded"
    summary = json.loads((run / "summary.json").read_text())
    resolved = yaml.safe_load((run / "recipe.yaml").read_text())
    final = run / "final"
    assert (final / "recipe.yaml").read_bytes() == (run / "recipe.yaml").read_bytes()

    front, body = split_card((final / "README.md").read_text())
    assert front == {"library_name": "transformers", "tags": ["arena", "dpo"]}  # a local base: no base_model
    assert f"from `{tiny_model}`" in body
    assert f"- Steps: {resolved['training']['steps']}\n" in body
    assert f"- Batch: {resolved['training']['batch_size']} examples per step" in body
    assert f"- Learning rate: {resolved['training']['learning_rate']:g} (linear schedule" in body
    assert "- Data: `pairs.jsonl`, split `train`" in body
    rows = table(body)
    assert set(rows) == set(summary["final"])
    for key, value in summary["final"].items():
        assert float(rows[key]) == pytest.approx(value, rel=1e-5), key  # printed to 6 significant digits

    command = re.search(r"```bash\n(.+)\n```", body).group(1)
    assert command == "arena train runs/carded/final/recipe.yaml --set output=runs/carded-reproduced"
    again = run_arena(shlex.split(command)[1:], cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    reproduced = json.loads((tmp_path / "runs" / "carded-reproduced" / "summary.json").read_text())
    assert reproduced["final"]["loss"] == summary["final"]["loss"]  # same machine, one thread: bit for bit
    assert reproduced["final"]["grad_norm"] == summary["final"]["grad_norm"]
    # the cards differ (wall time), the weights do not: the tournament cache sees one model
    copy = tmp_path / "runs" / "carded-reproduced" / "final"
    assert (copy / "README.md").read_text() != (final / "README.md").read_text()
    assert model_fingerprint(str(copy)) == model_fingerprint(str(final))


JUDGE_RECIPE = """\
kind: judge
name: rm
judge: reward-model
backbone: {model}
data: {{path: pairs.jsonl, eval_fraction: 0.5}}
training: {{steps: 2, batch_size: 2, learning_rate: 0.001, seed: 1}}
"""


@pytest.mark.slow
def test_a_lora_adapter_and_a_judge_get_their_cards(tmp_path: Path, tiny_model: Path) -> None:
    from arena.hub import push_target

    rows = [json.dumps({"prompt": p, "chosen": c, "rejected": r}) for p, c, r in PAIRS]
    (tmp_path / "pairs.jsonl").write_text("\n".join(rows) + "\n")
    lora = TRAIN_RECIPE.format(model=tiny_model) + "lora: {r: 4, alpha: 8}\n"
    (tmp_path / "lora.yaml").write_text(lora.replace("name: carded", "name: adapter"))
    (tmp_path / "judge.yaml").write_text(JUDGE_RECIPE.format(model=tiny_model))
    for recipe in ("lora.yaml", "judge.yaml"):
        result = run_arena(["train", recipe], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
        assert result.returncode == 0, result.stderr

    adapter = tmp_path / "runs" / "adapter"
    front, body = split_card((adapter / "final" / "README.md").read_text())  # peft's own card replaced
    assert front == {"library_name": "peft", "tags": ["arena", "dpo", "lora"]}
    assert "(a LoRA adapter)" in body and "- LoRA: r 4, alpha 8, dropout 0.05" in body
    assert push_target(adapter).what == "LoRA adapter"

    judge = tmp_path / "runs" / "rm"
    summary = json.loads((judge / "summary.json").read_text())
    front, body = split_card((judge / "final" / "README.md").read_text())
    assert front == {"library_name": "transformers", "tags": ["arena", "reward-model"]}
    assert f"- Backbone: `{tiny_model}`" in body and "- Judge: `reward-model`" in body
    assert "0.5 of the prompts held out" in body
    held_out = body.split("Held-out evaluation")[1]
    assert f"| accuracy | {summary['eval']['accuracy']:.6g} |" in held_out
    assert f"| pairs | {summary['eval']['pairs']} |" in held_out
