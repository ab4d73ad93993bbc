"""Packed pair scoring: [prompt, chosen, rejected] as one row against each sequence scored alone.

The independent side runs the model on each prompt + completion by itself (no padding, no attention mask,
no position ids, no chunking) and takes a float64 log-softmax of the full logits. Arena's side is
`pair_logprobs` on batches built by `arena.training.data` (padded, some prompts cut from the left). Both
sides are float32 models; summed log-probs (about -10 to -60 nats here) agree to 1e-4 absolute (measured
differences are ~4e-6: the float32 summation order of attention differs between one packed row and two).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

from arena.policy import Policy, load_tokenizer
from arena.training import pair_scoring
from arena.training.algorithm import TrainContext
from arena.training.data import PairExample, collate_pairs, tokenize_pairs
from arena.training.pair_scoring import pack_pairs, packing_unsupported, pair_logprobs
from arena_plugins.dpo import DPOArgs
from arena_plugins.dpo.losses import DPO

LOGPROB_TOLERANCE = 1e-4
GRADIENT_TOLERANCE = 1e-4  # relative to the largest gradient entry of the parameter

ROWS = [
    {
        "prompt": "Question: what is two plus three? Answer:",
        "chosen": " five.",
        "rejected": " six, I think so.",
    },
    {"prompt": "The quick brown fox", "chosen": " jumps over the lazy dog.", "rejected": " sleeps."},
    {"prompt": "Pick one: yes or no.", "chosen": " The answer is yes, clearly.", "rejected": " No."},
    {
        "prompt": "Write a haiku about the sea, with waves and gulls and wind, in three short lines.",
        "chosen": " Waves fold into foam; the gulls argue with the wind.",
        "rejected": " It was a bright cold day in April, and the clocks were striking thirteen.",
    },
]
MAX_LENGTH = 24  # cuts the long prompts from the left (and one long completion from the right)


def load_model(model_dir: Path, attention: str) -> Any:
    return transformers.AutoModelForCausalLM.from_pretrained(
        model_dir, attn_implementation=attention, dtype=torch.float32
    ).eval()


def examples(model_dir: Path) -> list[PairExample]:
    tokenizer = load_tokenizer(model_dir)
    policy = Policy(None, tokenizer, str(model_dir))  # tokenising needs only the tokenizer
    tokenized = tokenize_pairs(ROWS, policy, MAX_LENGTH, add_eos=True)
    assert tokenized.truncated >= 2, "the test needs left-truncated prompts"
    return tokenized.examples


def alone(model: Any, prompt: tuple[int, ...], completion: tuple[int, ...]) -> torch.Tensor:
    """log pi(completion | prompt) summed, the sequence run by itself, float64 full-vocabulary softmax."""
    if not completion:
        return torch.zeros((), dtype=torch.float64)
    sequence = torch.tensor([list(prompt) + list(completion)])
    logits = model(input_ids=sequence).logits[0].double()
    logprobs = torch.log_softmax(logits[:-1], dim=-1)
    targets = sequence[0, 1:]
    per_token = logprobs.gather(-1, targets[:, None])[:, 0]
    return per_token[len(prompt) - 1 :].sum()


def alone_pairs(model: Any, pairs: list[PairExample]) -> torch.Tensor:
    chosen = [alone(model, e.prompt_ids, e.chosen_ids) for e in pairs]
    rejected = [alone(model, e.prompt_ids, e.rejected_ids) for e in pairs]
    return torch.stack(chosen + rejected)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("chunk_size", [1, 5, 64])
def test_packed_logprobs_equal_each_sequence_alone(
    game_model_dir: Path, attention: str, chunk_size: int
) -> None:
    model = load_model(game_model_dir, attention)
    pairs = examples(game_model_dir)
    assert len({len(e.chosen_ids) for e in pairs} | {len(e.rejected_ids) for e in pairs}) > 2
    batch = collate_pairs(pairs, pad_id=0, reference_logprobs=None)
    layout = pack_pairs(batch)
    assert layout is not None and packing_unsupported(model, layout.input_ids.shape[1]) is None
    # The packed rows hold every prompt once: fewer tokens than the unpacked rows.
    packed_tokens = sum(len(e.prompt_ids) + len(e.chosen_ids) + len(e.rejected_ids) for e in pairs)
    assert int((layout.position_ids > 0).sum()) + len(pairs) == packed_tokens
    assert packed_tokens < int(batch.attention_mask.sum())
    with torch.no_grad():
        expected = alone_pairs(model, pairs)
        packed = pair_logprobs(model, batch, chunk_size=chunk_size)
        unpacked = pair_logprobs(model, batch, chunk_size=chunk_size, packed=False)
    assert packed.shape == (2 * len(pairs),)
    torch.testing.assert_close(packed.double(), expected, atol=LOGPROB_TOLERANCE, rtol=0)
    torch.testing.assert_close(packed, unpacked, atol=LOGPROB_TOLERANCE, rtol=0)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("precision", ["bf16-weights", "bf16-autocast"])
def test_packed_logprobs_in_bf16(game_model_dir: Path, attention: str, precision: str) -> None:
    """In bf16 (weights, or autocast over fp32 weights as training.precision bf16 runs) packed and unpacked
    rows round differently: measured within 7e-4 of each other on sums of up to 144 nats, and both within
    7e-3 of the fp32 sequences alone. Bounds: 5e-3 between the two, 2e-2 to fp32."""
    pairs = examples(game_model_dir)
    batch = collate_pairs(pairs, pad_id=0, reference_logprobs=None)
    with torch.no_grad():
        expected = alone_pairs(load_model(game_model_dir, attention), pairs)
        model = load_model(game_model_dir, attention)
        if precision == "bf16-weights":
            model = model.to(torch.bfloat16)
            packed, unpacked = pair_logprobs(model, batch), pair_logprobs(model, batch, packed=False)
        else:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                packed, unpacked = pair_logprobs(model, batch), pair_logprobs(model, batch, packed=False)
    assert packed.dtype == torch.float32  # log-softmax in fp32 whatever the body's dtype
    torch.testing.assert_close(packed, unpacked, atol=5e-3, rtol=0)
    torch.testing.assert_close(packed.double(), expected, atol=2e-2, rtol=0)


def test_pack_pairs_layout() -> None:
    """One pair by hand: prompt [11, 12], chosen [21, 22, 23], rejected [31]; a second, shorter pair pads."""
    pairs = [PairExample((11, 12), (21, 22, 23), (31,)), PairExample((13,), (24,), (32, 33))]
    layout = pack_pairs(collate_pairs(pairs, pad_id=0, reference_logprobs=None))
    assert layout is not None
    assert layout.input_ids.tolist() == [[11, 12, 21, 22, 23, 31], [13, 24, 32, 33, 0, 0]]
    assert layout.position_ids.tolist() == [[0, 1, 2, 3, 4, 2], [0, 1, 1, 2, 0, 0]]
    # Rows: queries; columns: keys. Rejected (position 5) sees the prompt and itself, not chosen.
    assert layout.allowed[0, 0].int().tolist() == [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [1, 1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1, 0],
        [1, 1, 0, 0, 0, 1],
    ]
    assert layout.allowed[1, 0].int().tolist() == [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 0, 1, 0, 0, 0],
        [1, 0, 1, 1, 0, 0],
        [1, 1, 1, 1, 1, 0],  # padding: the real tokens before it and itself (no fully masked row)
        [1, 1, 1, 1, 0, 1],
    ]
    # Chosen's tokens are predicted from the state before them; rejected's first from the last prompt token.
    assert layout.targets.tolist() == [[21, 22, 23, 31], [24, 32, 33, 0]]
    assert layout.sources[0].tolist() == [1, 2, 3, 1]
    assert layout.sources[1, :3].tolist() == [0, 0, 2]
    assert layout.chosen.int().tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    assert layout.rejected.int().tolist() == [[0, 0, 0, 1], [0, 1, 1, 0]]


def test_batches_laid_out_otherwise_are_scored_unpacked(game_model_dir: Path) -> None:
    """Rows of a pair with different prompts (a batch not built by collate_pairs) cannot share a prompt."""
    model = load_model(game_model_dir, "sdpa")
    pairs = examples(game_model_dir)
    batch = collate_pairs(pairs, pad_id=0, reference_logprobs=None)
    batch.input_ids[len(pairs), 0] = batch.input_ids[0, 0] + 1  # the first rejected row's prompt differs
    assert pack_pairs(batch) is None
    prompt = batch.input_ids[
        len(pairs), : batch.attention_mask[len(pairs)].sum() - batch.completion_mask[len(pairs)].sum()
    ]
    with torch.no_grad():
        values = pair_logprobs(model, batch)
        expected = alone(model, tuple(prompt.tolist()), pairs[0].rejected_ids)
    torch.testing.assert_close(values[len(pairs)].double(), expected, atol=LOGPROB_TOLERANCE, rtol=0)


@pytest.mark.parametrize(
    ("args", "checkpointing"),
    [
        (DPOArgs(beta=0.2), False),
        (DPOArgs(beta=0.5, rpo_alpha=0.7, length_normalized=True), False),
        (DPOArgs(beta=0.3, loss="hinge"), False),
        (DPOArgs(beta=0.2), True),
    ],
    ids=["sigmoid", "rpo-length-normalized", "hinge", "sigmoid-gradient-checkpointing"],
)
def test_dpo_loss_and_gradients_equal_the_sequences_alone(
    game_model_dir: Path, args: DPOArgs, checkpointing: bool
) -> None:
    """DPO on packed rows against DPO written out from each sequence scored alone (float64 softmax); with
    gradient checkpointing, the packed mask and positions reach the recomputed layers too."""
    reference = load_model(game_model_dir, "sdpa").requires_grad_(False)
    policy = copy.deepcopy(reference).requires_grad_(True)
    if checkpointing:  # transformers checkpoints its layers in training mode (this model has no dropout)
        policy.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        policy.train()
        assert policy.model.gradient_checkpointing
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    pairs = examples(game_model_dir)
    with torch.no_grad():
        reference_values = alone_pairs(reference, pairs)
    batch = collate_pairs(pairs, pad_id=0, reference_logprobs=reference_values.float())

    dpo = DPO(args)
    dpo.setup(_context(policy))
    arena_loss = dpo.loss(batch).losses.mean()
    arena_loss.backward()
    arena_gradients = {name: p.grad.clone() for name, p in policy.named_parameters()}
    policy.zero_grad()

    expected_loss = _dpo_alone(policy, pairs, reference_values, args)
    expected_loss.backward()
    torch.testing.assert_close(arena_loss.double(), expected_loss, atol=1e-5, rtol=1e-5)
    for name, parameter in policy.named_parameters():
        expected = parameter.grad.double()
        scale = float(expected.abs().max())
        assert scale > 0, name
        difference = float((arena_gradients[name].double() - expected).abs().max())
        assert difference <= GRADIENT_TOLERANCE * scale, (name, difference, scale)


def _dpo_alone(policy: Any, pairs: list[PairExample], reference: torch.Tensor, args: DPOArgs) -> torch.Tensor:
    """DPO (Rafailov et al. 2023) with hard labels, RPO's chosen NLL per token, SLiC's hinge."""
    values = alone_pairs(policy, pairs)
    count = len(pairs)
    lengths = torch.tensor(
        [max(1, len(e.chosen_ids)) for e in pairs] + [max(1, len(e.rejected_ids)) for e in pairs],
        dtype=torch.float64,
    )
    ratios = values - reference
    if args.length_normalized:
        ratios = ratios / lengths
    margin = ratios[:count] - ratios[count:]
    if args.loss == "hinge":
        losses = torch.relu(1 - args.beta * margin)
    else:
        losses = -torch.nn.functional.logsigmoid(args.beta * margin)
    losses = losses + args.rpo_alpha * (-values[:count] / lengths[:count])
    return losses.mean()


def _context(model: Any) -> TrainContext:
    return TrainContext(policy=Policy(model, None, "test"), reference=None)  # DPO reads policy.model only


def test_sliding_window_models_are_scored_unpacked(
    game_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A custom 4D mask replaces a model's sliding window: rows wider than the window fall back (warned
    once), and match the sequences alone; packing them anyway would not (checked: it differs)."""
    config = transformers.MistralConfig(
        vocab_size=512,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        sliding_window=4,
    )
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()
    pairs = examples(game_model_dir)
    batch = collate_pairs(pairs, pad_id=0, reference_logprobs=None)
    layout = pack_pairs(batch)
    assert layout is not None
    reason = packing_unsupported(model, layout.input_ids.shape[1])
    assert reason is not None and "sliding-window attention (4 tokens)" in reason
    warnings: list[str] = []
    monkeypatch.setattr(pair_scoring, "_warned", set())
    monkeypatch.setattr("arena.console.warn", warnings.append)
    with torch.no_grad():
        values = pair_logprobs(model, batch)
        pair_logprobs(model, batch)
        expected = alone_pairs(model, pairs)
        forced = pair_scoring._packed_logprobs(model, layout, 64)
    assert warnings == [f"preference pairs are scored unpacked (prompt computed twice): {reason}"]
    torch.testing.assert_close(values.double(), expected, atol=LOGPROB_TOLERANCE, rtol=0)
    assert float((forced.double() - expected).abs().max()) > 0.01
    assert packing_unsupported(model, 4) is None  # rows within the window pack


def test_attention_without_custom_masks_is_scored_unpacked(game_model_dir: Path) -> None:
    model = load_model(game_model_dir, "sdpa")
    model.config._attn_implementation = "flash_attention_2"
    reason = packing_unsupported(model, 16)
    assert reason is not None and "flash_attention_2" in reason


def test_peft_lora_models_pack(game_model_dir: Path) -> None:
    """A peft LoRA model (adapters non-zero) packs through its base decoder, with the adapters applied; the
    LoRA reference (the same model seen with adapters disabled, arena.training.lora) packs as the base."""
    import peft  # the lora extra, installed by make install

    from arena.training.lora import AdaptersDisabled

    base = load_model(game_model_dir, "sdpa")
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = peft.get_peft_model(base, config).eval()
    pairs = examples(game_model_dir)
    batch = collate_pairs(pairs, pad_id=0, reference_logprobs=None)
    layout = pack_pairs(batch)
    assert layout is not None and packing_unsupported(model, layout.input_ids.shape[1]) is None
    with torch.no_grad():
        packed = pair_logprobs(model, batch)
        expected = alone_pairs(model, pairs)
        with model.disable_adapter():
            without_adapters = alone_pairs(model, pairs)
    torch.testing.assert_close(packed.double(), expected, atol=LOGPROB_TOLERANCE, rtol=0)
    assert float((expected - without_adapters).abs().max()) > 0.01  # the adapters change the scores
    reference = AdaptersDisabled(model)
    assert packing_unsupported(reference, layout.input_ids.shape[1]) is None
    with torch.no_grad():
        reference_values = pair_logprobs(reference, batch)
    torch.testing.assert_close(reference_values.double(), without_adapters, atol=LOGPROB_TOLERANCE, rtol=0)
