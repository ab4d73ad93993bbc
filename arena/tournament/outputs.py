"""Entrants that are files of precomputed outputs: AlpacaEval, Arena-Hard and Arena's own layout.

Accepted records (a JSON list, or one JSON object per line of a .jsonl file; the layout is read per record):

- AlpacaEval `model_outputs.json`: {instruction, output, generator, dataset?}
- Arena-Hard v0.1 answers: {question_id, model_id, choices: [{turns: [{content}]}]}; each choice is a sample
- Arena-Hard v2 answers: {uid, model, messages: [..., {role: user, content}, {role: assistant, content:
  {answer} or text}]}
- Arena: {prompt_id or prompt, text}

A record names its prompt by id (`question_id`, `prompt_id`, `uid`) and/or by text (`instruction`, `prompt`,
the last user message). Where the tournament's prompts have ids (a `prompt_id`, `question_id` or `uid` column
in the prompts file) and the record
has one, the id decides; otherwise the exact prompt text does. Records for prompts the tournament does not
play are ignored (a file may cover a larger set). Per prompt, with `n` samples per prompt: one output plays
every sample (like greedy decoding, the entrant always answers the same), n or more give the first n in file
order, any other count is refused, as is a prompt without outputs: one line, before anything is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena.errors import RecipeKeyError
from arena.generation.base import Sample

# Samples read from a file do not depend on the generation settings: one settings key for all of them.
OUTPUTS_SETTINGS = json.dumps({"source": "outputs"})
_SHOWN = 3  # missing prompts named in the error line


@dataclass(frozen=True)
class OutputRecord:
    where: str  # "line 3" or "item 3", for error lines
    prompt_id: str | None
    prompt: str | None
    texts: tuple[str, ...]  # one per sample the record holds
    generator: str | None


def read_outputs(path: str, key: str) -> list[OutputRecord]:
    """Every record of the file; a malformed one is one line (`key`: the recipe key naming the file)."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RecipeKeyError(key, f"cannot read '{path}' ({error.__class__.__name__})") from None
    items: list[tuple[str, Any]] = []
    if file.suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                items.append((f"line {number}", _json(line, path, f"line {number}", key)))
    else:
        data = _json(text, path, "", key)
        if not isinstance(data, list):
            raise RecipeKeyError(
                key, f"'{path}': expected a JSON list of outputs, got a {type(data).__name__}"
            )
        items = [(f"item {number}", item) for number, item in enumerate(data, start=1)]
    if not items:
        raise RecipeKeyError(key, f"'{path}' holds no outputs")
    records = [_record(item, path, where, key) for where, item in items]
    generators = sorted({r.generator for r in records if r.generator is not None})
    if len(generators) > 1:
        shown = ", ".join(generators[:_SHOWN]) + (", ..." if len(generators) > _SHOWN else "")
        raise RecipeKeyError(
            key, f"'{path}' holds the outputs of {len(generators)} generators ({shown}): one file per entrant"
        )
    return records


def _json(text: str, path: str, where: str, key: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        place = f"{where}, column {error.colno}" if where else f"line {error.lineno}, column {error.colno}"
        raise RecipeKeyError(key, f"'{path}' {place}: invalid JSON ({error.msg})") from None


def _record(item: Any, path: str, where: str, key: str) -> OutputRecord:
    def refuse(expected: str) -> RecipeKeyError:
        return RecipeKeyError(key, f"'{path}' {where}: expected {expected}")

    if not isinstance(item, dict):
        raise refuse("an object (AlpacaEval, Arena-Hard or Arena outputs)")
    prompt_id = next((item[k] for k in ("question_id", "prompt_id", "uid") if item.get(k) is not None), None)
    if prompt_id is not None and not isinstance(prompt_id, (str, int)):
        raise refuse("a string or integer question_id/prompt_id/uid")
    prompt = next((item[k] for k in ("instruction", "prompt") if item.get(k) is not None), None)
    if prompt is not None and not isinstance(prompt, str):
        raise refuse("a string instruction/prompt")
    if isinstance(item.get("output"), str):
        texts: tuple[str, ...] = (item["output"],)
    elif isinstance(item.get("text"), str):
        texts = (item["text"],)
    elif "choices" in item:
        texts = _choices(item["choices"], refuse)
    elif "messages" in item:
        asked, answer = _messages(item["messages"], refuse)
        prompt, texts = prompt if prompt is not None else asked, (answer,)
    else:
        raise refuse(
            "the output as a string `output` (AlpacaEval), `text` (Arena), `choices` (Arena-Hard v0.1) "
            "or `messages` (Arena-Hard v2)"
        )
    if prompt_id is None and prompt is None:
        raise refuse("a prompt id (question_id, prompt_id, uid) or the prompt's text (instruction, prompt)")
    generator = next((item[k] for k in ("generator", "model_id", "model") if item.get(k) is not None), None)
    return OutputRecord(
        where,
        None if prompt_id is None else str(prompt_id),
        prompt,
        texts,
        None if generator is None else str(generator),
    )


def _choices(choices: Any, refuse: Any) -> tuple[str, ...]:
    """Arena-Hard's answer: one sample per choice, each a single turn (the answer to a single prompt)."""
    if not isinstance(choices, list) or not choices:
        raise refuse("`choices` as a non-empty list of {turns: [{content}]}")
    texts = []
    for choice in choices:
        turns = choice.get("turns") if isinstance(choice, dict) else None
        if not isinstance(turns, list) or len(turns) != 1:
            raise refuse(
                "each choice with exactly one turn (`turns: [{content}]`; multi-turn answers are not read)"
            )
        content = turns[0].get("content") if isinstance(turns[0], dict) else None
        if not isinstance(content, str):
            raise refuse("a string `content` in each choice's turn")
        texts.append(content)
    return tuple(texts)


def _messages(messages: Any, refuse: Any) -> tuple[str, str]:
    """Arena-Hard v2's answer: (the last user message, the assistant's answer after it); the answer is the
    message's text or its `answer` (reasoning models also store a `reasoning`, which is not played)."""
    if not isinstance(messages, list) or len(messages) < 2 or not all(isinstance(m, dict) for m in messages):
        raise refuse("`messages` as a list of {role, content}, a user message then the assistant's")
    last, before = messages[-1], messages[-2]
    content = last.get("content")
    answer = content.get("answer") if isinstance(content, dict) else content
    if last.get("role") != "assistant" or not isinstance(answer, str):
        raise refuse("the last message from the assistant, its content a string or {answer: string}")
    if before.get("role") != "user" or not isinstance(before.get("content"), str):
        raise refuse("a user message with string content before the assistant's answer")
    return before["content"], answer


def match_outputs(
    records: list[OutputRecord],
    prompts: list[str],
    prompt_ids: dict[str, str],
    n: int,
    *,
    entrant: str,
    path: str,
    key: str,
) -> dict[str, list[Sample]]:
    """`n` samples per tournament prompt from the file's records (see the module's rules); `prompt_ids`
    maps a prompt's text to its id (empty: the prompts have none)."""
    by_id = {prompt_id: prompt for prompt, prompt_id in prompt_ids.items()}
    playing = set(prompts)
    texts: dict[str, list[str]] = {prompt: [] for prompt in prompts}
    for record in records:
        if by_id and record.prompt_id is not None:
            prompt = by_id.get(record.prompt_id)
        elif record.prompt is not None:
            prompt = record.prompt if record.prompt in playing else None
        else:
            raise RecipeKeyError(
                key,
                f"entrant '{entrant}': '{path}' {record.where} names its prompt only by id "
                f"({record.prompt_id}) and the tournament's prompts have no ids (add a prompt_id, "
                "question_id or uid column to the prompts file)",
            )
        if prompt is not None:
            texts[prompt].extend(record.texts)
    missing = [prompt for prompt in prompts if not texts[prompt]]
    if missing:
        shown = ", ".join(_name(p, prompt_ids) for p in missing[:_SHOWN])
        more = f", and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
        raise RecipeKeyError(
            key,
            f"entrant '{entrant}': '{path}' has no output for {len(missing)} of {len(prompts)} prompts "
            f"({shown}{more})",
        )
    uneven = next((p for p in prompts if 1 < len(texts[p]) < n), None)
    if uneven is not None:
        raise RecipeKeyError(
            key,
            f"entrant '{entrant}': '{path}' has {len(texts[uneven])} outputs for prompt "
            f"{_name(uneven, prompt_ids)}: expected 1 (played as every sample) or at least "
            f"samples_per_prompt ({n})",
        )
    return {
        prompt: [
            Sample(prompt, texts[prompt][0 if len(texts[prompt]) == 1 else i], (), 0.0, "stop")
            for i in range(n)
        ]
        for prompt in prompts
    }


def _name(prompt: str, prompt_ids: dict[str, str]) -> str:
    """A prompt as an error line shows it: the start of its text, after its id where it has one."""
    short = " ".join(prompt.split())
    text = repr(short if len(short) <= 40 else short[:37] + "...")
    return f"{prompt_ids[prompt]} {text}" if prompt in prompt_ids else text
