"""The `hf` backend: transformers `generate`, batched with left padding. Always available.

Samples are drawn by `generate` itself (its temperature, top-k and top-p warpers). Each call seeds a
private copy of torch's random state per batch, so the same seed and prompts give the same samples
and the caller's random state is left untouched.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessor

from arena.generation.base import Sample, SamplingSettings, check_request, model_name, request_seed
from arena.generation.config import HFBackendConfig
from arena.generation.tensors import left_pad, trim_at_eos
from arena.policy import Policy, load_policy


class HFBackend:
    """Generates with transformers. Keeps the last model it loaded until another is asked for."""

    def __init__(self, config: HFBackendConfig | None = None) -> None:
        self.config = config or HFBackendConfig()
        self._loaded: Policy | None = None

    def generate(
        self, model: str | Policy, prompts: Sequence[str], n: int, sampling: SamplingSettings
    ) -> list[list[Sample]]:
        check_request(prompts, n)
        sampling = SamplingSettings.of(sampling)
        policy = self._policy(model)
        results: list[list[Sample]] = []
        size = self.config.batch_size
        for batch_index, start in enumerate(range(0, len(prompts), size)):
            batch = list(prompts[start : start + size])
            seed = request_seed(sampling.seed, batch_index)
            results.extend(generate_batch(policy, batch, n, sampling, seed))
        return results

    def close(self) -> None:
        if self._loaded is not None:
            device = self._loaded.device
            self._loaded = None
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()

    def _policy(self, model: str | Policy) -> Policy:
        if isinstance(model, Policy):
            return model
        name = model_name(model)
        if self._loaded is None or self._loaded.source != name:
            self.close()
            self._loaded = load_policy(
                name,
                dtype=self.config.dtype,
                device=self.config.device,
                trust_remote_code=self.config.trust_remote_code,
            )
        return self._loaded


@torch.inference_mode()
def generate_batch(
    policy: Policy, prompts: list[str], n: int, sampling: SamplingSettings, seed: int
) -> list[list[Sample]]:
    """One `generate` call: every prompt repeated `n` times, left-padded into one batch."""
    tokenizer = policy.tokenizer
    eos_ids = policy.eos_token_ids
    prompt_ids = policy.encode_prompts(prompts)
    # Rows are repeated by hand: `num_return_sequences` refuses n > 1 when decoding greedily.
    rows = [ids for ids in prompt_ids for _ in range(n)]
    input_ids, attention_mask = left_pad(rows, tokenizer.pad_token_id, policy.device)
    recorder = SampledTokenLogprobs()
    with torch.random.fork_rng(devices=_cuda_devices(policy.device)):
        torch.manual_seed(seed)
        sequences = policy.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            generation_config=_generation_config(sampling, eos_ids, tokenizer.pad_token_id),
            logits_processor=[recorder],
        )
    completions = sequences[:, input_ids.shape[1] :]
    logprobs = recorder.finish(sequences)
    results: list[list[Sample]] = []
    for prompt_index, prompt in enumerate(prompts):
        samples = []
        for row in range(prompt_index * n, (prompt_index + 1) * n):
            token_ids, finish_reason = trim_at_eos(completions[row].tolist(), eos_ids)
            samples.append(
                Sample(
                    prompt=prompt,
                    text=tokenizer.decode(token_ids, skip_special_tokens=True),
                    token_ids=tuple(token_ids),
                    logprob=float(logprobs[row, : len(token_ids)].double().sum()),
                    finish_reason=finish_reason,
                )
            )
        results.append(samples)
    return results


class SampledTokenLogprobs(LogitsProcessor):
    """Records log pi(token | prefix) of each sampled token under the model's raw distribution.

    Passed to `generate` as a custom processor, it runs before the temperature/top-k/top-p warpers, so
    it sees the raw logits. The token drawn at one step is only known at the next call (the last
    column of `input_ids`), so one step's log-softmax is kept until then: memory stays one (rows, vocab)
    tensor instead of the (rows, steps, vocab) that `output_logits=True` would keep.
    """

    def __init__(self) -> None:
        self._pending: torch.Tensor | None = None
        self._steps: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self._collect(input_ids)
        self._pending = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, sequences: torch.Tensor) -> torch.Tensor:
        """(rows, steps) log-probs of the generated tokens; steps after a row's EOS hold junk."""
        self._collect(sequences)
        if not self._steps:
            return torch.zeros((sequences.shape[0], 0))
        return torch.stack(self._steps, dim=1).cpu()

    def _collect(self, input_ids: torch.Tensor) -> None:
        if self._pending is not None:
            self._steps.append(self._pending.gather(-1, input_ids[:, -1:]).squeeze(-1))
            self._pending = None


def _generation_config(sampling: SamplingSettings, eos_ids: list[int], pad_id: int) -> GenerationConfig:
    """Every setting that changes the distribution is set here, so a model's generation_config.json
    (a repetition penalty, a default top-k of 50, ...) cannot change what the recipe asked for."""
    common: dict[str, Any] = {
        "max_new_tokens": sampling.max_new_tokens,
        "eos_token_id": eos_ids,
        "pad_token_id": pad_id,
        "num_beams": 1,
        "num_return_sequences": 1,
        "repetition_penalty": 1.0,
        "no_repeat_ngram_size": 0,
        "min_length": 0,
        "renormalize_logits": False,
    }
    if sampling.greedy:
        return GenerationConfig(do_sample=False, **common)
    return GenerationConfig(
        do_sample=True,
        temperature=sampling.temperature,
        top_k=sampling.top_k,
        top_p=sampling.top_p,
        typical_p=1.0,
        **common,
    )


def _cuda_devices(device: torch.device) -> list[int]:
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]
