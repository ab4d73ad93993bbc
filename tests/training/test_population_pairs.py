"""Offline pairs as a population (issue 19, item 3) and pair weights through the data pipeline.

The known answer (KNOWN_ANSWERS.md section 2): offline IPO on pairs sampled from mu, with pi_ref = mu, is
the minimiser of the weighted least squares sum_{i != j} mu(i) mu(j) (h_i - h_j - (P[i][j] - 1/2) / tau)^2
over h = log(pi / mu). It is solved here by numpy's least squares on those equations, checked against the
closed form pi proportional to mu exp(P mu / tau) (docs/training.md derives it), and reached through
`arena train` full batch with Adam. Every run is `arena.train`, in-process: the CLI's code path without
its start-up (5 s a run on the shared CI cores). The weight tests train on JSONL files of game pairs; the
loss checks write DPO's and IPO's weighted means out on a batch.
"""

from __future__ import annotations

import copy
import json
from itertools import permutations
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from arena.errors import ArenaError
from arena.policy import Policy, load_policy
from arena.training.algorithm import TrainContext
from arena.training.data import tokenize_pairs
from arena.training.examples import PolicyCollator
from arena_plugins.dpo import DPOArgs, IPOArgs
from arena_plugins.dpo.losses import DPO, IPO
from arena_plugins.games import GAMES
from tests.training.test_losses import PAIRS, log_sigmoid, naive_log_ratios

REPO = Path(__file__).resolve().parents[2]
RECIPE = "recipes/games/dice-population-ipo.yaml"  # full batch, Adam at 0.01, 120 steps
TAU = 0.1


def population_ipo_limit(P: np.ndarray, mu: np.ndarray, tau: float) -> np.ndarray:
    """argmin over pi of sum_{i != j} mu_i mu_j (log(pi_i/mu_i) - log(pi_j/mu_j) - (P_ij - 1/2)/tau)^2: one
    weighted least-squares row per ordered pair, solved for h = log(pi / mu) (defined up to a constant)."""
    pairs = list(permutations(range(len(mu)), 2))
    design = np.zeros((len(pairs), len(mu)))
    target = np.zeros(len(pairs))
    for row, (i, j) in enumerate(pairs):
        scale = np.sqrt(mu[i] * mu[j])
        design[row, i], design[row, j] = scale, -scale
        target[row] = scale * (P[i, j] - 0.5) / tau
    h = np.linalg.lstsq(design, target, rcond=None)[0]
    pi = mu * np.exp(h - h.max())
    return pi / pi.sum()


def train_population(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, game: str) -> list[float]:
    """The shipped recipe (offline IPO on the game's population pairs, full batch) through `arena.train`
    (in-process `arena train`), from the repository root as its comment says, on `game`."""
    import arena

    monkeypatch.chdir(REPO)
    run = arena.train(RECIPE, output=str(tmp_path / game), task__name=game)
    assert run.summary["examples"] == 6 and run.steps == 120
    assert run.summary["final"]["exploitability"] > 0  # logged at tau = 0.1, the recipe's
    return run.metrics["action_probs"]


@pytest.mark.slow
def test_offline_ipo_on_pairs_sampled_from_mu_reaches_the_published_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dice = GAMES["dice"]
    P, mu = np.array(dice.preferences), np.array(dice.reference)
    exact = population_ipo_limit(P, mu, TAU)
    closed_form = mu * np.exp(P @ mu / TAU)
    assert exact == pytest.approx(closed_form / closed_form.sum(), abs=1e-12)
    assert exact == pytest.approx([0.6600, 0.2237, 0.1163], abs=1e-4)  # KNOWN_ANSWERS.md section 2
    assert train_population(tmp_path, monkeypatch, "dice") == pytest.approx(exact.tolist(), abs=1e-3)


@pytest.mark.slow
def test_raters3_population_pairs_reach_mu_exp_p_mu_over_tau(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raters = GAMES["raters3"]
    P, mu = np.array(raters.preferences), np.array(raters.reference)
    exact = population_ipo_limit(P, mu, TAU)
    closed_form = mu * np.exp(P @ mu / TAU)
    assert exact == pytest.approx(closed_form / closed_form.sum(), abs=1e-12)
    # Not the Nash equilibrium (0.5, 0.2, 0.3): offline IPO answers the reference's population (uniform
    # here, so green, the Borda winner against mu, leads), not the equilibrium.
    assert np.argmax(exact) == 1
    assert train_population(tmp_path, monkeypatch, "raters3") == pytest.approx(exact.tolist(), abs=1e-3)


# ---- weights through `arena.train` on a JSONL file -------------------------------------------------------

GAME_PAIRS = [("red", "green", 0.9), ("green", "blue", 0.7), ("blue", "red", 0.4)]


def write_pairs(path: Path, rows: list[tuple[str, str, float]], weights: list[float] | None) -> Path:
    lines = []
    for index, (chosen, rejected, label) in enumerate(rows):
        row: dict[str, Any] = {"prompt": "Pick one:", "chosen": chosen, "rejected": rejected, "label": label}
        if weights is not None:
            row["weight"] = weights[index]
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")
    return path


def train_pairs(
    tmp_path: Path, model: Path, name: str, data: Path, batch: int, accumulation: int = 1
) -> list[dict[str, Any]]:
    """The logged records (every step) of IPO on `data`, without the timing fields."""
    import arena

    recipe = {
        "kind": "train",
        "name": name,
        "algorithm": "ipo",
        "args": {"tau": 0.5},
        "policy": str(model),
        "task": "dice",  # sets the policy to mu and logs action_probs; the pairs come from `data`
        "data": str(data),
        "output": str(tmp_path / name),
        "training": {
            "steps": 8,
            "batch_size": batch,
            "gradient_accumulation": accumulation,
            "learning_rate": 0.003,
            "schedule": "constant",
            "max_grad_norm": None,
            "log_every": 1,
        },
    }
    run = arena.train(recipe)
    records = [json.loads(line) for line in run.metrics_file.read_text().splitlines()]
    timing = ("examples_per_second",)
    return [{k: v for k, v in record.items() if k not in timing} for record in records]


@pytest.mark.slow
def test_weights_of_one_or_any_constant_give_exactly_the_run_without_a_weight_column(
    tmp_path: Path, game_model_dir: Path
) -> None:
    """Bit for bit. Weights all 1 carry none (the plain mean's own path); weights all 2 are scaled by
    B / sum(w) = 1/2 to exactly 1.0, and multiplying by 1.0 changes no float: the same float32 operations
    in the same order on the CPU, which torch computes deterministically."""
    plain = train_pairs(
        tmp_path, game_model_dir, "plain", write_pairs(tmp_path / "a.jsonl", GAME_PAIRS, None), 3
    )
    ones = write_pairs(tmp_path / "b.jsonl", GAME_PAIRS, [1.0, 1.0, 1.0])
    twos = write_pairs(tmp_path / "c.jsonl", GAME_PAIRS, [2.0, 2.0, 2.0])
    assert train_pairs(tmp_path, game_model_dir, "ones", ones, 3) == plain
    assert train_pairs(tmp_path, game_model_dir, "twos", twos, 3) == plain
    assert plain[-1]["action_probs"] != pytest.approx(plain[0]["action_probs"], abs=1e-3)  # it trained


@pytest.mark.slow
def test_a_weight_of_two_equals_the_row_duplicated(tmp_path: Path, game_model_dir: Path) -> None:
    weighted = write_pairs(tmp_path / "w.jsonl", GAME_PAIRS, [2.0, 1.0, 1.0])
    duplicated = write_pairs(tmp_path / "d.jsonl", [GAME_PAIRS[0], *GAME_PAIRS], None)
    once = train_pairs(tmp_path, game_model_dir, "weighted", weighted, 3)
    twice = train_pairs(tmp_path, game_model_dir, "duplicated", duplicated, 4)
    for a, b in zip(once, twice, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5, abs=1e-5)
        assert a["action_probs"] == pytest.approx(b["action_probs"], abs=1e-6)


@pytest.mark.slow
def test_weighted_steps_are_the_same_with_gradient_accumulation(tmp_path: Path, game_model_dir: Path) -> None:
    """Batches of 4 of 6 weighted pairs (each step its own total weight), in one micro-batch or in two."""
    rows = [*GAME_PAIRS, *[(b, a, 1 - p) for a, b, p in GAME_PAIRS]]
    data = write_pairs(tmp_path / "six.jsonl", rows, [0.5, 3.0, 1.0, 0.25, 2.0, 1.5])
    whole = train_pairs(tmp_path, game_model_dir, "whole", data, 4)
    split = train_pairs(tmp_path, game_model_dir, "split", data, 4, accumulation=2)
    for a, b in zip(whole, split, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5, abs=1e-5)
        assert a["action_probs"] == pytest.approx(b["action_probs"], abs=1e-6)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(-1, "-1.0"), (0, "0.0"), ("heavy", "'heavy'"), (None, "None"), (float("nan"), "nan")],
)
def test_a_bad_weight_is_one_line_naming_the_file_row_and_column(
    tmp_path: Path, game_model_dir: Path, value: Any, shown: str
) -> None:
    data = tmp_path / "bad.jsonl"
    rows = [{"prompt": "Pick one:", "chosen": "red", "rejected": "blue", "score": 1.0}] * 2
    rows[1] = {**rows[1], "score": value}
    data.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(
        f"kind: train\nname: bad\nalgorithm: dpo\npolicy: {game_model_dir}\n"
        f"data: {{path: {data}, columns: {{weight: score}}}}\ntraining: {{steps: 1, batch_size: 2}}\n"
    )
    import arena

    with pytest.raises(ArenaError) as raised:
        arena.train(str(recipe), output=str(tmp_path / "out"))
    assert str(raised.value) == (
        f"{recipe}: data: '{data}' row 2, column 'score': expected a positive number, got {shown}"
    )
    assert not (tmp_path / "out").exists()


# ---- the losses on a batch, written out ------------------------------------------------------------------

WEIGHTS = np.array([0.5, 2.0, 1.0, 3.0])


@pytest.fixture(scope="module")
def models(game_model_dir: Path) -> tuple[Policy, Policy]:
    """A policy a little away from its frozen reference (margins neither zero nor one-signed)."""
    policy = load_policy(game_model_dir, dtype=torch.float32, device="cpu")
    reference = Policy(
        copy.deepcopy(policy.model).requires_grad_(False).eval(), policy.tokenizer, policy.source
    )
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for parameter in policy.model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return policy, reference


def weighted_losses(
    algorithm: DPO | IPO, models: tuple[Policy, Policy], steps: list[list[list[int]]]
) -> list[float]:
    """For each step (its micro-batches, over any processes), the Trainer's loss: every micro-batch's
    sum of per-example losses, summed, over the step's batch size."""
    policy, reference = models
    rows = [{**row, "weight": float(w)} for row, w in zip(PAIRS, WEIGHTS, strict=True)]
    examples = tokenize_pairs(rows, policy, max_length=1024, add_eos=True).examples
    collator = PolicyCollator(
        "pairs", examples, policy.tokenizer.pad_token_id, torch.device("cpu"), reference
    )
    algorithm.setup(TrainContext(policy, None, torch.device("cpu")))
    result = []
    for micro_batches in steps:
        global_batch = [i for part in micro_batches for i in part]
        collator.start_step(global_batch)
        with torch.no_grad():
            total = sum(float(algorithm.loss(collator(part)).losses.sum()) for part in micro_batches)
        result.append(total / len(global_batch))
    return result


# The whole batch in one micro-batch; in two (gradient accumulation, or two processes' shares); and a
# step of pairs 3 and 1 only, weighted against its own total.
STEPS = [[[0, 1, 2, 3]], [[0, 1], [2, 3]], [[3], [1]]]


def expected_means(losses: np.ndarray) -> list[float]:
    means = []
    for micro_batches in STEPS:
        rows = [i for part in micro_batches for i in part]
        means.append(float((WEIGHTS[rows] * losses[rows]).sum() / WEIGHTS[rows].sum()))
    return means


def test_dpo_loss_is_the_weighted_mean_of_its_pairs(models: tuple[Policy, Policy]) -> None:
    beta = 0.5
    chosen, rejected = naive_log_ratios(*models, normalize=False)
    h = chosen - rejected
    p = np.array([float(row.get("label", 1.0)) for row in PAIRS])
    losses = -p * log_sigmoid(beta * h) - (1 - p) * log_sigmoid(-beta * h)  # DPO under soft labels
    got = weighted_losses(DPO(DPOArgs(beta=beta)), models, STEPS)
    assert got == pytest.approx(expected_means(losses), rel=1e-5, abs=1e-5)
    assert got[0] != pytest.approx(float(losses.mean()), rel=1e-3)  # the weights matter here


def test_ipo_loss_is_the_weighted_mean_of_its_pairs(models: tuple[Policy, Policy]) -> None:
    tau = 0.25
    chosen, rejected = naive_log_ratios(*models, normalize=False)
    p = np.array([float(row.get("label", 1.0)) for row in PAIRS])
    losses = (chosen - rejected - (2 * p - 1) / (2 * tau)) ** 2
    got = weighted_losses(IPO(IPOArgs(tau=tau)), models, STEPS)
    # IPO's square doubles the margins' float32 rounding (about 1e-5: tests/training/test_losses.py).
    assert got == pytest.approx(expected_means(losses), rel=5e-5, abs=5e-5)
