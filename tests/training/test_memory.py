"""Memory (issue 17): gradient checkpointing on Arena's scoring path, the reference's log-probs cached in one
pass and the reference released, and the `--dry-run` memory plan checked against measured peaks.

Measured peaks come from `LiveBytes`, a dispatch mode that sees every tensor an operator creates and
tracks its storage until it is freed (deduplicated by storage, so views count once). It is the one
measure that works with checkpointing too: `saved_tensors_hooks` nest, and a non-reentrant checkpoint
installs its own inner hooks, so an outer hook never sees what a checkpointed layer keeps or recomputes.
"""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

from arena.generation.logprobs import token_logprobs
from arena.testing import run_arena
from arena.training.memory import GIB, ModelShape, activation_bytes
from arena.training.precision import CHECKPOINTING_THRESHOLD, enable_gradient_checkpointing


class LiveBytes(TorchDispatchMode):
    """Bytes of the storages created while active that are still alive; `peak` is their maximum. Storages
    of `known` tensors (parameters, gradients, inputs) existed before and are never counted."""

    def __init__(self, known: Iterable[torch.Tensor]) -> None:
        super().__init__()
        self.live = self.peak = 0
        self.seen: WeakIdKeyDictionary = WeakIdKeyDictionary()
        for tensor in known:
            self.seen[tensor.untyped_storage()] = None

    def _freed(self, size: int) -> None:
        self.live -= size

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor):
                storage = tensor.untyped_storage()
                if storage in self.seen:
                    continue
                size = storage.nbytes()
                self.seen[storage] = weakref.ref(storage, lambda _, size=size: self._freed(size))
                self.live += size
                self.peak = max(self.peak, self.live)
        return out


def tiny_llama(
    hidden: int, layers: int, heads: int, kv_heads: int, intermediate: int, vocab: int, seed: int = 0
) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        intermediate_size=intermediate,
        vocab_size=vocab,
        max_position_embeddings=1024,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config).train()


def padded_batch(rows: int, length: int, vocab: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded rows (the first one 5 tokens short) whose every token after the first is scored: the
    worst case the plan is written for."""
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(0, vocab, (rows, length), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, length - 5 :] = 0
    completion_mask = attention_mask.clone()
    completion_mask[:, 0] = 0
    return input_ids, attention_mask, completion_mask


def measured_step(model: Any, batch: tuple[torch.Tensor, ...], autocast: bool = False) -> tuple[int, int]:
    """(bytes alive after the forward pass, peak bytes during forward and backward) of one micro-batch
    scored by Arena's chunked log-probs. Gradients exist beforehand (as from an earlier micro-batch), so
    that the peak holds activations and temporaries only."""
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter)
    known = [*model.parameters(), *model.buffers(), *(p.grad for p in model.parameters()), *batch]
    tracker = LiveBytes(known)
    with tracker:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):  # as the loop: forward only
            loss = token_logprobs(model, *batch).sum()
        after_forward = tracker.live
        loss.backward()
    return after_forward, tracker.peak


def test_checkpointing_recomputes_each_layer_and_keeps_the_gradients() -> None:
    batch = padded_batch(4, 96, 512)
    results = {}
    for on in (False, True):
        model = tiny_llama(128, 3, 4, 2, 256, 512)
        if on:
            assert enable_gradient_checkpointing(model) == 1
        calls: list[int] = []  # a pre-hook: a recomputation stops early, once it has what backward needs
        for layer in model.model.layers:
            layer.register_forward_pre_hook(lambda *_, calls=calls: calls.append(1))
        saved: dict[int, int] = {}  # what an outer saved_tensors_hooks sees, by storage

        def pack(tensor: torch.Tensor, saved: dict[int, int] = saved) -> torch.Tensor:
            saved[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            token_logprobs(model, *batch).sum().backward()
        grads = {name: p.grad.clone() for name, p in model.named_parameters()}
        results[on] = (len(calls), sum(saved.values()), grads, measured_step(model, batch)[1])
    (calls_off, saved_off, grads_off, peak_off), (calls_on, saved_on, grads_on, peak_on) = results.values()
    assert calls_off == 3 and calls_on == 6  # every layer ran again in backward: the scorer's path is covered
    assert saved_on < saved_off / 5
    assert peak_on < 0.5 * peak_off  # measured: 7.0 MB against 18.1 MB
    for name, grad in grads_off.items():
        # Recomputation repeats the same kernels on the same inputs: measured equal; allowed 1e-6.
        torch.testing.assert_close(grads_on[name], grad, rtol=0, atol=1e-6)


def test_sampling_with_the_cache_is_unchanged_by_checkpointing() -> None:
    """Transformers' checkpointed layers drop the KV cache in training mode; the online algorithms sample
    from the policy in training mode, so Arena's layers checkpoint only while gradients are on."""
    model = tiny_llama(64, 2, 2, 2, 128, 512)
    enable_gradient_checkpointing(model)
    ids = torch.randint(0, 512, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        full = model(ids).logits[:, -1]
        prefix = model(ids[:, :-1], use_cache=True)
        cached = model(ids[:, -1:], past_key_values=prefix.past_key_values, use_cache=True).logits[:, -1]
    torch.testing.assert_close(cached, full, rtol=0, atol=1e-5)  # measured 4.8e-7 (DEVELOPERS.md)


SHAPES = [  # hidden, layers, heads, kv heads, intermediate, vocab, rows, length
    (64, 2, 2, 2, 128, 512, 4, 64),
    (128, 3, 4, 2, 256, 512, 4, 128),
    (256, 4, 8, 2, 688, 2048, 4, 96),
]


@pytest.mark.parametrize("precision", ["fp32", "bf16", "autocast"])
@pytest.mark.parametrize("shape", SHAPES, ids=["small", "medium", "gqa"])
def test_activation_plan_within_15_percent_of_measured_peaks(shape: tuple[int, ...], precision: str) -> None:
    """fp32 weights, bf16 weights, and fp32 weights under bf16 autocast (what `precision: auto` does on a
    GPU; on the CPU, the CPU's autocast)."""
    hidden, layers, heads, kv_heads, intermediate, vocab, rows, length = shape
    batch = padded_batch(rows, length, vocab)
    autocast = precision == "autocast"
    for on in (False, True):
        model = tiny_llama(hidden, layers, heads, kv_heads, intermediate, vocab)
        model.to(torch.bfloat16 if precision == "bf16" else torch.float32)
        if on:
            enable_gradient_checkpointing(model)
        _, peak = measured_step(model, batch, autocast)
        plan_shape = ModelShape(hidden, layers, heads, kv_heads, hidden // heads, intermediate, vocab)
        element = 4 if precision == "fp32" else 2
        _, planned = activation_bytes(plan_shape, rows, length, element, on, autocast=autocast)
        # Measured on this CPU: the plan is within -12% and +10% of every peak here.
        assert planned == pytest.approx(peak, rel=0.15), (
            f"checkpointing {on}: planned {planned}, measured {peak}"
        )


def write_model_directory(directory: Path, config: dict[str, Any], tokenizer: Path) -> Path:
    """A model directory as the hub has one, without weights' data: config.json, the index of the sharded
    weights (no shards: the plan never reads them) and a tokenizer."""
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], **config}))
    (directory / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": {}}))
    (directory / "tokenizer.json").write_text(tokenizer.read_text())
    return directory


LLAMA_2_7B = {
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 32000,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False,
}


def dry_run(tmp_path: Path, model: Path, training: str, *extra: str) -> dict[str, Any]:
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"prompt": "a", "chosen": "b", "rejected": "c"}) + "\n")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"kind: train\nname: plan\nalgorithm: dpo\npolicy: {model}\ndata: pairs.jsonl\ntraining: {training}\n"
        + "".join(f"{line}\n" for line in extra)
    )
    result = run_arena(["train", str(recipe), "--dry-run", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_dry_run_plans_a_7b_model_on_one_80_gib_gpu(tmp_path: Path, game_model_dir: Path) -> None:
    model = write_model_directory(tmp_path / "llama-2-7b", LLAMA_2_7B, game_model_dir / "tokenizer.json")
    training = "{batch_size: 8, gradient_accumulation: 4, max_length: 1024"
    parameters = 6_738_415_616  # Llama-2-7B's published count: 32 x 202,383,360 + 2 x 131,072,000 + 4,096
    layer = 4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096
    assert parameters == 32 * layer + 2 * 32000 * 4096 + 4096

    fp32 = dry_run(tmp_path, model, training + "}")
    assert fp32["parameters"] == parameters
    assert fp32["weights"] == fp32["gradients"] == 4 * parameters
    assert fp32["optimizer"] == 8 * parameters and fp32["master_weights"] == 0
    assert fp32["reference_pass"] == 4 * parameters and fp32["reference_training"] == 0  # DPO releases it
    assert fp32["checkpointing"] and parameters > CHECKPOINTING_THRESHOLD
    assert fp32["rows"] == 4 and fp32["length"] == 1024  # two rows per pair, 2 pairs per micro-batch
    assert not fp32["fits"]["on"]  # 16 bytes per parameter: 100 GiB before any activation

    bf16 = dry_run(tmp_path, model, training + ", dtype: bf16}")
    assert bf16["weights"] == bf16["gradients"] == 2 * parameters
    assert bf16["master_weights"] == 4 * parameters and bf16["optimizer"] == 8 * parameters
    assert bf16["step_extra"] == 4 * 32000 * 4096  # fp32 gradients of one part: the embeddings, alone
    assert not bf16["fits"]["on"]

    pure = dry_run(tmp_path, model, training + ", dtype: bf16, master_weights: none}")
    assert pure["optimizer"] == 4 * parameters and pure["master_weights"] == 0
    # Checkpointing is what fits it: 8 bytes per parameter (50.2 GiB) plus 2.0 GiB of activations,
    # against 23.1 GiB of activations without it.
    assert pure["fits"] == {"off": True, "on": True}
    assert pure["activations"]["off"] > 10 * pure["activations"]["on"]
    assert 1.5 * GIB < pure["activations"]["on"] < 2.5 * GIB
    assert pure["total"]["on"] == 2 * 2 * parameters + 4 * parameters + pure["activations"]["on"]

    lora = dry_run(tmp_path, model, training + ", dtype: bf16}", "lora: {r: 16, target_modules: all-linear}")
    per_layer = 16 * (4 * (4096 + 4096) + 2 * (4096 + 11008) + (11008 + 4096))
    assert lora["trainable"] == 32 * per_layer  # 39,976,960: 0.59% of the model
    assert lora["gradients"] == 4 * lora["trainable"] and lora["optimizer"] == 8 * lora["trainable"]
    assert lora["weights"] == 2 * parameters + 4 * lora["trainable"]
    assert lora["reference_pass"] == 0  # the base with its adapters off: no second copy
    assert lora["fits"] == {"off": True, "on": True}

    table = run_arena(["train", str(tmp_path / "recipe.yaml"), "--dry-run"], cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "6,738,415,616" in table.stdout and "fits in 80 GiB" in table.stdout


def test_dry_run_loads_no_weights(tmp_path: Path, game_model_dir: Path) -> None:
    """The plan of the tiny game model counts its parameters exactly, as the loaded model has them."""
    from transformers import AutoModelForCausalLM

    plan = dry_run(tmp_path, game_model_dir, "{batch_size: 2, max_length: 32, precision: fp32}")
    loaded = AutoModelForCausalLM.from_pretrained(game_model_dir)
    assert plan["parameters"] == sum(p.numel() for p in loaded.parameters())
    assert plan["checkpointing"] is False  # auto: the tiny models stay under the threshold
    assert plan["activation_bytes"] == 4


@pytest.mark.parametrize("training", [{}, {"dtype": "bf16"}, {"dtype": "bf16", "master_weights": "none"}])
def test_planned_weights_gradients_and_optimizer_are_the_bytes_a_step_holds(
    game_model_dir: Path, training: dict[str, str]
) -> None:
    """The plan's bytes against a real step's: the loaded model's weights, the gradients backward leaves,
    and every tensor in the optimizer's state (moments, step counters excepted, and master weights)."""
    from transformers import AutoModelForCausalLM

    from arena.plugins import make_plugin_host
    from arena.recipes import parse_recipe
    from arena.training.memory import plan_memory
    from arena.training.optim import make_optimizer
    from arena.training.precision import weights_dtype

    host = make_plugin_host(environ={}, warn=lambda message: None)
    raw = {
        "kind": "train",
        "name": "bytes",
        "algorithm": "dpo",
        "policy": str(game_model_dir),
        "task": "order3",
    }
    recipe = parse_recipe("recipe.yaml", {**raw, "training": training}, registries=host.registries)
    plan = plan_memory(recipe, "pairs", True)
    model = AutoModelForCausalLM.from_pretrained(game_model_dir, dtype=weights_dtype(recipe.training))
    optimizer = make_optimizer(list(model.parameters()), recipe.training)
    ids = torch.tensor([[1, 5, 7, 9]])
    token_logprobs(model, ids, torch.ones_like(ids), torch.tensor([[0, 1, 1, 1]])).sum().backward()
    gradients = sum(p.grad.nbytes for p in model.parameters())
    optimizer.step()
    state = [t for s in optimizer.state.values() for k, t in s.items() if k != "step"]
    masters = getattr(optimizer, "masters", [])
    assert plan.weights == sum(p.nbytes for p in model.parameters())
    assert plan.gradients == gradients
    assert plan.optimizer == sum(t.nbytes for t in state)
    assert plan.master_weights == sum(m.nbytes for m in masters)


@pytest.mark.parametrize("sleep", [False, True])
def test_the_plan_counts_a_colocated_vllm_engine(game_model_dir: Path, sleep: bool) -> None:
    """generation.backend vllm: the engine's share of the GPU is added to the peak; asleep during the
    updates (generation.sleep), it only adds to the states the trainer keeps between steps."""
    from arena.plugins import make_plugin_host
    from arena.recipes import parse_recipe
    from arena.training.memory import plan_memory

    host = make_plugin_host(environ={}, warn=lambda message: None)
    raw = {
        "kind": "train",
        "name": "e",
        "algorithm": "online-ipo",
        "policy": str(game_model_dir),
        "task": "dice",
    }
    plans = {}
    for backend in ("hf", "vllm"):
        generation = {"backend": backend} | (
            {"gpu_memory_utilization": 0.5, "sleep": sleep} if backend == "vllm" else {}
        )
        recipe = parse_recipe("r.yaml", {**raw, "generation": generation}, registries=host.registries)
        plans[backend] = plan_memory(recipe, "prompts", True, gpu_memory_gib=2.0)
    hf, vllm = plans["hf"], plans["vllm"]
    assert hf.rollout_engine == 0 and vllm.rollout_engine == 1 * GIB  # half of a 2 GiB GPU
    states = vllm.weights + vllm.gradients + vllm.optimizer + vllm.master_weights + vllm.reference_training
    for checkpointing in (False, True):
        step = hf.total(checkpointing)
        assert step == states + max(vllm.activations["on" if checkpointing else "off"], vllm.step_extra)
        expected = max(step, states + GIB) if sleep else step + GIB
        assert vllm.total(checkpointing) == expected


def test_dry_run_plans_a_judge_recipe(tmp_path: Path, game_model_dir: Path) -> None:
    """A judge: the backbone as a one-logit classifier, two rows per pair, no reference."""
    from transformers import AutoModelForSequenceClassification

    judge = tmp_path / "judge.yaml"
    judge.write_text(
        f"kind: judge\nname: j\njudge: reward-model\nbackbone: {game_model_dir}\ntask: order3\n"
        "training: {batch_size: 4, gradient_accumulation: 2, max_length: 32, precision: fp32}\n"
    )
    result = run_arena(["train", str(judge), "--dry-run", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    loaded = AutoModelForSequenceClassification.from_pretrained(game_model_dir, num_labels=1)
    assert plan["parameters"] == sum(p.numel() for p in loaded.parameters())
    assert (plan["rows"], plan["length"]) == (4, 32)
    assert plan["reference_pass"] == plan["reference_training"] == 0
    result = run_arena(["train", str(judge), "--json"], cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        "--json, --gpu-memory and --length need --dry-run\n",
    )


def test_reference_log_probs_are_cached_in_one_pass_and_the_reference_released(game_model_dir: Path) -> None:
    from arena.plugins import make_plugin_host
    from arena.recipes import parse_recipe
    from arena.training.examples import cache_reference_logprobs, pair_collators
    from arena.training.objective import build_objective

    host = make_plugin_host(environ={}, warn=lambda message: None)
    raw = {
        "kind": "train",
        "name": "release",
        "algorithm": "dpo",
        "policy": str(game_model_dir),
        "task": "order3",
        "training": {"batch_size": 3, "device": "cpu"},
    }
    recipe = parse_recipe("recipe.yaml", raw, registries=host.registries)
    objective = build_objective(recipe, host, torch.device("cpu"), Path("unused"))
    collators = pair_collators(objective.examples)
    assert len(collators) == 1
    reference = collators[0].reference
    examples = collators[0].examples
    gone = weakref.ref(reference.model)
    # What the reference gives each pair, computed one pair at a time, independently of the pass.
    from arena.training.data import collate_pairs

    expected = []
    with torch.no_grad():
        for example in examples:
            batch = collate_pairs([example], collators[0].pad_id, None)
            values = token_logprobs(
                reference.model, batch.input_ids, batch.attention_mask, batch.completion_mask
            )
            expected.append(values.sum(-1).tolist())
    del reference
    cache_reference_logprobs(collators, batch_size=2)
    gc.collect()
    assert gone() is None, "the reference is still alive after its log-probs were cached"
    assert collators[0].reference is None
    torch.testing.assert_close(collators[0].reference_logprobs, torch.tensor(expected), rtol=0, atol=1e-5)
    batch = objective.examples.collate([2, 0])
    assert batch.reference_logprobs.tolist() == [
        collators[0].reference_logprobs[2, 0].item(),
        collators[0].reference_logprobs[0, 0].item(),
        collators[0].reference_logprobs[2, 1].item(),
        collators[0].reference_logprobs[0, 1].item(),
    ]


def test_online_algorithms_keep_their_reference(game_model_dir: Path) -> None:
    from arena.plugins import make_plugin_host
    from arena.recipes import parse_recipe
    from arena.training.examples import pair_collators
    from arena.training.objective import build_objective

    host = make_plugin_host(environ={}, warn=lambda message: None)
    raw = {
        "kind": "train",
        "name": "keep",
        "algorithm": "online-ipo",
        "policy": str(game_model_dir),
        "task": "dice",
        "training": {"batch_size": 2, "device": "cpu"},
    }
    recipe = parse_recipe("recipe.yaml", raw, registries=host.registries)
    objective = build_objective(recipe, host, torch.device("cpu"), Path("unused"))
    assert pair_collators(objective.examples) == []  # nothing to cache: it samples the mixture
    kept = weakref.ref(objective.algorithm.reference.model)
    gc.collect()
    assert kept() is not None and kept() is not objective.model


ONLINE_TEXT = """\
kind: train
name: {name}
algorithm: nash-md
args: {{tau: 0.1, beta: 0.5}}
policy: {model}
task: {{name: moves, args: {{train_prompts: 4, eval_prompts: 2, diagnostic_samples: 2, max_new_tokens: 4}}}}
judge: {{name: moves-oracle, args: {{matrix: dice}}}}
generation: {{max_new_tokens: 12}}
training: {{steps: 3, batch_size: 2, learning_rate: 0.001, gradient_checkpointing: {on}}}
"""


@pytest.mark.slow
def test_online_text_run_is_unchanged_by_checkpointing(tmp_path: Path) -> None:
    """Nash-MD samples text from the geometric mixture with the KV-cached sampler while the policy is in
    training mode: with checkpointing on, the samples, losses and weights are those of a run without it."""
    from safetensors.torch import load_file

    model = Path(__file__).resolve().parents[2] / "recipes" / "moves" / "sft"
    outcomes = {}
    for on in ("false", "true"):
        recipe = tmp_path / f"{on}.yaml"
        recipe.write_text(ONLINE_TEXT.format(name=f"checkpointing-{on}", model=model, on=on))
        result = run_arena(["train", str(recipe)], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
        assert result.returncode == 0, result.stderr
        lines = (tmp_path / "runs" / f"checkpointing-{on}" / "metrics.jsonl").read_text().splitlines()
        metrics = [
            {k: v for k, v in json.loads(line).items() if k != "examples_per_second"} for line in lines
        ]
        outcomes[on] = (
            metrics,
            load_file(tmp_path / "runs" / f"checkpointing-{on}" / "final" / "model.safetensors"),
        )
    (metrics_off, weights_off), (metrics_on, weights_on) = outcomes["false"], outcomes["true"]
    assert len(metrics_on) == 3
    assert metrics_on == metrics_off  # measured: equal, samples and losses alike
    for name, tensor in weights_off.items():
        torch.testing.assert_close(weights_on[name], tensor, rtol=0, atol=1e-6)
