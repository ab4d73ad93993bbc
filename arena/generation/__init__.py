"""Generation: backends that turn prompts into samples, the geometric-mixture sampler, log-prob scoring.

Importing this package is cheap (no torch); the torch-using modules are imported by name:
`arena.generation.hf`, `arena.generation.vllm`, `arena.generation.mixture`, `arena.generation.logprobs`.
"""

from __future__ import annotations

from arena.generation.base import Backend, FinishReason, Sample, SamplingSettings, request_seed
from arena.generation.config import HFBackendConfig, VLLMBackendConfig

__all__ = [
    "Backend",
    "FinishReason",
    "HFBackendConfig",
    "Sample",
    "SamplingSettings",
    "VLLMBackendConfig",
    "request_seed",
]
