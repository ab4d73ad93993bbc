"""LoRA through peft (docs/lora.md), in process: the reference is the base with its adapters disabled (no
second copy), only adapters train, the merge computes what the adapters did, and what is refused in one
line. tests/training/test_lora_runs.py runs `arena train` with `lora:`."""

from __future__ import annotations

import dataclasses
import gc
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from arena.api import hookimpl
from arena.generation.logprobs import score_completions
from arena.generation.mixture import sample_geometric_mixture
from arena.policy import Policy, load_policy
from arena.testing import run_arena
from arena.training.algorithm import MicroBatch
from arena_plugins.judges import RewardModelArgs
from arena_plugins.judges.reward_model import RewardModel

PROMPTS = ["Pick one:", "The cat"]


COMPLETIONS = [" yes", " sat on the mat."]


def host() -> Any:
    from arena.plugins import make_plugin_host

    return make_plugin_host(environ={}, warn=lambda message: None)


def objective_for(raw: dict[str, Any], out: Path) -> Any:
    from arena.recipes import parse_recipe
    from arena.training.objective import build_objective

    plugins = host()
    recipe = parse_recipe("recipe.yaml", raw, registries=plugins.registries)
    torch.manual_seed(0)
    return build_objective(recipe, plugins, torch.device("cpu"), out)


def online_recipe(model: Path, lora: dict[str, Any] | None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "kind": "train",
        "name": "lora",
        "algorithm": "online-ipo",
        "args": {"tau": 0.1},
        "policy": str(model),
        "task": "dice",
        "training": {"steps": 10, "batch_size": 16, "learning_rate": 0.01},
    }
    if lora is not None:
        raw["lora"] = lora
    return raw


def scores(policy: Policy) -> list[tuple[float, ...]]:
    return [s.token_logprobs for s in score_completions(policy, PROMPTS, COMPLETIONS)]


def storages(shape: tuple[int, ...]) -> set[int]:
    """Every distinct storage, among all tensors alive in the process, of a tensor of this shape."""
    with warnings.catch_warnings():  # isinstance() on every object touches deprecated torch aliases
        warnings.simplefilter("ignore")
        return {
            obj.untyped_storage().data_ptr()
            for obj in gc.get_objects()
            # plain tensors and parameters only: a tensor subclass left alive by another test in the same
            # worker (a FakeTensor with a data-dependent size) raises when its shape is compared
            if type(obj) in (torch.Tensor, torch.nn.Parameter) and tuple(obj.shape) == shape
        }


def test_the_reference_is_the_base_with_adapters_off_and_never_a_copy(
    tmp_path: Path, game_model_dir: Path
) -> None:
    original = load_policy(game_model_dir, dtype="fp32", device="cpu")
    embedding_shape = tuple(original.model.get_input_embeddings().weight.shape)
    gc.collect()
    before = storages(embedding_shape)

    objective = objective_for(
        online_recipe(game_model_dir, {"dropout": 0.0, "target_modules": "all-linear"}), tmp_path
    )
    policy, reference = objective.policy, objective.algorithm.reference
    objective.task.prepare_policy(original)  # the game's reference rows, as the run set them on its base
    gc.collect()
    # (c) one copy of the base: the run added exactly the policy's own embedding and LM-head storages
    # (2: this model does not tie them), where a deep-copied reference would add 2 more.
    added = storages(embedding_shape) - before
    own = {
        p.untyped_storage().data_ptr() for p in policy.model.parameters() if tuple(p.shape) == embedding_shape
    }
    assert len(own) == 2 and added == own
    reachable = {p.untyped_storage().data_ptr(): p for p in policy.model.parameters()}
    reachable.update({p.untyped_storage().data_ptr(): p for p in reference.model.parameters()})
    base_bytes = sum(p.untyped_storage().nbytes() for p in original.model.parameters())
    adapter_bytes = sum(p.untyped_storage().nbytes() for p in objective.model.parameters())
    assert sum(p.untyped_storage().nbytes() for p in reachable.values()) == base_bytes + adapter_bytes

    # 3. only adapters train: the optimizer's parameters are LoRA's A and B matrices, nothing else.
    names = [name for name, _ in objective.model.named_parameters()]
    assert names and all("lora_A" in n or "lora_B" in n for n in names)
    assert adapter_bytes < base_bytes / 2

    # (a) step 0: B = 0, so the policy, the reference and the original model give the same log-probs.
    assert scores(policy) == scores(reference) == scores(original)

    optimizer = torch.optim.Adam(objective.model.parameters(), lr=0.01)
    objective.model.train()
    for step in range(5):
        batch = objective.examples.collate(objective.examples.batch_indices(step, 16, 0))
        objective.loss(batch, MicroBatch(step, 0, 1)).losses.sum().backward()
        optimizer.step()
        optimizer.zero_grad()
    objective.model.eval()

    # (b) after training: the policy moved; the reference is still exactly the original model, through the
    # whole-model scorer (get_decoder, get_output_embeddings) and the KV-cached mixture sampler alike.
    moved = np.abs(
        np.concatenate([np.subtract(a, b) for a, b in zip(scores(policy), scores(original), strict=True)])
    )
    assert moved.max() > 1e-3
    assert scores(reference) == scores(original)
    assert policy.model.training is False
    drawn = sample_geometric_mixture(policy, reference, ["The cat"], beta=0.0, n=4)[0]
    for sample in drawn:
        (alone,) = score_completions(original, ["The cat"], [list(sample.token_ids)])
        # the sampler's cached per-token reference log-probs against one full pass (DEVELOPERS.md: 1e-5)
        assert sample.reference_token_logprobs == pytest.approx(alone.token_logprobs, abs=1e-5)
    base = [p for n, p in policy.model.named_parameters() if "lora_" not in n]
    assert all(not p.requires_grad for p in base)


def test_adapter_gradients_are_the_same_with_gradient_checkpointing(
    tmp_path: Path, game_model_dir: Path
) -> None:
    """Checkpointing (non-reentrant, turned on before the adapters are attached) recomputes the frozen
    base's activations in backward: the adapters' gradients must not change (nor vanish: the frozen
    embeddings' outputs need no gradient for them to flow)."""
    gradients = []
    for checkpointing in (False, True):
        raw = online_recipe(game_model_dir, {"dropout": 0.0})
        raw["algorithm"], raw["args"], raw["task"] = "ipo", {"tau": 1.0}, "order3"
        raw["lora"]["target_modules"] = ["q_proj", "v_proj", "down_proj", "lm_head"]
        raw["training"]["gradient_checkpointing"] = checkpointing
        objective = objective_for(raw, tmp_path / str(checkpointing))
        assert objective.policy.model.get_base_model().is_gradient_checkpointing is checkpointing
        objective.model.train()
        batch = objective.examples.collate([0, 1, 2])
        objective.loss(batch, MicroBatch(0, 0, 1)).losses.sum().backward()
        gradients.append({name: p.grad.clone() for name, p in objective.model.named_parameters()})
    plain, recomputed = gradients
    assert plain.keys() == recomputed.keys()
    assert any(g.abs().max() > 0 for g in plain.values())  # B = 0 at the start: A's are zero, B's are not
    for name, gradient in plain.items():
        # the same operations in the same order, recomputed: measured equal; allowed 1e-6
        assert torch.allclose(gradient, recomputed[name], atol=1e-6, rtol=0), name


def test_quantize_is_refused_in_one_line_without_cuda(tmp_path: Path, game_model_dir: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the refusal is for machines without it")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"kind: train\nname: q\nalgorithm: ipo\npolicy: {game_model_dir}\ntask: order3\n"
        "lora: {quantize: 4bit}\ntraining: {steps: 1, batch_size: 1}\n"
    )
    result = run_arena(["train", str(recipe)], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"{recipe}: lora.quantize: expected none on a machine without CUDA (bitsandbytes 4-bit needs a GPU)\n"
    )
    assert not (tmp_path / "runs").exists()


def test_quantize_on_cuda_loads_the_base_through_bitsandbytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """MOCKED: this machine has no CUDA and no bitsandbytes, whose kernels need one. torch.cuda.is_available
    and the bitsandbytes import are faked so that what QLoRA hands `from_pretrained` can be checked."""
    from types import ModuleType

    from arena.recipes import LoraSettings
    from arena.training.lora import load_options

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "bitsandbytes", ModuleType("bitsandbytes"))
    device = torch.device("cuda", 0)
    four = load_options(LoraSettings(quantize="4bit"), device)
    config = four["quantization_config"]
    assert (config.load_in_4bit, config.bnb_4bit_quant_type, config.bnb_4bit_use_double_quant) == (
        True,
        "nf4",
        True,
    )
    assert config.bnb_4bit_compute_dtype == torch.bfloat16
    assert four["device_map"] == {"": device}
    assert load_options(LoraSettings(quantize="8bit"), device)["quantization_config"].load_in_8bit is True
    assert load_options(LoraSettings(), device) == {} and load_options(None, device) == {}
    from arena.errors import RecipeKeyError

    with pytest.raises(RecipeKeyError, match="expected none when training on cpu"):
        load_options(LoraSettings(quantize="4bit"), torch.device("cpu"))


REPO = Path(__file__).resolve().parents[2]


class WholeModelRewardModel(RewardModel):
    """A judge plugin that trains its whole model: its training objective never asks context.trainable()."""

    name = "whole-model"

    @classmethod
    def training_objective(cls, args: Any, context: Any) -> Any:
        return super().training_objective(args, dataclasses.replace(context, lora=None))


class WholeModelPlugin:
    @staticmethod
    @hookimpl
    def register_judges(register: Any) -> None:
        register("whole-model", WholeModelRewardModel, config=RewardModelArgs)


def test_lora_on_a_judge_that_trains_its_whole_model_is_refused(tmp_path: Path) -> None:
    from arena.errors import RecipeError
    from arena.plugins import make_plugin_host
    from arena.recipes import parse_recipe
    from arena.training.loop import train

    plugins = make_plugin_host(
        extra_plugins=[("whole-model", WholeModelPlugin)], environ={}, warn=lambda message: None
    )
    (tmp_path / "pairs.jsonl").write_text(
        "".join(
            json.dumps({"prompt": f"Pick {i}", "chosen": "red", "rejected": "blue"}) + "\n" for i in range(4)
        )
    )
    raw = {
        "kind": "judge",
        "name": "whole",
        "judge": "whole-model",
        "backbone": str(REPO / "recipes/games/model"),
        "data": str(tmp_path / "pairs.jsonl"),
        "lora": {},
        "output": str(tmp_path / "out"),
        "training": {"steps": 1, "batch_size": 2, "device": "cpu"},
    }
    recipe = parse_recipe("recipe.yaml", raw, registries=plugins.registries)
    with pytest.raises(RecipeError) as raised:
        train(recipe, "recipe.yaml", plugins)
    assert str(raised.value) == (
        "recipe.yaml: lora: expected no lora: judge 'whole-model' trains its whole model (docs/judges.md)"
    )
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_recipes_take_an_adapter_directory_or_a_run_whose_final_is_one(tmp_path: Path) -> None:
    """Validation looks at file names only: an adapter directory is adapter_config.json, its weights and a
    tokenizer (no config.json); the base it names is checked when it loads."""
    from arena.errors import RecipeError
    from arena.recipes import parse_recipe

    run = tmp_path / "runs" / "lora"
    adapter = run / "final"
    adapter.mkdir(parents=True)
    for name in ("adapter_config.json", "tokenizer.json"):
        (adapter / name).write_text("{}")
    tournament = {
        "kind": "tournament",
        "name": "t",
        "entrants": [{"name": "run", "model": str(run)}, {"name": "final", "model": str(adapter)}],
        "judge": {"name": "game-oracle", "args": {"game": "cycle3"}},
        "prompts": str(tmp_path / "prompts.txt"),
    }
    (tmp_path / "prompts.txt").write_text("Pick one:\n")
    registries = host().registries
    with pytest.raises(RecipeError) as raised:
        parse_recipe("t.yaml", tournament, registries=registries)
    assert str(raised.value) == (
        f"t.yaml: entrants.0.model: expected a model directory (config.json, weights and a tokenizer); "
        f"'{run}/final' has adapter_config.json but no adapter weights "
        "(adapter_model.safetensors)"
    )
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    recipe = parse_recipe("t.yaml", tournament, registries=registries)
    from arena.tournament.inputs import entrant_model

    assert [entrant_model(e.model) for e in recipe.entrants] == [str(adapter)] * 2


@pytest.mark.parametrize("targets", ["all-linear", ["q_proj", "lm_head"]])
def test_the_merged_model_computes_what_the_adapted_model_does(tmp_path: Path, targets: Any) -> None:
    """A model whose LM head is tied to its input embeddings: merged without an adapter on the head, the
    tie is kept (one matrix stored); with one, the head is its own matrix and the saved config unties it."""
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    from arena.recipes import LoraSettings
    from arena.training.lora import attach_lora, write_merged_model

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, tie_word_embeddings=True,
    )  # fmt: skip
    peft_model = attach_lora(
        LlamaForCausalLM(config), LoraSettings(target_modules=targets), task_type="CAUSAL_LM", source="tiny"
    )
    with torch.no_grad():  # adapters that do something (B starts at zero)
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.05)
    peft_model.eval()
    ids = torch.randint(0, 96, (2, 7))
    with torch.no_grad():
        adapted = peft_model(input_ids=ids).logits
    write_merged_model(peft_model, tmp_path)
    merged = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    with torch.no_grad():
        reloaded = merged(input_ids=ids).logits
    # W x + (alpha / r) B (A x) against (W + (alpha / r) B A) x: rounding only (measured 4e-7)
    assert torch.allclose(adapted, reloaded, atol=1e-5, rtol=0)
    with torch.no_grad():  # the merge worked on copies: the live model (and its reference) is untouched
        assert torch.equal(peft_model(input_ids=ids).logits, adapted)
    head_adapted = targets != "all-linear"
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["tie_word_embeddings"] is (not head_adapted)
    assert ("lm_head.weight" in load_file(tmp_path / "model.safetensors")) is head_adapted


def test_target_modules_the_model_lacks_are_refused_in_one_line(tmp_path: Path, game_model_dir: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"kind: train\nname: t\nalgorithm: ipo\npolicy: {game_model_dir}\ntask: order3\n"
        "lora: {target_modules: [qproj]}\ntraining: {steps: 1, batch_size: 1}\n"
    )
    result = run_arena(["train", str(recipe)], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"{recipe}: lora.target_modules: expected 'all-linear' or names of the model's linear layers: Target "
        "modules {'qproj'} not found in the base model. Please check the target modules and try again.\n"
    )
    assert not (tmp_path / "runs").exists()
