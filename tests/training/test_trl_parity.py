"""Loss and gradient parity with TRL's `DPOTrainer` (trl 1.16), each configured to the same definition.

Both sides score the same tiny model on the same batch of preference pairs against the same frozen
reference; the policy is moved a little away from the reference first so that the margins (and hence
the losses) are not the trivial h = 0. TRL's side is its real trainer: its own dataset preparation
(EOS appended to each completion, prompt tokenised with the tokenizer's special tokens, i.e. BOS),
its collator (right padding, chosen rows then rejected rows) and `DPOTrainer.compute_loss`, which
scores with its fused, chunked LM head. Arena's side is the real plugin (`DPO` / `IPO` built from their
args, `setup(TrainContext)`, `loss(batch)`), fed by `arena.training.data` (`tokenize_pairs`,
`collate_pairs`) with reference log-probs from `token_logprobs` on the frozen reference, and reduced as
the Trainer reduces it (sum of per-pair losses / batch size).

Tokenisation is aligned rather than assumed: the test asserts that both sides produce the same prompt
and completion ids and the same padded batch before it compares any loss. With the tiny model's
tokenizer (no chat template, BOS added to plain text) they agree as long as a completion starts on a
pre-token boundary (here: a space and a word), because TRL tokenises prompt + completion as one string
and splits at the common prefix, while Arena encodes the completion alone and appends the EOS id; TRL
appends the EOS *text*, which the tokenizer maps to the same special id.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
import trl  # a dev dependency (pyproject: trl>=1.16): a missing or older TRL fails, never skips

from arena.generation.logprobs import token_logprobs
from arena.policy import Policy, load_policy
from arena.training.algorithm import PairBatch, TrainContext
from arena.training.data import collate_pairs, tokenize_pairs
from arena_plugins.dpo import DPOArgs, IPOArgs
from arena_plugins.dpo.losses import DPO, IPO

assert tuple(int(x) for x in trl.__version__.split(".")[:2]) >= (1, 16), trl.__version__

TOLERANCE = 1e-5

# Completions of different lengths (padding inside the batch), chosen both shorter and longer than
# rejected, a prompt long enough that the earliest completion token is not at the same position in
# every row. Each completion starts with a space and a word: see the module docstring.
ROWS: list[dict[str, Any]] = [
    {"prompt": "Question: what is two plus three? Answer:", "chosen": " five.", "rejected": " six, I think."},
    {"prompt": "The quick brown fox", "chosen": " jumps over the lazy dog.", "rejected": " sleeps."},
    {"prompt": "Pick one: yes or no.", "chosen": " The answer is yes.", "rejected": " No."},
    {
        "prompt": "Write a haiku about the sea.",
        "chosen": " Waves fold into foam; the gulls argue with the wind.",
        "rejected": " It was a bright cold day in April.",
    },
]


@pytest.fixture(scope="module")
def models(game_model_dir: Path) -> tuple[Policy, torch.nn.Module]:
    """A policy a little away from its reference (as after some training), and the frozen reference."""
    policy = load_policy(game_model_dir, dtype=torch.float32, device="cpu")
    reference = copy.deepcopy(policy.model).requires_grad_(False).eval()
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for parameter in policy.model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return policy, reference


def trl_side(
    policy: Policy, reference: torch.nn.Module, tmp_path: Path, **config: Any
) -> tuple[torch.Tensor, dict[str, torch.Tensor], list[dict[str, list[int]]], dict[str, torch.Tensor]]:
    """TRL's loss and gradients on ROWS as one batch, its tokenised examples and its collated batch."""
    import datasets

    datasets.disable_progress_bars()
    args = trl.DPOConfig(
        output_dir=str(tmp_path / "trl"),
        per_device_train_batch_size=len(ROWS),
        max_length=None,  # no truncation: the rows are short
        bf16=False,  # DPOConfig defaults to bf16; both sides compute in float32 here
        use_cpu=True,
        gradient_checkpointing=False,  # does not change the mathematics, only what backward recomputes
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        seed=0,
        **config,
    )
    model = copy.deepcopy(policy.model)  # TRL patches the forward of the instances it is given
    trainer = trl.DPOTrainer(
        model=model,
        ref_model=copy.deepcopy(reference),
        args=args,
        train_dataset=datasets.Dataset.from_list(ROWS),
        processing_class=copy.deepcopy(policy.tokenizer),
    )
    examples = [
        {key: list(row[key]) for key in ("prompt_ids", "chosen_ids", "rejected_ids")}
        for row in trainer.train_dataset
    ]
    inputs = trainer.data_collator([trainer.train_dataset[i] for i in range(len(ROWS))])
    trainer.model.train()
    trainer.model.zero_grad(set_to_none=True)
    loss = trainer.compute_loss(trainer.model, inputs)
    loss.backward()
    gradients = {name: p.grad.detach().clone() for name, p in trainer.model.named_parameters()}
    return loss.detach(), gradients, examples, inputs


def arena_batch(policy: Policy, reference: torch.nn.Module) -> tuple[list[Any], PairBatch]:
    """ROWS through `arena.training.data`, with the reference log-probs attached as the Trainer does."""
    tokenized = tokenize_pairs(ROWS, policy, max_length=1024, add_eos=True)
    assert tokenized.truncated == 0
    batch = collate_pairs(tokenized.examples, policy.tokenizer.pad_token_id, None)
    with torch.no_grad():
        batch.reference_logprobs = token_logprobs(
            reference, batch.input_ids, batch.attention_mask, batch.completion_mask
        ).sum(-1)
    return tokenized.examples, batch


def arena_side(
    algorithm: DPO | IPO, policy: Policy, reference: torch.nn.Module
) -> tuple[torch.Tensor, dict[str, torch.Tensor], list[Any], PairBatch]:
    """Arena's loss (reduced as the Trainer reduces it) and gradients on ROWS as one batch."""
    model = copy.deepcopy(policy.model)
    trained = Policy(model, policy.tokenizer, policy.source)
    frozen = Policy(reference, policy.tokenizer, policy.source)
    algorithm.setup(TrainContext(trained, frozen, torch.device("cpu")))
    examples, batch = arena_batch(trained, reference)
    model.train()
    model.zero_grad(set_to_none=True)
    output = algorithm.loss(batch)
    loss = output.losses.sum() / batch.pairs  # what the Trainer backpropagates for one full batch
    loss.backward()
    gradients = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
    return loss.detach(), gradients, examples, batch


def assert_same_inputs(
    arena_examples: list[Any], arena_batch: PairBatch, trl_examples: list[dict], trl_inputs: dict
) -> None:
    for mine, theirs in zip(arena_examples, trl_examples, strict=True):
        assert list(mine.prompt_ids) == theirs["prompt_ids"]
        assert list(mine.chosen_ids) == theirs["chosen_ids"]
        assert list(mine.rejected_ids) == theirs["rejected_ids"]
    assert torch.equal(arena_batch.input_ids, trl_inputs["input_ids"])
    assert torch.equal(arena_batch.attention_mask, trl_inputs["attention_mask"])
    assert torch.equal(arena_batch.completion_mask, trl_inputs["completion_mask"])


def assert_same_gradients(mine: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor]) -> None:
    assert mine.keys() == theirs.keys()
    largest = max(float(g.abs().max()) for g in theirs.values())
    assert largest > 1e-3  # the comparison is not between two zero gradients
    for name, gradient in mine.items():
        difference = float((gradient - theirs[name]).abs().max())
        assert difference <= TOLERANCE, f"{name}: gradients differ by {difference:.3g}"


CASES = [
    # (id, Arena algorithm, TRL DPOConfig settings)
    ("dpo-sigmoid", lambda: DPO(DPOArgs(beta=0.5)), {"loss_type": ["sigmoid"], "beta": 0.5}),
    # TRL's `robust` is the unbiased estimator of Chowdhury et al. (2024), as Arena's.
    (
        "dpo-robust",
        lambda: DPO(DPOArgs(beta=0.5, loss="robust", label_smoothing=0.2)),
        {"loss_type": ["robust"], "beta": 0.5, "label_smoothing": 0.2},
    ),
    ("dpo-hinge", lambda: DPO(DPOArgs(beta=2.0, loss="hinge")), {"loss_type": ["hinge"], "beta": 2.0}),
    # TRL's `sigmoid_norm` divides each log-ratio by its completion's token count.
    (
        "dpo-length-normalized",
        lambda: DPO(DPOArgs(beta=5.0, length_normalized=True)),
        {"loss_type": ["sigmoid_norm"], "beta": 5.0},
    ),
    # TRL's `ipo` averages the log-ratios over completion tokens (its `beta` is IPO's tau): that is Arena's
    # IPO with `length_normalized: true`, not the paper's (and Arena's default) summed form.
    (
        "ipo-length-normalized",
        lambda: IPO(IPOArgs(tau=0.5, length_normalized=True)),
        {"loss_type": ["ipo"], "beta": 0.5},
    ),
]


@pytest.mark.parametrize(("make_algorithm", "config"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_loss_and_gradients_equal_trl(
    models: tuple[Policy, torch.nn.Module], tmp_path: Path, make_algorithm: Any, config: dict[str, Any]
) -> None:
    policy, reference = models
    trl_loss, trl_gradients, trl_examples, trl_inputs = trl_side(policy, reference, tmp_path, **config)
    arena_loss, arena_gradients, arena_examples, arena_batch = arena_side(make_algorithm(), policy, reference)

    assert_same_inputs(arena_examples, arena_batch, trl_examples, trl_inputs)
    assert float(arena_loss) == pytest.approx(float(trl_loss), abs=TOLERANCE)
    assert_same_gradients(arena_gradients, trl_gradients)


def test_margins_are_not_trivial(models: tuple[Policy, torch.nn.Module]) -> None:
    """The pairs exercise both signs of the margin and both sides of the hinge at beta 2, not only h = 0."""
    policy, reference = models
    algorithm = DPO(DPOArgs(beta=2.0, loss="hinge"))
    algorithm.setup(TrainContext(policy, None, torch.device("cpu")))
    _, batch = arena_batch(policy, reference)
    with torch.no_grad():
        margins = algorithm.margins(batch)[0]
    assert float(margins.abs().min()) > 0.1
    assert bool((margins > 0).any()) and bool((margins < 0).any())
    assert bool((2.0 * margins > 1).any()) and bool((2.0 * margins < 1).any())


def test_paper_ipo_differs_from_trl_ipo(models: tuple[Policy, torch.nn.Module], tmp_path: Path) -> None:
    """Arena's default IPO (summed log-ratios, as in Azar et al.) is not TRL's `ipo`: the parity above
    needs `length_normalized: true`, and the comparison is sensitive enough to tell them apart."""
    policy, reference = models
    trl_loss, *_ = trl_side(policy, reference, tmp_path, loss_type=["ipo"], beta=0.5)
    paper_loss, *_ = arena_side(IPO(IPOArgs(tau=0.5)), policy, reference)
    assert abs(float(paper_loss) - float(trl_loss)) > 0.1
