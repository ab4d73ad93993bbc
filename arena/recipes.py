"""Recipes: YAML files that describe a run. Three kinds: `train`, `judge` and `tournament`.

A recipe is read with `yaml.safe_load`, `--set key.path=value` overrides are applied to the raw data,
and the result is converted into typed dataclasses and validated, plugin names and the plugins' own
`args:` included, before any work starts. Every error is one line: `FILE: key.path: what was expected`.
Relative paths in a recipe are read from the current directory (where `arena` runs), like `runs/`.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml

from arena.errors import RecipeError, did_you_mean
from arena.http_chat import ChatEndpoint
from arena.io import atomic_write_text
from arena.registry import KINDS
from arena.rows import DataSettings, PromptSet
from arena.schema import (
    Context,
    ExistingPath,
    FieldError,
    ModelRef,
    PluginName,
    Range,
    convert,
    to_plain,
)
from arena.training.tracking import TrackerNames

Positive = Range(0, low_open=True)
NonNegative = Range(0)
Probability = Range(0, 1)


# The registry kind a reference names, as a Literal type: `PluginRef[Literal["judges"]]`.
Kind = typing.TypeVar("Kind", bound=str)


@dataclass
class PluginRef(typing.Generic[Kind]):
    """A plugin by name, and its `args:` (typed by the plugin when the recipe is validated).

    `PluginRef[Literal["judges"]]` refers to a plugin of one registry kind: the same two keys, the name
    checked against that registry. Every kind is referred to the same way: `judge: oracle`, or
    `judge: {name: oracle, args: {...}}`.
    """

    __shorthand__ = "name"
    name: str
    args: Any = field(default_factory=dict)

    def __class_getitem__(cls, kind: Any) -> type[PluginRef[Any]]:
        # Not a typing alias but a real dataclass per kind, so that recipes are converted through it.
        (name,) = typing.get_args(kind) or (kind,)
        return _plugin_ref(name)

    def __reduce_ex__(self, protocol: typing.SupportsIndex) -> Any:
        # A `PluginRef[kind]` is built at run time, so pickle cannot find it by name: rebuild it by kind.
        kind = type(self).__dict__.get("__kind__")
        if kind is None:  # a subclass declared in a module (e.g. TournamentJudge) pickles as usual
            return super().__reduce_ex__(protocol)
        return _rebuild_plugin_ref, (kind, self.name, self.args)


@functools.cache
def _plugin_ref(kind: str) -> type[PluginRef[Any]]:
    """The one `PluginRef` subclass per registry kind, whose `name` must name a plugin of that kind."""
    if kind not in KINDS:
        raise TypeError(f"PluginRef[{kind!r}]: expected one of the registry kinds {', '.join(KINDS)}")
    name = f"PluginRef[{kind!r}]"
    namespace = {
        "__annotations__": {"name": Annotated[str, PluginName(kind)]},
        "__doc__": f"A plugin of the {kind} registry and its `args:`.",
        "__kind__": kind,
        "__module__": __name__,
        "__qualname__": name,
    }
    return dataclass(type(name, (PluginRef,), namespace))


def _rebuild_plugin_ref(kind: str, name: str, args: Any) -> PluginRef[Any]:
    return _plugin_ref(kind)(name, args)


@dataclass
class TournamentJudge(PluginRef[Literal["judges"]]):
    """A tournament's judge: a judge reference, plus how many of its verdicts it may fail to read."""

    # Share of the judge's verdicts it may report unreadable (its `unreadable` counter over its
    # `verdicts`) before the run stops with nothing published; judgments stay cached (docs/tournaments.md).
    max_unreadable: Annotated[float, Probability] = 0.05


@dataclass
class TrainingSettings:
    """Settings of the shared Trainer loop, the same for every algorithm."""

    steps: Annotated[int, Positive] = 100
    batch_size: Annotated[int, Positive] = 8
    gradient_accumulation: Annotated[int, Positive] = 1
    learning_rate: Annotated[float, Positive] = 1e-5
    warmup_steps: Annotated[int, NonNegative] = 0
    schedule: Literal["constant", "linear", "cosine"] = "linear"
    weight_decay: Annotated[float, NonNegative] = 0.0
    max_grad_norm: Annotated[float, Positive] | None = 1.0
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    # Memory (docs/memory.md): recompute each decoder layer's activations in backward instead of keeping
    # them (auto: on above 100M parameters); the weights' dtype; where AdamW accumulates bf16 weights' updates.
    gradient_checkpointing: bool | Literal["auto"] = "auto"
    dtype: Literal["fp32", "bf16"] = "fp32"
    master_weights: Literal["fp32", "none"] = "fp32"  # fp32: fp32 copies in the optimizer; none: pure bf16
    device: str = "auto"
    seed: int = 0
    save_every: Annotated[int, NonNegative] = 0  # 0: checkpoint only at the end
    log_every: Annotated[int, Positive] = 1
    max_length: Annotated[int, Range(2)] = 1024  # prompt + completion tokens; prompts are cut from the left
    keep_checkpoints: Annotated[int, Positive] = 2  # of those save_every writes (the final one is kept)
    # Also send each metrics.jsonl record to these trackers: tensorboard, wandb, trackio (docs/tracking.md)
    report_to: Annotated[list[str], TrackerNames()] = field(default_factory=list)

    def check(self) -> tuple[str, str] | None:
        if self.master_weights == "none" and self.dtype == "fp32":
            return "master_weights", "expected fp32 with dtype fp32 (fp32 weights are their own master copy)"
        if self.save_every == 0 and self.keep_checkpoints != 2:
            # Without save_every only the final checkpoint is written: any count keeps it, so the key
            # would change nothing.
            return (
                "keep_checkpoints",
                "expected save_every > 0 beside it (without it only the final checkpoint is written)",
            )
        return None


@dataclass
class GenerationSettings:
    max_new_tokens: Annotated[int, Positive] = 128
    temperature: Annotated[float, NonNegative] = 1.0
    top_p: Annotated[float, Range(0, 1, low_open=True)] = 1.0
    top_k: Annotated[int, NonNegative] = 0  # 0: no top-k filtering
    seed: int = 0

    def check(self) -> tuple[str, str] | None:
        if self.temperature == 0:  # greedy: the most likely token, whatever the filters keep
            if self.top_p != 1.0:
                return (
                    "top_p",
                    "expected no top_p with temperature 0 (greedy decoding takes the most likely token)",
                )
            if self.top_k != 0:
                return (
                    "top_k",
                    "expected no top_k with temperature 0 (greedy decoding takes the most likely token)",
                )
        return None


@dataclass
class LoraSettings:
    """Train low-rank adapters (peft's LoRA) instead of every weight; the reference is then the base model
    with its adapters disabled, never a second copy (docs/lora.md). Defaults as TRL's and peft's."""

    r: Annotated[int, Positive] = 16
    alpha: Annotated[float, Positive] = 32.0  # the adapters' output is scaled by alpha / r
    dropout: Annotated[float, Range(0, 1)] = 0.05  # on the adapters' input
    # "all-linear": every linear layer but the LM head (a judge's head is trained whole beside them)
    target_modules: str | list[str] = "all-linear"
    # final/ is the merged model and final/adapter the adapter (default on judge recipes: judges load
    # a whole classifier); false on a train recipe: final/ is the adapter
    merge: bool | None = None
    quantize: Literal["none", "4bit", "8bit"] = "none"  # QLoRA: the frozen base through bitsandbytes (CUDA)


@dataclass
class RolloutSettings(GenerationSettings):
    """A train recipe's `generation:`: how online algorithms sample, and from what (docs/rollouts.md)."""

    # hf: Arena's KV-cached sampler; vllm: a vLLM engine in the training process for draws from the policy
    backend: Literal["hf", "vllm"] = "hf"
    # vllm: the engine gets the policy's weights every sync_every optimizer steps (samples are then
    # off-policy by up to sync_every - 1 steps)
    sync_every: Annotated[int, Positive] = 1
    # vllm on a GPU: the share of its memory the colocated engine takes (weights and KV cache)
    gpu_memory_utilization: Annotated[float, Range(0, 1, low_open=True)] = 0.3
    sleep: bool = False  # vllm on a GPU: free the engine's memory during each update (sleep mode, CUDA only)

    def check(self) -> tuple[str, str] | None:
        if self.backend == "hf":
            for key, default in (("sync_every", 1), ("gpu_memory_utilization", 0.3), ("sleep", False)):
                if getattr(self, key) != default:
                    return key, "expected backend vllm beside it (the hf sampler is the policy itself)"
        return super().check()


@dataclass
class TrainRecipe:
    """Train a policy with an alignment algorithm."""

    kind: Literal["train"]
    name: str
    algorithm: Annotated[str, PluginName("algorithms")]
    policy: Annotated[str, ModelRef()]
    reference: Annotated[str, ModelRef()] | None = None  # default: the initial policy
    args: Any = field(default_factory=dict)  # the algorithm's own config
    task: PluginRef[Literal["tasks"]] | None = None
    data: DataSettings | None = None
    judge: PluginRef[Literal["judges"]] | None = None
    # Refused: online algorithms choose their sampler with `generation: {backend: hf | vllm}`.
    backend: PluginRef[Literal["backends"]] | None = None
    generation: RolloutSettings = field(default_factory=RolloutSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    lora: LoraSettings | None = None  # train adapters only (docs/lora.md)
    output: str | None = None  # default: runs/<name>

    def check(self) -> tuple[str, str] | None:
        if self.backend is not None:
            return (
                "backend",
                "expected no backend on a train recipe: online algorithms sample with Arena's own "
                "KV-cached sampler or vLLM, chosen by `generation: {backend: hf | vllm}`",
            )
        if self.generation.seed != 0:
            return (
                "generation.seed",
                "expected no seed on a train recipe: rollouts are seeded from training.seed, step by step, "
                "so that a resumed run samples what an uninterrupted one would",
            )
        return _check_name(self.name)


@dataclass
class JudgeRecipe:
    """Train a judge (a reward model or a preference model) on preference data."""

    kind: Literal["judge"]
    name: str
    judge: Annotated[str, PluginName("judges")]
    backbone: Annotated[str, ModelRef()]
    args: Any = field(default_factory=dict)
    task: PluginRef[Literal["tasks"]] | None = None
    data: DataSettings | None = None
    training: TrainingSettings = field(default_factory=TrainingSettings)
    lora: LoraSettings | None = None  # train adapters (and the head) only (docs/lora.md)
    output: str | None = None

    def check(self) -> tuple[str, str] | None:
        if self.lora is not None and self.lora.merge is False:
            return (
                "lora.merge",
                "expected true or nothing on a judge recipe: a judge loads as a whole classifier, so its "
                "final/ is always the merged model (the adapter is kept in final/adapter)",
            )
        if self.data is None and self.task is None:
            return "data", "missing required key (a judge recipe needs `data` or a `task` that provides it)"
        if self.data is not None and self.task is not None:
            return "task", "expected `data` or a `task` that provides the pairs, not both"
        return _check_name(self.name)


@dataclass
class Entrant:
    """A tournament entrant: a model it generates with, a file of its outputs, or an endpoint that answers
    for it (exactly one of the three; docs/tournaments.md)."""

    name: str
    model: Annotated[str, ModelRef(run_directory=True)] | None = None  # a run's directory: its final/
    outputs: Annotated[str, ExistingPath()] | None = None  # AlpacaEval, Arena-Hard or Arena outputs
    endpoint: ChatEndpoint | None = None  # an OpenAI-compatible chat-completions endpoint

    def check(self) -> tuple[str, str] | None:
        given = [key for key in ("model", "outputs", "endpoint") if getattr(self, key) is not None]
        if len(given) != 1:
            got = f"got {' and '.join(given)}" if given else "got none"
            where = given[1] if len(given) > 1 else "model"  # the second of two names the conflict
            return where, f"expected exactly one of model, outputs or endpoint ({got})"
        if self.outputs is not None and not self.outputs.endswith((".json", ".jsonl")):
            return "outputs", f"expected a .json or .jsonl file of outputs, got '{self.outputs}'"
        return None


@dataclass
class RatingSettings:
    """How a tournament's leaderboard is rated (docs/ratings.md)."""

    # Bootstrap rounds, resampled by prompt, for the Elo and Nash intervals (0: none).
    bootstrap: Annotated[int, NonNegative] = 1000
    seed: int = 0  # of the bootstrap
    # Also show the quantal-response equilibrium p = softmax(A p / T) at this temperature (null: not shown).
    nash_temperature: Annotated[float, Positive] | None = None
    # Control both rating columns for the responses' length (words), or style (length, markdown headers,
    # lists, bold): the Nash game and Elo are fitted with those differences set to zero (docs/ratings.md).
    control: Literal["none", "length", "style"] = "none"


@dataclass
class TournamentRecipe:
    """A round-robin tournament between policies, judged in both orders, published as a leaderboard."""

    __moved__ = {"bootstrap": "ratings: {bootstrap: N}"}
    kind: Literal["tournament"]
    name: str
    entrants: list[Entrant]
    judge: TournamentJudge
    prompts: PromptSet | None = None
    task: PluginRef[Literal["tasks"]] | None = None  # a task can supply the prompts instead
    samples_per_prompt: Annotated[int, Positive] = 1
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    backend: PluginRef[Literal["backends"]] | None = None  # default: vllm when installed, else hf
    executor: PluginRef[Literal["executors"]] | None = None  # default: local (this process; imports no Ray)
    leaderboard: str | None = None  # the leaderboard's name; default: the tournament's name
    publish_to: str | None = None  # default: leaderboards/<leaderboard>
    ratings: RatingSettings = field(default_factory=RatingSettings)
    # Prompts per generation call and judgments per judge call; each is committed to the store at once,
    # so a killed run loses at most one such block.
    commit_every: Annotated[int, Positive] = 64
    output: str | None = None  # default: runs/<name>

    def check(self) -> tuple[str, str] | None:
        if len(self.entrants) < 2:
            return "entrants", f"expected at least 2 entrants, got {len(self.entrants)}"
        seen: set[str] = set()
        for index, entrant in enumerate(self.entrants):
            if entrant.name in seen:
                return f"entrants.{index}.name", f"duplicate entrant name '{entrant.name}'"
            seen.add(entrant.name)
        if self.prompts is None and self.task is None:
            return "prompts", "missing required key (or name a `task` that provides prompts)"
        if self.prompts is not None and self.task is not None:
            return "task", "expected `prompts` or a `task` that provides them, not both"
        return _check_name(self.name)


Recipe = TrainRecipe | JudgeRecipe | TournamentRecipe
RECIPE_KINDS: dict[str, type] = {"train": TrainRecipe, "judge": JudgeRecipe, "tournament": TournamentRecipe}

# Where each kind of recipe names plugins: (recipe key, registry kind). Their `args` are typed by the plugin.
_PLUGIN_ARGS: dict[type, list[tuple[str, str]]] = {
    TrainRecipe: [
        ("algorithm", "algorithms"),
        ("task", "tasks"),
        ("judge", "judges"),
    ],
    JudgeRecipe: [("judge", "judges"), ("task", "tasks")],
    TournamentRecipe: [
        ("task", "tasks"),
        ("judge", "judges"),
        ("backend", "backends"),
        ("executor", "executors"),
    ],
}


def _check_name(name: str) -> tuple[str, str] | None:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return "name", f"expected a plain name usable as a directory, got {name!r}"
    return None


def load_recipe(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    registries: Mapping[str, Any] | None = None,
    expect: str | None = None,
) -> Recipe:
    """Read, override, convert and validate a recipe. Raises RecipeError (one line, exit code 2)."""
    file = str(path)
    raw = read_yaml_mapping(file)
    for override in overrides:
        key, value = parse_override(file, override)
        apply_override(file, raw, key, value)
    return parse_recipe(file, raw, registries=registries, expect=expect)


def parse_recipe(
    file: str,
    raw: Mapping[str, Any],
    *,
    registries: Mapping[str, Any] | None = None,
    expect: str | None = None,
) -> Recipe:
    kind = raw.get("kind")
    if kind is None:
        raise RecipeError(file, "kind", f"missing required key (one of {', '.join(RECIPE_KINDS)})")
    if kind not in RECIPE_KINDS:
        hint = did_you_mean(str(kind), RECIPE_KINDS)
        raise RecipeError(file, "kind", f"expected one of {', '.join(RECIPE_KINDS)}, got {kind!r}{hint}")
    if expect is not None and kind != expect:
        raise RecipeError(file, "kind", f"expected a {expect} recipe here, got a {kind} recipe")
    context = Context(registries=registries)
    try:
        recipe = convert(raw, RECIPE_KINDS[kind], "", context)
        _resolve_plugin_args(recipe, registries, context)
    except FieldError as exc:
        raise RecipeError(file, exc.key, exc.expected) from None
    return recipe


def _resolve_plugin_args(recipe: Any, registries: Mapping[str, Any] | None, context: Context) -> None:
    """Replace each `args` mapping with the plugin's typed config, validated like the rest."""
    if registries is None:
        return
    for key, kind in _PLUGIN_ARGS[type(recipe)]:
        holder = getattr(recipe, key)
        if holder is None:
            continue
        if isinstance(holder, str):  # the top-level name of a train/judge recipe; its args sit beside it
            name, owner, args_key = holder, recipe, "args"
        else:
            name, owner, args_key = holder.name, holder, f"{key}.args"
        entry = registries[kind].get(name)
        config = entry.config
        if isinstance(recipe, JudgeRecipe) and key == "judge":
            # A judge recipe trains the judge: its `args` are the judge's training args (docs/judges.md).
            config = getattr(config, "TrainingArgs", config)
        raw_args = owner.args if owner.args is not None else {}
        if config is None:
            if raw_args:
                first = next(iter(raw_args))
                raise FieldError(
                    f"{args_key}.{first}", f"unknown key ({entry.plugin}'s '{name}' takes no args)"
                )
            owner.args = {}
        else:
            owner.args = convert(raw_args, config, args_key, context)


def read_yaml_mapping(file: str) -> dict[str, Any]:
    path = Path(file)
    if not path.is_file():
        raise RecipeError(file, "", "no such recipe file" if not path.exists() else "expected a file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise RecipeError(file, "", f"{where}: invalid YAML ({exc.problem})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RecipeError(file, "", f"invalid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise RecipeError(file, "", "expected a mapping of keys to values at the top level")
    return data


def parse_override(file: str, override: str) -> tuple[str, Any]:
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise RecipeError(file, "--set", f"expected key.path=value, got {override!r}")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text  # not YAML: keep the text as it is, the schema will say if it is wrong
    return key.strip(), value


def apply_override(file: str, raw: dict[str, Any], key: str, value: Any) -> None:
    """Set `key.path` in the raw data; numeric parts index lists (`entrants.0.model`)."""
    parts = key.split(".")
    node: Any = raw
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise RecipeError(file, where, f"expected a list index below {len(node)} in --set {key}")
            index: Any = int(part)
        elif isinstance(node, dict):
            index = part
        else:
            raise RecipeError(file, ".".join(parts[:depth]), f"--set {key}: is not a mapping or a list")
        if last:
            node[index] = value
        else:
            if isinstance(node, dict) and (index not in node or node[index] is None):
                node[index] = {}
            elif isinstance(node[index], str) and (shorthand := _shorthand_at(raw, parts[: depth + 1])):
                # `data: x.jsonl` is short for `data: {path: x.jsonl}`: expand it to set a sibling key.
                node[index] = {shorthand: node[index]}
            node = node[index]


def _shorthand_at(raw: Mapping[str, Any], parts: Sequence[str]) -> str | None:
    """The shorthand key of the dataclass found at `parts` in the recipe's schema, if it has one."""
    hint: Any = RECIPE_KINDS.get(str(raw.get("kind")))
    for part in parts:
        hint = _unwrap(hint)
        if typing.get_origin(hint) is list:  # a numeric part indexes the list: step into its items
            hint = typing.get_args(hint)[0]
        elif dataclasses.is_dataclass(hint):
            hint = typing.get_type_hints(hint, include_extras=True).get(part)
        else:
            return None
    hint = _unwrap(hint)
    return getattr(hint, "__shorthand__", None) if dataclasses.is_dataclass(hint) else None


def _unwrap(hint: Any) -> Any:
    """`Annotated[X, ...]` and `X | None` -> X."""
    while typing.get_origin(hint) in (typing.Union, types.UnionType, typing.Annotated):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def resolved_yaml(recipe: Recipe) -> str:
    """The recipe with every default filled in, as YAML (what a run saves beside its output)."""
    return yaml.safe_dump(to_plain(recipe), sort_keys=False, allow_unicode=True)


def save_resolved(recipe: Recipe, directory: str | Path) -> Path:
    return atomic_write_text(Path(directory) / "recipe.yaml", resolved_yaml(recipe))


def output_dir(recipe: Recipe) -> Path:
    return Path(recipe.output) if recipe.output else Path("runs") / recipe.name


def recipe_kind(recipe: Recipe) -> str:
    return next(kind for kind, cls in RECIPE_KINDS.items() if isinstance(recipe, cls))


__all__ = [
    "JudgeRecipe",
    "LoraSettings",
    "Recipe",
    "RecipeError",
    "TournamentRecipe",
    "TrainRecipe",
    "apply_override",
    "load_recipe",
    "output_dir",
    "parse_override",
    "parse_recipe",
    "recipe_kind",
    "resolved_yaml",
    "save_resolved",
]
