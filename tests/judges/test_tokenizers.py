"""A judge reads text and re-tokenises it with its own tokenizer: a reward model whose vocabulary differs
from the policy's scores what the policy says, decoded, exactly as it scores that text written by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.generation.base import SamplingSettings
from arena.generation.config import HFBackendConfig
from arena.generation.hf import HFBackend
from arena.policy import load_policy
from arena.tiny import SAMPLE_CORPUS, TinyModelSpec, build_tiny_model
from tests.judges.conftest import TrainedJudge, build_judge

pytestmark = pytest.mark.slow  # trains judges through `arena train`

PROMPT = "Poll 301. Name a colour."
SAID = ["I pick red", "I pick green", "I pick blue"]  # red > green > blue, held-out prompt


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A policy with its own tokenizer: another corpus, another vocabulary size."""
    spec = TinyModelSpec(vocab_size=300)
    return build_tiny_model(tmp_path_factory.mktemp("policy") / "policy", SAMPLE_CORPUS, seed=5, spec=spec)


def test_reward_model_scores_the_policys_decoded_text(reward_model: TrainedJudge, policy_dir: Path) -> None:
    judge = build_judge("reward-model", path=str(reward_model.path))
    policy = load_policy(policy_dir, dtype="fp32", device="cpu")
    # The two vocabularies spell the same text with different ids (and different lengths).
    policy_ids = [policy.tokenizer(text, add_special_tokens=False)["input_ids"] for text in SAID]
    judge_ids = [judge.tokenizer(text, add_special_tokens=False)["input_ids"] for text in SAID]
    assert all(p != j for p, j in zip(policy_ids, judge_ids, strict=True))
    assert [len(ids) for ids in policy_ids] != [len(ids) for ids in judge_ids]
    assert judge.tokenizer.decode(policy_ids[0]) != SAID[0]  # ids read in the wrong vocabulary: garbage

    # What the policy "said" (its ids and EOS), decoded by its own tokenizer, is the text; the judge scores it.
    eos = policy.tokenizer.eos_token_id
    decoded = [policy.tokenizer.decode(ids + [eos], skip_special_tokens=True) for ids in policy_ids]
    assert decoded == SAID
    rewards = judge.score([PROMPT] * 3, decoded)
    assert rewards == judge.score([PROMPT] * 3, SAID)
    assert rewards[0] > rewards[1] > rewards[2]  # red > green > blue
    assert min(judge.compare([PROMPT] * 3, decoded, decoded[1:] + decoded[:1])[:2]) > 0.5

    # A judge refuses token ids outright rather than read them in its own vocabulary.
    with pytest.raises(TypeError, match="decode token ids with the policy's own tokenizer first"):
        judge.score([PROMPT], [policy_ids[0]])


def test_judges_score_samples_from_a_policy_with_another_vocabulary(
    reward_model: TrainedJudge, preference_model: TrainedJudge, policy_dir: Path
) -> None:
    samples = HFBackend(HFBackendConfig(device="cpu", dtype="fp32")).generate(
        str(policy_dir), [PROMPT], 4, SamplingSettings(max_new_tokens=12, seed=0)
    )[0]
    texts = [sample.text for sample in samples]
    assert len(set(texts)) == 4
    reward = build_judge("reward-model", path=str(reward_model.path))
    together = reward.score([PROMPT] * 4, texts)
    alone = [reward.score([PROMPT], [text])[0] for text in texts]
    # Padding in a batch changes nothing but float32 rounding: rewards alone and in a batch differ by up to
    # 9.5e-7 (measured on 256 pairs, vectorised kernels off; tests/judges/test_antisymmetry.py).
    assert together == pytest.approx(alone, abs=1e-5)
    preference = build_judge("preference-model", path=str(preference_model.path))
    verdicts = preference.compare([PROMPT] * 4, texts, texts[1:] + texts[:1])
    backward = preference.compare([PROMPT] * 4, texts[1:] + texts[:1], texts)
    assert [a + b for a, b in zip(verdicts, backward, strict=True)] == [1.0] * 4
    # Against a sentence it was trained to like, the policy's random text loses.
    assert max(preference.compare([PROMPT] * 4, texts, ["I pick red"] * 4)) < 0.5
