"""The built-in generation backends, `hf` (transformers, always there) and `vllm` (when installed), and the
tournament executors, `local` (the default) and `ray`.

Factories are lazy "module:attribute" strings, so listing plugins or validating a recipe imports
neither torch nor vLLM; the `vllm` backend reports a missing vLLM when it is built, in one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from arena.api import HFBackendConfig, Register, VLLMBackendConfig, hookimpl
from arena_plugins.backends.ray_executor import RayExecutorArgs


@dataclass
class VLLMArgs(VLLMBackendConfig):
    """`args:` of the `vllm` backend: Arena's settings, plus `engine_args` given to `vllm.LLM` as they are
    (e.g. pipeline_parallel_size, max_num_seqs, enable_prefix_caching); they win over Arena's own."""

    engine_args: dict[str, Any] = field(default_factory=dict)  # any other vllm.LLM keyword, passed as is


@hookimpl
def register_backends(register: Register) -> None:
    register(
        "hf",
        "arena.api:HFBackend",
        config=HFBackendConfig,
        description="transformers generate, batched with left padding",
    )
    register(
        "vllm",
        "arena.api:VLLMBackend",
        config=VLLMArgs,
        description="vLLM (pip install -e '.[cpu]' or '.[gpu]'), one engine at a time",
    )


@hookimpl
def register_executors(register: Register) -> None:
    # Here rather than a plugin of their own: executors run backends (and judges), and the `ray` module
    # imports Ray only inside its functions, so registering it costs nothing without Ray installed.
    register(
        "local",
        "arena.api:LocalExecutor",
        description="this process, one engine at a time (the default)",
    )
    register(
        "ray",
        "arena_plugins.backends.ray_executor:RayExecutor",
        config=RayExecutorArgs,
        description="Ray actors across a cluster (pip install -e '.[ray]'); the driver writes the store",
    )
