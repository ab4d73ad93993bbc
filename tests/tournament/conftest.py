"""Tiny entrants, a prompt file, and judges installed as a real plugin that log every call they get."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from arena.testing import install_fixture_plugin
from arena.tiny import SAMPLE_CORPUS, build_tiny_model

JUDGES = '''
import json
import math
import os
import time
from dataclasses import dataclass

from arena import hookimpl


def log_call(kind, prompts, a, b=None):
    path = os.environ.get("ARENA_TEST_JUDGE_LOG")
    if path:
        with open(path, "a") as stream:
            for i, prompt in enumerate(prompts):
                stream.write(json.dumps([kind, prompt, a[i], b[i] if b is not None else None]) + "\\n")


@dataclass
class Args:
    bias: float = 0.1  # position bias toward the first response; judging both orders must cancel it
    delay: float = 0.0  # seconds per call, to give kill tests a window


def biased_preference(a, b, bias):
    """P(a beats b): shorter is better, plus a bias toward whichever is shown first."""
    return min(1.0, max(0.0, 0.5 + bias + 0.02 * (len(b) - len(a))))


class BiasedShorter:
    def __init__(self, args):
        self.args = args
        self.verdicts = 0

    def counters(self):
        return {"verdicts": self.verdicts, "unreadable": 0}

    def compare(self, prompts, a, b):
        log_call("compare", prompts, a, b)
        self.verdicts += len(a)
        time.sleep(self.args.delay)
        return [biased_preference(x, y, self.args.bias) for x, y in zip(a, b)]


class ShorterScore:
    def __init__(self, args):
        self.args = args

    def score(self, prompts, responses):
        log_call("score", prompts, responses)
        time.sleep(self.args.delay)
        return [-len(r) / 10 for r in responses]

    def compare(self, prompts, a, b):
        ra, rb = self.score(prompts, a), self.score(prompts, b)
        return [1 / (1 + math.exp(y - x)) for x, y in zip(ra, rb)]


class Broken:
    def __init__(self, args):
        self.args = args

    def compare(self, prompts, a, b):
        return [float("nan")] * len(a)


@hookimpl
def register_judges(register):
    register("biased-shorter", BiasedShorter, config=Args)
    register("shorter-score", ShorterScore, config=Args)
    register("broken", Broken, config=Args)
'''


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def judge_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("judges-site")
    install_fixture_plugin(site, "test-judges", "arena_test_judges", JUDGES)
    return site


@pytest.fixture(scope="session")
def entrants(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four tiny models that differ only in their random weights."""
    root = tmp_path_factory.mktemp("entrants")
    return [build_tiny_model(root / f"m{seed}", SAMPLE_CORPUS, seed=seed) for seed in range(4)]


@pytest.fixture
def arena_env(judge_site: Path, tmp_path: Path) -> dict[str, str]:
    pythonpath = os.pathsep.join(filter(None, [str(judge_site), os.environ.get("PYTHONPATH")]))
    return {
        "PYTHONPATH": pythonpath,
        "ARENA_TEST_JUDGE_LOG": str(tmp_path / "judge-calls.jsonl"),
        "OMP_NUM_THREADS": "1",
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    }


@pytest.fixture
def judge_calls(tmp_path: Path) -> Callable[[], list[list[str]]]:
    """Every item the fixture judges were asked about so far, as [kind, prompt, a, b]."""

    def read() -> list[list[str]]:
        log = tmp_path / "judge-calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return read


CUP_RECIPE = """\
kind: tournament
name: cup
entrants:
{entrants}
prompts: prompts.jsonl
samples_per_prompt: 2
generation: {{max_new_tokens: 6, {sampling}}}
backend: {backend}
judge: {{name: {judge}, args: {{{judge_args}}}}}
ratings: {{bootstrap: 50}}
commit_every: {commit_every}
"""


def write_cup_recipe(
    directory: Path,
    models: list[Path],
    *,
    sampling: str,
    judge: str = "biased-shorter",
    judge_args: str = "",
    backend: str = "hf",
    commit_every: int = 64,
) -> Path:
    """DIRECTORY/cup.yaml: a tournament named cup of MODELS as e0, e1, ... on DIRECTORY/prompts.jsonl.

    `sampling` and `judge_args` are YAML flow-mapping entries, e.g. "seed: 5" and "delay: 0.02".
    """
    lines = "\n".join(f"  - {{name: e{i}, model: {model}}}" for i, model in enumerate(models))
    recipe = directory / "cup.yaml"
    recipe.write_text(
        CUP_RECIPE.format(
            entrants=lines,
            sampling=sampling,
            backend=backend,
            judge=judge,
            judge_args=judge_args,
            commit_every=commit_every,
        )
    )
    return recipe


@pytest.fixture
def write_prompts() -> Callable[[Path, int], Path]:
    return _write_prompts


def _write_prompts(path: Path, count: int) -> Path:
    subjects = [
        "The cat",
        "A dog",
        "The sun",
        "Birds",
        "The river",
        "A child",
        "The wind",
        "Rain",
        "The moon",
        "A tree",
        "The sea",
        "Snow",
    ]
    with path.open("w") as stream:
        for i in range(count):
            stream.write(json.dumps({"prompt": f"{subjects[i % len(subjects)]} number {i}"}) + "\n")
    return path
