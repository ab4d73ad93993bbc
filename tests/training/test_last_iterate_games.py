"""MPO, INPO, EGPO and Nash Mirror Prox through `arena train` on the games, against the oracle judge: each
last iterate reaches its known answer (pi*_tau solved from its defining equation; raters3's Nash
equilibrium (0.5, 0.2, 0.3) in closed form), and SPPO's last iterate on the same game does not.

Steps come from the tabular iteration (tests/training/last_iterate_points.py): from mu, the cases below need
10 (inpo), 7 (mpo), 9 (egpo) and 6 (nash-mp) iterations to come within 0.003 of pi*_tau, and an iteration
is fitted in 10 optimizer steps (each of the extragradient ones' two phases too). The errors quoted
beside the cases were measured across seeds 0-2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arena.ratings import exploitability
from arena.testing import run_arena
from arena.training.metrics import read_metrics
from arena_plugins.games import GAMES
from tests.training.fixed_points import regularised_nash

pytestmark = pytest.mark.slow

RATERS3_NASH = np.array([0.5, 0.2, 0.3])  # closed form (docs/last-iterate.md), also checked against an LP

RECIPE = """\
kind: train
name: run
algorithm: {algorithm}
args: {args}
policy: {model}
task: {game}
training:
  steps: {steps}
  batch_size: {batch}
  learning_rate: {lr}
  schedule: linear
  max_grad_norm: null
  log_every: 10
"""


def train(
    tmp_path: Path,
    model: Path,
    algorithm: str,
    args: str,
    game: str,
    steps: int,
    batch: int,
    lr: float = 2e-3,
) -> Path:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "run.yaml").write_text(
        RECIPE.format(algorithm=algorithm, args=args, model=model, game=game, steps=steps, batch=batch, lr=lr)
    )
    result = run_arena(["train", "run.yaml"], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    return tmp_path / "runs" / "run"


def final_probs(run: Path) -> np.ndarray:
    return np.array(json.loads((run / "summary.json").read_text())["final"]["action_probs"])


def regularised_target(game: str, tau: float) -> np.ndarray:
    P, mu = np.array(GAMES[game].preferences), np.array(GAMES[game].reference)
    return regularised_nash(P, mu, tau)


# (algorithm, args, game, tau, steps, batch). The noise a sampled batch leaves in a fitted step is
# amplified by b, the step's weight on P(y > O) (eta, or eta / (1 + eta tau)), so the raters3 cases keep
# b at 5-6.7 on batches of 2048 pairs: at 512, or with EGPO's b = 9, the last iterate sat 0.01-0.03 from
# pi*_tau; the dice's weaker preferences leave less noise (0.0005-0.006 at 512 with b = 10).
# Measured over seeds 0-2 (max abs from pi*_tau): inpo 0.005-0.007, mpo 0.0005-0.006, egpo 0.001-0.006,
# nash-mp 0.006-0.009.
CASES = [
    ("inpo", "{tau: 0.1, eta: 5.0, iteration_steps: 10}", "raters3", 0.1, 150, 2048),
    ("mpo", "{tau: 0.05, eta: 20.0, iteration_steps: 10}", "dice", 0.05, 150, 512),
    ("egpo", "{tau: 0.05, eta: 5.0, iteration_steps: 10}", "raters3", 0.05, 180, 2048),
    ("nash-mp", "{beta: 0.05, eta: 10.0, iteration_steps: 10}", "raters3", 0.05, 160, 2048),
]


@pytest.mark.parametrize(
    ("algorithm", "args", "game", "tau", "steps", "batch"), CASES, ids=[c[0] for c in CASES]
)
def test_last_iterate_reaches_the_regularised_equilibrium(
    tmp_path: Path,
    game_model_dir: Path,
    algorithm: str,
    args: str,
    game: str,
    tau: float,
    steps: int,
    batch: int,
) -> None:
    run = train(tmp_path, game_model_dir, algorithm, args, game, steps, batch)
    target = regularised_target(game, tau)
    assert np.max(np.abs(target - np.array(GAMES[game].reference))) > 0.09  # far from where it starts
    assert np.max(np.abs(final_probs(run) - target)) < 0.03
    P, mu = np.array(GAMES[game].preferences), np.array(GAMES[game].reference)
    summary = json.loads((run / "summary.json").read_text())["final"]
    assert summary["exploitability"] < 0.2 * exploitability(P, mu, mu, tau)  # the reference's, at this tau


def test_mpo_with_magnet_refresh_reaches_nash_where_sppo_cycles(tmp_path: Path, game_model_dir: Path) -> None:
    """raters3's Nash equilibrium (0.5, 0.2, 0.3): MPO's last iterate with the magnet refreshed every 5
    iterations (tau 0.05, eta 10: within 0.01 for good after 25 tabular iterations) reaches it within
    0.03 (measured 0.009-0.013, seeds 0-2), while SPPO's (multiplicative weights, eta 2) drifts away from
    it: 0.265-0.273 from it after 15 iterations (seeds 0-2; the tabular iteration's last iterate stays
    0.19 or more away for good, test_last_iterate_tabular.py)."""
    mpo = train(
        tmp_path / "mpo",
        game_model_dir,
        "mpo",
        "{tau: 0.05, eta: 10.0, iteration_steps: 10, magnet_every: 5}",
        "raters3",
        steps=300,
        batch=2048,
        lr=1e-3,  # at 2e-3 the refreshed magnets inherit more of the fits' noise: 0.009-0.025 from Nash
    )
    mpo_distance = np.max(np.abs(final_probs(mpo) - RATERS3_NASH))
    assert mpo_distance < 0.03
    sppo = train(
        tmp_path / "sppo",
        game_model_dir,
        "sppo",
        "{eta: 2.0, samples: 4, iteration_steps: 10}",
        "raters3",
        steps=150,
        batch=256,
    )
    sppo_distance = np.max(np.abs(final_probs(sppo) - RATERS3_NASH))
    assert sppo_distance > 0.2
    # both runs start at uniform mu, 0.167 from Nash: MPO closed that gap, SPPO widened it
    rows = [row for row in read_metrics(sppo / "metrics.jsonl") if "action_probs" in row]
    distances = [np.max(np.abs(np.array(row["action_probs"]) - RATERS3_NASH)) for row in rows]
    assert distances[-1] > distances[0]


def test_inpo_refuses_eta_tau_of_one_or_more(tmp_path: Path, game_model_dir: Path) -> None:
    (tmp_path / "run.yaml").write_text(
        RECIPE.format(
            algorithm="inpo",
            args="{tau: 0.1, eta: 10.0}",
            model=game_model_dir,
            game="raters3",
            steps=1,
            batch=2,
            lr=0.002,
        )
    )
    result = run_arena(["train", "run.yaml"], cwd=tmp_path)
    expected = (
        "run.yaml: args.eta: expected eta * tau < 1 (the anchor pi_t keeps weight 1 - eta tau), got 1\n"
    )
    assert (result.returncode, result.stderr) == (2, expected)
    assert not (tmp_path / "runs").exists()  # nothing written
