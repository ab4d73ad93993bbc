"""The memory plan of a training run (`arena train RECIPE --dry-run`): bytes of parameters, gradients,
optimizer state, the reference and the activations of one micro-batch, from the model's config alone.

Nothing heavy loads: the config (`AutoConfig`), and the model built on the meta device, whose parameters
are counted exactly (shapes, no storage). Activations follow a per-layer formula of a Llama-family decoder
(RMSNorm, rotary attention read by a fused kernel, gated MLP) scored by Arena's chunked log-probs; it was
checked against measured peaks (tests/training/test_memory.py) and is written out in docs/memory.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from arena.errors import ArenaError, RecipeKeyError
from arena.generation.logprobs import DEFAULT_CHUNK_SIZE
from arena.recipes import JudgeRecipe

FP32 = 4
GIB = 1024**3
# Bytes per weight of a base quantized by QLoRA (lora.quantize): NF4 with double quantization (4 bits plus
# about 0.127 bits of scales), LLM.int8() (8 bits plus a scale per row, negligible).
QUANTIZED_BYTES = {"4bit": 0.516, "8bit": 1.0}


@dataclass(frozen=True)
class ModelShape:
    """What the activation formula reads from a decoder-only transformer's config."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int


def layer_saved_bytes(shape: ModelShape, tokens: int, element: int, autocast: bool = False) -> int:
    """Bytes one decoder layer (RMSNorm, attention, gated MLP) keeps for its backward, for `tokens` tokens.
    `element`: bytes of a value in the compute dtype; `autocast`: fp32 weights under bf16/fp16 autocast."""
    h, width = shape.hidden, shape.heads * shape.head_dim
    if autocast:
        # The residual stream and the norms stay fp32: each norm keeps its input and normalised value (4 + 4),
        # and autocast casts the norm's output once per projection that reads it, each copy kept (2 bytes x 3
        # for q, k, v; x 2 for gate and up). The weights' casts are counted apart (`weight_copies`).
        norms = (8 + 3 * element + 8 + 2 * element) * tokens * h
    else:
        # An RMSNorm keeps its input and its normalised output: in fp32 the residual (4) and two products
        # (4 + 4, the second the projections' input); in bf16 an fp32 copy of its input (4), the normalised
        # value cast back (2) and the weighted output (2). Both are 4 + 2 x element bytes per value.
        norms = 2 * (FP32 + 2 * element) * tokens * h
    # q, k, v as attention reads them (k and v repeated to every query head under grouped-query attention),
    # the attention output (the output projection's input) and its log-sum-exp (fp32, per head and token).
    attention = 4 * width * tokens * element + shape.heads * tokens * FP32
    # Gate and up projections, the activation of the gate and their product (the down projection's input).
    mlp = 4 * shape.intermediate * tokens * element
    return norms + attention + mlp


def layer_linear_parameters(shape: ModelShape) -> int:
    h, width, kv_width = shape.hidden, shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    return 2 * h * width + 2 * h * kv_width + 3 * h * shape.intermediate


def activation_bytes(
    shape: ModelShape,
    rows: int,
    length: int,
    element: int,
    checkpointing: bool,
    chunk: int = DEFAULT_CHUNK_SIZE,
    autocast: bool = False,
) -> tuple[int, int]:
    """(bytes kept after the forward pass, peak bytes during forward and backward) of one micro-batch of
    `rows` sequences of `length` tokens, scored by Arena's chunked log-probs (`arena.generation.logprobs`).
    `element`: bytes of a value in the compute dtype; `autocast`: fp32 weights under bf16/fp16 autocast."""
    tokens = rows * length
    h = shape.hidden
    residual = FP32 if autocast else element  # the residual stream's dtype
    layer = layer_saved_bytes(shape, tokens, element, autocast)
    # Under autocast every matmul reads its weight cast to the compute dtype, and autocast keeps those casts
    # until it exits (after the forward pass); without checkpointing backward keeps them too.
    copies = (shape.layers * layer_linear_parameters(shape) + shape.vocab * h) * element if autocast else 0
    # Shared by every layer: the padding mask (rows x length x length) and the rotary cos and sin; the
    # final norm keeps what a layer's norm keeps (under autocast its fp32 output, which the LM head reads).
    shared = rows * length * length * element + 2 * tokens * shape.head_dim * element
    final_norm = (3 * FP32 if autocast else FP32 + 2 * element) * tokens * h
    kept_per_layer = tokens * h * residual if checkpointing else layer  # a checkpoint keeps the layer's input
    saved = shape.layers * kept_per_layer + shared + final_norm + (0 if checkpointing else copies)
    # One chunk of logits at a time: in the forward pass its fp32 logits and their log-softmax, beside the
    # weights' casts, still alive at its end.
    logits = rows * min(chunk, length - 1) * shape.vocab
    forward = saved + (copies if checkpointing else 0) + 2 * logits * FP32
    # Backward, first the LM head: a chunk is recomputed (about three fp32 copies live at once: the logits,
    # their log-softmax and its gradient) beside the gradient of the final hidden states.
    head = 3 * logits * FP32 + tokens * h * residual + (shape.vocab * h * element if autocast else 0)
    # Then each layer: the gradient flowing down the residual stream and the MLP's intermediate gradients
    # (two live at once; with checkpointing one, beside the layer's recomputed activations, part of which
    # are freed as its backward proceeds).
    through_layer = 2 * tokens * h * residual + 2 * tokens * shape.intermediate * element
    if checkpointing:
        through_layer = layer + 2 * tokens * h * residual + tokens * shape.intermediate * element
        if autocast:  # the recomputed layer's weight casts; its first norm's copies are gone by its peak
            through_layer += layer_linear_parameters(shape) * element - (8 + 3 * element) * tokens * h
    return saved, max(forward, saved + max(head, through_layer))


@dataclass
class MemoryPlan:
    """Bytes one training process holds, by what holds them (see docs/memory.md for each line)."""

    model: str
    parameters: int  # every parameter of the policy (tied embeddings once)
    trainable: int  # the parameters the optimizer updates (the adapters only, with LoRA)
    weights: int  # the policy's weights on the device (the frozen base and the adapters, with LoRA)
    gradients: int  # one per trainable parameter, in its dtype
    optimizer: int  # AdamW's two moments
    master_weights: int  # fp32 copies of bf16 trainable weights (training.master_weights: fp32)
    step_extra: int  # only during the optimizer step: fp32 copies of one part's gradients
    reference_training: int  # a frozen reference kept on the device during training (online algorithms)
    reference_pass: int  # a reference on the device during the pass that caches its log-probs (offline)
    rows: int  # sequences per micro-batch (chosen and rejected rows count twice)
    length: int  # tokens per sequence
    activation_bytes: int  # bytes per activation value (2: bf16 weights or autocast; 4: fp32)
    activations: dict[str, int] = field(default_factory=dict)  # peak per micro-batch, "off" and "on"
    kept_after_forward: dict[str, int] = field(default_factory=dict)
    checkpointing: bool = False  # what training.gradient_checkpointing resolves to for this model
    lora: dict[str, Any] | None = None
    gpu_memory: int = 80 * GIB
    # generation.backend vllm: the colocated engine's share of the GPU (its weights and KV cache), held
    # all along, or with generation.sleep only while it samples (freed during the update)
    rollout_engine: int = 0
    engine_sleeps: bool = False

    def total(self, checkpointing: bool) -> int:
        """The peak: the training step's (weights, gradients, optimizer state and activations, or the
        optimizer step's own extra once the activations are freed), or the reference pass's."""
        states = (
            self.weights + self.gradients + self.optimizer + self.master_weights + self.reference_training
        )
        step = states + max(self.activations["on" if checkpointing else "off"], self.step_extra)
        if self.engine_sleeps:  # the engine samples between updates, beside the trainer's states
            return max(step, states + self.rollout_engine, self.weights + self.reference_pass)
        return max(step + self.rollout_engine, self.weights + self.reference_pass)

    def fits(self, checkpointing: bool | None = None) -> bool:
        return self.total(self.checkpointing if checkpointing is None else checkpointing) <= self.gpu_memory

    def to_json(self) -> dict[str, Any]:
        result = asdict(self)
        result["total"] = {"off": self.total(False), "on": self.total(True)}
        result["fits"] = {"off": self.fits(False), "on": self.fits(True)}
        return result

    def rows_for_table(self) -> list[list[str]]:
        def gib(value: int) -> str:
            return f"{value / GIB:.2f}"

        trained = "adapters" if self.lora else "weights"
        lines = [
            [
                "parameters",
                f"{self.parameters:,} ({self.trainable:,} trained)",
                gib(self.weights),
                gib(self.weights),
            ],
            [f"gradients ({trained})", "", gib(self.gradients), gib(self.gradients)],
            ["AdamW moments", "", gib(self.optimizer), gib(self.optimizer)],
            ["fp32 master weights", "", gib(self.master_weights), gib(self.master_weights)],
            ["reference during training", "", gib(self.reference_training), gib(self.reference_training)],
            [
                f"activations ({self.rows} x {self.length} tokens)",
                "peak of one micro-batch",
                gib(self.activations["off"]),
                gib(self.activations["on"]),
            ],
            [
                "optimizer step (fp32 gradients)",
                "instead of activations",
                gib(self.step_extra),
                gib(self.step_extra),
            ],
            [
                "vLLM engine (gpu_memory_utilization)",
                "asleep during updates" if self.engine_sleeps else "held all along",
                gib(self.rollout_engine),
                gib(self.rollout_engine),
            ],
            [
                "reference log-prob pass",
                "before step 0, then released" if self.reference_pass else "none",
                gib(self.weights + self.reference_pass) if self.reference_pass else "",
                "",
            ],
            ["peak", "", gib(self.total(False)), gib(self.total(True))],
            [
                f"fits {self.gpu_memory / GIB:g} GiB",
                "",
                "yes" if self.fits(False) else "no",
                "yes" if self.fits(True) else "no",
            ],
        ]
        return lines


def model_shape(config: Any) -> ModelShape:
    hidden = int(config.hidden_size)
    heads = int(config.num_attention_heads)
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    return ModelShape(
        hidden=hidden,
        layers=int(config.num_hidden_layers),
        heads=heads,
        kv_heads=int(getattr(config, "num_key_value_heads", None) or heads),
        head_dim=int(head_dim),
        intermediate=int(getattr(config, "intermediate_size", None) or 4 * hidden),
        vocab=int(config.vocab_size),
    )


def meta_model(source: str, *, classifier: bool = False, trust_remote_code: bool = False) -> Any:
    """The model a directory or hub id names, built on the meta device from its config: shapes, no data.
    `classifier`: as a judge builds it (`AutoModelForSequenceClassification`, one logit)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ArenaError(f"cannot read the config of '{source}': {str(exc).splitlines()[0]}") from exc
    if classifier:
        config.num_labels = 1
    with torch.device("meta"):
        auto = AutoModelForSequenceClassification if classifier else AutoModelForCausalLM
        return auto.from_config(config, trust_remote_code=trust_remote_code)


def adapter_parameters(model: Any, target_modules: str | list[str], r: int) -> tuple[int, int]:
    """(LoRA's parameters, the parameters of the linear layers it wraps) for `target_modules` as peft
    reads them: 'all-linear' (every linear layer but the LM head) or names matched against the end of
    each module's name."""
    import torch

    head = model.get_output_embeddings()
    adapters = wrapped = 0
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or module is head:
            continue
        if target_modules != "all-linear":
            names = [target_modules] if isinstance(target_modules, str) else list(target_modules)
            if not any(name == t or name.endswith(f".{t}") for t in names):
                continue
        adapters += r * (module.in_features + module.out_features)
        wrapped += module.weight.numel()
    return adapters, wrapped


def plan_memory(
    recipe: Any,
    data_kind: str,
    needs_reference: bool,
    *,
    gpu_memory_gib: float = 80.0,
    length: int | None = None,
) -> MemoryPlan:
    """The memory plan of a train recipe whose algorithm trains on `data_kind` (pairs, completions,
    prompts) and asks for a reference or not, or of a judge recipe (pairs, no reference: two rows per
    pair, scored by a one-logit head). One process: `training.batch_size / gradient_accumulation`
    examples per micro-batch."""
    from arena.training.precision import STEP_PART_VALUES, wants_checkpointing

    settings = recipe.training
    judge = isinstance(recipe, JudgeRecipe)
    key, source = ("backbone", recipe.backbone) if judge else ("policy", recipe.policy)
    try:
        model = meta_model(source, classifier=judge)
    except ArenaError as exc:
        raise RecipeKeyError(key, str(exc)) from exc
    shape = model_shape(model.config)
    if judge:  # the head gives one logit: the LM head's terms of the formula with a vocabulary of 1
        shape = dataclasses.replace(shape, vocab=1)
    parameters = sum(p.numel() for p in model.parameters())
    weight_bytes = 2 if settings.dtype == "bf16" else FP32
    lora = getattr(recipe, "lora", None)
    if lora is not None:
        adapters, wrapped = adapter_parameters(model, lora.target_modules, lora.r)
        quantize = getattr(lora, "quantize", "none")
        base = parameters * weight_bytes
        if quantize in QUANTIZED_BYTES:
            base -= int(wrapped * (weight_bytes - QUANTIZED_BYTES[quantize]))
        trainable, weights = adapters, base + adapters * FP32  # peft keeps adapters in fp32 (its default)
        gradients, optimizer, masters = adapters * FP32, 2 * adapters * FP32, 0
        step_extra = 0
        lora_json: dict[str, Any] | None = {
            "r": lora.r,
            "target_modules": lora.target_modules,
            "quantize": quantize,
        }
    else:
        trainable, weights = parameters, parameters * weight_bytes
        gradients = parameters * weight_bytes
        master = settings.dtype == "bf16" and settings.master_weights == "fp32"
        masters = parameters * FP32 if master else 0
        optimizer = 2 * parameters * (FP32 if master else weight_bytes)
        # MasterWeightAdamW copies the gradients of one part of the parameters at a time to fp32.
        largest = max(p.numel() for p in model.parameters())
        step_extra = max(min(parameters, STEP_PART_VALUES), largest) * FP32 if master else 0
        lora_json = None
    # The reference: none with LoRA (the base with adapters off); offline pair algorithms release theirs
    # once its log-probs are cached, online ones sample from it all along.
    reference = parameters * weight_bytes if needs_reference and lora is None else 0
    pairs = data_kind == "pairs"  # the reference pass caches pairs' log-probs (arena.training.examples)
    micro_batch = settings.batch_size // settings.gradient_accumulation
    rows = micro_batch if data_kind == "completions" else 2 * micro_batch
    tokens = length or settings.max_length
    # Activations are bf16 with bf16 weights, and under bf16/fp16 autocast (precision auto: on a GPU).
    element = 2 if settings.dtype == "bf16" or settings.precision != "fp32" else FP32
    autocast = settings.dtype == "fp32" and settings.precision != "fp32"
    activations, kept = {}, {}
    for label, on in (("off", False), ("on", True)):
        kept[label], activations[label] = activation_bytes(
            shape, rows, tokens, element, on, autocast=autocast
        )
    return MemoryPlan(
        model=source,
        parameters=parameters,
        trainable=trainable,
        weights=weights,
        gradients=gradients,
        optimizer=optimizer,
        master_weights=masters,
        step_extra=step_extra,
        reference_training=0 if pairs else reference,
        reference_pass=reference if pairs else 0,
        rows=rows,
        length=tokens,
        activation_bytes=element,
        activations=activations,
        kept_after_forward=kept,
        checkpointing=wants_checkpointing(settings, parameters),
        lora=lora_json,
        gpu_memory=int(gpu_memory_gib * GIB),
        **_rollout_engine(recipe, gpu_memory_gib),
    )


def _rollout_engine(recipe: Any, gpu_memory_gib: float) -> dict[str, Any]:
    """A train recipe's colocated vLLM engine (`generation.backend: vllm`): the share of the GPU it takes."""
    generation = getattr(recipe, "generation", None)
    if getattr(generation, "backend", "hf") != "vllm":
        return {}
    share = int(generation.gpu_memory_utilization * gpu_memory_gib * GIB)
    return {"rollout_engine": share, "engine_sleeps": bool(generation.sleep)}
