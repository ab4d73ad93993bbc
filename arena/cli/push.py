"""`arena push RUN_OR_BOARD REPO_ID`: upload a run's model (with its card) or a leaderboard to the hub."""

from __future__ import annotations

import click


@click.command(name="push")
@click.argument("source", metavar="RUN_OR_BOARD", type=click.Path(file_okay=False))
@click.argument("repo_id", metavar="REPO_ID")
@click.option(
    "--private", is_flag=True, help="Create the repo private (an existing repo keeps its visibility)."
)
@click.option(
    "--revision",
    default=None,
    metavar="BRANCH",
    help="Commit to this branch (created from main when missing) instead of main.",
)
def push(source: str, repo_id: str, private: bool, revision: str | None) -> None:
    """Upload a run's final/ (model or LoRA adapter, with its card) to a model repo, or a leaderboard
    folder to a dataset repo, on the Hugging Face Hub (HF_ENDPOINT: another hub; HF_TOKEN: the token)."""
    from arena.hub import push as push_to_hub

    result = push_to_hub(source, repo_id, private=private, revision=revision)
    click.echo(
        f"pushed {result.files} files ({result.target.what}) from {result.target.folder} to "
        f"{result.url} ({result.repo_type} repo, revision {result.revision})"
    )
