"""What a tournament plays on: its prompts (a file, a hub dataset or a task) and its entrants (models, files
of outputs, endpoints), all read before anything is written."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena.errors import RecipeKeyError
from arena.generation.base import Sample
from arena.http_chat import ChatClient, ChatEndpoint
from arena.recipes import TournamentRecipe
from arena.rows import DataSettings, load_rows, prompt_texts
from arena.tournament.fingerprint import endpoint_fingerprint, outputs_fingerprint
from arena.tournament.outputs import match_outputs, read_outputs

# Columns of a prompts file that hold its prompts' ids (Arena's own, then Arena-Hard v0.1's and v2's), first
# found wins.
ID_COLUMNS = ("prompt_id", "question_id", "uid")


def load_prompts(recipe: TournamentRecipe, plugins: Any) -> list[str]:
    """The prompt set, each prompt once, in order."""
    if recipe.prompts is not None:
        key = "prompts"
        prompts = prompt_texts(recipe.prompts)
    else:
        assert recipe.task is not None  # the recipe's own check requires prompts or a task
        key = "task"
        task = plugins.build_task(recipe.task.name, recipe.task.args)
        prompts = [str(p) for p in task.prompts("eval")]
    unique = list(dict.fromkeys(p for p in prompts if p.strip()))
    if recipe.prompts is not None and recipe.prompts.limit is not None:
        unique = unique[: recipe.prompts.limit]
    if not unique:
        raise RecipeKeyError(key, "the prompt set is empty")
    return unique


def prompt_ids(recipe: TournamentRecipe, prompts: list[str]) -> dict[str, str]:
    """{prompt text: id} when the prompts file has a `prompt_id`, `question_id` or `uid` column, else {} (a .txt
    file or a task: prompts are known by their text). Each played prompt keeps its first row's id."""
    source = recipe.prompts
    if source is None or Path(source.path).expanduser().suffix == ".txt":
        return {}
    rows = load_rows(
        DataSettings(source.path, split=source.split), [source.column], key="prompts", optional=ID_COLUMNS
    )
    column = next((c for c in ID_COLUMNS if c in rows[0]), None)
    if column is None:
        return {}
    playing, ids, owner = set(prompts), {}, {}
    for row in rows:
        text, value = str(row[source.column]), row[column]
        if text not in playing or text in ids or value is None:
            continue
        if str(value) in owner:
            raise RecipeKeyError("prompts", f"'{source.path}': {column} {value} names two different prompts")
        ids[text], owner[str(value)] = str(value), text
    return ids


def entrant_model(model: str) -> str:
    """A training run's output directory stands for its final model (a LoRA run's may be an adapter)."""
    final = Path(model).expanduser() / "final"
    found = (final / "config.json").is_file() or (final / "adapter_config.json").is_file()
    return str(final) if found else model


@dataclass
class EntrantSource:
    """Where an entrant's samples come from: a model generates them, a file holds them, an endpoint
    answers them. Files and endpoints are fingerprinted here; models later (by contents, through the store)."""

    name: str
    kind: str  # "model", "outputs" or "endpoint"
    model: str | None = None  # the model directory or hub id, a run's final/ resolved
    fingerprint: str | None = None
    samples: dict[str, list[Sample]] | None = None  # a file's samples, matched to the prompts
    client: ChatClient | None = None


def load_entrants(recipe: TournamentRecipe, prompts: list[str]) -> list[EntrantSource]:
    """Every entrant's source, files read and matched to the prompts and endpoints' keys found: a file
    that lacks prompts or an unset key variable stops the run here, in one line, before anything is written."""
    ids: dict[str, str] | None = None
    sources = []
    for index, entrant in enumerate(recipe.entrants):
        if entrant.outputs is not None:
            key = f"entrants.{index}.outputs"
            ids = prompt_ids(recipe, prompts) if ids is None else ids
            records = read_outputs(entrant.outputs, key)
            samples = match_outputs(
                records,
                prompts,
                ids,
                recipe.samples_per_prompt,
                entrant=entrant.name,
                path=entrant.outputs,
                key=key,
            )
            fingerprint = outputs_fingerprint(entrant.outputs)
            sources.append(EntrantSource(entrant.name, "outputs", fingerprint=fingerprint, samples=samples))
        elif entrant.endpoint is not None:
            sources.append(_endpoint_source(entrant.name, entrant.endpoint, f"entrants.{index}.endpoint"))
        else:
            assert entrant.model is not None  # the recipe's check requires exactly one source
            sources.append(EntrantSource(entrant.name, "model", model=entrant_model(entrant.model)))
    return sources


def _endpoint_source(name: str, endpoint: ChatEndpoint, key: str) -> EntrantSource:
    if endpoint.api_key_env and not os.environ.get(endpoint.api_key_env):
        raise RecipeKeyError(
            f"{key}.api_key_env", f"environment variable {endpoint.api_key_env} is not set (it holds the key)"
        )
    return EntrantSource(
        name, "endpoint", fingerprint=endpoint_fingerprint(endpoint), client=ChatClient(endpoint)
    )
