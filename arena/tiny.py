"""Tiny models for tests, built-in tasks and the quickstart: nothing is ever downloaded.

`build_tiny_model` trains a byte-level BPE tokenizer on a corpus with `tokenizers` and builds a small
Llama-architecture model with random weights, then saves both as a Hugging Face directory that
transformers and vLLM load. The same corpus, spec and seed give byte-identical files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from arena.errors import ArenaError

BOS_TOKEN = "<|bos|>"
EOS_TOKEN = "<|eos|>"
PAD_TOKEN = "<|pad|>"
SPECIAL_TOKENS = (BOS_TOKEN, EOS_TOKEN, PAD_TOKEN)
# vLLM's CPU attention kernels refuse head sizes below 32.
MIN_HEAD_DIM = 32

# A few lines to train a tokenizer on when no corpus is at hand (tests, demos).
SAMPLE_CORPUS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "A small model learns to write short sentences about animals and the weather.",
    "It was a bright cold day in April, and the clocks were striking thirteen.",
    "Call me Ishmael. Some years ago I thought I would sail about and see the watery part of the world.",
    "The rain in Spain stays mainly in the plain.",
    "Red, green and blue are colours of light; rock, paper and scissors are a game.",
    "Pick one: yes or no. The answer is yes, and the other answer is no.",
    "Two roads diverged in a yellow wood, and sorry I could not travel both.",
    "Question: what is two plus three? Answer: five.",
    "Write a haiku about the sea. Waves fold into foam; the gulls argue with the wind; salt on every stone.",
)


@dataclass(frozen=True)
class TinyModelSpec:
    """The shape of a tiny Llama. Defaults: about 0.1M parameters, fast enough for unit tests on a CPU."""

    vocab_size: int = 512
    hidden_size: int = 64
    layers: int = 2
    heads: int = 2
    intermediate_size: int = 128
    max_positions: int = 512

    def check(self) -> None:
        if self.heads < 1 or self.hidden_size % self.heads:
            raise ArenaError(f"hidden_size {self.hidden_size} must be a multiple of heads {self.heads}")
        head_dim = self.hidden_size // self.heads
        if head_dim < MIN_HEAD_DIM:
            raise ArenaError(
                f"head_dim is {head_dim} (hidden_size {self.hidden_size} / heads {self.heads}); "
                f"vLLM's CPU attention needs at least {MIN_HEAD_DIM}"
            )
        if head_dim % 2:
            raise ArenaError(f"head_dim is {head_dim}; rotary position embeddings need an even head_dim")
        # 256 byte symbols + the special tokens must fit, or BPE has nothing to merge into.
        if self.vocab_size < 256 + len(SPECIAL_TOKENS):
            least = 256 + len(SPECIAL_TOKENS)
            raise ArenaError(f"vocab_size must be at least {least}, got {self.vocab_size}")
        if self.layers < 1 or self.intermediate_size < 1 or self.max_positions < 8:
            raise ArenaError("layers and intermediate_size must be >= 1, max_positions >= 8")


def read_corpus(path: str | os.PathLike[str]) -> list[str]:
    """The non-empty lines of a UTF-8 text file."""
    file = Path(path)
    if not file.is_file():
        raise ArenaError(f"no such corpus file '{path}'")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ArenaError(f"corpus '{path}' is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ArenaError(f"corpus '{path}' has no text")
    return lines


def train_tokenizer(texts: Iterable[str], vocab_size: int, model_max_length: int = 512) -> Any:
    """A byte-level BPE tokenizer (any text encodes, no unknown token) that prepends BOS to plain text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    lines = [text for text in texts if text.strip()]
    if not lines:
        raise ArenaError("the corpus has no text to train a tokenizer on")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(lines, trainer=trainer)
    bos_id = tokenizer.token_to_id(BOS_TOKEN)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A", pair=f"{BOS_TOKEN} $A {BOS_TOKEN} $B", special_tokens=[(BOS_TOKEN, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        model_max_length=model_max_length,
    )


def build_tiny_model(
    directory: str | os.PathLike[str],
    corpus: Iterable[str],
    *,
    seed: int = 0,
    spec: TinyModelSpec | None = None,
    overwrite: bool = False,
    chat_template: str | None = None,
) -> Path:
    """Train a tokenizer on `corpus` (lines of text), build a random tiny Llama, save both to `directory`;
    `chat_template` (Jinja) makes it a chat model, e.g. for `vllm serve`'s chat completions."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    from arena.policy import save_policy

    spec = spec or TinyModelSpec()
    spec.check()
    tokenizer = train_tokenizer(corpus, spec.vocab_size, spec.max_positions)
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    config = LlamaConfig(
        # A small corpus may yield fewer merges than asked for: size the embeddings to what was
        # trained, so the model can never sample an id the tokenizer cannot decode.
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        head_dim=spec.hidden_size // spec.heads,
        max_position_embeddings=spec.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        dtype="float32",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.config.arena_tiny_spec = {**asdict(spec), "seed": seed}
    return save_policy(model, tokenizer, directory, overwrite=overwrite)


def make_eos_likely(model: Any, eos_id: int, probability: float = 0.2, *, seed: int = 0) -> None:
    """Edit a tiny Llama in place so that each step ends with EOS with about `probability`.

    For tests of stopping: a random tiny model almost never draws EOS. One coordinate of the residual
    stream is made a constant (every embedding holds 1 there and no layer writes to it), so after the
    final norm it is nearly constant too; only EOS reads it in the LM head, which adds a fixed boost
    to the EOS logit whatever the context.
    """
    import math

    import torch

    if not 0 < probability < 1:
        raise ValueError(f"probability must be in (0, 1), got {probability}")
    constant = 0  # the coordinate of the hidden state that is made constant
    body, head = model.get_decoder(), model.get_output_embeddings()
    with torch.no_grad():
        body.embed_tokens.weight[:, constant] = 1.0
        for layer in body.layers:
            layer.self_attn.o_proj.weight[constant, :] = 0.0
            layer.mlp.down_proj.weight[constant, :] = 0.0
        head.weight[:, constant] = 0.0
        head.weight[eos_id, :] = 0.0
        generator = torch.Generator().manual_seed(seed)
        probe = torch.randint(0, head.weight.shape[0], (8, 16), generator=generator)
        typical = body(input_ids=probe).last_hidden_state[..., constant].mean()
        # Other logits are close to 0, so EOS needs a logit of log(p / (1 - p) * (vocab - 1)).
        target = math.log(probability / (1 - probability) * (head.weight.shape[0] - 1))
        head.weight[eos_id, constant] = target / float(typical)
