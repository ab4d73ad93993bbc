"""Rollouts from a vLLM engine in the training process (`generation: {backend: vllm}`), docs/rollouts.md.

One engine, colocated with the trainer, is started from the policy's directory and then always holds
weights pushed from memory: the policy's at the start of every `sync_every`-th optimizer step (and at the
first step of a run or a resume, and before the final evaluation), or an opponent's (SPPO's previous
policy, Nash-MD's EMA with beta 0) while it is sampled. Weights go in without a restart through the
worker's `reload_weights` (vLLM's layer-wise in-place reload: the CPU backend repacks its GEMM weights
after loading, which a plain `model.load_weights` cannot redo), in this process, so the engine runs
in-process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`) on a GPU too.

Only draws from the policy or an opponent (beta = 0) come from vLLM. A geometric mixture pi^(1-beta)
mu^beta is a product of two models' distributions renormalised at every token; vLLM samples from one
model's logits, so those draws stay on the KV-cached HF sampler. Gradients and the reference's log-probs
are always computed by the HF models (`TextRollouts.policy_logprobs`), exactly as with the hf backend.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from arena.errors import RecipeKeyError
from arena.generation.base import SamplingSettings, request_seed
from arena.generation.config import VLLMBackendConfig
from arena.generation.tensors import trim_at_eos
from arena.policy import Policy
from arena.recipes import RolloutSettings
from arena.training.rollouts import Responses, TextRollouts, draw_seed


@dataclass
class _EngineConfig(VLLMBackendConfig):
    engine_args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineDraw:
    """One completion from the engine: its tokens (EOS included when it stopped) and each token's
    log-prob under the weights the engine held (raw: temperature 1, no filters)."""

    token_ids: tuple[int, ...]
    token_logprobs: tuple[float, ...]


class RolloutEngine:
    """The colocated engine and which weights it holds."""

    def __init__(self, policy: Policy, settings: RolloutSettings) -> None:
        if _is_lora(policy.model) and _is_quantized(policy.model):
            raise RecipeKeyError(
                "generation.backend",
                "expected hf with a quantized LoRA base (lora.quantize): vLLM rollouts push the merged "
                "weights W + BA, which a 4/8-bit base cannot take",
            )
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            if torch.distributed.get_world_size() > 1:  # each process would start an engine on device 0
                raise RecipeKeyError(
                    "generation.backend", "expected hf with several processes: vLLM rollouts run in one"
                )
        self.policy, self.settings = policy, settings
        # Names of the causal LM's own parameters, read before an algorithm adds modules (PPO's value head);
        # a LoRA policy's are its base's, as vLLM names them (the adapters are merged in at each sync).
        self.names = [name for name, _ in _named_weights(policy.model)]
        on_gpu = policy.device.type == "cuda"
        if settings.sleep and not on_gpu:
            raise RecipeKeyError(
                "generation.sleep", "expected false without a GPU: vLLM's sleep mode needs CUDA memory"
            )
        self.config = _EngineConfig(
            gpu_memory_utilization=settings.gpu_memory_utilization,
            # On the CPU vLLM would size its cache as a share of all memory: a fixed 1 GiB instead.
            kv_cache_gb=None if on_gpu else 1.0,
            threads=None if on_gpu else torch.get_num_threads(),  # the trainer's: they take turns
            engine_args={"enable_sleep_mode": True} if settings.sleep else {},
        )
        self._engine: Any = None
        self._holding: tuple[int, int] | None = None  # (id of the model, its weights' version)
        self._policy_snapshot: list[tuple[str, torch.Tensor]] | None = None  # weights of the last sync
        self._sync_due = True
        self._asleep = False
        self.first_step: int | None = None

    # -- when the policy's weights go in ----------------------------------------------------------------

    def start_step(self, step: int) -> None:
        """Before optimizer step `step`: the policy's weights are synced at the first step this process
        runs and every `sync_every` steps."""
        if self.first_step is None:
            self.first_step = step
        if step == self.first_step or step % self.settings.sync_every == 0:
            # Now, not at the first draw: a step that draws only from an opponent (SPPO) must not
            # leave the policy's weights of this step to be read at a later one.
            self._sync_due = True
            self.hold(None)
            self.rest()

    def sync_now(self) -> None:
        """The next draw from the policy uses its current weights (the final evaluation's)."""
        self._sync_due = True

    def _policy_weights(self) -> list[tuple[str, torch.Tensor]]:
        if not self._sync_due and self._policy_snapshot is not None:
            return self._policy_snapshot  # off-policy by design: the weights of the last sync
        weights = self._weights_of(self.policy.model)
        self._sync_due = False
        if self.settings.sync_every > 1:
            # An opponent may take the engine before the next sync; the policy's weights of this sync
            # must come back then, not the ones it has moved to since.
            self._policy_snapshot = [(name, value.to("cpu", copy=True)) for name, value in weights]
        return weights

    def hold(self, holder: Policy | None) -> Any:
        """The engine, awake, holding the weights of `holder` (None: the policy, as of its last sync)."""
        engine = self._started()
        if self._asleep:
            engine.llm.wake_up()
            self._asleep = False
        if holder is None or holder is self.policy:
            if self._sync_due or self._holding != (id(self.policy.model), -1):
                self._load(engine, self._policy_weights())
                self._holding = (id(self.policy.model), -1)
            return engine
        version = sum(p._version for p in holder.model.parameters())  # in-place updates (an EMA) count
        if self._holding != (id(holder.model), version):
            self._load(engine, self._weights_of(holder.model))
            self._holding = (id(holder.model), version)
        return engine

    def _weights_of(self, model: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
        weights = dict(_named_weights(model))
        return [(name, weights[name]) for name in self.names]

    def _load(self, engine: Any, weights: list[tuple[str, torch.Tensor]]) -> None:
        engine.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": iter(weights)})
        engine.llm.reset_prefix_cache()  # cached prompt keys and values were computed by other weights

    def _started(self) -> Any:
        from arena.generation.vllm import engine_for, import_vllm, running_engine

        if self._engine is None or self._engine is not running_engine():
            # In-process on a GPU too: weights are handed over as tensors of this process.
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
            self._engine = engine_for(import_vllm(), self.policy.source, self.config)
            self._holding, self._sync_due, self._asleep = None, True, False
        return self._engine

    def rest(self) -> None:
        """After a rollout: with `sleep`, weights go to CPU memory and the KV cache is freed for the update."""
        if self.settings.sleep and self._engine is not None and not self._asleep:
            self._engine.llm.sleep(level=1)
            self._asleep = True

    def close(self) -> None:
        from arena.generation.vllm import running_engine, shutdown_engine

        if self._engine is not None and self._engine is running_engine():
            shutdown_engine()
        self._engine, self._holding, self._policy_snapshot = None, None, None

    # -- drawing ----------------------------------------------------------------------------------------

    def draw(
        self,
        holder: Policy | None,
        prompt_ids: Sequence[Sequence[int]],
        n: int,
        sampling: SamplingSettings,
        allowed_token_ids: Sequence[int] | None = None,
    ) -> list[list[EngineDraw]]:
        """n completions of each prompt (token ids) from `holder`'s weights, seeded from torch's global
        generator (the Trainer checkpoints it, so a resumed run draws the same)."""
        from arena.generation.vllm import caller_random_state_kept, import_vllm

        vllm = import_vllm()
        engine = self.hold(holder)
        seed, eos_ids = draw_seed(), self.policy.eos_token_ids
        params = [
            vllm.SamplingParams(
                n=n,
                max_tokens=sampling.max_new_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                top_k=sampling.top_k,
                seed=request_seed(seed, index),
                logprobs=0,  # the sampled token's own log-prob (raw, like the scorer's)
                stop_token_ids=eos_ids,
                allowed_token_ids=list(allowed_token_ids) if allowed_token_ids is not None else None,
                detokenize=False,
                flat_logprobs=True,
            )
            for index in range(len(prompt_ids))
        ]
        requests = [{"prompt_token_ids": list(ids)} for ids in prompt_ids]
        with caller_random_state_kept():
            outputs = engine.llm.generate(requests, params, use_tqdm=False)
        self.rest()
        return [[_engine_draw(completion, eos_ids) for completion in output.outputs] for output in outputs]


def _engine_draw(completion: Any, eos_ids: list[int]) -> EngineDraw:
    token_ids, _ = trim_at_eos(list(completion.token_ids), eos_ids)
    flat = completion.logprobs  # FlatLogprobs: position i's sampled token first, at start_indices[i]
    values = tuple(float(flat.logprobs[flat.start_indices[i]]) for i in range(len(token_ids)))
    return EngineDraw(tuple(token_ids), values)


class VLLMTextRollouts(TextRollouts):
    """Text rollouts whose policy (and beta = 0 opponent) samples come from the colocated engine."""

    def __init__(
        self, policy: Policy, reference: Policy, sampling: SamplingSettings, engine: RolloutEngine
    ) -> None:
        super().__init__(policy, reference, sampling)
        self.engine = engine

    def sample(
        self, prompts: Sequence[str], n: int, beta: float = 0.0, opponent: Policy | None = None
    ) -> Responses:
        if beta > 0:  # a geometric mixture: vLLM samples one model's logits, the HF sampler both
            return super().sample(prompts, n, beta, opponent)
        prompt_ids = self.policy.encode_prompts(list(prompts))
        groups = self.engine.draw(opponent, prompt_ids, n, SamplingSettings.of(self.sampling))
        flat = [(prompt, d) for prompt, group in zip(prompts, groups, strict=True) for d in group]
        width = max(1, max(len(d.token_ids) for _, d in flat))
        mask = torch.zeros(len(flat), width, device=self.policy.device)
        for row, (_, d) in enumerate(flat):
            mask[row, : len(d.token_ids)] = 1
        decode = self.policy.tokenizer.decode
        responses = Responses(
            [prompt for prompt, _ in flat],
            [decode(d.token_ids, skip_special_tokens=True) for _, d in flat],
            [d.token_ids for _, d in flat],
            torch.zeros(len(flat), width, device=self.policy.device),
            mask,
        )
        with torch.no_grad():  # log mu, by the HF reference: what the mixture sampler returns alongside
            responses.reference_logprobs = self.policy_logprobs(responses, self.reference) * mask
        return responses


class VLLMActionSampler:
    """Draws a game's one-token actions from the engine: `allowed_token_ids` the actions, one token,
    temperature 1, which is the policy's softmax restricted to the actions (what `ActionRollouts` samples)."""

    def __init__(self, engine: RolloutEngine) -> None:
        self.engine = engine

    def draw_actions(
        self, holder: Policy | None, prompt: str, token_ids: Sequence[int], count: int
    ) -> list[int]:
        """`count` draws: indices into `token_ids`."""
        prompt_ids = self.engine.policy.encode_prompts([prompt])
        sampling = SamplingSettings(max_new_tokens=1)
        (group,) = self.engine.draw(holder, prompt_ids, count, sampling, allowed_token_ids=token_ids)
        index = {token: i for i, token in enumerate(token_ids)}
        return [index[d.token_ids[0]] for d in group]


def _is_lora(model: torch.nn.Module) -> bool:
    return getattr(model, "peft_config", None) is not None


def _is_quantized(model: torch.nn.Module) -> bool:
    base = model.get_base_model() if _is_lora(model) else model
    return bool(getattr(base, "is_quantized", False) or getattr(base, "hf_quantizer", None) is not None)


@torch.no_grad()
def _named_weights(model: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) of every weight the engine's model takes, detached. A peft LoRA model gives its base's
    names (no `base_layer`, no adapters) with each adapted weight merged out of place, W + scale B A (peft's
    `get_delta_weight`, the active adapters), as TRL does before it pushes to vLLM: the engine samples the
    policy the adapters make, and the policy's own weights are left untouched. Not
    `arena.training.lora.merged_state_dict`, which builds a CPU copy for saving: a sync happens every
    step, so the merged tensors stay on the policy's device, one layer's delta at a time."""
    if not _is_lora(model):
        return [(name, parameter.detach()) for name, parameter in model.named_parameters()]
    from peft.tuners.lora import LoraLayer

    base = model.get_base_model()
    deltas: dict[str, torch.Tensor] = {}
    for module_name, module in base.named_modules():
        if isinstance(module, LoraLayer) and not module.merged:
            for adapter in module.active_adapters:
                if adapter in module.lora_A:
                    delta = module.get_delta_weight(adapter)
                    deltas[module_name] = deltas[module_name] + delta if module_name in deltas else delta
    weights = []
    for name, parameter in base.named_parameters():
        if ".lora_" in name:
            continue
        value = parameter.detach()
        owner, _, leaf = name.rpartition(".base_layer.")
        if owner and leaf == "weight" and owner in deltas:
            value = value + deltas[owner].to(value.dtype)
        weights.append((name.replace(".base_layer.", "."), value))
    return weights
