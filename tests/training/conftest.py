"""A tiny model whose tokenizer spells every game action as one token, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.tiny import SAMPLE_CORPUS, build_tiny_model
from arena_plugins.games import game_corpus


@pytest.fixture(scope="session")
def game_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("game-model")
    return build_tiny_model(root / "game", list(SAMPLE_CORPUS) + game_corpus(), seed=0)
