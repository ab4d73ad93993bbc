"""The plugin reference: every registered algorithm, judge, backend, task and executor, its description and
its `args:` (name, type, what is expected, default, and what it does), read from the plugins themselves.

What an arg does comes from the comment beside its field in the config dataclass (and the class docstring),
so the reference cannot drift from the code: `arena plugins --reference` prints it, `docs/reference.md`
is that output, and a test keeps the two equal. `arena plugins NAME` prints one entry from the same
source (`entry_lines`, `entry_json`).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import textwrap
import tokenize
import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from arena.registry import KINDS, SINGULAR, Entry
from arena.schema import Check, Range, describe

HEADINGS = {kind: kind.capitalize() for kind in KINDS}


@dataclass(frozen=True)
class ArgDoc:
    name: str
    expected: str  # what a value looks like, as recipe errors say it
    default: str  # as JSON ("required" when the recipe must give it)
    comment: str  # the comment beside the field in its dataclass ("" if none)
    type: str = ""  # the field's type as a reader writes it, checks included: `float > 0`

    @property
    def required(self) -> bool:
        return self.default == REQUIRED

    def default_value(self) -> Any:
        """The default as data (None when required or unset); a default JSON cannot hold stays its repr."""
        if self.required:
            return None
        try:
            return json.loads(self.default)
        except ValueError:
            return self.default


REQUIRED = "required"  # never a JSON text, so never mistaken for a default (the string is '"required"')


def field_comments(cls: type) -> dict[str, str]:
    """{field: the `#` comments that document it}: comment-only lines right above its definition, then
    the comments on the lines that define it, from the dataclass's source."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # defined interactively: no source to read
        return {}
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    source_lines = source.splitlines()
    body = ast.parse(source).body[0]
    found: dict[str, str] = {}
    for node in getattr(body, "body", []):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above = []
            line = node.lineno - 1
            while line in comments and source_lines[line - 1].lstrip().startswith("#"):
                above.insert(0, comments[line])
                line -= 1
            beside = [
                comments[n] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1) if n in comments
            ]
            text = " ".join(above + beside)
            if text:
                found[node.target.id] = text
    return found


def _default(field: dataclasses.Field[Any]) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return REQUIRED
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)


def config_docs(cls: type | None) -> list[ArgDoc]:
    """One ArgDoc per field a recipe can set (an empty list for a plugin that takes no args)."""
    if cls is None or not dataclasses.is_dataclass(cls):
        return []
    hints = get_type_hints(cls, include_extras=True)
    comments: dict[str, str] = {}
    for base in reversed(cls.__mro__):  # a subclass's comment on a field wins over its base's
        if dataclasses.is_dataclass(base):
            comments.update(field_comments(base))
    return [
        ArgDoc(
            f.name, describe(hints[f.name]), _default(f), comments.get(f.name, ""), type_text(hints[f.name])
        )
        for f in dataclasses.fields(cls)
        if f.init
    ]


def type_text(hint: Any) -> str:
    """A type as a reader writes it, with its `Annotated` checks: `float > 0`, `int | None`,
    `'shared' | 'separate'`, `str (the name of a task)`."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        text = type_text(args[0])
        for marker in args[1:]:
            if isinstance(marker, Range):
                text += _range_text(marker)
            elif isinstance(marker, Check) and marker.description():
                text += f" ({marker.description()})"
        return text
    if origin in (Union, types.UnionType):
        return " | ".join(type_text(a) for a in args)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if hint is type(None):
        return "None"
    if hint is Any:
        return "any"
    if origin is not None and args:
        inner = ", ".join("..." if a is Ellipsis else type_text(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return getattr(hint, "__name__", str(hint).replace("typing.", ""))


def _range_text(check: Range) -> str:
    if check.low is not None and check.high is not None:
        return f" in {'(' if check.low_open else '['}{check.low:g}, {check.high:g}]"
    if check.low is not None:
        return f" {'>' if check.low_open else '>='} {check.low:g}"
    return f" <= {check.high:g}" if check.high is not None else ""


def config_summary(entry: Entry[Any]) -> str:
    """The config class's docstring on one line ('' when it has none beyond dataclass's own signature)."""
    doc = inspect.getdoc(entry.config) if entry.config is not None else None
    if not doc or doc.startswith(f"{entry.config.__name__}("):
        return ""
    return " ".join(doc.split())


def entry_heading(kind: str, entry: Entry[Any]) -> str:
    return f"{entry.name} ({SINGULAR[kind]}, plugin {entry.plugin})"


def entry_lines(kind: str, entry: Entry[Any]) -> list[str]:
    """One entry as `arena plugins NAME` prints it: heading, description, config docstring, then each arg
    with its type and default on one line and what it does on the next."""
    lines = [entry_heading(kind, entry)]
    lines += [f"  {text}" for text in (entry.description, config_summary(entry)) if text]
    args = config_docs(entry.config)
    if not args:
        return [*lines, "args: none"]
    lines.append("args:")
    for arg in args:
        default = REQUIRED if arg.required else f"default {arg.default}"
        lines.append(f"  {arg.name}: {arg.type}, {default}")
        if arg.comment:
            lines.append(f"      {arg.comment}")
    return lines


def entry_json(kind: str, entry: Entry[Any]) -> dict[str, Any]:
    """`entry_lines` as data: what `arena plugins NAME --json` prints for each entry of that name."""
    return {
        "kind": SINGULAR[kind],
        "name": entry.name,
        "plugin": entry.plugin,
        "description": entry.description,
        "doc": config_summary(entry),
        "args": [
            {
                "name": arg.name,
                "type": arg.type,
                "expected": arg.expected,
                "required": arg.required,
                "default": arg.default_value(),
                "help": arg.comment,
            }
            for arg in config_docs(entry.config)
        ],
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def reference_markdown(host: Any) -> str:
    """The whole reference as markdown, kind by kind, names in order."""
    lines = [
        "# Plugin reference",
        "",
        "Generated by `arena plugins --reference` from the installed plugins (a test keeps this file equal",
        "to that output for the built-in ones). Each object's `args:` go under its name in a recipe; what an",
        "arg does is the comment beside its field in the plugin's config dataclass.",
    ]
    for kind in KINDS:
        entries = list(host.registries[kind])  # sorted by name
        if not entries:
            continue
        lines += ["", f"## {HEADINGS[kind]}"]
        for entry in entries:
            lines += ["", f"### `{entry.name}` ({SINGULAR[kind]}, plugin `{entry.plugin}`)", ""]
            if entry.description:
                lines += [entry.description, ""]
            summary = config_summary(entry)
            if summary:
                lines += [summary, ""]
            args = config_docs(entry.config)
            if not args:
                lines.append("No args.")
                continue
            lines += ["| arg | expected | default | what it does |", "|---|---|---|---|"]
            lines += [
                f"| `{a.name}` | {_cell(a.expected)} | `{_cell(a.default)}` | {_cell(a.comment)} |"
                for a in args
            ]
    return "\n".join(lines) + "\n"
