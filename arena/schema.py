"""Typed configuration from plain YAML data: dataclasses in, one-line errors out.

Recipes and plugin `args:` sections are described by dataclasses with ordinary type hints
(str, int, float, bool, Literal, list[...], dict[str, ...], X | None, nested dataclasses) and
`Annotated` checks (`Range`, `PluginName`, `ModelRef`, `DatasetRef`, `ExistingPath`). `convert`
turns a mapping into the dataclass or raises `FieldError(key_path, what_was_expected)`; the recipe
loader adds the file name in front, giving `FILE: key.path: what was expected`.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
import dataclasses
import math
import re
import types
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from arena.errors import did_you_mean


class FieldError(Exception):
    """A value at `key` (dotted path) is not what was expected."""

    def __init__(self, key: str, expected: str) -> None:
        super().__init__(f"{key}: {expected}")
        self.key, self.expected = key, expected


@dataclass(frozen=True)
class Context:
    """What checks may consult: the plugin registries (for names) and the directory paths are relative to."""

    registries: Mapping[str, Any] | None = None
    base_dir: Path = Path(".")


# Directories that earlier stages of a pipeline (e.g. `arena quickstart`) will produce: a ModelRef inside
# one counts as existing, so a whole chain of recipes is validated before its first stage writes anything.
_PRODUCED: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar("produced", default=())


@contextlib.contextmanager
def assume_produced(directories: Iterable[str | Path]) -> Iterator[None]:
    """Within the block, model paths at or under `directories` pass the ModelRef check."""
    token = _PRODUCED.set(tuple(Path(d).expanduser().absolute() for d in directories))
    try:
        yield
    finally:
        _PRODUCED.reset(token)


def _is_produced(path: Path) -> bool:
    path = path.absolute()
    return any(path == d or d in path.parents for d in _PRODUCED.get())


class Check(abc.ABC):
    """An `Annotated` marker: `check(value, key, context)` raises FieldError when the value is wrong."""

    @abc.abstractmethod
    def check(self, value: Any, key: str, context: Context) -> None: ...

    def description(self) -> str:
        """What a valid value is, for "missing required key (...)" messages; '' means the type says it."""
        return ""


@dataclass(frozen=True)
class Range(Check):
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: the value must be strictly greater than `low`

    def check(self, value: Any, key: str, context: Context) -> None:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            relation = ">" if self.low_open else ">="
            raise FieldError(key, f"expected a value {relation} {self.low:g}, got {value!r}")
        if self.high is not None and value > self.high:
            raise FieldError(key, f"expected a value <= {self.high:g}, got {value!r}")


@dataclass(frozen=True)
class PluginName(Check):
    """The name of a registered plugin object of one kind ("algorithms", "judges", ...)."""

    kind: str

    def description(self) -> str:
        from arena.registry import SINGULAR

        singular = SINGULAR.get(self.kind, self.kind)
        return f"the name of an {singular}" if singular[0] in "aeiou" else f"the name of a {singular}"

    def check(self, value: Any, key: str, context: Context) -> None:
        if context.registries is None:
            return
        registry = context.registries[self.kind]
        if value not in registry:
            known = ", ".join(registry.names()) or "none installed"
            raise FieldError(
                key,
                f"unknown {registry.singular} '{value}'{did_you_mean(value, registry.names())}; "
                f"expected one of: {known}",
            )


# A hub id is "name" or "owner/name" (letters, digits, '-', '_', '.'), never starting with '.' or '/'.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")

# What `from_pretrained` reads from a local model directory. Weights may be sharded (an index and its
# shards); a tokenizer is any of the files transformers builds one from (a byte-level one needs only its
# config).
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer_config.json",
)


def model_directory_problem(directory: Path) -> str | None:
    """Why an existing directory is not a Hugging Face model directory (config, weights, tokenizer), or None.

    Only file names are looked at (no torch, no parsing of weights), so recipes validate in a blink; a
    directory that passes and still cannot load fails at load time with transformers' reason.
    """
    if (directory / "adapter_config.json").is_file() and not (directory / "config.json").is_file():
        return _adapter_directory_problem(directory)  # a LoRA adapter: its base is named inside
    if not (directory / "config.json").is_file():
        return "no config.json"
    names = {p.name for p in directory.iterdir() if p.is_file()}
    if not names.intersection(WEIGHT_FILES) and not any(n.endswith(".safetensors") for n in names):
        return "no weights (model.safetensors or pytorch_model.bin)"
    if not names.intersection(TOKENIZER_FILES):
        return "no tokenizer (tokenizer.json, tokenizer.model or vocab.json)"
    return None


def _adapter_directory_problem(directory: Path) -> str | None:
    """Why a directory with adapter_config.json is not a LoRA adapter peft loads (weights and tokenizer)."""
    names = {p.name for p in directory.iterdir() if p.is_file()}
    if not names.intersection({"adapter_model.safetensors", "adapter_model.bin"}):
        return "adapter_config.json but no adapter weights (adapter_model.safetensors)"
    if not names.intersection(TOKENIZER_FILES):
        return "no tokenizer (tokenizer.json, tokenizer.model or vocab.json)"
    return None


@dataclass(frozen=True)
class ModelRef(Check):
    """A local Hugging Face model directory, or a hub id. A path that looks local must exist and hold a
    model (config.json, weights and a tokenizer); hub ids are checked when the model loads.

    "models/tiny" is ambiguous; it counts as local when `models/` exists here, as a hub id otherwise
    (the same reading `from_pretrained` makes).
    """

    what: str = "model directory"
    allow_file: bool = False
    local_suffixes: tuple[str, ...] = ()  # a name ending so is a local file, never a hub id
    model_files: bool = True  # an existing directory must hold a model (False: any data directory)
    run_directory: bool = False  # also a training run's output directory, standing for its `final/`

    def description(self) -> str:
        return f"a {self.what} or a hub id"

    def check(self, value: Any, key: str, context: Context) -> None:
        if not value:
            raise FieldError(key, f"expected a {self.what} or a hub id, got ''")
        path = context.base_dir / Path(value).expanduser()
        if _is_produced(path) or (self.run_directory and _is_produced(path / "final")):
            return
        if path.exists():
            if path.is_file() and not self.allow_file:
                raise FieldError(key, f"expected a {self.what}, got the file '{value}'")
            if path.is_dir() and self.model_files:
                self._check_model_files(path, value, key)
            return
        looks_local = (
            not _HUB_ID.match(value)
            or value.lower().endswith(self.local_suffixes)
            or (path.parent != context.base_dir and path.parent.exists())
        )
        if looks_local:
            raise FieldError(key, f"no such {self.what} '{value}' (nor a hub id)")

    def _check_model_files(self, path: Path, value: str, key: str) -> None:
        problem = model_directory_problem(path)
        if problem is None:
            return
        if self.run_directory and (path / "final").is_dir():
            if model_directory_problem(path / "final") is None:
                return
            value, problem = f"{value}/final", model_directory_problem(path / "final")
        expected = "config.json, weights and a tokenizer"
        raise FieldError(key, f"expected a {self.what} ({expected}); '{value}' has {problem}")


def DatasetRef() -> ModelRef:  # noqa: N802 - reads like the other markers
    """A local data file or directory, or a hub dataset id."""
    return ModelRef(
        what="data file or directory",
        allow_file=True,
        model_files=False,
        local_suffixes=(".json", ".jsonl", ".csv", ".parquet", ".txt", ".arrow"),
    )


@dataclass(frozen=True)
class ExistingPath(Check):
    def check(self, value: Any, key: str, context: Context) -> None:
        if not (context.base_dir / Path(value).expanduser()).exists():
            raise FieldError(key, f"no such file or directory '{value}'")


def convert(value: Any, hint: Any, key: str = "", context: Context | None = None) -> Any:
    """Check `value` against the type `hint` and return it converted (mappings become dataclasses)."""
    context = context or Context()
    origin, args = get_origin(hint), get_args(hint)

    if origin is Annotated:
        result = convert(value, args[0], key, context)
        if result is not None:
            for marker in args[1:]:
                if isinstance(marker, Check):
                    marker.check(result, key, context)
        return result
    if hint is Any or hint is object:
        return value
    if origin in (Union, types.UnionType):
        options = [option for option in args if option is not type(None)]
        if value is None:
            if len(options) < len(args):
                return None
            raise FieldError(key, f"expected {describe(hint)}, got nothing")
        if len(options) == 1:
            return convert(value, options[0], key, context)
        errors: list[FieldError] = []
        for option in options:
            try:
                return convert(value, option, key, context)
            except FieldError as exc:
                errors.append(exc)
        # An option that matched the value's shape and failed deeper inside tells the user more.
        for exc in errors:
            if exc.key != key:
                raise exc
        raise FieldError(key, f"expected {describe(hint)}, got {_show(value)}")
    if origin is Literal:
        if any(value == choice and type(value) is type(choice) for choice in args):
            return value
        choices = ", ".join(repr(choice) for choice in args)
        hint_text = did_you_mean(value, [str(a) for a in args]) if isinstance(value, str) else ""
        raise FieldError(key, f"expected one of {choices}, got {_show(value)}{hint_text}")
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _convert_dataclass(value, hint, key, context)
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, list):
            raise FieldError(key, f"expected {describe(hint)}, got {_show(value)}")
        item_hint = args[0] if args else Any
        items = [convert(item, item_hint, _join(key, str(i)), context) for i, item in enumerate(value)]
        return tuple(items) if (origin or hint) is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise FieldError(key, f"expected {describe(hint)}, got {_show(value)}")
        value_hint = args[1] if len(args) == 2 else Any
        return {str(k): convert(v, value_hint, _join(key, str(k)), context) for k, v in value.items()}
    return _convert_scalar(value, hint, key)


def _convert_scalar(value: Any, hint: Any, key: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value):
                return float(value)
        # YAML 1.1 reads "1e-4" (no dot) as a string; accept what Python reads as a finite number.
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                if math.isfinite(number):
                    return number
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"schema: unsupported type hint {hint!r} at {key!r}")
    raise FieldError(key, f"expected {describe(hint)}, got {_show(value)}")


def _convert_dataclass(value: Any, cls: type, key: str, context: Context) -> Any:
    shorthand = getattr(cls, "__shorthand__", None)
    if shorthand is not None and isinstance(value, str):
        value = {shorthand: value}
    if not isinstance(value, Mapping):
        raise FieldError(key, f"expected {describe(cls)}, got {_show(value)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    moved: Mapping[str, str] = getattr(cls, "__moved__", {})  # keys an earlier version read elsewhere
    for name in value:
        if name in moved:
            raise FieldError(_join(key, str(name)), f"unknown key (it moved: write {moved[name]})")
        if name not in fields:
            raise FieldError(_join(key, str(name)), f"unknown key{did_you_mean(str(name), fields)}")
    hints = get_type_hints(cls, include_extras=True)
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name in value:
            values[name] = convert(value[name], hints[name], _join(key, name), context)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise FieldError(_join(key, name), f"missing required key ({describe(hints[name])})")
    result = cls(**values)
    cross_check = getattr(result, "check", None)
    if callable(cross_check):
        problem = cross_check()
        if problem is not None:
            sub_key, expected = problem
            raise FieldError(_join(key, sub_key), expected)
    return result


def describe(hint: Any) -> str:
    """What a value of this type looks like, for error messages."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        for marker in args[1:]:
            if isinstance(marker, Check) and marker.description():
                return marker.description()
        return describe(args[0])
    if origin in (Union, types.UnionType):
        options = [describe(a) for a in args if a is not type(None)]
        return " or ".join(options) + (" or nothing" if type(None) in args and not options else "")
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if dataclasses.is_dataclass(hint):
        shorthand = getattr(hint, "__shorthand__", None)
        return "a mapping" + (" or a name" if shorthand else "")
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in names:
        return names[hint]
    if origin in (list, tuple) or hint in (list, tuple):
        return "a list"
    if origin is dict or hint is dict:
        return "a mapping"
    return "a value"


def to_plain(value: Any) -> Any:
    """Dataclasses (and tuples) back to plain YAML-able data, for saving resolved recipes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = [
    "Check",
    "Context",
    "DatasetRef",
    "ExistingPath",
    "FieldError",
    "ModelRef",
    "PluginName",
    "TOKENIZER_FILES",
    "WEIGHT_FILES",
    "Range",
    "convert",
    "describe",
    "model_directory_problem",
    "to_plain",
]
