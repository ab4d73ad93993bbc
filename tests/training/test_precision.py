"""bf16 weights with fp32 master weights, and checkpointing, through the real `arena train` path.

The known answers (KNOWN_ANSWERS.md section 1) are reached with bf16 weights and with gradient
checkpointing on; a resumed bf16 run continues bit for bit (its fp32 master weights are in the checkpoint).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from arena.testing import run_arena
from arena.training.precision import MasterWeightAdamW
from tests.training.fixed_points import ipo_point


@pytest.mark.parametrize("part_values", [2**26, 40], ids=["one-part", "parts"])
def test_master_weights_step_fp32_copies_and_round_into_the_weights(part_values: int) -> None:
    generator = torch.Generator().manual_seed(0)
    starts = [torch.randn(64, generator=generator) + 1.0, torch.randn(4, 8, generator=generator)]
    weights = [torch.nn.Parameter(start.to(torch.bfloat16)) for start in starts]
    optimizer = MasterWeightAdamW(weights, part_values=part_values, lr=1e-3, weight_decay=0.01)
    assert len(optimizer.parts) == (1 if part_values > 96 else 2)  # 40: each parameter steps alone
    # The same AdamW, in fp32, on fp32 copies of the bf16 weights, given the same (bf16) gradients.
    exact = [torch.nn.Parameter(start.to(torch.bfloat16).float()) for start in starts]
    fp32 = torch.optim.AdamW(exact, lr=1e-3, weight_decay=0.01)
    for _ in range(5):
        for weight, copy in zip(weights, exact, strict=True):
            grad = torch.randn(weight.shape, generator=generator).to(torch.bfloat16)
            weight.grad, copy.grad = grad.clone(), grad.float()
        optimizer.step()
        optimizer.zero_grad()
        fp32.step()
        # no gradient outlives the step
        assert all(w.grad is None for w in weights) and all(m.grad is None for m in optimizer.masters)
    for weight, master, copy in zip(weights, optimizer.masters, exact, strict=True):
        assert torch.equal(master, copy.detach())
        assert torch.equal(weight.detach(), copy.detach().to(torch.bfloat16))
        assert optimizer.state[master]["exp_avg"].dtype == torch.float32
    assert optimizer.param_groups[0]["params"] == optimizer.masters  # every part back in the group

    # Resuming restores the fp32 copies, not the rounded weights.
    saved = optimizer.state_dict()
    rounded = [torch.nn.Parameter(w.detach().clone()) for w in weights]
    resumed = MasterWeightAdamW(rounded, part_values=part_values, lr=1e-3, weight_decay=0.01)
    assert not torch.equal(resumed.masters[0], exact[0].detach())
    resumed.load_state_dict(saved)
    for master, copy in zip(resumed.masters, exact, strict=True):
        assert torch.equal(master, copy.detach())


def test_master_weights_keep_updates_bf16_rounds_away() -> None:
    """Adam's step is about lr; at 1.0 a bf16 weight moves in steps of 2^-7, so lr 1e-4 rounds away."""
    results = {}
    for name in ("master", "pure"):
        weight = torch.nn.Parameter(torch.ones(4, dtype=torch.bfloat16))
        options = {"lr": 1e-4, "weight_decay": 0.0}
        optimizer = (
            MasterWeightAdamW([weight], **options)
            if name == "master"
            else torch.optim.AdamW([weight], **options)
        )
        for _ in range(200):
            weight.grad = torch.ones(4, dtype=torch.bfloat16)
            optimizer.step()
            optimizer.zero_grad()
        results[name] = weight.detach().float()
    assert torch.equal(results["pure"], torch.ones(4))  # 200 steps of 1e-4, every one rounded away
    assert results["master"] == pytest.approx([1.0 - 200e-4] * 4, abs=2**-8)  # 0.98, to bf16's resolution


RECIPE = """\
kind: train
name: {name}
algorithm: ipo
args: {{tau: 1.0}}
policy: {model}
task: order3
training: {{steps: 200, batch_size: 3, learning_rate: 0.01, schedule: constant, max_grad_norm: null,
            log_every: 50, {extra}}}
"""


def train_ipo_d1(tmp_path: Path, model: Path, name: str, extra: str) -> list[float]:
    recipe = tmp_path / f"{name}.yaml"
    recipe.write_text(RECIPE.format(name=name, model=model, extra=extra))
    result = run_arena(["train", str(recipe)], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    return json.loads((tmp_path / "runs" / name / "summary.json").read_text())["final"]["action_probs"]


@pytest.mark.slow
def test_ipo_reaches_the_known_answer_with_bf16_weights_and_with_checkpointing(
    tmp_path: Path, game_model_dir: Path
) -> None:
    exact = ipo_point([(0, 1), (1, 2), (0, 2)], 3, 1.0)  # (0.4484, 0.3213, 0.2302)
    checkpointed = train_ipo_d1(tmp_path, game_model_dir, "checkpointed", "gradient_checkpointing: true")
    assert checkpointed == pytest.approx(list(exact), abs=1e-3)  # the fp32 test's tolerance
    bf16 = train_ipo_d1(tmp_path, game_model_dir, "bf16", "dtype: bf16")
    # bf16 logits carry 8 bits: the action probabilities settle within a few 1e-3 of the exact minimiser
    # (measured: 1.8e-3 off at most); allowed 1e-2.
    assert bf16 == pytest.approx(list(exact), abs=1e-2)


PAIRS_RECIPE = """\
kind: train
name: run
algorithm: dpo
args: {{beta: 0.5}}
policy: {model}
task: order3
training: {{steps: 6, batch_size: 3, learning_rate: 0.01, schedule: constant, save_every: 3, dtype: bf16}}
"""


@pytest.mark.slow
def test_a_resumed_bf16_run_continues_bit_for_bit(tmp_path: Path, game_model_dir: Path) -> None:
    whole = tmp_path / "whole"
    whole.mkdir()
    (whole / "recipe.yaml").write_text(PAIRS_RECIPE.format(model=game_model_dir))
    assert run_arena(["train", "recipe.yaml"], cwd=whole, env={"OMP_NUM_THREADS": "1"}).returncode == 0
    # A run stopped after its step-3 checkpoint: the same directory without what came after.
    stopped = tmp_path / "stopped"
    shutil.copytree(whole, stopped)
    run = stopped / "runs" / "run"
    shutil.rmtree(run / "checkpoints" / "step-00000006")
    shutil.rmtree(run / "final")
    (run / "summary.json").unlink()
    resumed = run_arena(["train", "recipe.yaml", "--resume"], cwd=stopped, env={"OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "summary.json").read_text())["resumed_from_step"] == 3
    expected = load_file(whole / "runs" / "run" / "final" / "model.safetensors")
    got = load_file(run / "final" / "model.safetensors")
    assert all(tensor.dtype == torch.bfloat16 for tensor in got.values())
    for name, tensor in expected.items():
        assert torch.equal(got[name], tensor), f"{name} differs after resume"
