"""The `vllm` backend: `vllm.LLM.generate` with one `SamplingParams` (and one seed) per prompt.

One engine lives in the process at a time: asking for another model tears the current one down, and
its memory is freed, before the next loads. Without a GPU the engine runs in this process
(`VLLM_ENABLE_V1_MULTIPROCESSING=0`: it starts in about 2 s instead of 20 s) and eagerly (compiling
costs minutes there). Scripts that start vLLM need an `if __name__ == "__main__":` guard.

Prompts are tokenised by Arena (`arena.policy.encode_prompts`) and handed over as token ids, so both
backends see exactly the same tokens. vLLM reports log-probs from the raw logits (`raw_logprobs`,
before temperature and top-k/top-p), the same quantity the `hf` backend returns.
"""

from __future__ import annotations

import gc
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from typing import Any

from arena.errors import ArenaError
from arena.generation.base import Sample, SamplingSettings, check_request, model_name, request_seed
from arena.generation.config import VLLMBackendConfig
from arena.generation.tensors import trim_at_eos

INSTALL_HINT = (
    "the vllm backend needs vLLM: pip install -e '.[cpu]' on a machine without a GPU, "
    "pip install -e '.[gpu]' on one with a GPU (or use the hf backend)"
)
_VLLM_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
GiB = 1 << 30


def import_vllm() -> Any:
    """Import vLLM with Arena's CPU settings, or raise the one-line ArenaError that says how to install it."""
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    # vLLM logs two dozen lines per engine start (INFO, and WARNINGs about its own kernels and the
    # CPU allocator); set VLLM_LOGGING_LEVEL to see them.
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    # vLLM's kernel dispatcher touches torch.distributed.reduce_op at every engine start, and torch warns
    # about it each time: two lines of noise per entrant in a tournament, nothing a user can act on.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"vllm\.triton_utils")
    try:
        import vllm
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "vllm":
            raise ArenaError(INSTALL_HINT) from exc
        raise ArenaError(f"vLLM is installed but cannot be imported ({exc}); {INSTALL_HINT}") from exc
    except ImportError as exc:  # e.g. torchvision built for another torch (see DEVELOPERS.md)
        raise ArenaError(f"vLLM is installed but cannot be imported ({exc}); {INSTALL_HINT}") from exc
    return vllm


@dataclass
class _Engine:
    key: tuple[Any, ...]
    llm: Any
    tokenizer: Any
    eos_ids: list[int]
    restore_set_num_threads: Any


_ENGINE: _Engine | None = None  # the process's one engine (vLLM engines do not share a device well)


class VLLMBackend:
    """Generates with vLLM. Creating one fails at once, with an install hint, when vLLM is missing."""

    def __init__(self, config: VLLMBackendConfig | None = None) -> None:
        self.config = config or VLLMBackendConfig()
        self._vllm = import_vllm()

    def generate(
        self, model: Any, prompts: Sequence[str], n: int, sampling: SamplingSettings
    ) -> list[list[Sample]]:
        check_request(prompts, n)
        sampling = SamplingSettings.of(sampling)
        engine = self._engine(model)
        from arena.policy import encode_prompts

        params = [self._params(sampling, n, index, engine.eos_ids) for index in range(len(prompts))]
        requests = [{"prompt_token_ids": ids} for ids in encode_prompts(engine.tokenizer, prompts)]
        # The in-process engine draws from torch's global generator too (the seeded requests do not
        # depend on it); the caller's stream is given back.
        with caller_random_state_kept():
            outputs = engine.llm.generate(requests, params, use_tqdm=False)
        return [
            [_sample(prompt, engine, completion) for completion in output.outputs]
            for prompt, output in zip(prompts, outputs, strict=True)
        ]

    def close(self) -> None:
        shutdown_engine()

    def _params(self, sampling: SamplingSettings, n: int, index: int, eos_ids: list[int]) -> Any:
        # vLLM seeds the j-th of the n samples with seed + j, so requests get seeds far apart.
        return self._vllm.SamplingParams(
            n=n,
            max_tokens=sampling.max_new_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            seed=request_seed(sampling.seed, index),
            logprobs=0,  # the sampled token's own log-prob
            stop_token_ids=eos_ids,
            # Arena decodes each completion once at the end. vLLM's detokenizer would decode every new
            # token of every sequence, and every log-prob's token, in Python: a third of the time on a
            # CPU. Flat log-probs avoid a dict and a Logprob object per token.
            detokenize=False,
            flat_logprobs=True,
        )

    def _engine(self, model: Any) -> _Engine:
        if hasattr(model, "model") and hasattr(model, "tokenizer"):
            raise ArenaError(
                "the vllm backend loads models from a directory; save the policy first (Policy.save) "
                "or use the hf backend for a model in memory"
            )
        from arena.training.lora import merged_directory

        # vLLM loads whole models: a LoRA adapter directory is merged into its base once, on the side.
        return engine_for(self._vllm, str(merged_directory(model_name(model))), self.config)


def running_engine() -> _Engine | None:
    """The process's engine, if one is running (a training run's rollouts check theirs still is)."""
    return _ENGINE


def engine_for(vllm: Any, name: str, config: VLLMBackendConfig) -> _Engine:
    """The process's one engine, for model `name` with `config`: the running one when it matches, else a
    new one started after the running one is shut down (training rollouts start theirs here too)."""
    global _ENGINE
    key = (name, *astuple(config))
    if _ENGINE is not None and _ENGINE.key == key:
        return _ENGINE
    shutdown_engine()
    _ENGINE = _start_engine(vllm, name, config, key)
    return _ENGINE


def _start_engine(vllm: Any, name: str, config: VLLMBackendConfig, key: tuple[Any, ...]) -> _Engine:
    import torch

    from arena.policy import load_tokenizer, resolve_dtype

    on_gpu = torch.cuda.is_available()
    dtype = str(resolve_dtype(config.dtype)).removeprefix("torch.")
    options: dict[str, Any] = {
        "dtype": _VLLM_DTYPES.get(config.dtype, dtype),
        "tensor_parallel_size": config.tensor_parallel_size,
        "enforce_eager": (not on_gpu) if config.enforce_eager is None else config.enforce_eager,
        "trust_remote_code": config.trust_remote_code,
        "use_tqdm_on_load": False,
        "max_model_len": config.max_model_len,
    }
    engine_args = dict(getattr(config, "engine_args", None) or {})  # the plugin's VLLMArgs adds them
    refused = sorted(set(engine_args) & {"model", "tokenizer", "trust_remote_code"})
    if refused:
        raise ArenaError(
            f"vllm engine_args: {', '.join(refused)} cannot be set there (use the backend's own args)"
        )
    if config.kv_cache_gb is not None or not on_gpu:
        # On the CPU vLLM would otherwise reserve a fraction of *all* memory for the cache.
        options["kv_cache_memory_bytes"] = int((config.kv_cache_gb or 1.0) * GiB)
    else:
        options["gpu_memory_utilization"] = config.gpu_memory_utilization
    # vLLM's CPU worker replaces torch.set_num_threads with a no-op for the life of the process; it
    # is put back at shutdown so a trainer sharing the process can still choose its threads.
    original_set_num_threads = torch.set_num_threads
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    tokenizer = load_tokenizer(name, trust_remote_code=config.trust_remote_code)
    engine = _Engine(key, None, tokenizer, _eos_ids(name, tokenizer), original_set_num_threads)
    # The LLM is only ever held by `engine.llm`, never by a local variable: vLLM keeps tracebacks of
    # errors it caught while importing, and their frames (this one among their callers) would keep
    # a local LLM, and its memory, alive after shutdown. Shutdown clears the attribute.
    try:
        with caller_random_state_kept():  # vLLM seeds the global generators at start
            engine.llm = vllm.LLM(name, tokenizer=name, **{**options, **engine_args})
    except (OSError, ValueError) as exc:
        torch.set_num_threads = original_set_num_threads
        raise ArenaError(f"vLLM cannot load '{name}': {' '.join(str(exc).split())[:300]}") from exc
    return engine


@contextmanager
def caller_random_state_kept() -> Iterator[None]:
    """An in-process engine seeds and draws from Python's, NumPy's and torch's global generators; the
    caller's random streams (a trainer's shuffling, say) must not change because vLLM ran."""
    import random

    import numpy
    import torch

    python_state, numpy_state = random.getstate(), numpy.random.get_state()
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
        yield
    random.setstate(python_state)
    numpy.random.set_state(numpy_state)


def shutdown_engine() -> None:
    """Tear down the process's vLLM engine, if any, and free its memory before another loads."""
    global _ENGINE
    engine, _ENGINE = _ENGINE, None
    if engine is None:
        return
    import torch

    try:
        engine.llm.llm_engine.engine_core.shutdown()
    finally:
        engine.llm = None
        gc.collect()
        from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

        cleanup_dist_env_and_memory()
        torch.set_num_threads = engine.restore_set_num_threads
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _eos_ids(name: str, tokenizer: Any) -> list[int]:
    from transformers import GenerationConfig

    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    try:
        configured = GenerationConfig.from_pretrained(name).eos_token_id
    except OSError:  # no generation_config.json: the tokenizer's EOS is all there is
        configured = None
    for token_id in configured if isinstance(configured, list) else [configured]:
        if token_id is not None and token_id not in ids:
            ids.append(int(token_id))
    return ids


def _sample(prompt: str, engine: _Engine, completion: Any) -> Sample:
    token_ids, finish_reason = trim_at_eos(list(completion.token_ids), engine.eos_ids)
    flat = completion.logprobs  # FlatLogprobs: position i's sampled token comes first, at start_indices[i]
    total = sum(flat.logprobs[flat.start_indices[i]] for i in range(len(token_ids)))
    return Sample(
        prompt=prompt,
        text=engine.tokenizer.decode(token_ids, skip_special_tokens=True),
        token_ids=tuple(token_ids),
        logprob=float(total),
        finish_reason=finish_reason,
    )
