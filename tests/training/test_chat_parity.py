"""Conversational data against TRL (trl 1.16): the same tokens, completion masks and DPO losses.

The sample `tests/data/conversational_pairs.jsonl` holds TRL's conversational preference format (`prompt`,
`chosen`, `rejected` as lists of {role, content} messages), with system prompts and multi-turn prompts.
The tiny model's tokenizer is given a ChatML-like template whose turns open with the BOS token and close
with the EOS token, so the end-of-turn tokens are special tokens that the completion must keep.

TRL's side is its real `DPOTrainer` (dataset preparation, collator, `compute_loss`); Arena's side is rows
read by `arena.rows.load_rows`, tokenised by `arena.training.data.tokenize_pairs`, scored by the DPO plugin.
Besides agreeing with TRL, the completion of each row is checked against the template itself: it is
exactly the text the template writes for the assistant turn, end-of-turn included, with no EOS added.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch
import trl  # a dev dependency (pyproject: trl>=1.16): a missing or older TRL fails, never skips

from arena.generation.logprobs import token_logprobs
from arena.policy import Policy, load_policy
from arena.rows import DataSettings, load_rows
from arena.tiny import BOS_TOKEN, EOS_TOKEN
from arena.training.algorithm import TrainContext
from arena.training.data import (
    PAIR_COLUMNS,
    collate_completions,
    collate_pairs,
    tokenize_completions,
    tokenize_pairs,
)
from arena_plugins.dpo import DPOArgs, IPOArgs
from arena_plugins.dpo.losses import DPO, IPO
from tests.training.chat_model import CHAT_TEMPLATE

assert tuple(int(x) for x in trl.__version__.split(".")[:2]) >= (1, 16), trl.__version__

SAMPLE = Path(__file__).parents[1] / "data" / "conversational_pairs.jsonl"
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def chat_models(game_model_dir: Path) -> tuple[Policy, torch.nn.Module]:
    """The tiny policy with a chat template, moved a little away from its frozen reference."""
    policy = load_policy(game_model_dir, dtype=torch.float32, device="cpu")
    policy.tokenizer.chat_template = CHAT_TEMPLATE
    reference = copy.deepcopy(policy.model).requires_grad_(False).eval()
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for parameter in policy.model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return policy, reference


def sample_rows() -> list[dict[str, Any]]:
    return load_rows(DataSettings(str(SAMPLE)), PAIR_COLUMNS)


def raw_rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]


def trl_dpo(policy: Policy, reference: torch.nn.Module, tmp_path: Path, **config: Any) -> dict[str, Any]:
    import datasets

    datasets.disable_progress_bars()
    rows = raw_rows()
    args = trl.DPOConfig(
        output_dir=str(tmp_path / "trl"),
        per_device_train_batch_size=len(rows),
        max_length=None,
        bf16=False,
        use_cpu=True,
        gradient_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        seed=0,
        **config,
    )
    trainer = trl.DPOTrainer(
        model=copy.deepcopy(policy.model),
        ref_model=copy.deepcopy(reference),
        args=args,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=copy.deepcopy(policy.tokenizer),
    )
    examples = [
        {key: list(row[key]) for key in ("prompt_ids", "chosen_ids", "rejected_ids")}
        for row in trainer.train_dataset
    ]
    inputs = trainer.data_collator([trainer.train_dataset[i] for i in range(len(rows))])
    trainer.model.train()
    loss = trainer.compute_loss(trainer.model, inputs)
    return {"examples": examples, "inputs": inputs, "loss": float(loss.detach())}


def arena_dpo(algorithm: DPO | IPO, policy: Policy, reference: torch.nn.Module) -> dict[str, Any]:
    tokenized = tokenize_pairs(sample_rows(), policy, max_length=1024, add_eos=True)
    assert tokenized.truncated == 0
    batch = collate_pairs(tokenized.examples, policy.tokenizer.pad_token_id, None)
    with torch.no_grad():
        batch.reference_logprobs = token_logprobs(
            reference, batch.input_ids, batch.attention_mask, batch.completion_mask
        ).sum(-1)
    model = copy.deepcopy(policy.model).train()
    algorithm.setup(TrainContext(Policy(model, policy.tokenizer, policy.source), None, torch.device("cpu")))
    loss = algorithm.loss(batch).losses.sum() / batch.pairs
    return {"examples": tokenized.examples, "batch": batch, "loss": float(loss.detach())}


def test_rows_are_read_as_conversations_not_text() -> None:
    rows = sample_rows()
    assert len(rows) == 8
    for row, raw in zip(rows, raw_rows(), strict=True):
        for column in PAIR_COLUMNS:
            assert row[column].messages() == raw[column]
            assert json.loads(str(row[column])) == raw[column]  # canonical JSON, not a Python repr
    assert any(row["prompt"][0].role == "system" for row in rows)
    assert any(sum(m.role == "user" for m in row["prompt"]) > 1 for row in rows)


def test_completion_is_exactly_the_templates_assistant_turn(chat_models: tuple[Policy, Any]) -> None:
    """Independent of TRL: the prompt decodes to the template with the generation prompt, the completion
    to the assistant's content and the template's end of turn, and nothing else (no EOS appended)."""
    policy, _ = chat_models
    tokenizer = policy.tokenizer
    rows = sample_rows()
    examples = tokenize_pairs(rows, policy, max_length=1024, add_eos=True).examples
    for row, example in zip(rows, examples, strict=True):
        prompt_text = "".join(f"{BOS_TOKEN}{m.role}\n{m.content}{EOS_TOKEN}\n" for m in row["prompt"])
        assert tokenizer.decode(example.prompt_ids) == prompt_text + f"{BOS_TOKEN}assistant\n"
        for column, ids in (("chosen", example.chosen_ids), ("rejected", example.rejected_ids)):
            assert tokenizer.decode(ids) == row[column][0].content + f"{EOS_TOKEN}\n"
            assert list(ids).count(tokenizer.eos_token_id) == 1


@pytest.mark.parametrize(
    ("make_algorithm", "config"),
    [
        (lambda: DPO(DPOArgs(beta=0.5)), {"loss_type": ["sigmoid"], "beta": 0.5}),
        (lambda: IPO(IPOArgs(tau=0.5, length_normalized=True)), {"loss_type": ["ipo"], "beta": 0.5}),
    ],
    ids=["dpo-sigmoid", "ipo-length-normalized"],
)
def test_tokens_masks_and_loss_equal_trl(
    chat_models: tuple[Policy, Any], tmp_path: Path, make_algorithm: Any, config: dict[str, Any]
) -> None:
    policy, reference = chat_models
    theirs = trl_dpo(policy, reference, tmp_path, **config)
    mine = arena_dpo(make_algorithm(), policy, reference)
    for example, trl_example in zip(mine["examples"], theirs["examples"], strict=True):
        assert list(example.prompt_ids) == trl_example["prompt_ids"]
        assert list(example.chosen_ids) == trl_example["chosen_ids"]
        assert list(example.rejected_ids) == trl_example["rejected_ids"]
    for name in ("input_ids", "attention_mask", "completion_mask"):
        assert torch.equal(getattr(mine["batch"], name), theirs["inputs"][name]), name
    assert abs(theirs["loss"]) > 0.05  # not a trivial loss
    assert mine["loss"] == pytest.approx(theirs["loss"], abs=TOLERANCE)


def test_sft_tokens_masks_and_loss_equal_trl(chat_models: tuple[Policy, Any], tmp_path: Path) -> None:
    """Conversational prompt-completion SFT (each pair's chosen turn as the completion) against TRL's
    `SFTTrainer` with `completion_only_loss`: the same sequences, the same masked positions (TRL's labels
    are -100 outside the completion) and the same token-averaged loss."""
    import datasets

    from arena_plugins.sft import SFTArgs
    from arena_plugins.sft.loss import SFT

    datasets.disable_progress_bars()
    policy, _ = chat_models
    raw = [{"prompt": r["prompt"], "completion": r["chosen"]} for r in raw_rows()]
    args = trl.SFTConfig(
        output_dir=str(tmp_path / "sft"),
        per_device_train_batch_size=len(raw),
        max_length=None,
        bf16=False,
        use_cpu=True,
        completion_only_loss=True,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        seed=0,
    )
    trainer = trl.SFTTrainer(
        model=copy.deepcopy(policy.model),
        args=args,
        train_dataset=datasets.Dataset.from_list(raw),
        processing_class=copy.deepcopy(policy.tokenizer),
    )
    rows = [{"prompt": r["prompt"], "completion": r["chosen"]} for r in sample_rows()]
    examples = tokenize_completions(rows, policy, max_length=1024, add_eos=True).examples
    for example, theirs in zip(examples, trainer.train_dataset, strict=True):
        assert list(example.prompt_ids) + list(example.completion_ids) == theirs["input_ids"]
        learned = [label != -100 for label in theirs["labels"]]
        assert learned == [False] * len(example.prompt_ids) + [True] * len(example.completion_ids)
    inputs = trainer.data_collator([trainer.train_dataset[i] for i in range(len(raw))])
    trainer.model.train()
    trl_loss = float(trainer.compute_loss(trainer.model, inputs).detach())

    batch = collate_completions(examples, policy.tokenizer.pad_token_id)
    sft = SFT(SFTArgs(average="token"))
    sft.setup(
        TrainContext(
            Policy(copy.deepcopy(policy.model).train(), policy.tokenizer, ""), None, torch.device("cpu")
        )
    )
    arena_loss = float(sft.loss(batch).losses.sum().detach()) / len(examples)
    assert trl_loss > 1.0
    assert arena_loss == pytest.approx(trl_loss, abs=TOLERANCE)


def test_implicit_prompt_layouts_tokenise_as_trl_and_as_the_explicit_one(
    chat_models: tuple[Policy, Any], tmp_path: Path
) -> None:
    """chosen and rejected that carry the prompt's turns themselves: without a prompt column (TRL's
    implicit prompt, which its trainer extracts) and with the user's text as the prompt column
    (HuggingFaceH4/ultrafeedback_binarized's layout). Both read as the explicit rows do."""
    import datasets

    datasets.disable_progress_bars()
    policy, reference = chat_models
    implicit = [
        {"chosen": r["prompt"] + r["chosen"], "rejected": r["prompt"] + r["rejected"]} for r in raw_rows()
    ]
    with_text = [
        {"prompt": [m for m in r["prompt"] if m["role"] == "user"][-1]["content"], **i}
        for r, i in zip(raw_rows(), implicit, strict=True)
    ]
    explicit = tokenize_pairs(sample_rows(), policy, max_length=1024, add_eos=True).examples
    for name, rows in (("implicit", implicit), ("with-text", with_text)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        read = load_rows(DataSettings(str(path)), PAIR_COLUMNS)
        assert [row["prompt"] for row in read] == [row["prompt"] for row in sample_rows()]
        assert tokenize_pairs(read, policy, max_length=1024, add_eos=True).examples == explicit
    trainer = trl.DPOTrainer(
        model=copy.deepcopy(policy.model),
        ref_model=copy.deepcopy(reference),
        args=trl.DPOConfig(
            output_dir=str(tmp_path / "trl"), use_cpu=True, bf16=False, report_to="none", max_length=None
        ),
        train_dataset=datasets.Dataset.from_list(implicit),
        processing_class=copy.deepcopy(policy.tokenizer),
    )
    for mine, theirs in zip(explicit, trainer.train_dataset, strict=True):
        assert (list(mine.prompt_ids), list(mine.chosen_ids), list(mine.rejected_ids)) == (
            theirs["prompt_ids"],
            theirs["chosen_ids"],
            theirs["rejected_ids"],
        )
