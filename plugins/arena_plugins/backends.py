"""The built-in generation backends: `hf` (transformers, always there) and `vllm` (when installed).

Factories are lazy "module:attribute" strings, so listing plugins or validating a recipe imports
neither torch nor vLLM; the `vllm` backend reports a missing vLLM when it is built, in one line.
"""

from __future__ import annotations

from arena import hookimpl
from arena.generation.config import HFBackendConfig, VLLMBackendConfig
from arena.hookspecs import Register


@hookimpl
def register_backends(register: Register) -> None:
    register(
        "hf",
        "arena.generation.hf:HFBackend",
        config=HFBackendConfig,
        description="transformers generate, batched with left padding",
    )
    register(
        "vllm",
        "arena.generation.vllm:VLLMBackend",
        config=VLLMBackendConfig,
        description="vLLM (pip install -e '.[cpu]' or '.[gpu]'), one engine at a time",
    )
