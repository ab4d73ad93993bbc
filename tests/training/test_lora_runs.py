"""LoRA through `arena train` (docs/lora.md): final/ holds the adapter (and the merged model) that
load_policy, the hf backend and vLLM load; checkpoints resume bit for bit after SIGKILL; two processes
train what one does; the games' known answers are reached with adapters alone; a judge trains its
adapters and head."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from arena.generation.logprobs import score_completions
from arena.policy import load_policy
from arena.testing import OFFLINE_ENV, kill_train_after_checkpoint, run_arena
from arena.training.metrics import read_metrics
from tests.training.fixed_points import ipo_point, regularised_nash
from tests.training.test_lora import host, scores

REPO = Path(__file__).resolve().parents[2]

# Every linear layer and the LM head: a game's actions differ only in their rows of the LM head (the task
# sets them), so adapters on the body alone can only sharpen or flatten the reference's distribution.
GAME_TARGETS = "[q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head]"


DPO_RECIPE = """\
kind: train
name: run
algorithm: dpo
args: {{beta: 0.5}}
policy: {model}
data: pairs.jsonl
lora: {lora}
training:
  steps: {steps}
  batch_size: 4
  learning_rate: 0.01
  warmup_steps: 2
  schedule: cosine
  save_every: {save_every}
  log_every: 1
  seed: 3
"""


PAIRS = [
    ("The cat", "sat on the mat.", "ran away fast."),
    ("A dog", "barked at the moon.", "slept all day."),
    ("The sun", "rose over the hills.", "fell into the sea."),
    ("Birds", "sing in the morning.", "eat the seeds."),
]


def write_dpo(directory: Path, model: Path, *, steps: int, lora: str, save_every: int = 0) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    rows = [json.dumps({"prompt": p, "chosen": c, "rejected": r}) for p, c, r in PAIRS]
    (directory / "pairs.jsonl").write_text("\n".join(rows) + "\n")
    (directory / "recipe.yaml").write_text(
        DPO_RECIPE.format(model=model, steps=steps, lora=lora, save_every=save_every)
    )


def train_dpo(directory: Path, model: Path, *, steps: int, lora: str) -> Path:
    write_dpo(directory, model, steps=steps, lora=lora)
    result = run_arena(["train", "recipe.yaml"], cwd=directory, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    return directory / "runs" / "run"


@pytest.mark.slow
def test_final_holds_the_adapter_and_the_merged_model_that_load_everywhere(
    tmp_path: Path, game_model_dir: Path
) -> None:
    from arena.generation.base import SamplingSettings
    from arena.generation.hf import HFBackend
    from arena.tournament.inputs import entrant_model

    merged_run = train_dpo(tmp_path / "merged", game_model_dir, steps=8, lora="{merge: true}")
    adapter_run = train_dpo(tmp_path / "adapter", game_model_dir, steps=8, lora="{}")
    final = merged_run / "final"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in final.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= {
        p.name for p in (final / "adapter").iterdir()
    }
    assert not (adapter_run / "final" / "config.json").exists()  # without merge, final/ is the adapter
    config = json.loads((adapter_run / "final" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(game_model_dir.resolve())
    assert (config["r"], config["lora_alpha"], config["lora_dropout"]) == (16, 32, 0.05)
    # the same seeds: the two runs trained the same adapter, bit for bit
    adapter_weights = load_file(adapter_run / "final" / "adapter_model.safetensors")
    beside = load_file(final / "adapter" / "adapter_model.safetensors")
    assert adapter_weights.keys() == beside.keys() and all(
        adapter_weights[k].equal(beside[k]) for k in beside
    )

    original = scores(load_policy(game_model_dir, dtype="fp32", device="cpu"))
    from_merged = scores(load_policy(final, dtype="fp32", device="cpu"))
    from_adapter = scores(load_policy(adapter_run / "final", dtype="fp32", device="cpu"))
    # peft's merge on load and Arena's merge on save: both W + (alpha / r) B A in fp32
    for a, b, base in zip(from_merged, from_adapter, original, strict=True):
        assert a == pytest.approx(b, abs=1e-5)
        assert max(abs(x - y) for x, y in zip(a, base, strict=True)) > 1e-3  # trained, not the base

    # A tournament entrant names the run: its final/ is the adapter, generated from through load_policy.
    assert entrant_model(str(adapter_run)) == str(adapter_run / "final")
    settings = SamplingSettings(max_new_tokens=6, temperature=1.0, seed=1)
    backend = HFBackend()
    drawn = backend.generate(entrant_model(str(adapter_run)), ["The cat"], 3, settings)
    backend.close()
    again = HFBackend().generate(str(final), ["The cat"], 3, settings)
    assert [s.token_ids for s in drawn[0]] == [s.token_ids for s in again[0]]
    for ours, theirs in zip(drawn[0], again[0], strict=True):
        assert ours.logprob == pytest.approx(theirs.logprob, abs=1e-4)


@pytest.mark.slow
def test_the_merged_model_and_an_adapter_generate_in_vllm(tmp_path: Path, game_model_dir: Path) -> None:
    merged_run = train_dpo(tmp_path / "merged", game_model_dir, steps=8, lora="{merge: true}")
    adapter_run = train_dpo(tmp_path / "adapter", game_model_dir, steps=8, lora="{}")  # the same training
    code = (
        "import json, sys\n"
        "from arena.generation.base import SamplingSettings\n"
        "from arena.generation.config import VLLMBackendConfig\n"
        "from arena.generation.vllm import VLLMBackend\n"
        "if __name__ == '__main__':\n"
        "    backend = VLLMBackend(VLLMBackendConfig(threads=1, dtype='fp32'))\n"
        "    for path in sys.argv[1:]:\n"
        "        samples = backend.generate(path, ['The cat'], 3, SamplingSettings(max_new_tokens=6, seed=1))\n"
        "        print(json.dumps([[list(s.token_ids), s.logprob] for s in samples[0]]))\n"
        "    backend.close()\n"
    )
    env = {**os.environ, **OFFLINE_ENV, "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "OMP_NUM_THREADS": "1"}
    paths = [str(merged_run / "final"), str(adapter_run / "final")]
    done = subprocess.run(
        [sys.executable, "-c", code, *paths], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    from_merged, from_adapter = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    merged = load_policy(merged_run / "final", dtype="fp32", device="cpu")
    base = load_policy(game_model_dir, dtype="fp32", device="cpu")
    for token_ids, logprob in from_merged:
        assert token_ids
        (ours,) = score_completions(merged, ["The cat"], [token_ids])
        (before,) = score_completions(base, ["The cat"], [token_ids])
        # vLLM samples from the merged weights: its log-prob is the merged model's (DEVELOPERS.md: 1e-4)
        assert logprob == pytest.approx(ours.logprob, abs=1e-3)
        assert abs(before.logprob - ours.logprob) > 1e-3
    # An adapter directory (final/ without merge) is merged on the side for vLLM: the same draws.
    assert [ids for ids, _ in from_adapter] == [ids for ids, _ in from_merged]
    for (_, theirs), (_, ours) in zip(from_adapter, from_merged, strict=True):
        assert theirs == pytest.approx(ours, abs=1e-4)


@pytest.mark.slow
def test_sigkill_then_resume_with_lora_equals_an_uninterrupted_run(
    tmp_path: Path, game_model_dir: Path
) -> None:
    steps, lora = 60, "{dropout: 0.1}"  # dropout on: the resumed run must also draw the same masks
    whole = tmp_path / "whole"
    write_dpo(whole, game_model_dir, steps=steps, lora=lora, save_every=10)
    assert run_arena(["train", "recipe.yaml"], cwd=whole, env={"OMP_NUM_THREADS": "1"}).returncode == 0
    checkpoint = whole / "runs" / "run" / "checkpoints" / f"step-{steps:08d}"
    saved = load_file(checkpoint / "model.safetensors")
    assert saved and all("lora_A" in k or "lora_B" in k for k in saved)  # the trainable state only

    killed = tmp_path / "killed"
    write_dpo(killed, game_model_dir, steps=steps, lora=lora, save_every=10)
    kill_train_after_checkpoint(killed, 20, env={"OMP_NUM_THREADS": "1"})

    resumed = run_arena(["train", "recipe.yaml", "--resume"], cwd=killed, env={"OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((killed / "runs" / "run" / "summary.json").read_text())["resumed_from_step"] >= 20
    a = load_file(whole / "runs" / "run" / "final" / "adapter_model.safetensors")
    b = load_file(killed / "runs" / "run" / "final" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)

    def losses(directory: Path) -> list[float]:
        return [row["loss"] for row in read_metrics(directory / "runs" / "run" / "metrics.jsonl")]

    assert losses(killed) == losses(whole) and len(losses(whole)) == steps


GAME_RECIPE = """\
kind: train
name: run
algorithm: {algorithm}
args: {args}
policy: {model}
task: {task}
lora: {{dropout: 0.0, target_modules: {targets}}}
training: {{{memory}steps: {steps}, batch_size: {batch}, learning_rate: {lr}, schedule: {schedule}, max_grad_norm: null,
           log_every: 50}}
"""


def train_game(tmp_path: Path, model: Path, **fields: Any) -> dict[str, Any]:
    fields = {"memory": "", **fields}  # memory: training keys such as "dtype: bf16, "
    (tmp_path / "run.yaml").write_text(GAME_RECIPE.format(model=model, targets=GAME_TARGETS, **fields))
    result = run_arena(["train", "run.yaml"], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    return json.loads((tmp_path / "runs" / "run" / "summary.json").read_text())


@pytest.mark.slow
def test_offline_ipo_with_lora_reaches_the_exact_minimiser_on_d1(
    tmp_path: Path, game_model_dir: Path
) -> None:
    summary = train_game(
        tmp_path, game_model_dir, algorithm="ipo", args="{tau: 1.0}", task="order3", steps=400, batch=3,
        lr=0.01, schedule="constant",
    )  # fmt: skip
    # full-batch Adam, dropout off: the closed form (0.4484, 0.3213, 0.2302) to 1e-3, as without LoRA
    # (measured: 0.44844, 0.32132, 0.23024)
    exact = ipo_point([(0, 1), (1, 2), (0, 2)], 3, 1.0)
    assert summary["final"]["action_probs"] == pytest.approx(list(exact), abs=1e-3)
    # final/ is the adapter; the game had set the base's action rows before training, so the adapter
    # carries the LM head and loads back to the trained policy (not to a policy on the untouched base)
    task = host().build_task("order3", None)
    loaded = load_policy(tmp_path / "runs" / "run" / "final", dtype="fp32", device="cpu")
    assert task.diagnostics(loaded, 1.0)["action_probs"] == pytest.approx(
        summary["final"]["action_probs"], abs=1e-6
    )


@pytest.mark.slow
def test_offline_ipo_with_lora_on_a_bf16_base_with_checkpointing(
    tmp_path: Path, game_model_dir: Path
) -> None:
    """The 7B set-up on one GPU: bf16 frozen weights, recomputed activations, fp32 adapters."""
    summary = train_game(
        tmp_path, game_model_dir, algorithm="ipo", args="{tau: 1.0}", task="order3", steps=400, batch=3,
        lr=0.01, schedule="constant", memory="dtype: bf16, gradient_checkpointing: true, ",
    )  # fmt: skip
    exact = ipo_point([(0, 1), (1, 2), (0, 2)], 3, 1.0)
    # bf16 activations round the log-ratios: the tolerance of the bf16 test without LoRA (1e-2);
    # measured 2.4e-3 (0.4460, 0.3215, 0.2325)
    assert summary["final"]["action_probs"] == pytest.approx(list(exact), abs=1e-2)


@pytest.mark.slow
def test_online_ipo_with_lora_reaches_the_regularised_nash_equilibrium(
    tmp_path: Path, game_model_dir: Path
) -> None:
    summary = train_game(
        tmp_path, game_model_dir, algorithm="online-ipo", args="{tau: 0.1}", task="dice", steps=500,
        batch=256, lr=6e-4, schedule="linear",
    )  # fmt: skip
    p = np.array([[1 / 2, 5 / 9, 4 / 9], [4 / 9, 1 / 2, 5 / 9], [5 / 9, 4 / 9, 1 / 2]])
    target = regularised_nash(p, np.array([0.6, 0.3, 0.1]), 0.1)  # (0.6437, 0.2285, 0.1278)
    # sampled self-play: within 0.03 (max abs), the tolerance of the full fine-tuning test; measured 0.0010
    assert np.max(np.abs(np.array(summary["final"]["action_probs"]) - target)) < 0.03


@pytest.mark.slow
def test_a_reward_model_trains_its_adapters_and_head_and_final_is_the_merged_judge(tmp_path: Path) -> None:
    from safetensors.torch import load_file as load_weights

    from arena.recipes import load_recipe
    from arena.training.judges import preference_metrics, preference_rows

    out = tmp_path / "rm"
    overrides = [f"output={out}", "training.steps=8", "training.save_every=4", "data.limit=40", "lora.r=4"]
    sets = [item for override in overrides for item in ("--set", override)]
    result = run_arena(
        ["train", "recipes/judges/reward-model.yaml", *sets], cwd=REPO, env={"OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())

    # What trained: the adapters and peft's trainable copy of the one-logit head, nothing else.
    saved = load_weights(out / "checkpoints" / "step-00000008" / "model.safetensors")
    assert any("modules_to_save" in k and "score" in k for k in saved)
    assert all("lora_A" in k or "lora_B" in k or "modules_to_save" in k for k in saved)
    adapter_config = json.loads((out / "final" / "adapter" / "adapter_config.json").read_text())
    assert (adapter_config["task_type"], adapter_config["r"]) == ("SEQ_CLS", 4)
    merged = load_weights(out / "final" / "model.safetensors")
    backbone = load_weights(REPO / "recipes/games/model/model.safetensors")
    # no adapter on the embeddings and norms: the merged judge keeps the backbone's exactly
    untouched = [k for k in merged if "norm" in k or "embed_tokens" in k]
    assert untouched and all(merged[k].equal(backbone[k]) for k in untouched)
    changed = [k for k in merged if k.endswith("q_proj.weight")]
    assert changed and all(not merged[k].equal(backbone[k]) for k in changed)

    # final/ is the judge: loaded as users load it, it scores the held-out pairs as the trained model did
    # in memory (summary.json's eval, computed by the peft model before saving); merge rounding only.
    host_registries = host().registries
    recipe = load_recipe(REPO / "recipes/judges/reward-model.yaml", overrides, registries=host_registries)
    cwd = os.getcwd()
    os.chdir(REPO)  # the recipe's data path is relative to the repository root
    try:
        _, held_out = preference_rows(recipe, None)
    finally:
        os.chdir(cwd)
    from arena.schema import convert

    entry = host().judges.get("reward-model")
    judge = entry.build(
        convert({"path": str(out / "final"), "device": "cpu", "dtype": "fp32"}, entry.config, "args")
    )
    probabilities = judge.compare(
        [r["prompt"] for r in held_out], [r["chosen"] for r in held_out], [r["rejected"] for r in held_out]
    )
    metrics = preference_metrics(probabilities, [r["label"] for r in held_out])
    assert summary["eval"]["pairs"] == len(held_out)
    assert metrics["log_loss"] == pytest.approx(summary["eval"]["log_loss"], abs=1e-5)
    assert metrics["accuracy"] == summary["eval"]["accuracy"]


@pytest.mark.slow
def test_two_processes_train_the_same_adapters_as_one(tmp_path: Path, game_model_dir: Path) -> None:
    """torchrun with 2 gloo processes: only the adapters' gradients are all-reduced, and adapter dropout
    draws the same masks (seeded per micro-batch position) as one process with gradient accumulation."""
    steps = 6
    single = tmp_path / "single"
    write_dpo(single, game_model_dir, steps=steps, lora="{dropout: 0.1}")
    recipe = (
        (single / "recipe.yaml")
        .read_text()
        .replace("  batch_size: 4\n", "  batch_size: 4\n  gradient_accumulation: 2\n")
    )
    (single / "recipe.yaml").write_text(recipe)
    assert run_arena(["train", "recipe.yaml"], cwd=single, env={"OMP_NUM_THREADS": "1"}).returncode == 0

    double = tmp_path / "double"
    write_dpo(double, game_model_dir, steps=steps, lora="{dropout: 0.1}")
    env = {**os.environ, **OFFLINE_ENV, "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        + ["-m", "arena", "train", "recipe.yaml"],
        cwd=double,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((double / "runs" / "run" / "summary.json").read_text())["processes"] == 2

    def losses(directory: Path) -> list[float]:
        return [row["loss"] for row in read_metrics(directory / "runs" / "run" / "metrics.jsonl")]

    # sums over processes against sums over micro-batches: rounding only (the full fine-tuning test's 1e-4)
    assert losses(double) == pytest.approx(losses(single), abs=1e-4) and len(losses(double)) == steps
    a = load_file(single / "runs" / "run" / "final" / "adapter_model.safetensors")
    b = load_file(double / "runs" / "run" / "final" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5, rtol=0) for k in a)
