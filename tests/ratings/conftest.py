"""Real comparison data for the ratings tests: it lives in ../shared/data (CI has it at the same place).

A clone made elsewhere (`git clone . "$(mktemp -d)"`) has no ../shared beside it; it finds the data
beside the local repository it was cloned from. ARENA_SHARED_DATA names the folder outright.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]


def _candidates() -> list[Path]:
    places = [Path(os.environ["ARENA_SHARED_DATA"])] if os.environ.get("ARENA_SHARED_DATA") else []
    places.append(REPO.parent / "shared" / "data")
    origin = subprocess.run(
        ["git", "-C", str(REPO), "config", "--get", "remote.origin.url"], capture_output=True, text=True
    ).stdout.strip()
    if origin and Path(origin).is_dir():  # a clone of a repository on this machine
        places.append(Path(origin).resolve().parent / "shared" / "data")
    return places


SHARED_DATA = next((p for p in _candidates() if (p / "README.md").is_file()), REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; a missing folder fails the test (it must not pass by skipping)."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.fail(
            f"real comparison data not found at {SHARED_DATA}: the ratings tests need ../shared/data "
            "beside the repository (see ../shared/data/README.md for where each file comes from)"
        )
    return SHARED_DATA


AlpacaMatches = tuple[pd.DataFrame, str, int]


@pytest.fixture(scope="session")
def alpaca_eval_matches(shared_data: Path) -> Callable[[str], AlpacaMatches]:
    """AlpacaEval verdicts as matches, exactly as AlpacaEval's describe_head2head reads them: the
    evaluated model (the `model` column: its results folder) as model_a, the baseline as model_b,
    p_a = preference - 1 with draws coded 0 counted as 1.5, unreadable (null) verdicts dropped.

    Returns (matches, baseline, number of dropped verdicts).
    """

    def convert(name: str) -> AlpacaMatches:
        verdicts = pd.read_csv(shared_data / "alpaca_eval" / name)
        preference = verdicts["preference_json"].replace(0.0, 1.5)
        readable = preference.notna().to_numpy()
        baselines = verdicts["model_a"].unique()
        assert len(baselines) == 1, baselines
        matches = pd.DataFrame(
            {
                # `model`, not `model_b`: in two AlpacaEval 1.0 folders model_b names another generator.
                "model_a": verdicts["model"][readable],
                "model_b": verdicts["model_a"][readable],
                "p_a": preference[readable] - 1.0,
                "prompt_id": verdicts["question_id"][readable],
                "judge": verdicts["annotator"][readable],
            }
        )
        return matches, str(baselines[0]), int((~readable).sum())

    return convert


@pytest.fixture(scope="session")
def chatbot_arena_json(shared_data: Path) -> Path:
    return shared_data / "chatbot_arena_20240814" / "chatbotarena_20240814.json"


def random_win_rates(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.random((n, n)), 1)
    W = upper + np.tril(1.0 - upper.T, -1)
    np.fill_diagonal(W, 0.5)
    return W


@pytest.fixture
def random_W() -> Callable[[int, int], np.ndarray]:
    return random_win_rates
