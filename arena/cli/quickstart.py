"""`arena quickstart`: the embedded default end to end (see arena/quickstart)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="quickstart")
@click.option("--out", default="runs/quickstart", show_default=True, type=click.Path(file_okay=False),
              help="Where the stages write their models, judges and tournaments.")  # fmt: skip
@click.option("--publish-to", default="leaderboards/quickstart", show_default=True,
              type=click.Path(file_okay=False), help="Where the leaderboard is published.")  # fmt: skip
@click.option("--recipes", default=None, type=click.Path(file_okay=False),
              help="The stages' recipes. [default: those installed with Arena, recipes/quickstart in the "
              "repository]")  # fmt: skip
@click.option("--reduced", is_flag=True,
              help="Fewer steps, prompts and samples: the same stages in a minute or two (CI).")  # fmt: skip
@click.option("--backend", type=click.Choice(["vllm", "hf"]), default=None,
              help="The tournaments' generation backend. [default: vllm when installed, else hf]")  # fmt: skip
@click.option("--until", "until", multiple=True, metavar="STAGE",
              help="Stop after this stage (base, sft, ..., tournament, tournament-clones).")  # fmt: skip
@click.option("--seeds", default=None, type=click.IntRange(1, 9), metavar="N",
              help="Training runs per aligned algorithm, each a tournament entrant; the algorithm table's "
              "intervals resample them. [default: 3; 2 with --reduced]")  # fmt: skip
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1),
              help="CPU threads for training and generation. The models are tiny: one thread is about as "
              "fast, and the same thread count reproduces the published leaderboard exactly.")  # fmt: skip
@click.option("--dry-run", is_flag=True,
              help="Validate every stage's recipe and show what a run would do; run nothing.")  # fmt: skip
def quickstart(out: str, publish_to: str, recipes: str | None, reduced: bool, backend: str | None,
               until: tuple[str, ...], seeds: int | None, threads: int, dry_run: bool) -> None:  # fmt: skip
    """Train a tiny reference, its judges and one policy per algorithm; rank them all in a tournament.

    Reruns reuse every stage that finished with the same inputs.
    """
    from arena import console
    from arena.plugins import make_plugin_host
    from arena.quickstart import QuickstartOptions, plan_quickstart, run_quickstart
    from arena.quickstart.plan import default_recipes
    from arena.quickstart.summary import print_summary

    options = QuickstartOptions(
        out=Path(out),
        publish_to=Path(publish_to),
        recipes=Path(recipes) if recipes is not None else default_recipes(),
        reduced=reduced,
        backend=backend,
        until=until,
        seeds=seeds,
    )
    host = make_plugin_host()
    if dry_run:
        rows = [
            [stage.name, file or "(built in)", action]
            for stage, file, action in plan_quickstart(options, host)
        ]
        console.stdout().print(
            console.table("arena quickstart --dry-run", ["stage", "recipe", "would"], rows)
        )
        return
    import torch

    torch.set_num_threads(threads)
    summary = run_quickstart(options, host)
    print_summary(console.stdout(), summary, options)
