"""`arena plugins`: what is installed, what each entry does, one entry's args, and which plugins failed to load."""

from __future__ import annotations

import json
from typing import Any

import click

from arena.errors import ArenaError, did_you_mean
from arena.plugins import PluginHost, PluginInfo, make_plugin_host
from arena.registry import KINDS, SINGULAR, Entry

HINT = "arena plugins NAME shows an entry's args; --reference shows every entry's, as markdown"


@click.command(name="plugins")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--reference", is_flag=True,
              help="Print every algorithm, judge, backend, task and executor with its args, as markdown.")  # fmt: skip
def plugins(name: str | None, as_json: bool, reference: bool) -> None:
    """List installed plugins and what each provides; NAME (an algorithm, judge, backend, task, executor or
    plugin) shows that entry with its args: type, default and what each does."""
    if name is not None and reference:
        raise click.UsageError("--reference prints every entry; give it no NAME")
    host = make_plugin_host()
    if reference:
        from arena.reference import reference_markdown

        click.echo(reference_markdown(host), nl=False)
    elif name is not None:
        _show_one(host, name, as_json)
    elif as_json:
        click.echo(json.dumps([info.as_json() for info in host.plugins], indent=2))
    else:
        _show_all(host)


def _show_all(host: PluginHost) -> None:
    """One table per kind (name, plugin, description), then the plugins with their versions and errors."""
    from arena import console

    out = console.stdout()
    for kind in KINDS:
        rows = [[entry.name, entry.plugin, entry.description] for entry in host.registries[kind]]
        if rows:
            out.print(console.table(kind.capitalize(), ["name", "plugin", "description"], rows))
    rows = [[info.name, info.version or "?", info.error or ""] for info in host.plugins]
    out.print(console.table("Arena plugins", ["plugin", "version", "error"], rows))
    out.print(HINT, markup=False)


def _show_one(host: PluginHost, name: str, as_json: bool) -> None:
    """Every entry called NAME (a name may be taken once per kind), and the plugin called NAME when it
    provides more than those entries."""
    from arena.reference import entry_json, entry_lines

    entries = [(kind, host.registries[kind].get(name)) for kind in KINDS if name in host.registries[kind]]
    plugin = next((info for info in host.plugins if info.name == name), None)
    if (
        entries
        and plugin is not None
        and sorted(_provided(plugin)) == sorted((k, e.name) for k, e in entries)
    ):
        plugin = None  # e.g. plugin `ppo` provides just algorithm `ppo`: already shown
    if not entries and plugin is None:
        known = {info.name for info in host.plugins} | {
            entry.name for kind in KINDS for entry in host.registries[kind]
        }
        raise ArenaError(
            f"unknown plugin, algorithm, judge, backend, task or executor '{name}'"
            f"{did_you_mean(name, known)}; `arena plugins` lists them"
        )
    if as_json:
        document = {
            "name": name,
            "entries": [entry_json(kind, entry) for kind, entry in entries],
            "plugin": plugin.as_json() if plugin is not None else None,
        }
        click.echo(json.dumps(document, indent=2))
        return
    blocks = [entry_lines(kind, entry) for kind, entry in entries]
    if plugin is not None:
        blocks.append(_plugin_lines(host, plugin))
    click.echo("\n\n".join("\n".join(block) for block in blocks))


def _provided(info: PluginInfo) -> list[tuple[str, str]]:
    return [(kind, entry) for kind in KINDS for entry in info.provides[kind]]


def _plugin_lines(host: PluginHost, info: PluginInfo) -> list[str]:
    lines = [f"{info.name} (plugin, version {info.version or '?'})"]
    if info.error:
        lines.append(f"  error: {info.error}")
    for kind, entry_name in _provided(info):
        entry: Entry[Any] = host.registries[kind].get(entry_name)
        lines.append(
            f"  {SINGULAR[kind]} {entry_name}" + (f": {entry.description}" if entry.description else "")
        )
    if not _provided(info):
        lines.append("  provides nothing")
    return lines
