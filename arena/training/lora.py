"""LoRA and QLoRA through peft: train low-rank adapters on a frozen base, with no second copy of it.

- `attach_lora` wraps a loaded model in peft's LoRA (`lora:` of a train or judge recipe). Only the adapters
  train (and a judge's head, which peft keeps as a whole trainable copy through `modules_to_save`).
- `AdapterParameters` is what the Trainer loop trains and checkpoints: a module holding exactly the
  trainable parameters (the same Parameter objects the peft model computes with), so the optimizer, the
  gradient all-reduce and checkpoints see the adapters and nothing of the frozen base.
- `AdaptersDisabled` is the reference: the same peft model, every call run with the adapters switched off
  (`adapters_disabled`: what peft's `disable_adapter()` does, made cheap enough for every sampled token).
  It stands where a model is expected (`Policy.model`): calling it, `get_decoder()` and
  `get_output_embeddings()` give modules whose calls also run with the adapters off, so the chunked scorer
  and the KV-cached mixture sampler read the base model while the policy reads base + adapters.
- `save_lora` writes final/ (the layout of docs/lora.md), the merged model through `write_merged_model`;
  `load_adapter_policy` reads an adapter directory back as a plain merged model (what
  `arena.policy.load_policy` does for one), `merged_directory` merges one on disk for vLLM.
"""

from __future__ import annotations

import copy
import json
import os
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from arena.errors import ArenaError, RecipeKeyError
from arena.recipes import LoraSettings

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_DIRECTORY = "adapter"  # final/adapter beside a merged final/


# -- loading the base -----------------------------------------------------------------------------------


def check_quantize(settings: LoraSettings, device: torch.device) -> None:
    """QLoRA quantizes the frozen base with bitsandbytes, whose 4-bit and 8-bit kernels need CUDA."""
    if settings.quantize == "none":
        return
    bits = settings.quantize.replace("bit", "-bit")
    if not torch.cuda.is_available():
        raise RecipeKeyError(
            "lora.quantize", f"expected none on a machine without CUDA (bitsandbytes {bits} needs a GPU)"
        )
    if device.type != "cuda":
        raise RecipeKeyError(
            "lora.quantize", f"expected none when training on {device} (bitsandbytes {bits} needs a GPU)"
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise RecipeKeyError(
            "lora.quantize", "expected none: bitsandbytes is not installed (pip install bitsandbytes)"
        ) from exc


def load_options(settings: LoraSettings | None, device: torch.device) -> dict[str, Any]:
    """Extra `from_pretrained` options for the base: QLoRA's quantization (NF4 with double quantization and
    bf16 compute, as the QLoRA paper and TRL do; or LLM.int8()), placed on the device as it loads."""
    if settings is None or settings.quantize == "none":
        return {}
    check_quantize(settings, device)
    from transformers import BitsAndBytesConfig

    if settings.quantize == "4bit":
        quantization = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    else:
        quantization = BitsAndBytesConfig(load_in_8bit=True)
    return {"quantization_config": quantization, "device_map": {"": device}}


def base_name(source: str) -> str:
    """What adapter_config.json records as the base: an absolute path for a local directory (the adapter
    then loads from any working directory), a hub id as it is."""
    path = Path(source).expanduser()
    return str(path.resolve()) if path.is_dir() else source


# -- attaching the adapters -----------------------------------------------------------------------------


def attach_lora(model: Any, settings: LoraSettings, *, task_type: str, source: str) -> Any:
    """`model` wrapped in LoRA adapters (peft's `get_peft_model`, in place: the base weights are not copied).

    task_type: "CAUSAL_LM" for a policy, "SEQ_CLS" for a judge (peft then trains its head whole)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if settings.quantize != "none":
        # Casts the unquantized layers (norms, head) to fp32 for a stable update, as QLoRA does.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    targets = settings.target_modules
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets if isinstance(targets, str) else list(targets),
        task_type=task_type,
    )
    try:
        peft_model = get_peft_model(model, config)
    except ValueError as exc:  # e.g. "Target modules {'q'} not found in the base model"
        reason = " ".join(str(exc).split())[:300]
        raise RecipeKeyError(
            "lora.target_modules", f"expected 'all-linear' or names of the model's linear layers: {reason}"
        ) from exc
    peft_model.peft_config["default"].base_model_name_or_path = base_name(source)
    return peft_model


class AdapterParameters(torch.nn.Module):
    """The trainable parameters of a peft model (adapters, and a judge's head), registered here under their
    peft names ('.' written '/', which module names cannot hold). The peft model is held, not registered:
    the frozen base stays out of `parameters()`, `state_dict()` and whatever a strategy does to this module.
    `train()`/`eval()` reach the peft model (LoRA dropout)."""

    def __init__(self, peft_model: torch.nn.Module) -> None:
        super().__init__()
        self.__dict__["peft_model"] = peft_model  # not a submodule, on purpose
        for name, parameter in peft_model.named_parameters():
            if parameter.requires_grad:
                self.register_parameter(name.replace(".", "/"), parameter)

    def train(self, mode: bool = True) -> AdapterParameters:
        super().train(mode)
        self.__dict__["peft_model"].train(mode)
        return self


@contextmanager
def adapters_disabled(peft_model: Any) -> Iterator[None]:
    """The base model, as it was before any adapter: adapters off, and in eval mode (a reference has no
    dropout, as a frozen copy of the policy would not); both restored on leaving.

    What `peft_model.disable_adapter()` does for LoRA, without the model-status survey it starts with:
    on a 32-layer model on this CPU that took 77 to 155 ms a switch (its one-token forward: 45 to 85 ms);
    this takes 1.9 ms, and the mixture sampler switches for every token. The switch is the flag peft's
    `enable_adapters` sets on each adapter layer (and a judge's head wrapper), set directly: that method
    also flips the adapters' requires_grad, which cost about 20 ms a switch there and means nothing here
    (the adapters are off). tests/training/test_lora.py checks that the reference then equals the original
    model exactly. The modules are listed once per model (modules added later, such as PPO's value head,
    are never run by the reference)."""
    modules, switches = _switchboard(peft_model)
    modes = [module.training for module in modules]
    for module in modules:
        module.__dict__["training"] = False  # what .eval() sets, without nn.Module.__setattr__'s cost
    disabled = [layer._disable_adapters for layer in switches]  # restored as found (a nested use)
    for layer in switches:
        layer._disable_adapters = True
    try:
        yield
    finally:
        for layer, was in zip(switches, disabled, strict=True):
            layer._disable_adapters = was
        for module, mode in zip(modules, modes, strict=True):
            module.__dict__["training"] = mode


_ADAPTER_PARTS = ("lora_", "modules_to_save")
_SWITCHBOARDS: weakref.WeakKeyDictionary[Any, tuple[list[Any], list[Any]]] = weakref.WeakKeyDictionary()


def _switchboard(peft_model: Any) -> tuple[list[Any], list[Any]]:
    """(the base's modules, the adapter layers and head wrappers), listed on first use."""
    if peft_model not in _SWITCHBOARDS:
        from peft.tuners.tuners_utils import BaseTunerLayer
        from peft.utils import AuxiliaryTrainingWrapper

        named = list(peft_model.named_modules())
        switches = [m for _, m in named if isinstance(m, (BaseTunerLayer, AuxiliaryTrainingWrapper))]
        # The adapters' own modules (A, B, their dropout; a head's trained copy) do not run while they are
        # off: only the base's modes need switching.
        base = [
            m for name, m in named if not any(part.startswith(_ADAPTER_PARTS) for part in name.split("."))
        ]
        _SWITCHBOARDS[peft_model] = (base, switches)
    return _SWITCHBOARDS[peft_model]


class AdaptersDisabled:
    """A stand-in for a model (the whole peft model, or one of its modules) whose every call runs with the
    adapters disabled: calling it, and calling its methods. Modules that methods return (`get_decoder()`,
    `get_output_embeddings()`) come back wrapped the same way; anything else (a config, a weight tensor)
    is returned as it is."""

    def __init__(self, peft_model: Any, target: Any = None) -> None:
        object.__setattr__(self, "_peft_model", peft_model)
        object.__setattr__(self, "_target", peft_model if target is None else target)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with adapters_disabled(self._peft_model):
            return self._target(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy/pickle protocol lookups: not the target's
            raise AttributeError(name)
        value = getattr(object.__getattribute__(self, "_target"), name)
        if isinstance(value, torch.nn.Module):
            return AdaptersDisabled(self._peft_model, value)
        if callable(value) and not isinstance(value, (type, torch.Tensor)):
            return _DisabledMethod(self._peft_model, value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    @property
    def unwrapped(self) -> Any:
        """The module this stands for (for code that inspects a model's class, not for calls)."""
        return self._target

    def __repr__(self) -> str:
        return f"AdaptersDisabled({type(self._target).__name__})"


@dataclass(frozen=True)
class _DisabledMethod:
    peft_model: Any
    method: Callable[..., Any]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with adapters_disabled(self.peft_model):
            result = self.method(*args, **kwargs)
        # A module a method finds (get_decoder()) runs without adapters too; one that returns its own
        # module (requires_grad_, eval, to) hands back that module itself, as the plain call would.
        owner = getattr(self.method, "__self__", None)
        if isinstance(result, torch.nn.Module) and result is not owner and result is not self.peft_model:
            return AdaptersDisabled(self.peft_model, result)
        return result


# -- saving and loading ---------------------------------------------------------------------------------


def merged_state_dict(peft_model: Any) -> dict[str, torch.Tensor]:
    """The base model's state dict with every adapter folded in (W + scale * B @ A, computed in fp32), a
    judge's trained head in place of the original, under the base model's own names. The live model is
    not touched: its base weights stay the reference's. Merged tensors are built on the CPU, one layer at a
    time, so the device never holds a second copy."""
    from peft.tuners.lora import LoraLayer
    from peft.utils import ModulesToSaveWrapper
    from peft.utils.integrations import dequantize_module_weight

    base = peft_model.get_base_model()
    replaced: dict[str, torch.Tensor] = {}
    owned: list[str] = []  # prefixes of wrapped modules, whose own keys are replaced
    for name, module in base.named_modules():
        if isinstance(module, LoraLayer):
            layer = module.get_base_layer()
            # a copy, always: .float().cpu() of an fp32 CPU weight is the live weight itself
            weight = dequantize_module_weight(layer).detach().to("cpu", torch.float32, copy=True)
            for adapter in module.active_adapters:
                if adapter in module.lora_A:
                    weight += module.get_delta_weight(adapter).detach().float().cpu()
            dtype = layer.weight.dtype if layer.weight.is_floating_point() else torch.bfloat16
            replaced[f"{name}.weight"] = weight.to(dtype)
            if getattr(layer, "bias", None) is not None:
                replaced[f"{name}.bias"] = layer.bias.detach().cpu()
            owned.append(f"{name}.")
        elif isinstance(module, ModulesToSaveWrapper):
            trained = module.modules_to_save[module.active_adapter]
            for key, tensor in trained.state_dict().items():
                replaced[f"{name}.{key}"] = tensor.detach().cpu()
            owned.append(f"{name}.")
        elif type(getattr(module, "weight", None)).__name__ in _QUANTIZED and not name.startswith(
            tuple(owned)
        ):
            # a QLoRA layer left without an adapter (target_modules named others): plain weights too
            replaced[f"{name}.weight"] = dequantize_module_weight(module).detach().cpu().to(torch.bfloat16)
            if getattr(module, "bias", None) is not None:
                replaced[f"{name}.bias"] = module.bias.detach().cpu()
            owned.append(f"{name}.")
    merged = {key: tensor for key, tensor in base.state_dict().items() if not key.startswith(tuple(owned))}
    return {**merged, **replaced}


_QUANTIZED = ("Params4bit", "Int8Params")  # bitsandbytes' packed weights


def write_merged_model(peft_model: Any, directory: Path) -> None:
    """The merged model as a Hugging Face directory: config.json, generation_config.json when the model
    generates, model.safetensors. Written here rather than by `save_pretrained` so that a QLoRA base's
    config loses its quantization_config (the merged weights are plain bf16) and a LoRA-merged LM head
    is not re-tied to the input embeddings on load."""
    from safetensors.torch import save_file

    base = peft_model.get_base_model()
    weights = merged_state_dict(peft_model)
    config = copy.deepcopy(base.config)
    if getattr(config, "quantization_config", None) is not None:
        del config.quantization_config
        config.dtype = torch.bfloat16
    names = {id(module): name for name, module in base.named_modules()}
    embeddings = (base.get_input_embeddings(), base.get_output_embeddings())
    tied = [
        f"{names[id(module)]}.weight" for module in embeddings if module is not None and id(module) in names
    ]
    if getattr(config, "tie_word_embeddings", False) and len(tied) == 2 and all(k in weights for k in tied):
        if not weights[tied[0]].equal(weights[tied[1]]):
            config.tie_word_embeddings = False  # the head took an adapter: it is its own matrix now
    stored: dict[int, str] = {}
    plain: dict[str, torch.Tensor] = {}
    for key, tensor in weights.items():
        pointer = tensor.untyped_storage().data_ptr()
        if pointer in stored and weights[stored[pointer]].shape == tensor.shape:
            continue  # tied: stored once, as transformers does, and tied again on load
        stored[pointer] = key
        plain[key] = tensor.detach().contiguous().cpu()
    config.save_pretrained(directory)
    if getattr(base, "generation_config", None) is not None and base.can_generate():
        base.generation_config.save_pretrained(directory)
    save_file(plain, directory / "model.safetensors", metadata={"format": "pt"})


def save_lora(
    peft_model: Any,
    tokenizer: Any,
    directory: str | os.PathLike[str],
    *,
    merge: bool,
    base_changed: bool = False,
) -> Path:
    """final/ of a LoRA run, atomically. merge: the merged model in `directory` (transformers and vLLM load
    it) and the adapter in `directory/adapter`; otherwise the adapter in `directory`. Each has the tokenizer.

    base_changed: the base in memory differs from the one on disk in its embeddings or LM head (a game sets
    its action rows before training); the adapter then carries those layers, so that it loads back exactly."""
    from arena.policy import write_directory

    def write(staging: Path) -> None:
        adapter = staging / ADAPTER_DIRECTORY if merge else staging
        peft_model.save_pretrained(adapter, save_embedding_layers=True if base_changed else "auto")
        tokenizer.save_pretrained(adapter)
        if merge:
            write_merged_model(peft_model, staging)
            tokenizer.save_pretrained(staging)

    return write_directory(directory, write, overwrite=True)


def is_adapter_directory(path: Path) -> bool:
    return (path / ADAPTER_CONFIG).is_file() and not (path / "config.json").is_file()


def load_adapter_policy(
    directory: Path, *, dtype: Any, device: Any, trust_remote_code: bool
) -> Any:  # arena.policy.Policy (imported lazily: policy.py calls this)
    """An adapter directory as a policy: its base (adapter_config.json's base_model_name_or_path) with the
    adapter merged in, a plain transformers model, with the adapter directory's tokenizer."""
    from arena.policy import Policy, _no_progress_bars, load_error, load_policy, load_tokenizer

    config = json.loads((directory / ADAPTER_CONFIG).read_text())
    base = config.get("base_model_name_or_path")
    if not base:
        raise ArenaError(f"'{directory}/{ADAPTER_CONFIG}' names no base model (base_model_name_or_path)")
    policy = load_policy(base, dtype=dtype, device=device, trust_remote_code=trust_remote_code)
    from peft import PeftModel

    try:
        with _no_progress_bars():
            model = PeftModel.from_pretrained(policy.model, str(directory)).merge_and_unload()
    except (OSError, ValueError, RuntimeError) as exc:
        raise ArenaError(load_error(f"the adapter '{directory}'", str(directory), exc)) from exc
    model.eval()
    tokenizer = load_tokenizer(directory, trust_remote_code=trust_remote_code)
    return Policy(model=model, tokenizer=tokenizer, source=str(directory))


def check_parallelism() -> None:
    """Adapters train replicated (one process or torchrun/accelerate data parallel): FSDP2 would shard the
    trainable module apart from the peft model that computes with it, and DeepSpeed wraps the model whole."""
    for variable, name in (("ACCELERATE_USE_FSDP", "FSDP"), ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed")):
        if os.environ.get(variable, "false").lower() == "true":
            raise RecipeKeyError(
                "lora",
                f"expected no lora under {name} (adapters train with plain data parallel: "
                "`arena train --launcher accelerate` without an FSDP or DeepSpeed config)",
            )


_MERGED: dict[str, Path] = {}  # adapter directory -> its merged model, for this process


def merged_directory(name: str) -> str | Path:
    """`name` itself, unless it is a LoRA adapter directory: then a merged copy of it (its base with the
    adapter folded in, saved once per process in a temporary directory removed at exit), for engines that
    load only whole models (vLLM). On the CPU, in the dtype `auto` gives (fp32 there, bf16 on a GPU)."""
    path = Path(name).expanduser()
    if not is_adapter_directory(path):
        return name
    key = str(path.resolve())
    if key not in _MERGED or not (_MERGED[key] / "config.json").is_file():
        import atexit
        import shutil
        import tempfile

        from arena.policy import load_policy, resolve_dtype

        policy = load_policy(path, dtype=resolve_dtype("auto"), device="cpu")
        target = Path(tempfile.mkdtemp(prefix="arena-merged-")) / "model"
        atexit.register(shutil.rmtree, target.parent, True)
        policy.save(target)
        _MERGED[key] = target
    return _MERGED[key]
