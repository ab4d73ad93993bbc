"""The `args:` a recipe may give each built-in backend. Torch-free: plugins register these types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from arena.schema import Range

Dtype = Literal["auto", "fp32", "bf16", "fp16"]


@dataclass
class HFBackendConfig:
    """`args:` of the `hf` backend (transformers `generate`)."""

    batch_size: Annotated[int, Range(1)] = 16  # prompts per generate() call, each with its n samples
    dtype: Dtype = "auto"  # auto: bf16 on a GPU, fp32 on the CPU
    device: str = "auto"  # auto: a GPU when torch sees one, else the CPU
    trust_remote_code: bool = False  # run code shipped with a hub model (off: Arena never runs it unasked)


@dataclass
class VLLMBackendConfig:
    """`args:` of the `vllm` backend (`vllm.LLM`, in this process)."""

    dtype: Dtype = "auto"  # auto: bf16 on a GPU, fp32 on the CPU
    tensor_parallel_size: Annotated[int, Range(1)] = 1  # GPUs one model is split over
    gpu_memory_utilization: Annotated[float, Range(0, 1, low_open=True)] = (
        0.9  # share of GPU memory vLLM may take
    )
    # KV-cache size. On the CPU vLLM would otherwise reserve a share of all memory; 1 GiB by default there.
    kv_cache_gb: Annotated[float, Range(0, low_open=True)] | None = None
    max_model_len: Annotated[int, Range(1)] | None = None  # prompt + response tokens; None: the model's own
    # None: eager on the CPU (compiling takes minutes there), CUDA graphs on a GPU.
    enforce_eager: bool | None = None
    # CPU threads for the engine (torch.set_num_threads); None leaves torch's setting alone.
    threads: Annotated[int, Range(1)] | None = None
    trust_remote_code: bool = False  # run code shipped with a hub model (off: Arena never runs it unasked)

    def check(self) -> tuple[str, str] | None:
        # The KV cache is sized either way, not both: kv_cache_gb wins, which would leave the other unused.
        if self.kv_cache_gb is not None and self.gpu_memory_utilization != 0.9:
            return "gpu_memory_utilization", "expected kv_cache_gb or gpu_memory_utilization, not both"
        return None
