"""`arena plugins`: what is installed, what each plugin provides, and which failed to load."""

from __future__ import annotations

import json

import click

from arena.plugins import make_plugin_host
from arena.registry import KINDS


@click.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option("--reference", is_flag=True,
              help="Print every algorithm, judge, backend, task and executor with its args, as markdown.")  # fmt: skip
def plugins(as_json: bool, reference: bool) -> None:
    """List installed plugins and what each provides."""
    host = make_plugin_host()
    if reference:
        from arena.reference import reference_markdown

        click.echo(reference_markdown(host), nl=False)
        return
    if as_json:
        click.echo(json.dumps([info.as_json() for info in host.plugins], indent=2))
        return
    from arena import console

    rows = [
        [
            info.name,
            info.version or "?",
            *(", ".join(info.provides[k]) or "-" for k in KINDS),
            info.error or "",
        ]
        for info in host.plugins
    ]
    columns = ["plugin", "version", *KINDS, "error"]
    console.stdout().print(console.table("Arena plugins", columns, rows))
