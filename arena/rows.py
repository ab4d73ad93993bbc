"""Rows: what a recipe says about the rows it reads, and the one loader that reads them.

A train or judge recipe's `data:` (`DataSettings`) and a tournament's `prompts:` (`PromptSet`) share a base,
`RowSource`: a local file, a saved dataset directory or a hub id, read through `datasets`. Both are read
here and only here (`load_rows`, `prompt_texts`); training tokenises the rows (arena/training/data.py), a
tournament keeps each prompt once (arena/tournament/inputs.py). Nothing here imports torch, and `datasets`
only when rows are read.

A cell that is a list of `{role, content}` messages (TRL's conversational format) is read as a
`Conversation`: validated here, never turned into text; training applies the tokenizer's chat template to
it (arena/training/data.py). A conversation that has to travel as text (a tournament's or an online run's
prompt) is its canonical JSON, which `as_conversation` reads back; judges read `plain_text`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from arena.errors import RecipeKeyError
from arena.schema import DatasetRef, Range

# `datasets` builder of each local file type (a file is one split, "train").
_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}
# Columns that hold text or a conversation; in one row they are all text or all conversations.
TEXT_COLUMNS = ("prompt", "chosen", "rejected", "completion")
MESSAGES = "a list of {role, content} messages"


@dataclass(frozen=True)
class Message:
    role: str
    content: str


class Conversation(tuple[Message, ...]):
    """Messages in order, hashable (rows are grouped by prompt). `str()` is the canonical JSON, the form in
    which a conversation travels where text is expected (a tournament's prompts, an online run's)."""

    def messages(self) -> list[dict[str, str]]:
        """As `apply_chat_template` takes them."""
        return [{"role": m.role, "content": m.content} for m in self]

    def __str__(self) -> str:
        return json.dumps(self.messages(), ensure_ascii=False)

    def __repr__(self) -> str:
        return f"Conversation({self.messages()!r})"

    def __add__(self, other: tuple[Message, ...]) -> Conversation:  # type: ignore[override]
        return Conversation(tuple(self) + tuple(other))


def conversation_problem(value: Any) -> str | None:
    """Why `value` is not a conversation (a non-empty list of {role, content} messages with text in both;
    other keys only when empty, as `datasets` fills the union of keys), or None when it is one."""
    if not isinstance(value, (list, tuple)) or not value:
        return f"expected {MESSAGES}, got {_shown(value)}"
    for index, message in enumerate(value):
        if isinstance(message, Message):
            continue
        if not isinstance(message, dict):
            return f"expected {MESSAGES}, message {index} is {_shown(message)}"
        for name in ("role", "content"):
            if not isinstance(message.get(name), str):
                return f"expected {MESSAGES}, message {index} has {name} {_shown(message.get(name))}"
        if not message["role"]:
            return f"expected {MESSAGES}, message {index} has an empty role"
        extra = sorted(k for k, v in message.items() if k not in ("role", "content") and v is not None)
        if extra:
            return f"expected {MESSAGES}, message {index} also has {', '.join(map(str, extra))}"
    return None


def to_conversation(value: Any, where: str) -> Conversation:
    """`value` as a Conversation; a RecipeKeyError naming `where` (file, row, column) when it is not one."""
    if isinstance(value, Conversation):
        return value
    problem = conversation_problem(value)
    if problem is not None:
        raise RecipeKeyError(where, problem)
    return Conversation(m if isinstance(m, Message) else Message(m["role"], m["content"]) for m in value)


def as_conversation(value: Any) -> Conversation | None:
    """The conversation a prompt stands for: a Conversation, or text that is a JSON list of messages (how
    one travels as text; also how a .txt prompt file writes one); None for any other prompt."""
    if isinstance(value, Conversation):
        return value
    if not isinstance(value, str) or not value.lstrip().startswith("["):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return None if conversation_problem(parsed) else to_conversation(parsed, "")


def plain_text(value: Any) -> str:
    """What a judge reads: text as it is; a conversation as `Role: content` blocks, except that assistant
    turns alone (a response) are just their contents. Judges' inputs are text, so every judge reads this
    one rendering, whatever its own tokenizer (see docs/training.md)."""
    conversation = as_conversation(value)
    if conversation is None:
        return str(value)
    if all(m.role == "assistant" for m in conversation):
        return "\n\n".join(m.content for m in conversation)
    return "\n\n".join(f"{m.role.capitalize()}: {m.content}" for m in conversation)


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


@dataclass
class RowSource:
    """Rows through `datasets`: a local file (json, jsonl, csv, parquet), a saved dataset directory or a hub id."""

    __shorthand__ = "path"  # `data: pairs.jsonl` is short for `data: {path: pairs.jsonl}`
    path: Annotated[str, DatasetRef()]


@dataclass
class DataSettings(RowSource):
    """Training data through `datasets`: a local file (json, jsonl, csv, parquet), a directory or a hub id."""

    split: str = "train"
    columns: dict[str, str] = field(
        default_factory=dict
    )  # rename: {column the algorithm reads: column in the file}
    limit: Annotated[int, Range(0, low_open=True)] | None = (
        None  # the first `limit` rows (before eval_fraction)
    )
    # A seeded share of the distinct prompts (every row of each) held out of training and evaluated on.
    eval_fraction: Annotated[float, Range(0, 0.9)] = 0.0


@dataclass
class PromptSet(RowSource):
    """A tournament's prompts: one column of a data source, or a .txt file with one prompt per line."""

    column: str = "prompt"
    split: str = "train"
    limit: Annotated[int, Range(0, low_open=True)] | None = None  # the first `limit` distinct prompts

    def check(self) -> tuple[str, str] | None:
        if self.path.lower().endswith(".txt"):  # one prompt per line: no columns, one split
            if self.column != "prompt":
                return "column", "expected no column for a .txt file (it holds one prompt per line)"
            if self.split != "train":
                return "split", "expected no split for a .txt file (it holds one prompt per line)"
        return None


def load_rows(
    data: DataSettings,
    columns: Sequence[str],
    key: str = "data",
    optional: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Rows with the columns a run reads, named as it reads them (after `data.columns` renames).

    `columns` must be there; `optional` ones (e.g. a pair's `label`) are kept when they are. Every rename
    must name a column the run reads and a column the file has: a rename that matched nothing would
    otherwise leave the run reading a same-named column of the file instead. `key` is where the recipe
    names this data, for error messages (`data`, `prompts`).
    """
    table = _load_table(data, key)
    available = list(table.column_names)
    readable = [*columns, *optional]
    listing = f"(columns: {', '.join(available)})"
    for target, source in data.columns.items():
        if target not in readable:
            raise RecipeKeyError(
                f"{key}.columns.{target}",
                f"expected one of the columns this run reads ({', '.join(readable)}), got '{target}'",
            )
        if source not in available:
            raise RecipeKeyError(
                f"{key}.columns.{target}", f"column '{source}' not in '{data.path}' {listing}"
            )
    implicit = _implicit_prompt_allowed(data, columns, available)
    for column in columns:
        source = data.columns.get(column, column)
        if source not in available and not (column == "prompt" and implicit):
            raise RecipeKeyError(
                f"{key}.columns.{column}" if key == "data" else f"{key}.column",
                f"column '{source}' not in '{data.path}' {listing}",
            )
    sources = {target: data.columns.get(target, target) for target in readable}
    sources = {target: source for target, source in sources.items() if source in available}
    if data.limit is not None:
        table = table.select(range(min(data.limit, len(table))))
    table = table.select_columns(list(dict.fromkeys(sources.values())))
    rows = [{target: row[source] for target, source in sources.items()} for row in table]
    if not rows:
        raise RecipeKeyError(f"{key}.path", f"'{data.path}' has no rows")
    rows = [_read_conversations(row, index, data.path, sources, key) for index, row in enumerate(rows)]
    if (
        implicit
        and "prompt" not in sources
        and not all(isinstance(row["chosen"], Conversation) for row in rows)
    ):  # text pairs cannot carry their prompt: the column is missing, as for any other
        raise RecipeKeyError(
            f"{key}.columns.prompt",
            f"column '{data.columns.get('prompt', 'prompt')}' not in '{data.path}' {listing}",
        )
    if implicit:
        for index, row in enumerate(rows):
            _take_shared_turns(row, f"'{data.path}' row {index + 1}", key)
    return rows


def _implicit_prompt_allowed(data: DataSettings, columns: Sequence[str], available: list[str]) -> bool:
    """Pairs whose chosen and rejected may carry the prompt's turns themselves (TRL's implicit prompt;
    ultrafeedback_binarized's layout): read without a prompt column, or with one that is the user's text."""
    wanted = {"prompt", "chosen", "rejected"}
    sources = {column: data.columns.get(column, column) for column in wanted}
    return wanted <= set(columns) and all(sources[c] in available for c in ("chosen", "rejected"))


def _take_shared_turns(row: dict[str, Any], where: str, key: str) -> None:
    """Move the messages chosen and rejected begin with in common into the prompt, when they begin with
    the conversation rather than the answer. A text prompt beside them must be the last user turn's text
    (it is then replaced by the whole conversation); a prompt of messages is left as it is."""
    chosen, rejected, prompt = row["chosen"], row["rejected"], row.get("prompt")
    if not isinstance(chosen, Conversation) or isinstance(prompt, Conversation):
        return  # text pairs (a missing prompt column is refused before), or the explicit layout
    if chosen[0].role == "assistant" and prompt is not None:
        return  # the explicit layout, which _read_conversations has already refused when mixed
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    if shared == 0 or shared in (len(chosen), len(rejected)):
        raise RecipeKeyError(
            key,
            f"{where}: expected chosen and rejected to begin with the same prompt turns and then "
            f"differ (they share {shared} of {len(chosen)} and {len(rejected)} messages)",
        )
    turns = Conversation(chosen[:shared])
    users = [m.content for m in turns if m.role == "user"]
    if prompt is not None and (not users or users[-1] != prompt):
        raise RecipeKeyError(
            key,
            f"{where}: expected the text prompt to be the last user turn that chosen and rejected "
            f"begin with, got {_shown(prompt)}",
        )
    row["prompt"], row["chosen"], row["rejected"] = turns, chosen[shared:], rejected[shared:]


def _read_conversations(
    row: dict[str, Any], index: int, path: str, sources: dict[str, str], key: str
) -> dict[str, Any]:
    """The row with every list cell read as a Conversation (checked); the text columns of one row must be
    all text or all conversations (a template cannot join a conversation to plain text)."""
    kinds: dict[str, bool] = {}
    for column, value in row.items():
        if isinstance(value, (list, dict)):
            where = f"'{path}' row {index + 1}, column '{sources[column]}'"
            if isinstance(value, dict):
                raise RecipeKeyError(key, f"{where}: expected text or {MESSAGES}, got {_shown(value)}")
            problem = conversation_problem(value)
            if problem is not None:
                raise RecipeKeyError(key, f"{where}: {problem}")
            row[column] = to_conversation(value, where)
        if column in TEXT_COLUMNS:
            kinds[column] = isinstance(row[column], Conversation)
    text_prompt_and_turns = kinds.get("prompt") is False and all(
        isinstance(row.get(c), Conversation) and row[c][0].role != "assistant" for c in ("chosen", "rejected")
    )
    if len(set(kinds.values())) > 1 and not text_prompt_and_turns:
        messages = [sources[c] for c, is_chat in kinds.items() if is_chat]
        text = [sources[c] for c, is_chat in kinds.items() if not is_chat]
        raise RecipeKeyError(
            key,
            f"'{path}' row {index + 1}: expected every one of {', '.join(sources[c] for c in kinds)} as "
            f"{MESSAGES} or every one as text, got messages in {', '.join(messages)} and text in "
            f"{', '.join(text)}",
        )
    return row


def prompt_texts(prompts: PromptSet) -> list[str]:
    """Every prompt of the set as written, blank and repeated ones included (the tournament keeps each
    prompt once and counts `limit` over those, so no row limit applies here)."""
    path = Path(prompts.path).expanduser()
    if path.is_file() and path.suffix == ".txt":
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    # The set's column read as data with no renames: a missing column is refused as `prompts.column`.
    rows = load_rows(DataSettings(prompts.path, split=prompts.split), [prompts.column], key="prompts")
    # A conversation becomes its canonical JSON: the tournament keeps prompts as text, and the policy's
    # encode_prompts reads it back and applies the chat template.
    return [str(row[prompts.column]) for row in rows]


def _load_table(data: DataSettings, key: str) -> Any:
    """The split `data.split` of a local file, a saved dataset or a hub dataset, as a `datasets.Dataset`."""
    import datasets

    datasets.disable_progress_bars()
    path = Path(data.path).expanduser()
    try:
        if path.is_file():
            builder = _BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise RecipeKeyError(
                    f"{key}.path",
                    f"expected a .jsonl, .json, .csv or .parquet file, got '{data.path}'",
                )
            # A file is one split, "train"; slices of it ("train[:80%]") read as they do on the hub.
            return datasets.load_dataset(builder, data_files=str(path), split=data.split)
        if path.is_dir() and (path / "dataset_dict.json").exists():  # save_to_disk of several splits
            splits = datasets.load_from_disk(str(path))
            if data.split not in splits:
                raise RecipeKeyError(
                    f"{key}.split",
                    f"expected one of the splits of '{data.path}' ({', '.join(splits)}), got '{data.split}'",
                )
            return splits[data.split]
        if path.is_dir() and (path / "dataset_info.json").exists():  # save_to_disk of one dataset
            if data.split != "train":
                raise RecipeKeyError(
                    f"{key}.split",
                    f"expected 'train': '{data.path}' is one saved dataset without splits, "
                    f"got '{data.split}'",
                )
            return datasets.load_from_disk(str(path))
        return datasets.load_dataset(data.path, split=data.split)
    except RecipeKeyError:
        raise
    except Exception as exc:  # datasets raises many types for unreadable data
        reason = " ".join(str(exc).split())[:200]
        where = "split" if "split" in reason.lower() else "path"
        raise RecipeKeyError(
            f"{key}.{where}", f"cannot read '{data.path}' (split '{data.split}'): {reason}"
        ) from None


def split_by_prompt(
    rows: list[dict[str, Any]], fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training rows, held-out rows): every row of a seeded `fraction` of the distinct prompts is held
    out (at least one prompt when fraction > 0), so that no held-out prompt is ever trained on."""
    if fraction <= 0:
        return rows, []
    prompts = list(dict.fromkeys(str(row["prompt"]) for row in rows))
    if len(prompts) < 2:
        raise RecipeKeyError(
            "data.eval_fraction",
            f"expected data with at least 2 distinct prompts to hold some out, got {len(prompts)}",
        )
    count = min(len(prompts) - 1, max(1, round(fraction * len(prompts))))
    held_out = set(random.Random(seed).sample(prompts, count))
    return (
        [r for r in rows if str(r["prompt"]) not in held_out],
        [r for r in rows if str(r["prompt"]) in held_out],
    )


__all__ = [
    "Conversation",
    "DataSettings",
    "Message",
    "PromptSet",
    "RowSource",
    "as_conversation",
    "conversation_problem",
    "load_rows",
    "plain_text",
    "prompt_texts",
    "split_by_prompt",
    "to_conversation",
]
