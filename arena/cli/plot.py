"""`arena plot RUN...`: training curves (loss, KL, reward, learning rate; a game's action probabilities and
exploitability against the known answer) as PNGs beside each run's metrics.jsonl, or in --out."""

from __future__ import annotations

import click


@click.command(name="plot")
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
@click.option("--out", default=None, metavar="DIR",
              help="Folder for the PNGs (default: the run's folder; required to compare several runs).")  # fmt: skip
def plot(runs: tuple[str, ...], out: str | None) -> None:
    """Draw training curves from runs' metrics.jsonl (and summary.json) as PNGs.

    RUN is a folder `arena train` wrote (runs/NAME) or its metrics.jsonl. One run: loss.png, kl.png,
    reward.png, learning_rate.png, and for games action_probs.png (or move_probs.png) with the known
    answer pi*_tau dashed, and exploitability.png, each drawn when the run logged it, beside its
    metrics.jsonl. Several runs: each figure compares them, in --out.
    """
    from arena.plots import plot_runs

    written = plot_runs(list(runs), out)
    click.echo(f"Wrote {len(written)} figures to {written[0].parent}/: {', '.join(p.name for p in written)}")
