"""The built-in `backends` plugin: lazy registration, typed recipe args, no torch at import time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from arena.errors import RecipeError
from arena.generation import HFBackendConfig, SamplingSettings, VLLMBackendConfig
from arena.plugins import make_plugin_host
from arena.recipes import GenerationSettings, parse_recipe
from arena_plugins.backends import VLLMArgs


def test_registers_hf_and_vllm_lazily_with_typed_configs() -> None:
    host = make_plugin_host()
    assert host.backends.by_plugin("backends") == ["hf", "vllm"]
    hf, vllm = host.backends.get("hf"), host.backends.get("vllm")
    # The classes are the host's (arena/generation/), registered through the contract the plugin may import.
    assert (hf.factory, hf.config) == ("arena.api:HFBackend", HFBackendConfig)
    assert (vllm.factory, vllm.config) == ("arena.api:VLLMBackend", VLLMArgs)
    assert issubclass(VLLMArgs, VLLMBackendConfig)  # Arena's settings, plus engine_args for vllm.LLM


def test_listing_plugins_imports_neither_torch_nor_vllm() -> None:
    code = (
        "import sys; from arena.plugins import make_plugin_host; make_plugin_host(); "
        "import arena.generation; print('torch' in sys.modules, 'vllm' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def tournament(tmp_path: Path, backend: dict) -> dict:
    for name in ("a", "b"):
        (tmp_path / name).mkdir(exist_ok=True)
        for file in ("config.json", "model.safetensors", "tokenizer.json"):  # what validation looks for
            (tmp_path / name / file).write_text("{}")
    return {
        "kind": "tournament",
        "name": "t",
        "entrants": [
            {"name": "a", "model": str(tmp_path / "a")},
            {"name": "b", "model": str(tmp_path / "b")},
        ],
        "judge": "game-oracle",
        "task": "dice",
        "backend": backend,
    }


def test_recipe_args_become_the_backend_config(tmp_path: Path) -> None:
    host = make_plugin_host()
    raw = tournament(tmp_path, {"name": "vllm", "args": {"kv_cache_gb": 2, "threads": 1}})
    raw["judge"] = {"name": "game-oracle", "args": {"game": "dice"}}
    recipe = parse_recipe("t.yaml", raw, registries=host.registries)
    assert recipe.backend.args == VLLMArgs(kv_cache_gb=2.0, threads=1)


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        (
            {"name": "hf", "args": {"batch_size": 0}},
            "t.yaml: backend.args.batch_size: expected a value >= 1, got 0",
        ),
        ({"name": "vllm", "args": {"dtype": "fp64"}}, "t.yaml: backend.args.dtype: expected one of"),
        ({"name": "vlm"}, "t.yaml: backend.name: unknown backend 'vlm' (did you mean 'vllm'?)"),
    ],
)
def test_bad_backend_args_are_one_line(tmp_path: Path, backend: dict, message: str) -> None:
    host = make_plugin_host()
    raw = tournament(tmp_path, backend)
    raw["judge"] = {"name": "game-oracle", "args": {"game": "dice"}}
    with pytest.raises(RecipeError) as caught:
        parse_recipe("t.yaml", raw, registries=host.registries)
    assert str(caught.value).startswith(message)


def test_sampling_settings_from_a_recipe() -> None:
    settings = GenerationSettings(max_new_tokens=5, temperature=0.5, top_p=0.8, top_k=3, seed=9)
    assert SamplingSettings.of(settings) == SamplingSettings(5, 0.5, 0.8, 3, 9)
    assert SamplingSettings(temperature=0).greedy
