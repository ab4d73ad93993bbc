"""Policies: a causal LM and its tokenizer, loaded from a local Hugging Face directory or a hub id.

Both come through the ordinary `from_pretrained` path, so whatever transformers can load works. A
directory saved here holds safetensors weights and loads in transformers and vLLM alike. Remote code
never runs unless the caller asks for it (`trust_remote_code=True`, from a recipe).

Prompts are turned into token ids in one place (`encode_prompts`) so that every backend, the mixture
sampler and the log-prob scorer see exactly the same tokens: the tokenizer's chat template when it has
one, the plain text (with the tokenizer's own special tokens, e.g. BOS) otherwise. A prompt that is a
conversation (messages: arena.rows.Conversation, or its JSON text) always goes through the template.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from arena.errors import ArenaError
from arena.rows import Conversation, as_conversation
from arena.schema import model_directory_problem

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """`auto`: the first GPU when there is one, else the CPU. Anything else is passed to torch."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ArenaError(f"unknown device '{device}' (expected auto, cpu, cuda, cuda:N, ...)") from exc


def resolve_dtype(dtype: str | torch.dtype = "auto", device: torch.device | None = None) -> torch.dtype:
    """`auto`: bf16 on a GPU that supports it, fp32 otherwise (CPU bf16 matmuls are slow and lossy)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        device = device or resolve_device("auto")
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if dtype not in DTYPES:
        raise ArenaError(f"unknown dtype '{dtype}' (expected auto, {', '.join(sorted(DTYPES))})")
    return DTYPES[dtype]


@dataclass
class Policy:
    """A causal LM with its tokenizer. `source` is the directory or hub id it came from."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    source: str

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def eos_token_ids(self) -> list[int]:
        return eos_token_ids(self.model, self.tokenizer)

    def format_prompt(self, prompt: str | Conversation) -> str:
        return format_prompt(self.tokenizer, prompt)

    def encode_prompts(self, prompts: Sequence[str | Conversation]) -> list[list[int]]:
        return encode_prompts(self.tokenizer, prompts)

    def save(self, directory: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        return save_policy(self.model, self.tokenizer, directory, overwrite=overwrite)


def load_tokenizer(name_or_path: str | os.PathLike[str], *, trust_remote_code: bool = False) -> Any:
    """The tokenizer of a model directory or hub id, with a pad token (the EOS token when it has none)."""
    from transformers import AutoTokenizer

    source = _check_source(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ArenaError(load_error(f"the tokenizer of '{source}'", source, exc)) from exc
    if tokenizer.pad_token_id is None:
        # Batched generation and scoring need a pad id; pad positions are always masked out.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_policy(
    name_or_path: str | os.PathLike[str],
    *,
    dtype: str | torch.dtype = "auto",
    device: str | torch.device = "auto",
    trust_remote_code: bool = False,
    load_options: dict[str, Any] | None = None,
) -> Policy:
    """Load a causal LM and its tokenizer, in eval mode, on `device` in `dtype` (both `auto` by default).

    A LoRA adapter directory (adapter_config.json, saved by a `lora:` run) loads as its base with the
    adapter merged in (arena.training.lora). `load_options` go to `from_pretrained` (QLoRA's quantization,
    which places the model itself)."""
    from transformers import AutoModelForCausalLM

    source = _check_source(name_or_path)
    target_device = resolve_device(device)
    target_dtype = resolve_dtype(dtype, target_device)
    from arena.training.lora import is_adapter_directory, load_adapter_policy

    if is_adapter_directory(Path(source)):
        return load_adapter_policy(
            Path(source), dtype=target_dtype, device=target_device, trust_remote_code=trust_remote_code
        )
    tokenizer = load_tokenizer(source, trust_remote_code=trust_remote_code)
    options = load_options or {}
    try:
        with _no_progress_bars():
            model = AutoModelForCausalLM.from_pretrained(
                source, dtype=target_dtype, trust_remote_code=trust_remote_code, **options
            )
    except (OSError, ValueError) as exc:
        raise ArenaError(load_error(f"the model '{source}'", source, exc)) from exc
    if "device_map" not in options:  # a quantized model is placed as it loads, and cannot be moved
        model.to(target_device)
    model.eval()
    return Policy(model=model, tokenizer=tokenizer, source=source)


def save_policy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    directory: str | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> Path:
    """Save as a Hugging Face directory (safetensors), atomically: a crash never leaves half a model.

    Everything is written to a hidden sibling directory that is then renamed into place.
    """

    def write(staging: Path) -> None:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)

    return write_directory(directory, write, overwrite=overwrite)


def write_directory(
    directory: str | os.PathLike[str], write: Callable[[Path], None], *, overwrite: bool = False
) -> Path:
    """Fill a directory atomically: `write` fills a hidden sibling, which is then renamed into place."""
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise ArenaError(f"cannot save a model to '{target}': it is a file")
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise ArenaError(f"'{target}' already exists and is not empty (choose another directory)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        with _no_progress_bars():
            write(staging)
        _replace_directory(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def format_prompt(tokenizer: PreTrainedTokenizerBase, prompt: str | Conversation) -> str:
    """The prompt as the model should see it: through the chat template when the tokenizer has one (a text
    prompt as one user turn, a conversation as its messages), the text itself otherwise."""
    conversation = as_conversation(prompt)
    if conversation is not None:
        return render_conversation(tokenizer, conversation, add_generation_prompt=True)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
    return str(prompt)


def encode_prompts(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str | Conversation]
) -> list[list[int]]:
    """Token ids of each prompt. A chat template writes its own special tokens, so none are added then.

    A prompt that is a conversation (a `Conversation`, or text that is a JSON list of {role, content}
    messages, as a tournament carries one) needs the chat template; without one it is refused."""
    templated = bool(getattr(tokenizer, "chat_template", None))
    texts = [format_prompt(tokenizer, prompt) for prompt in prompts]
    encoded = tokenizer(texts, add_special_tokens=not templated)["input_ids"]
    return [list(ids) for ids in encoded]


def render_conversation(
    tokenizer: PreTrainedTokenizerBase, conversation: Conversation, *, add_generation_prompt: bool
) -> str:
    """The chat template's text of a conversation (ending with the assistant's opening when
    `add_generation_prompt`); a tokenizer without a chat template is refused in one line."""
    if not getattr(tokenizer, "chat_template", None):
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        raise ArenaError(
            f"the tokenizer of '{name}' has no chat template, and the data is conversational "
            "({role, content} messages): use a model whose tokenizer has one, or set "
            "chat_template in its tokenizer_config.json"
        )
    return tokenizer.apply_chat_template(
        conversation.messages(), tokenize=False, add_generation_prompt=add_generation_prompt
    )


def encode_conversation(
    tokenizer: PreTrainedTokenizerBase, conversation: Conversation, *, add_generation_prompt: bool
) -> list[int]:
    """Token ids of a conversation through the chat template (which writes its own special tokens)."""
    text = render_conversation(tokenizer, conversation, add_generation_prompt=add_generation_prompt)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def eos_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Every id that ends a completion: the tokenizer's EOS and the generation config's (it may list more)."""
    ids: list[int] = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (tokenizer.eos_token_id, configured):
        for token_id in value if isinstance(value, list) else [value]:
            if token_id is not None and token_id not in ids:
                ids.append(int(token_id))
    return ids


def _check_source(name_or_path: str | os.PathLike[str]) -> str:
    """A local model directory (checked for config, weights and tokenizer) or a hub id, as a string."""
    source = os.fspath(name_or_path)
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ArenaError(f"'{source}' is a file; expected a model directory or a hub id")
        problem = model_directory_problem(path)
        if problem is not None:
            raise ArenaError(
                f"'{source}' is not a model directory (config.json, weights and a tokenizer): it has {problem}"
            )
        return str(path)
    if source.startswith((".", "/", "~")) or source.count("/") > 1 or os.sep == "\\" and "\\" in source:
        raise ArenaError(f"no such model directory '{source}' (nor a hub id)")
    return source


def load_error(subject: str, source: str, exc: BaseException) -> str:
    """One line for a model that `from_pretrained` could not load: why, in full (transformers' messages
    run over several lines, and their first is often a fragment such as "... from one of:")."""
    if not Path(source).expanduser().exists() and _offline():
        return (
            f"cannot load {subject}: no local directory of that name, and the hub id is not in "
            "the Hugging Face cache (HF_HUB_OFFLINE is set, so nothing is downloaded)"
        )
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return f"cannot load {subject}: {reason[:400]}"


def _offline() -> bool:
    return any(
        os.environ.get(name, "").lower() in ("1", "true", "yes", "on")
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _replace_directory(staging: Path, target: Path) -> None:
    if not target.exists():
        os.replace(staging, target)
        return
    # os.replace cannot swap directories; move the old one aside first, then drop it.
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.replace(target, retired / "model")
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)


@contextmanager
def _no_progress_bars() -> Iterator[None]:
    """transformers draws a bar for every load and save of a one-file model; Arena draws its own."""
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()
