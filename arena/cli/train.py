"""`arena train RECIPE`: train a policy (a `train` recipe) or a judge (a `judge` recipe)."""

from __future__ import annotations

import os

import click

from arena.cli.options import overrides_option


@click.command(name="train")
@click.argument("recipe", type=click.Path(dir_okay=False))
@overrides_option
@click.option("--resume", is_flag=True, help="Continue from the latest checkpoint in the output directory.")
@click.option(
    "--launcher",
    type=click.Choice(["none", "accelerate"]),
    default="none",
    show_default=True,
    help="accelerate: run this command again under `accelerate launch` (data parallel, FSDP2, DeepSpeed).",
)
@click.option(
    "--num-processes", type=click.IntRange(1), default=None, help="With --launcher accelerate: processes."
)
@click.option(
    "--accelerate-config",
    type=str,
    default=None,
    metavar="FILE",
    help="With --launcher accelerate: an accelerate config (examples in recipes/accelerate/).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Load nothing heavy: print the run's memory plan (parameters, gradients, optimizer, activations).",
)
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: the plan as JSON.")
@click.option(
    "--gpu-memory",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="GIB",
    help="With --dry-run: the memory of one GPU the plan is checked against (default: 80).",
)
@click.option(
    "--length",
    type=click.IntRange(2),
    default=None,
    help="With --dry-run: tokens per sequence to plan for (default: training.max_length).",
)
def train(
    recipe: str,
    overrides: tuple[str, ...],
    resume: bool,
    launcher: str,
    num_processes: int | None,
    accelerate_config: str | None,
    dry_run: bool,
    as_json: bool,
    gpu_memory: float | None,
    length: int | None,
) -> None:
    """Train a policy or a judge from a recipe."""
    from arena.errors import ArenaError, recipe_errors
    from arena.plugins import make_plugin_host
    from arena.recipes import JudgeRecipe, TrainRecipe, load_recipe, output_dir

    if launcher == "none" and (num_processes or accelerate_config):
        raise ArenaError("--num-processes and --accelerate-config need --launcher accelerate")
    if not dry_run and (as_json or gpu_memory is not None or length is not None):
        raise ArenaError("--json, --gpu-memory and --length need --dry-run")
    host = make_plugin_host()
    parsed = load_recipe(recipe, overrides, registries=host.registries)
    if not isinstance(parsed, (TrainRecipe, JudgeRecipe)):
        from arena.errors import RecipeError

        raise RecipeError(
            recipe, "kind", f"`arena train` runs train and judge recipes; this is a {parsed.kind} recipe"
        )
    if dry_run:
        _print_memory_plan(parsed, recipe, host, 80.0 if gpu_memory is None else gpu_memory, length, as_json)
        return
    if launcher == "accelerate":  # the recipe was checked here; each process reads it again
        from arena.training.launch import accelerate_command, launch_processes, relaunch
        from arena.training.loop import check_output, micro_batch_size

        processes = launch_processes(num_processes, accelerate_config)
        with recipe_errors(recipe):
            micro_batch_size(parsed, processes)  # one line here rather than one per process
        check_output(output_dir(parsed), resume, recipe)
        train_args = [recipe, *(f"--set={o}" for o in overrides), *(["--resume"] if resume else [])]
        raise SystemExit(relaunch(accelerate_command(train_args, processes, accelerate_config)))
    from arena.training.loop import train as run_training

    try:
        summary = run_training(parsed, recipe, host, resume=resume)
    finally:
        _close_process_group()
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun or accelerate, one line for the whole run
        return
    final = summary["final"]
    shown = [f"{k} {v:.4g}" for k, v in final.items() if isinstance(v, float) and k in ("loss", "accuracy")]
    held_out = summary.get("eval")  # data.eval_fraction (or a task's eval pairs): the held-out metrics
    if held_out:
        labels = {"accuracy": "accuracy", "log_loss": "log-loss", "loss": "loss"}
        parts = [f"{label} {held_out[key]:.4g}" for key, label in labels.items() if key in held_out]
        shown.append("held-out " + ", ".join(parts))
    what = "judge" if isinstance(parsed, JudgeRecipe) else "model"
    click.echo(
        f"{parsed.name}: {summary['steps']} steps, {', '.join(shown)}; {what} in {output_dir(parsed) / 'final'}"
    )


def _print_memory_plan(
    parsed: object, recipe: str, host: object, gpu_memory: float, length: int | None, as_json: bool
) -> None:
    """`--dry-run`: the algorithm and task (or the judge) are checked as a run would (no model loads),
    then the plan."""
    import json

    from arena import console
    from arena.errors import recipe_errors
    from arena.recipes import JudgeRecipe
    from arena.training.memory import plan_memory
    from arena.training.objective import check_train_plugins, check_trainable

    with recipe_errors(recipe):
        if isinstance(parsed, JudgeRecipe):  # pairs, two rows each, and no reference
            check_trainable(parsed, host)
            data, needs_reference = "pairs", False
        else:
            algorithm, _ = check_train_plugins(parsed, host)
            data, needs_reference = algorithm.data, algorithm.needs_reference
        plan = plan_memory(parsed, data, needs_reference, gpu_memory_gib=gpu_memory, length=length)
    if as_json:
        click.echo(json.dumps(plan.to_json(), indent=2))
        return
    title = f"{parsed.name}: memory plan of one process, {plan.model} (GiB)"
    columns = ["what", "", "checkpointing off", "checkpointing on"]
    console.stdout().print(console.table(title, columns, plan.rows_for_table()))
    chosen = "on" if plan.checkpointing else "off"
    verdict = "fits" if plan.fits() else "does not fit"
    click.echo(
        f"training.gradient_checkpointing resolves to {chosen}: the run {verdict} in {gpu_memory:g} GiB "
        f"(peak {plan.total(plan.checkpointing) / 1024**3:.2f} GiB)"
    )


def _close_process_group() -> None:
    """Under torchrun, leave the process group before exiting: a gloo group left to the interpreter's exit
    can abort a rank ("terminate called without an active exception") after the run has succeeded."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
