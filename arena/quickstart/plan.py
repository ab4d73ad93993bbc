"""The quickstart's stages and how a stage's recipe is prepared: relocated under --out, maybe reduced.

The recipes in `recipes/quickstart/` name their inputs and outputs under `runs/quickstart/` and publish to
`leaderboards/quickstart/`, so each also runs alone with `arena train` / `arena tournament` once the
stages before it have run. The quickstart moves both prefixes to its `--out` and `--publish-to`.
`recipes/quickstart/quickstart.yaml` names the task every stage shares (and its args). An installed Arena
carries the same files as `arena/quickstart/recipes` (a link to `recipes/quickstart` in the repository).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from arena.errors import RecipeError
from arena.recipes import read_yaml_mapping

RECIPE_OUT = "runs/quickstart"
RECIPE_PUBLISH = "leaderboards/quickstart"
QUICKSTART_FILE = "quickstart.yaml"  # in the recipes directory: the task every stage shares
CHECKOUT_RECIPES = Path("recipes/quickstart")

StageKind = Literal["model", "train", "tournament"]


@dataclass(frozen=True)
class Stage:
    name: str  # also its directory under --out
    kind: StageKind
    title: str  # what it does, for the progress line and the summary table
    recipe: str | None = None  # file in the recipes directory (None: the model stage)
    seed: int = 0  # the training seed; a stage with seed k > 0 reruns a seeded stage's recipe
    seeded: bool = False  # part of the pipeline that is trained once per seed (a replicate)


# Replicates of the whole trained pipeline: reference, judges and every aligned policy, each trained with
# seed k (replicate k reads only replicate k's reference and judges). On another CPU kind the same recipes
# train to other weights (rounding differences grow through training: a judge that differs a little
# steers every policy trained against it), so a claim about an algorithm must hold across replicates:
# they are the unit the algorithm table resamples (arena/quickstart/algorithms.py).
SEEDS = 3
REDUCED_SEEDS = 2

_BASE_STAGES: tuple[Stage, ...] = (
    Stage("base", "model", "tiny model and tokenizer on the task's corpus"),
    Stage("sft", "train", "reference policy (SFT)", "sft.yaml", seeded=True),
    Stage("reward-model", "train", "reward model (Bradley-Terry)", "reward-model.yaml", seeded=True),
    Stage("preference-model", "train", "preference model", "preference-model.yaml", seeded=True),
    Stage("dpo", "train", "DPO (offline)", "dpo.yaml", seeded=True),
    Stage("ipo", "train", "IPO (offline)", "ipo.yaml", seeded=True),
    Stage("ppo", "train", "PPO against the reward model", "ppo.yaml", seeded=True),
    Stage("nash-md", "train", "Nash-MD against the preference model", "nash-md.yaml", seeded=True),
    Stage("online-ipo", "train", "online IPO against the preference model", "online-ipo.yaml", seeded=True),
)
_TOURNAMENTS: tuple[Stage, ...] = (
    Stage(
        "tournament",
        "tournament",
        "round robin of every training run, judged by the oracle",
        "tournament.yaml",
    ),
    Stage(
        "tournament-clones",
        "tournament",
        "seed 0's runs with nash-md entered twice",
        "tournament-clones.yaml",
    ),
)


def seed_suffix(seed: int) -> str:
    """Seed 0 keeps the recipe's own names and paths; seed k > 0 appends `-s<k>`."""
    return f"-s{seed}" if seed else ""


def quickstart_stages(seeds: int) -> tuple[Stage, ...]:
    """Every stage of a run with `seeds` training seeds per aligned algorithm, in the order they run."""
    replicas = [
        Stage(
            f"{stage.name}{seed_suffix(seed)}",
            "train",
            f"{stage.title}, seed {seed}",
            stage.recipe,
            seed,
            True,
        )
        for seed in range(1, seeds)
        for stage in _BASE_STAGES
        if stage.seeded
    ]
    return (*_BASE_STAGES, *replicas, *_TOURNAMENTS)


STAGES: tuple[Stage, ...] = quickstart_stages(SEEDS)

# --reduced: the same stages and code, small enough for CI (a minute or two on two cores).
REDUCED_TASK_ARGS: dict[str, Any] = {
    "train_prompts": 16,
    "eval_prompts": 6,
    "sft_rows": 256,
    "pairs": 256,
    "eval_pairs": 64,
    "diagnostic_samples": 8,
}
REDUCED_STEPS = {"sft": 40, "reward-model": 20, "preference-model": 20}
REDUCED_DEFAULT_STEPS = 6
REDUCED_TOURNAMENT: dict[str, Any] = {"samples_per_prompt": 2}
REDUCED_RATINGS: dict[str, Any] = {"bootstrap": 20}


def default_recipes() -> Path:
    """The recipes installed with Arena, so that `arena quickstart` runs from any directory. From the root
    of the checkout they come from they are named `recipes/quickstart`, as the docs and messages name them
    (the same files: the package's directory links there)."""
    shipped = Path(str(resources.files("arena.quickstart") / "recipes"))
    if CHECKOUT_RECIPES.is_dir() and CHECKOUT_RECIPES.resolve() == shipped.resolve():
        return CHECKOUT_RECIPES
    return shipped


@dataclass(frozen=True)
class QuickstartOptions:
    out: Path = Path(RECIPE_OUT)
    publish_to: Path = Path(RECIPE_PUBLISH)
    recipes: Path = field(default_factory=default_recipes)
    reduced: bool = False
    backend: str | None = None  # the tournaments' generation backend; None: vllm if installed, else hf
    until: tuple[str, ...] = field(default=())  # run the stages up to and including these (empty: all)
    seeds: int | None = None  # training seeds per aligned algorithm (None: SEEDS, or REDUCED_SEEDS reduced)

    def stage_dir(self, stage: Stage) -> Path:
        return self.out / stage.name

    @property
    def seed_count(self) -> int:
        if self.seeds is not None:
            return self.seeds
        return REDUCED_SEEDS if self.reduced else SEEDS

    @property
    def stages(self) -> tuple[Stage, ...]:
        return quickstart_stages(self.seed_count)


@dataclass(frozen=True)
class QuickstartTask:
    """`task:` of quickstart.yaml: the task every stage shares (the stages' recipes name it too, so that
    each runs alone), its args set in every stage's recipe."""

    name: str
    args: dict[str, Any]


def read_quickstart_task(recipes: Path) -> QuickstartTask:
    file = str(recipes / QUICKSTART_FILE)
    data = read_yaml_mapping(file)
    extra = sorted(set(data) - {"task"})
    if extra:
        raise RecipeError(file, extra[0], "unknown key (expected only task)")
    task = data.get("task")
    if (
        not isinstance(task, Mapping)
        or not isinstance(task.get("name"), str)
        or not isinstance(task.get("args", {}), Mapping)
        or set(task) - {"name", "args"}
    ):
        raise RecipeError(file, "task", "expected {name: TASK, args: {...}} (the task every stage shares)")
    return QuickstartTask(task["name"], dict(task.get("args") or {}))


def task_args(options: QuickstartOptions, task: QuickstartTask) -> dict[str, Any]:
    return {**task.args, **(REDUCED_TASK_ARGS if options.reduced else {})}


def prepare_raw(
    stage: Stage, raw: Mapping[str, Any], options: QuickstartOptions, task: QuickstartTask
) -> dict[str, Any]:
    """The stage's recipe data as the quickstart runs it: paths relocated, the shared task and its args
    and (with --reduced) the sizes set, the tournament's backend chosen."""
    data: dict[str, Any] = _relocate(dict(raw), options)
    if stage.seed:
        data = _reseeded(data, stage.seed, options)
    if stage.name == "tournament":
        data["entrants"] = _with_seed_entrants(data.get("entrants"), options)
    if isinstance(data.get("task"), Mapping):
        args = {**data["task"].get("args", {}), **task_args(options, task)}
        data["task"] = {**data["task"], "name": task.name, "args": args}
    if stage.kind == "tournament" and options.backend:
        data["backend"] = {"name": options.backend}
    if options.reduced:
        if stage.kind == "train":
            training = dict(data.get("training") or {})
            training["steps"] = REDUCED_STEPS.get(stage.name, REDUCED_DEFAULT_STEPS)
            training["log_every"] = min(int(training.get("log_every", 1)), training["steps"])
            training.pop("save_every", None)
            data["training"] = training
        elif stage.kind == "tournament":
            data.update(REDUCED_TOURNAMENT)
            data["ratings"] = {**(data.get("ratings") or {}), **REDUCED_RATINGS}
    return data


def _reseeded(data: dict[str, Any], seed: int, options: QuickstartOptions) -> dict[str, Any]:
    """The recipe of replicate `seed`: its own name and training seed, and every path into a seeded
    stage (its output, the reference and judges it reads) moved to that stage's replicate."""
    suffix = seed_suffix(seed)
    roots = [str(options.stage_dir(stage)) for stage in _BASE_STAGES if stage.seeded]
    training = {**(data.get("training") or {}), "seed": seed}
    moved = _with_prefixes_moved(data, [(root, root + suffix) for root in roots])
    return {**moved, "training": training, "name": f"{data.get('name')}{suffix}"}


def _with_prefixes_moved(value: Any, moves: list[tuple[str, str]]) -> Any:
    """Every string in `value` that is a path `old` or lies under it (`old/...`), moved to `new`; the first
    matching (old, new) pair wins."""
    if isinstance(value, str):
        for old, new in moves:
            if value == old or value.startswith(old + "/"):
                return new + value[len(old) :]
        return value
    if isinstance(value, Mapping):
        return {key: _with_prefixes_moved(item, moves) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_prefixes_moved(item, moves) for item in value]
    return value


def _with_seed_entrants(entrants: Any, options: QuickstartOptions) -> Any:
    """After each entrant that plays a seeded stage's model, the same algorithm's other seeds' models."""
    if not isinstance(entrants, list):
        return entrants  # not a list: the recipe's own validation says so
    seeded = {
        str(options.stage_dir(stage)): stage for stage in options.stages if stage.seeded and not stage.seed
    }
    grown = []
    for entrant in entrants:
        grown.append(entrant)
        model = entrant.get("model") if isinstance(entrant, Mapping) else None
        stage = seeded.get(str(model).removesuffix("/final")) if isinstance(model, str) else None
        if stage is None:
            continue
        for seed in range(1, options.seed_count):
            suffix = seed_suffix(seed)
            grown.append(
                {
                    **entrant,
                    "name": f"{entrant['name']}{suffix}",
                    "model": f"{options.stage_dir(stage)}{suffix}",
                }
            )
    return grown


def produced_dirs(options: QuickstartOptions) -> list[Path]:
    """Every directory a stage writes, so the whole chain validates before the first stage runs."""
    return [options.stage_dir(stage) for stage in options.stages]


def depends_on(raw: Mapping[str, Any], stage: Stage, options: QuickstartOptions) -> bool:
    """Does a (prepared) recipe read an earlier stage's output?"""
    root = str(options.stage_dir(stage))
    return any(text == root or text.startswith(root + "/") for text in _strings(raw))


def _relocate(value: Any, options: QuickstartOptions) -> Any:
    return _with_prefixes_moved(
        value, [(RECIPE_OUT, str(options.out)), (RECIPE_PUBLISH, str(options.publish_to))]
    )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []
