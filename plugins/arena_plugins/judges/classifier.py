"""What the reward model and the preference model share: a one-logit sequence classifier on any Hugging
Face backbone (`AutoModelForSequenceClassification`, num_labels=1), its own tokenizer, and training on
the shared Trainer loop.

Judges read text. Every prompt and response is tokenised here with the judge's own tokenizer (the
policy's token ids never reach a judge). A trained judge's directory records what it is and how its
inputs were built in `config.json` (`arena_judge`), so the plugin that loads it rebuilds them the same way.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from arena.api import (
    ArenaError,
    ExampleSource,
    JudgeObjective,
    JudgeTrainContext,
    RecipeKeyError,
    StepOutput,
    encode_prompts,
    load_error,
    load_tokenizer,
    plain_text,
    resolve_device,
    resolve_dtype,
    to_device,
    warn_truncated,
)

META_KEY = "arena_judge"
DEFAULT_MAX_LENGTH = 1024


@dataclass
class ClassifierBatch:
    """Two rows per example: all first rows, then all second rows (one forward pass scores both)."""

    input_ids: torch.Tensor  # (2B, L), right-padded
    attention_mask: torch.Tensor
    labels: torch.Tensor  # (B,) P(chosen preferred)


def load_classifier(
    source: str,
    judge: str,
    *,
    device: Any,
    dtype: Any,
    trust_remote_code: bool,
    training: bool,
    load_options: dict[str, Any] | None = None,
) -> tuple[Any, Any]:
    """(model, tokenizer). For use, a directory trained as another kind of judge is refused.
    `load_options` go to `from_pretrained` (a QLoRA backbone is quantized and placed as it loads)."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging

    tokenizer = load_tokenizer(source, trust_remote_code=trust_remote_code)
    target = resolve_device(device)
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()  # "newly initialized: score.weight" is the point when training
    logging.disable_progress_bar()
    options = load_options or {}
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            source,
            num_labels=1,
            dtype=resolve_dtype(dtype, target),
            trust_remote_code=trust_remote_code,
            **options,
        )
    except (OSError, ValueError) as exc:
        raise ArenaError(load_error(f"'{source}' as a {judge}", source, exc)) from exc
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()
    meta = getattr(model.config, META_KEY, None)
    if not training and isinstance(meta, dict) and meta.get("judge") not in (None, judge):
        raise ArenaError(f"'{source}' holds a {meta.get('judge')} judge, not a {judge}")
    model.config.pad_token_id = tokenizer.pad_token_id
    if "device_map" not in options:  # a quantized model is placed as it loads, and cannot be moved
        model.to(target)
    return model.eval(), tokenizer


def encode_prompt_response(
    tokenizer: Any, prompts: Sequence[str], responses: Sequence[str]
) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, response ids) per pair: the prompt as policies see it (chat template when there is
    one), then the response; with a chat template the response is the assistant turn, end-of-turn included."""
    prompts = [plain_text(prompt) for prompt in prompts]  # a conversation read as every judge reads it
    prompt_ids = encode_prompts(tokenizer, prompts)
    if not getattr(tokenizer, "chat_template", None):
        response_ids = tokenizer(list(responses), add_special_tokens=False)["input_ids"]
        return [(list(p), list(r)) for p, r in zip(prompt_ids, response_ids, strict=True)]
    result = []
    for prompt, response, ids in zip(prompts, responses, prompt_ids, strict=True):
        conversation = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
        text = tokenizer.apply_chat_template(conversation, tokenize=False)
        full = tokenizer(text, add_special_tokens=False)["input_ids"]
        if full[: len(ids)] == ids:
            result.append((list(ids), list(full[len(ids) :])))
        else:  # a template that rewrites earlier turns: fall back to the plain response
            result.append((list(ids), tokenizer(response, add_special_tokens=False)["input_ids"]))
    return result


def right_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        input_ids[index, : len(row)] = torch.tensor(list(row), dtype=torch.long)
        attention_mask[index, : len(row)] = 1
    return input_ids, attention_mask


class ClassifierJudge(abc.ABC):
    """A judge on a one-logit classifier. Subclasses say how a row is built and what the loss is."""

    name: ClassVar[str]

    def __init__(self, args: Any) -> None:
        model, tokenizer = load_classifier(
            args.path,
            self.name,
            device=args.device,
            dtype=args.dtype,
            trust_remote_code=args.trust_remote_code,
            training=False,
        )
        meta = getattr(model.config, META_KEY, None) or {}
        self._setup(
            model, tokenizer, args.max_length or meta.get("max_length", DEFAULT_MAX_LENGTH), args.batch_size
        )

    def _setup(self, model: Any, tokenizer: Any, max_length: int, batch_size: int) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_length, self.batch_size = max_length, batch_size

    @classmethod
    def wrap(cls, model: Any, tokenizer: Any, max_length: int, batch_size: int) -> ClassifierJudge:
        """The judge around a model in memory (the one being trained)."""
        judge = cls.__new__(cls)
        judge._setup(model, tokenizer, max_length, batch_size)
        return judge

    # -- what a subclass defines ---------------------------------------------------------------------

    @abc.abstractmethod
    def pair_rows(
        self, prompts: Sequence[str], firsts: Sequence[str], seconds: Sequence[str]
    ) -> tuple[list[list[int]], list[list[int]], int]:
        """Training rows of (prompt, chosen, rejected) triples: (first rows, second rows, rows cut)."""

    @staticmethod
    @abc.abstractmethod
    def pair_loss(first: torch.Tensor, second: torch.Tensor, labels: torch.Tensor, args: Any) -> StepOutput:
        """Per-pair losses from the classifier's logits on the first and second rows."""

    # -- shared ---------------------------------------------------------------------------------------

    @torch.no_grad()
    def logits(self, rows: Sequence[Sequence[int]]) -> list[float]:
        """The classifier's logit for each row, batched by length (less padding)."""
        device = next(self.model.parameters()).device
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        result = [0.0] * len(rows)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            input_ids, attention_mask = right_pad([rows[i] for i in chunk], self.tokenizer.pad_token_id)
            output = self.model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device))
            for index, value in zip(chunk, output.logits[:, 0].float().tolist(), strict=True):
                result[index] = value
        return result

    def metadata(self) -> dict[str, Any]:
        return {"judge": self.name, "max_length": self.max_length}

    @classmethod
    def training_objective(cls, args: Any, context: JudgeTrainContext) -> JudgeObjective:
        """Train this judge on the shared loop: the backbone gets a fresh one-logit head."""
        train_rows, held_out = context.preference_rows()
        options = context.load_options()  # refusals name lora.quantize, not the backbone
        try:
            model, tokenizer = load_classifier(
                context.backbone,
                cls.name,
                device=context.device,
                dtype=torch.float32,
                trust_remote_code=args.trust_remote_code,
                training=True,
                load_options=options,
            )
        except ArenaError as exc:  # e.g. a hub id not in the cache offline: said on the recipe's key
            raise RecipeKeyError("backbone", str(exc)) from exc
        config = model.config
        trained = context.trainable(model)  # with `lora:`, adapters around it and its head trained whole
        model = trained.model
        judge = cls.wrap(model, tokenizer, context.max_length, context.batch_size)
        firsts, seconds, cut = judge.pair_rows(
            [r["prompt"] for r in train_rows],
            [r["chosen"] for r in train_rows],
            [r["rejected"] for r in train_rows],
        )
        warn_truncated(cut, len(train_rows), context.max_length)
        examples = [(a, b, r["label"]) for a, b, r in zip(firsts, seconds, train_rows, strict=True)]

        def collate(indices: Sequence[int]) -> ClassifierBatch:
            chosen = [examples[i] for i in indices]
            rows = [a for a, _, _ in chosen] + [b for _, b, _ in chosen]
            input_ids, attention_mask = right_pad(rows, tokenizer.pad_token_id)
            labels = torch.tensor([label for _, _, label in chosen], dtype=torch.float32)
            return to_device(ClassifierBatch(input_ids, attention_mask, labels), context.device)

        def loss(batch: ClassifierBatch) -> StepOutput:
            logits = (
                model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, 0].float()
            )
            half = logits.shape[0] // 2
            return cls.pair_loss(logits[:half], logits[half:], batch.labels, args)

        def save(directory: Path) -> None:
            setattr(config, META_KEY, judge.metadata())
            trained.save(directory, tokenizer)

        return JudgeObjective(
            label=cls.name,
            model=trained.parameters,
            examples=ExampleSource(examples, collate, cut),
            judge=judge,
            held_out=held_out,
            loss_fn=loss,
            save_fn=save,
            summary={"judge": cls.name},
        )
