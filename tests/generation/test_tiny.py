"""The tiny-model factory: deterministic for a seed, vLLM-compatible shape, `arena init-model`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from arena.errors import ArenaError
from arena.policy import load_tokenizer
from arena.testing import run_arena
from arena.tiny import SAMPLE_CORPUS, TinyModelSpec, build_tiny_model, read_corpus


def digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_same_seed_same_bytes_other_seed_other_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_model(tmp_path / "again", SAMPLE_CORPUS, seed=0)
    other = build_tiny_model(tmp_path / "other", SAMPLE_CORPUS, seed=1)
    assert digests(again) == digests(tiny_model_dir)
    changed = {name for name, digest in digests(other).items() if digests(tiny_model_dir)[name] != digest}
    # The tokenizer depends on the corpus only; the weights (and the seed recorded in config.json) on the seed.
    assert changed == {"model.safetensors", "config.json"}


def test_shape_suits_vllm_on_the_cpu(tiny_model_dir: Path) -> None:
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["head_dim"] == 32 and config["hidden_size"] == 64 and config["num_hidden_layers"] == 2
    tokenizer = load_tokenizer(tiny_model_dir)
    assert config["vocab_size"] == len(tokenizer)
    assert (config["bos_token_id"], config["eos_token_id"], config["pad_token_id"]) == (
        tokenizer.bos_token_id,
        tokenizer.eos_token_id,
        tokenizer.pad_token_id,
    )


def test_byte_level_tokenizer_round_trips_any_text(tiny_model_dir: Path) -> None:
    tokenizer = load_tokenizer(tiny_model_dir)
    text = "Zürich naïve café — 東京 🙂 tabs\tand\nnewlines"
    ids = tokenizer(text)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.unk_token_id is None or tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    # BPE merges learnt from the corpus: a corpus word is fewer tokens than bytes.
    assert len(tokenizer("The quick brown fox", add_special_tokens=False)["input_ids"]) < 10


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TinyModelSpec(hidden_size=64, heads=4), "head_dim is 16 (hidden_size 64 / heads 4); vLLM's CPU"),
        (TinyModelSpec(hidden_size=65, heads=2), "hidden_size 65 must be a multiple of heads 2"),
        (TinyModelSpec(hidden_size=66, heads=2), "head_dim is 33; rotary position embeddings need an even"),
        (TinyModelSpec(vocab_size=100), "vocab_size must be at least 259, got 100"),
    ],
)
def test_bad_specs_are_refused(spec: TinyModelSpec, message: str, tmp_path: Path) -> None:
    with pytest.raises(ArenaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_tiny_model(tmp_path / "m", SAMPLE_CORPUS, spec=spec)
    assert not (tmp_path / "m").exists()


def test_read_corpus(tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("one\n\n  \ntwo\n", encoding="utf-8")
    assert read_corpus(tmp_path / "c.txt") == ["one", "two"]
    (tmp_path / "empty.txt").write_text("\n \n", encoding="utf-8")
    with pytest.raises(ArenaError, match="has no text"):
        read_corpus(tmp_path / "empty.txt")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ArenaError, match="is not UTF-8 text"):
        read_corpus(tmp_path / "latin1.txt")


def test_init_model_command(tmp_path: Path, tiny_model_dir: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SAMPLE_CORPUS), encoding="utf-8")
    done = run_arena(["init-model", "model", "--corpus", str(corpus), "--seed", "0"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("model: tiny Llama (2 layers, hidden 64, seed 0)")
    # The command and the Python function build the same model.
    assert digests(tmp_path / "model") == digests(tiny_model_dir)

    again = run_arena(["init-model", "model", "--corpus", str(corpus)], cwd=tmp_path)
    assert (again.returncode, again.stderr) == (
        2,
        "'model' already exists and is not empty (pass --force to replace it)\n",
    )


@pytest.mark.parametrize(
    ("extra", "stderr"),
    [
        (["--corpus", "missing.txt"], "no such corpus file 'missing.txt'\n"),
        (
            ["--corpus", "corpus.txt", "--heads", "4"],
            "head_dim is 16 (hidden_size 64 / heads 4); vLLM's CPU attention needs at least 32\n",
        ),
    ],
)
def test_init_model_errors_are_one_line(extra: list[str], stderr: str, tmp_path: Path) -> None:
    (tmp_path / "corpus.txt").write_text("some text\n", encoding="utf-8")
    done = run_arena(["init-model", "model", *extra], cwd=tmp_path)
    assert (done.returncode, done.stderr) == (2, stderr)
    assert not (tmp_path / "model").exists()


def test_init_model_with_a_chat_template_makes_a_chat_model(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    (tmp_path / "corpus.txt").write_text("\n".join(SAMPLE_CORPUS), encoding="utf-8")
    (tmp_path / "chat.jinja").write_text(
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}",
        encoding="utf-8",
    )
    done = run_arena(
        ["init-model", "model", "--corpus", "corpus.txt", "--chat-template", "chat.jinja"], cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "model")
    text = tokenizer.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "The cat sat"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert text == "system: Be brief.\nuser: The cat sat\nassistant:"

    missing = run_arena(
        ["init-model", "other", "--corpus", "corpus.txt", "--chat-template", "none.jinja"], cwd=tmp_path
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith("--chat-template: cannot read 'none.jinja': ")
    assert len(missing.stderr.splitlines()) == 1 and not (tmp_path / "other").exists()
