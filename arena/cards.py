"""Model cards: the README.md (Hugging Face YAML front matter and a body) of every run's final/.

A card is written from the run's own files, after the run: its resolved recipe (OUT/recipe.yaml) and its
summary (OUT/summary.json), so it states the metrics the run measured and nothing else. The resolved
recipe is copied beside the card (final/recipe.yaml): the command in the card runs it again.
The hub reads the front matter (base_model, library_name, tags, datasets, license); `base_model` and
`datasets` only name hub ids, never a local path, which the hub would refuse.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from arena.errors import ArenaError
from arena.io import atomic_write_text

CARD = "README.md"
RECIPE_BESIDE_CARD = "recipe.yaml"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name, as the hub spells repo ids


def write_model_card(run_dir: str | Path) -> Path:
    """Write OUT/final/README.md and OUT/final/recipe.yaml from OUT/recipe.yaml and OUT/summary.json."""
    run = Path(run_dir)
    recipe_text = _read(run / "recipe.yaml")
    recipe = yaml.safe_load(recipe_text)
    summary = json.loads(_read(run / "summary.json"))
    final = run / "final"
    if not final.is_dir():
        raise ArenaError(f"'{run}': no final/ to describe (the run has not finished)")
    atomic_write_text(final / RECIPE_BESIDE_CARD, recipe_text)
    return atomic_write_text(final / CARD, model_card(recipe, summary, is_adapter=is_adapter(final)))


def is_adapter(final: Path) -> bool:
    """A LoRA run without merge saves only the adapter (peft's adapter_config.json, no config.json)."""
    return (final / "adapter_config.json").is_file() and not (final / "config.json").is_file()


def model_card(recipe: dict[str, Any], summary: dict[str, Any], *, is_adapter: bool = False) -> str:
    """The card's text, from the resolved recipe (as plain data) and summary.json."""
    front = front_matter(recipe, is_adapter=is_adapter)
    body = [f"# {recipe['name']}", "", _intro(recipe, is_adapter), ""]
    body += _training_section(recipe)
    body += _results_section(summary)
    body += _reproduce_section(recipe, summary)
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n\n" + "\n".join(body)


def front_matter(recipe: dict[str, Any], *, is_adapter: bool = False) -> dict[str, Any]:
    base = _base_model(recipe)
    front: dict[str, Any] = {}
    if is_hub_id(base):
        front["base_model"] = base
    front["library_name"] = "peft" if is_adapter else "transformers"
    trained = recipe["algorithm"] if recipe["kind"] == "train" else recipe["judge"]
    tags = ["arena", trained]
    if recipe.get("lora"):
        tags.append("lora")
    front["tags"] = tags
    data = recipe.get("data")
    if data and is_hub_id(data["path"]):
        front["datasets"] = [data["path"]]
    license_ = _license_of(base)
    if license_:
        front["license"] = license_
    return front


def is_hub_id(name: str) -> bool:
    """owner/name that is not a path on this machine (the recipe's paths are relative to where it ran)."""
    return bool(_HUB_ID.match(name)) and not Path(name).expanduser().exists()


def _base_model(recipe: dict[str, Any]) -> str:
    return str(recipe["policy"] if recipe["kind"] == "train" else recipe["backbone"])


def _license_of(base: str) -> str | None:
    """A local base model's licence, from its own card's front matter; a hub id's is not looked up (runs
    are offline), so the card then names none rather than guess."""
    card = Path(base).expanduser() / CARD
    if not card.is_file():
        return None
    parts = card.read_text(encoding="utf-8").split("---\n")
    if len(parts) < 3 or parts[0] != "":
        return None
    try:
        meta = yaml.safe_load(parts[1])
    except yaml.YAMLError:
        return None
    value = meta.get("license") if isinstance(meta, dict) else None
    return str(value) if value else None


def _intro(recipe: dict[str, Any], adapter: bool) -> str:
    form = " (a LoRA adapter)" if adapter else ""
    if recipe["kind"] == "train":
        what = f"a policy{form} trained with `{recipe['algorithm']}` from `{recipe['policy']}`"
    else:
        what = f"a `{recipe['judge']}` judge{form} trained on the backbone `{recipe['backbone']}`"
    return f"This is {what}, by Arena's `arena train`."


def _training_section(recipe: dict[str, Any]) -> list[str]:
    settings = recipe["training"]
    lines = ["## Training", ""]
    if recipe["kind"] == "train":
        lines.append(f"- Base model: `{recipe['policy']}`")
        lines.append(f"- Reference: `{recipe.get('reference') or recipe['policy']}`")
        lines.append(f"- Algorithm: `{recipe['algorithm']}`")
    else:
        lines.append(f"- Backbone: `{recipe['backbone']}`")
        lines.append(f"- Judge: `{recipe['judge']}`")
    lines.append(f"- Arguments: `{_inline(recipe.get('args') or {})}`")
    lines += _data_lines(recipe)
    judge = recipe.get("judge") if recipe["kind"] == "train" else None
    if judge:
        lines.append(f"- Judge of the rollouts: `{judge['name']}` `{_inline(judge.get('args') or {})}`")
    lines.append(f"- Steps: {settings['steps']}")
    lines.append(
        f"- Batch: {settings['batch_size']} examples per step "
        f"(gradient accumulation {settings['gradient_accumulation']})"
    )
    lines.append(
        f"- Learning rate: {settings['learning_rate']:g} ({settings['schedule']} schedule, "
        f"{settings['warmup_steps']} warm-up steps, weight decay {settings['weight_decay']:g})"
    )
    lines.append(
        f"- Seed: {settings['seed']}; precision: {settings['precision']}; dtype: {settings['dtype']}"
    )
    lora = recipe.get("lora")
    if lora:
        lines.append(
            f"- LoRA: r {lora['r']}, alpha {lora['alpha']:g}, dropout {lora['dropout']:g}, "
            f"target modules `{_inline(lora['target_modules'])}`"
        )
    return [*lines, ""]


def _data_lines(recipe: dict[str, Any]) -> list[str]:
    lines = []
    data = recipe.get("data")
    if data:
        where = (
            f"[{data['path']}](https://huggingface.co/datasets/{data['path']})"
            if is_hub_id(data["path"])
            else f"`{data['path']}`"
        )
        details = [f"split `{data['split']}`"]
        if data.get("columns"):
            details.append(f"columns `{_inline(data['columns'])}`")
        if data.get("limit"):
            details.append(f"first {data['limit']} rows")
        if data.get("eval_fraction"):
            details.append(f"{data['eval_fraction']:g} of the prompts held out")
        lines.append(f"- Data: {where}, {', '.join(details)}")
    task = recipe.get("task")
    if task:
        lines.append(f"- Task: `{task['name']}` `{_inline(task.get('args') or {})}`")
    return lines


def _results_section(summary: dict[str, Any]) -> list[str]:
    lines = ["## Results", "", "The last logged step (`summary.json`'s `final`):", ""]
    lines += _table(summary.get("final") or {})
    held_out = summary.get("eval")
    if held_out:
        lines += ["", "Held-out evaluation (`summary.json`'s `eval`):", ""]
        lines += _table(held_out)
    lines += [
        "",
        f"{summary['steps']} steps on {summary['examples']} examples, {summary['processes']} process(es) "
        f"({summary['parallelism']}), {summary['wall_seconds']:.1f} s.",
        "",
    ]
    return lines


def _reproduce_section(recipe: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    command = reproduce_command(recipe, summary)
    return [
        "## Reproduce",
        "",
        f"`{RECIPE_BESIDE_CARD}` beside this card is the resolved recipe (every default filled in). From the "
        "directory the run started in (the recipe's paths are relative to it), into a new output:",
        "",
        "```bash",
        command,
        "```",
        "",
    ]


def reproduce_command(recipe: dict[str, Any], summary: dict[str, Any]) -> str:
    """`arena train` on the resolved recipe, into a new output (the original one already holds the run)."""
    output = recipe.get("output") or f"runs/{recipe['name']}"
    command = f"arena train {output}/final/{RECIPE_BESIDE_CARD} --set output={output}-reproduced"
    if summary.get("processes", 1) > 1:
        command += f" --launcher accelerate --num-processes {summary['processes']}"
    return command


def _table(values: dict[str, Any]) -> list[str]:
    rows = ["| metric | value |", "|---|---|"]
    for key, value in values.items():
        shown = f"{value:.6g}" if isinstance(value, float) else json.dumps(value)
        rows.append(f"| {key} | {shown} |")
    return rows


def _inline(value: Any) -> str:
    """Compact one-line YAML (flow style) for args, columns and module lists."""
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()


def _read(path: Path) -> str:
    if not path.is_file():
        raise ArenaError(f"'{path}': missing (a model card is written from a finished run's files)")
    return path.read_text(encoding="utf-8")
