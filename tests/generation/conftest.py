"""Tiny models built once per session: nothing is downloaded, every model is a few hundred KB."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.policy import Policy, load_policy
from arena.tiny import SAMPLE_CORPUS, build_tiny_model, make_eos_likely


@pytest.fixture(scope="session")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_model_dir(models_root: Path) -> Path:
    """The tiny policy: tokenizer trained on SAMPLE_CORPUS, random Llama with seed 0."""
    return build_tiny_model(models_root / "tiny", SAMPLE_CORPUS, seed=0)


@pytest.fixture(scope="session")
def reference_model_dir(models_root: Path) -> Path:
    """Same tokenizer (same corpus), other weights (seed 1): a reference for the mixture sampler."""
    return build_tiny_model(models_root / "reference", SAMPLE_CORPUS, seed=1)


@pytest.fixture(scope="session")
def eos_model_dir(models_root: Path, tiny_model_dir: Path) -> Path:
    """The tiny model edited to end each step with EOS with probability about 0.25, saved by arena.policy."""
    policy = load_policy(tiny_model_dir)
    make_eos_likely(policy.model, policy.tokenizer.eos_token_id, 0.25)
    return policy.save(models_root / "eos")


@pytest.fixture(scope="session")
def tiny_policy(tiny_model_dir: Path) -> Policy:
    """Loaded once; tests must not change it."""
    return load_policy(tiny_model_dir)


@pytest.fixture(scope="session")
def reference_policy(reference_model_dir: Path) -> Policy:
    return load_policy(reference_model_dir)


@pytest.fixture(scope="session")
def eos_policy(eos_model_dir: Path) -> Policy:
    return load_policy(eos_model_dir)


@pytest.fixture
def prompts() -> list[str]:
    """Prompts of different lengths (left padding matters), the empty one included (it is just BOS)."""
    return ["The quick brown fox", "Question: what is two plus three?", "", "Pick one:"]
