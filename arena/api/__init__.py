"""The plugin contract: everything a plugin (built-in or third-party) may import from Arena.

A plugin imports from `arena.api` only; a test fails if a built-in plugin imports any other host module.
What the host promises to keep stable is here, in five parts:

- **Registration**: `hookimpl`, `Register`, and the annotations a config dataclass uses (`Range`,
  `ModelRef`, `PluginName`). Each plugin module implements one or more `register_*` hooks.
- **Objects a plugin provides**, each a base class or a Protocol with its optional abilities named:
  `Algorithm` (`data`, `needs_reference`, `judge_use`, `evaluates_prompts`, hooks with defaults),
  `Judge` / `PointwiseJudge` / `CountingJudge` / `TrainableJudge`, `Backend`, `Executor`, and `Task`
  (abilities declared with `provides_*` flags, verified once where the task is built; see `arena.tasks`).
- **What the host hands them**: `TrainContext` (policy, reference, judge, rollouts, held-out prompts),
  `MicroBatch` (which micro-batch of the step a loss call is), `JudgeTrainContext` (a judge's rows and
  settings), batches (`PairBatch`, `CompletionBatch`), `Responses` and `Rollouts`, `SamplingSettings`.
- **Tools for writing them**: log-probabilities (`token_logprobs`, `pair_logprobs`, `score_completions`),
  padding, the judges' exact antisymmetry (`antisymmetric_compare`, `pointwise_compare`), policies (`Policy`,
  `load_policy`, `save_policy`), ratings of a known game (`regularized_nash`, `exploitability`).
- **Errors**: `ArenaError` (one line, exit 2) and `RecipeKeyError(key, expected)`, which the command that
  runs the recipe reports as `FILE: key: expected`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Light names, imported now: registration modules import them, and plugin discovery must not import torch.
from arena.errors import ArenaError, RecipeKeyError
from arena.hookspecs import Register, hookimpl
from arena.judging import (
    CountingJudge,
    Judge,
    PointwiseJudge,
    TrainableJudge,
    antisymmetric_compare,
    check_batch,
    check_texts,
    pointwise_compare,
    sigmoid_preference,
)
from arena.schema import ModelRef, PluginName, Range
from arena.tasks import Rows, Task

# Names whose modules import torch, resolved on first use (PEP 562).
_LAZY: dict[str, str] = {
    "ActionSampler": "arena.training.rollouts",
    "Algorithm": "arena.training.algorithm",
    "Backend": "arena.generation.base",
    "CompletionBatch": "arena.training.algorithm",
    "Counters": "arena.tournament.executor",
    "DataKind": "arena.training.algorithm",
    "ExampleSource": "arena.training.examples",
    "Executor": "arena.tournament.executor",
    "GenerationBlock": "arena.tournament.executor",
    "HFBackend": "arena.generation.hf",
    "HFBackendConfig": "arena.generation.config",
    "JudgeBatch": "arena.tournament.executor",
    "JudgeObjective": "arena.training.judges",
    "JudgeTrainContext": "arena.training.judges",
    "JudgeUse": "arena.training.algorithm",
    "MicroBatch": "arena.training.algorithm",
    "ONLY_MICRO_BATCH": "arena.training.algorithm",
    "LocalExecutor": "arena.tournament.executor",
    "OnlineAlgorithm": "arena.training.online",
    "PairBatch": "arena.training.algorithm",
    "PluginSpec": "arena.tournament.executor",
    "Policy": "arena.policy",
    "Responses": "arena.training.rollouts",
    "buffers_from_state": "arena.training.rollout_buffers",
    "buffers_state": "arena.training.rollout_buffers",
    "Rollouts": "arena.training.rollouts",
    "Sample": "arena.generation.base",
    "SamplingSettings": "arena.generation.base",
    "StepOutput": "arena.training.algorithm",
    "TrainContext": "arena.training.algorithm",
    "VLLMBackend": "arena.generation.vllm",
    "VLLMBackendConfig": "arena.generation.config",
    "completion_lengths": "arena.training.algorithm",
    "encode_prompts": "arena.policy",
    "exploitability": "arena.ratings.regularized",
    "fit_to_length": "arena.training.data",
    "is_pointwise": "arena.tournament.executor",
    "judge_call": "arena.tournament.executor",
    "left_pad": "arena.generation.tensors",
    "load_error": "arena.policy",
    "load_policy": "arena.policy",
    "load_tokenizer": "arena.policy",
    "make_plugin_host": "arena.plugins",
    "online_metrics": "arena.training.online",
    "pair_logprobs": "arena.training.pair_scoring",
    "plain_text": "arena.rows",
    "positions_from_mask": "arena.generation.tensors",
    "regularized_nash": "arena.ratings.regularized",
    "resolve_device": "arena.policy",
    "resolve_dtype": "arena.policy",
    "right_padded_pairs": "arena.generation.logprobs",
    "save_policy": "arena.policy",
    "score_completions": "arena.generation.logprobs",
    "split_pairs": "arena.training.algorithm",
    "split_responses": "arena.training.online",
    "to_device": "arena.training.examples",
    "token_logprobs": "arena.generation.logprobs",
    "warn_truncated": "arena.training.examples",
    "Interval": "arena.api.reports",
    "PromptCounts": "arena.api.reports",
    "ReadmeText": "arena.api.reports",
    "ReportColumn": "arena.api.reports",
    "TournamentReport": "arena.api.reports",
    "TournamentResult": "arena.api.reports",
    "best_and_tied": "arena.api.reports",
    "csv_text": "arena.api.reports",
    "extreme_claim": "arena.api.reports",
    "format_interval": "arena.api.reports",
    "format_number": "arena.api.reports",
    "quoted_names": "arena.api.reports",
}

if TYPE_CHECKING:
    from arena.api.reports import (
        Interval,
        PromptCounts,
        ReadmeText,
        ReportColumn,
        TournamentReport,
        TournamentResult,
        best_and_tied,
        csv_text,
        extreme_claim,
        format_interval,
        format_number,
        quoted_names,
    )
    from arena.generation.base import Backend, Sample, SamplingSettings
    from arena.generation.config import HFBackendConfig, VLLMBackendConfig
    from arena.generation.hf import HFBackend
    from arena.generation.logprobs import right_padded_pairs, score_completions, token_logprobs
    from arena.generation.tensors import left_pad, positions_from_mask
    from arena.generation.vllm import VLLMBackend
    from arena.plugins import make_plugin_host
    from arena.policy import (
        Policy,
        encode_prompts,
        load_error,
        load_policy,
        load_tokenizer,
        resolve_device,
        resolve_dtype,
        save_policy,
    )
    from arena.ratings.regularized import exploitability, regularized_nash
    from arena.rows import plain_text
    from arena.tournament.executor import (
        Counters,
        Executor,
        GenerationBlock,
        JudgeBatch,
        LocalExecutor,
        PluginSpec,
        is_pointwise,
        judge_call,
    )
    from arena.training.algorithm import (
        ONLY_MICRO_BATCH,
        Algorithm,
        CompletionBatch,
        DataKind,
        JudgeUse,
        MicroBatch,
        PairBatch,
        StepOutput,
        TrainContext,
        completion_lengths,
        split_pairs,
    )
    from arena.training.data import fit_to_length
    from arena.training.examples import ExampleSource, to_device, warn_truncated
    from arena.training.judges import JudgeObjective, JudgeTrainContext
    from arena.training.online import OnlineAlgorithm, online_metrics, split_responses
    from arena.training.pair_scoring import pair_logprobs
    from arena.training.rollout_buffers import buffers_from_state, buffers_state
    from arena.training.rollouts import ActionSampler, Responses, Rollouts


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'arena.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ActionSampler",
    "Algorithm",
    "ArenaError",
    "Backend",
    "CompletionBatch",
    "Counters",
    "CountingJudge",
    "DataKind",
    "ExampleSource",
    "Executor",
    "GenerationBlock",
    "HFBackend",
    "HFBackendConfig",
    "Interval",
    "Judge",
    "JudgeBatch",
    "JudgeObjective",
    "JudgeTrainContext",
    "JudgeUse",
    "LocalExecutor",
    "MicroBatch",
    "ONLY_MICRO_BATCH",
    "ModelRef",
    "OnlineAlgorithm",
    "PairBatch",
    "PluginName",
    "PluginSpec",
    "PointwiseJudge",
    "Policy",
    "PromptCounts",
    "Range",
    "ReadmeText",
    "RecipeKeyError",
    "Register",
    "ReportColumn",
    "Responses",
    "Rollouts",
    "Rows",
    "Sample",
    "SamplingSettings",
    "StepOutput",
    "Task",
    "TournamentReport",
    "TournamentResult",
    "TrainContext",
    "TrainableJudge",
    "VLLMBackend",
    "VLLMBackendConfig",
    "antisymmetric_compare",
    "best_and_tied",
    "check_batch",
    "check_texts",
    "buffers_from_state",
    "buffers_state",
    "completion_lengths",
    "csv_text",
    "encode_prompts",
    "exploitability",
    "extreme_claim",
    "fit_to_length",
    "format_interval",
    "format_number",
    "hookimpl",
    "is_pointwise",
    "judge_call",
    "left_pad",
    "load_error",
    "load_policy",
    "load_tokenizer",
    "make_plugin_host",
    "online_metrics",
    "pair_logprobs",
    "plain_text",
    "pointwise_compare",
    "positions_from_mask",
    "quoted_names",
    "regularized_nash",
    "resolve_device",
    "resolve_dtype",
    "right_padded_pairs",
    "save_policy",
    "score_completions",
    "sigmoid_preference",
    "split_pairs",
    "split_responses",
    "to_device",
    "token_logprobs",
    "warn_truncated",
]
