"""`arena init-model`: a tiny model (tokenizer trained on a corpus, random Llama) for tests and demos."""

from __future__ import annotations

import click


@click.command(name="init-model")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--corpus",
    required=True,
    type=click.Path(dir_okay=False),
    help="UTF-8 text file; its lines train the byte-level BPE tokenizer.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the random weights.")
@click.option("--vocab-size", default=512, show_default=True, help="Tokenizer vocabulary (at most).")
@click.option("--hidden-size", default=64, show_default=True)
@click.option("--layers", default=2, show_default=True)
@click.option("--heads", default=2, show_default=True, help="hidden-size / heads must be >= 32.")
@click.option("--intermediate-size", default=128, show_default=True)
@click.option("--max-positions", default=512, show_default=True)
@click.option(
    "--chat-template",
    "chat_template",
    default=None,
    type=click.Path(dir_okay=False),
    help="A Jinja chat template file: the tokenizer becomes a chat model's (vllm serve, chat data).",
)
@click.option("--force", is_flag=True, help="Replace DIRECTORY if it holds files.")
def init_model(
    directory: str,
    corpus: str,
    seed: int,
    vocab_size: int,
    hidden_size: int,
    layers: int,
    heads: int,
    intermediate_size: int,
    max_positions: int,
    chat_template: str | None,
    force: bool,
) -> None:
    """Build a tiny model: a BPE tokenizer trained on CORPUS and a random Llama, saved to DIRECTORY."""
    from pathlib import Path

    from arena.errors import ArenaError

    # Imported here: `arena --help` must not import torch.
    from arena.tiny import TinyModelSpec, build_tiny_model, read_corpus

    target = Path(directory)
    if target.is_dir() and any(target.iterdir()) and not force:
        raise ArenaError(f"'{directory}' already exists and is not empty (pass --force to replace it)")

    spec = TinyModelSpec(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        layers=layers,
        heads=heads,
        intermediate_size=intermediate_size,
        max_positions=max_positions,
    )
    spec.check()
    lines = read_corpus(corpus)
    template = None
    if chat_template is not None:
        try:
            template = Path(chat_template).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ArenaError(f"--chat-template: cannot read '{chat_template}': {exc}") from None
    path = build_tiny_model(directory, lines, seed=seed, spec=spec, overwrite=force, chat_template=template)
    click.echo(f"{path}: tiny Llama ({layers} layers, hidden {hidden_size}, seed {seed}), corpus {corpus}")
