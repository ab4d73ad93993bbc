"""The `arena` command. Subcommands are imported only when run, so `arena --help` never imports torch."""

from __future__ import annotations

import importlib
from typing import Any

import click

from arena import __version__
from arena.errors import ArenaError

# name -> "module:attribute". One module per command; later commands are added here.
COMMANDS: dict[str, str] = {
    "init-model": "arena.cli.init_model:init_model",
    "leaderboard": "arena.cli.leaderboard:leaderboard",
    "plot": "arena.cli.plot:plot",
    "plugins": "arena.cli.plugins:plugins",
    "push": "arena.cli.push:push",
    "quickstart": "arena.cli.quickstart:quickstart",
    "recipes": "arena.cli.recipes:recipes",
    "tournament": "arena.cli.tournament:tournament",
    "train": "arena.cli.train:train",
}

# One-line help shown by `arena --help` without importing the command's module.
SHORT_HELP: dict[str, str] = {
    "init-model": "Build a tiny model (tokenizer trained on a corpus, random Llama).",
    "leaderboard": "Rank models from match results: Nash averaging beside Elo with confidence intervals.",
    "plot": "Draw training curves (loss, KL, reward, a game's known answer) from runs as PNGs.",
    "plugins": "List installed plugins and what each provides.",
    "push": "Upload a run's model (with its card) or a leaderboard folder to the Hugging Face Hub.",
    "quickstart": "Train a reference, its judges and one policy per algorithm; rank them all.",
    "recipes": "Validate recipes and show them resolved.",
    "tournament": "Run a round-robin tournament and publish its Nash leaderboard.",
    "train": "Train a policy (DPO, IPO, SFT, ...) or a judge from a recipe.",
}


class LazyGroup(click.Group):
    """Imports a subcommand's module on use; turns ArenaError into one line on stderr and exit code 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        return getattr(importlib.import_module(module_name), attribute)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ArenaError as exc:
            from arena.console import error_line

            error_line(str(exc))
            ctx.exit(exc.exit_code)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The listing uses SHORT_HELP so that `arena --help` imports no command module.
        rows = [(name, SHORT_HELP.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from arena.plugins import make_plugin_host

    host = make_plugin_host()
    click.echo(f"arena {__version__}")
    loaded = [f"{p.name} {p.version or '?'}" + (" (error)" if p.error else "") for p in host.plugins]
    click.echo("plugins: " + (", ".join(loaded) if loaded else "none"))
    ctx.exit(0)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and the installed plugins, then exit.",
)
def cli() -> None:
    """Arena: align and evaluate language models; rank them with Nash-equilibrium leaderboards."""


def main() -> None:
    cli(prog_name="arena")
