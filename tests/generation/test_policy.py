"""arena.policy: load and save Hugging Face directories, dtype/device resolution, prompt formatting."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from arena.errors import ArenaError
from arena.policy import Policy, encode_prompts, format_prompt, load_policy, resolve_device, resolve_dtype

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def test_auto_device_and_dtype_on_the_cpu() -> None:
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("bf16") == torch.bfloat16
    assert resolve_dtype("fp16") == torch.float16
    with pytest.raises(ArenaError, match="unknown dtype 'fp8'"):
        resolve_dtype("fp8")


def test_loads_a_local_directory_in_fp32_eval_mode(tiny_policy: Policy, tiny_model_dir: Path) -> None:
    assert tiny_policy.source == str(tiny_model_dir)
    assert tiny_policy.dtype == torch.float32
    assert tiny_policy.device == torch.device("cpu")
    assert not tiny_policy.model.training
    assert tiny_policy.eos_token_ids == [tiny_policy.tokenizer.eos_token_id]


def test_explicit_dtype(tiny_model_dir: Path) -> None:
    assert load_policy(tiny_model_dir, dtype="bf16").dtype == torch.bfloat16


def test_no_remote_code_unless_asked(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    seen: list[bool] = []
    real = transformers.AutoModelForCausalLM.from_pretrained

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(bool(kwargs.get("trust_remote_code")))
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy)
    load_policy(tiny_model_dir)
    load_policy(tiny_model_dir, trust_remote_code=True)
    assert seen == [False, True]


def test_save_writes_safetensors_atomically_and_reloads_identically(
    tiny_policy: Policy, tmp_path: Path
) -> None:
    target = tiny_policy.save(tmp_path / "copy")
    names = sorted(p.name for p in target.iterdir())
    assert "model.safetensors" in names and "config.json" in names and "tokenizer.json" in names
    assert not any(name.endswith(".bin") for name in names)
    assert [p.name for p in tmp_path.iterdir()] == ["copy"]  # no staging directory left behind
    reloaded = load_policy(target)
    ids = torch.tensor([[0, 5, 9, 44, 100]])
    with torch.no_grad():
        assert torch.equal(tiny_policy.model(ids).logits, reloaded.model(ids).logits)


def test_save_refuses_a_non_empty_directory_unless_overwrite(tiny_policy: Policy, tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(ArenaError, match="already exists and is not empty"):
        tiny_policy.save(target)
    assert (target / "notes.txt").read_text() == "keep me"
    tiny_policy.save(target, overwrite=True)
    assert not (target / "notes.txt").exists() and (target / "model.safetensors").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("./no/such/model", "no such model directory './no/such/model' (nor a hub id)"),
        ("/no/such/model", "no such model directory '/no/such/model' (nor a hub id)"),
    ],
)
def test_missing_directory_is_one_line(source: str, message: str) -> None:
    with pytest.raises(ArenaError) as caught:
        load_policy(source)
    assert str(caught.value) == message


def test_file_instead_of_directory(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ArenaError, match="is a file; expected a model directory"):
        load_policy(tmp_path / "weights.bin")


def test_offline_hub_id_is_one_line() -> None:
    with pytest.raises(ArenaError) as caught:
        load_policy("arena-test/not-a-cached-model")
    assert str(caught.value).startswith("cannot load the tokenizer of 'arena-test/not-a-cached-model'")
    assert "\n" not in str(caught.value)


def test_plain_prompts_get_bos_and_no_template(tiny_policy: Policy) -> None:
    tokenizer = tiny_policy.tokenizer
    assert format_prompt(tokenizer, "Pick one:") == "Pick one:"
    [ids] = encode_prompts(tokenizer, ["Pick one:"])
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(ids[1:]) == "Pick one:"


def test_chat_template_is_used_when_present(tiny_model_dir: Path) -> None:
    policy = load_policy(tiny_model_dir)
    policy.tokenizer.chat_template = CHAT_TEMPLATE
    text = policy.format_prompt("Pick one:")
    assert text == "<|bos|><user>Pick one:\n<assistant>"
    [ids] = policy.encode_prompts(["Pick one:"])
    # The template writes BOS itself: encoding must not add a second one.
    assert ids.count(policy.tokenizer.bos_token_id) == 1
    assert policy.tokenizer.decode(ids) == text
