"""Conversational rows ({role, content} messages) end to end: read and checked (one line per bad cell),
tokenised through the chat template or refused without one, carried as prompts (online runs, tournaments)
through the policy's template, read by judges as one plain-text rendering, and trained on by `arena train`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from arena.errors import ArenaError, RecipeKeyError
from arena.policy import encode_prompts, load_policy, load_tokenizer
from arena.rows import (
    Conversation,
    DataSettings,
    PromptSet,
    as_conversation,
    load_rows,
    plain_text,
    prompt_texts,
    split_by_prompt,
)
from arena.testing import run_arena
from arena.training.data import PAIR_COLUMNS, tokenize_completions, tokenize_pairs
from tests.training.chat_model import CHAT_TEMPLATE

SAMPLE = Path(__file__).parents[1] / "data" / "conversational_pairs.jsonl"
USER = {"role": "user", "content": "Pick one: yes or no."}
ANSWER = {"role": "assistant", "content": "Yes."}


@pytest.fixture(scope="module")
def chat_model_dir(game_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, saved with the ChatML-like template of test_chat_parity in its tokenizer."""
    directory = tmp_path_factory.mktemp("chat-model") / "model"
    shutil.copytree(game_model_dir, directory)
    tokenizer = load_tokenizer(directory)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    return directory


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("bad_row", "expected"),
    [
        (
            {"prompt": [{"role": "user"}], "chosen": [ANSWER], "rejected": [ANSWER]},
            "row 2, column 'prompt': expected a list of {role, content} messages, message 0 has content "
            "NoneType None",
        ),
        (
            {"prompt": [USER], "chosen": [ANSWER], "rejected": []},
            "row 2, column 'rejected': expected a list of {role, content} messages, got list []",
        ),
        (
            {"prompt": [USER], "chosen": [{**ANSWER, "name": "bot"}], "rejected": [ANSWER]},
            "row 2, column 'chosen': expected a list of {role, content} messages, message 0 also has name",
        ),
        (
            {"prompt": [USER], "chosen": ["Yes."], "rejected": [ANSWER]},
            "row 2, column 'chosen': expected a list of {role, content} messages, message 0 is str 'Yes.'",
        ),
    ],
)
def test_a_bad_conversation_is_one_line_naming_file_row_and_column(
    tmp_path: Path, bad_row: dict[str, Any], expected: str
) -> None:
    good = {"prompt": [USER], "chosen": [ANSWER], "rejected": [{"role": "assistant", "content": "No."}]}
    path = write_jsonl(tmp_path / "pairs.jsonl", [good, bad_row])
    with pytest.raises(RecipeKeyError) as error:
        load_rows(DataSettings(path), PAIR_COLUMNS)
    assert str(error.value) == f"data: '{path}' {expected}"


def test_text_and_messages_in_one_row_are_refused(tmp_path: Path) -> None:
    rows = [{"prompt": "Pick one.", "chosen": [ANSWER], "rejected": [ANSWER]}]
    settings = DataSettings(write_jsonl(tmp_path / "mixed.jsonl", rows))
    with pytest.raises(RecipeKeyError) as error:
        load_rows(settings, PAIR_COLUMNS)
    assert str(error.value) == (
        f"data: '{settings.path}' row 1: expected every one of prompt, chosen, rejected as a list of "
        "{role, content} messages or every one as text, got messages in chosen, rejected and text in prompt"
    )


def test_renamed_conversational_columns_are_read_and_grouped_by_prompt(tmp_path: Path) -> None:
    rows = [
        {"messages_in": [USER], "good": [ANSWER], "bad": [{"role": "assistant", "content": f"No {i}."}]}
        for i in range(3)
    ] + [{"messages_in": [{"role": "user", "content": "Why?"}], "good": [ANSWER], "bad": [ANSWER]}]
    columns = {"prompt": "messages_in", "chosen": "good", "rejected": "bad"}
    read = load_rows(DataSettings(write_jsonl(tmp_path / "p.jsonl", rows), columns=columns), PAIR_COLUMNS)
    assert read[0]["prompt"] == read[1]["prompt"] and isinstance(read[0]["prompt"], Conversation)
    assert len({row["prompt"] for row in read}) == 2  # hashable: rows group by conversation
    kept, held_out = split_by_prompt(read, 0.5, seed=0)
    assert len(held_out) in (1, 3) and len(kept) + len(held_out) == 4
    assert len({row["prompt"] for row in held_out}) == 1  # every row of a held-out prompt goes together


def test_no_chat_template_is_one_line(game_model_dir: Path) -> None:
    policy = load_policy(game_model_dir, device="cpu")
    rows = load_rows(DataSettings(str(SAMPLE)), PAIR_COLUMNS)
    expected = (
        f"the tokenizer of '{game_model_dir}' has no chat template, and the data is conversational "
        "({role, content} messages): use a model whose tokenizer has one, or set chat_template in its "
        "tokenizer_config.json"
    )
    with pytest.raises(ArenaError) as error:
        tokenize_pairs(rows, policy, max_length=512, add_eos=True)
    assert str(error.value) == expected
    with pytest.raises(ArenaError):
        encode_prompts(policy.tokenizer, [str(rows[0]["prompt"])])
    assert encode_prompts(policy.tokenizer, ["[not, json"]) == [policy.tokenizer("[not, json")["input_ids"]]


def test_completions_of_a_multi_turn_conversation_are_the_templates_turns(chat_model_dir: Path) -> None:
    """SFT rows whose completion is two assistant turns around a user turn: the completion is the
    template's text of those turns, learned as written (the middle user turn included, as TRL does)."""
    policy = load_policy(chat_model_dir, device="cpu")
    row = {
        "prompt": [{"role": "system", "content": "Be brief."}, USER],
        "completion": [ANSWER, {"role": "user", "content": "Why?"}, {"role": "assistant", "content": "So."}],
    }
    (example,) = tokenize_completions([row], policy, max_length=512, add_eos=True).examples
    decoded = policy.tokenizer.decode(list(example.prompt_ids) + list(example.completion_ids))
    whole = policy.tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
    assert decoded == whole
    assert policy.tokenizer.decode(example.completion_ids) == (
        "Yes.<|eos|>\n<|bos|>user\nWhy?<|eos|>\n<|bos|>assistant\nSo.<|eos|>\n"
    )


def test_prompts_that_are_conversations_go_through_the_policys_template(
    chat_model_dir: Path, tmp_path: Path
) -> None:
    """A tournament's (or an online run's) prompt column of messages travels as canonical JSON and is
    encoded exactly as the template encodes the messages; a .txt file may write one per line."""
    tokenizer = load_tokenizer(chat_model_dir)
    messages = [{"role": "system", "content": "Be brief."}, USER, ANSWER, {"role": "user", "content": "Why?"}]
    path = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": messages}, {"prompt": "Plain text."}])
    texts = prompt_texts(PromptSet(path))
    assert texts[0] == json.dumps(messages, ensure_ascii=False) and texts[1] == "Plain text."
    (tmp_path / "prompts.txt").write_text(f"{json.dumps(messages)}\nPlain text.\n", encoding="utf-8")
    assert prompt_texts(PromptSet(str(tmp_path / "prompts.txt"))) == texts
    expected = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)
    plain = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Plain text."}], add_generation_prompt=True, return_dict=True
    )
    assert encode_prompts(tokenizer, texts) == [expected["input_ids"], plain["input_ids"]]
    assert encode_prompts(tokenizer, [as_conversation(texts[0])]) == [expected["input_ids"]]


def test_judges_read_one_plain_text_rendering(tmp_path: Path, chat_model_dir: Path) -> None:
    from arena.training.judges import _checked
    from arena_plugins.judges.classifier import encode_prompt_response

    rows = load_rows(DataSettings(str(SAMPLE)), PAIR_COLUMNS)
    checked = _checked(rows, "data")
    assert checked[2] == {
        "prompt": "User: Pick one: yes or no.\n\nAssistant: Yes.\n\nUser: Why?",
        "chosen": "Because the answer is yes.",
        "rejected": "No.",
        "label": 1.0,
    }
    assert checked[1]["prompt"].startswith("System: You answer in one short sentence.\n\nUser: ")
    # In a tournament the prompt arrives as JSON text; the judge reads the same rendering as in training.
    tokenizer = load_tokenizer(chat_model_dir)
    as_json = encode_prompt_response(tokenizer, [str(rows[2]["prompt"])], ["Yes."])
    assert as_json == encode_prompt_response(tokenizer, [checked[2]["prompt"]], ["Yes."])
    assert plain_text("Not a conversation.") == "Not a conversation."


def test_arena_train_runs_dpo_on_the_conversational_sample(tmp_path: Path, chat_model_dir: Path) -> None:
    """(SFT and the other pair algorithms share the tokenisation; test_chat_parity checks it against TRL.)"""
    (tmp_path / "recipe.yaml").write_text(
        f"kind: train\nname: run\nalgorithm: dpo\npolicy: {chat_model_dir}\ndata: {SAMPLE}\n"
        "training: {steps: 2, batch_size: 4}\n",
        encoding="utf-8",
    )
    result = run_arena(["train", "recipe.yaml"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "runs" / "run" / "summary.json").read_text())
    assert summary["examples"] == 8 and summary["truncated_examples"] == 0
    first = json.loads((tmp_path / "runs" / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert first["loss"] == pytest.approx(0.6931471805599453, abs=1e-6)  # policy = reference at step 1
    assert load_tokenizer(tmp_path / "runs" / "run" / "final").chat_template == CHAT_TEMPLATE


def test_arena_train_without_a_chat_template_is_one_line(tmp_path: Path, game_model_dir: Path) -> None:
    (tmp_path / "recipe.yaml").write_text(
        f"kind: train\nname: run\nalgorithm: dpo\npolicy: {game_model_dir}\ndata: {SAMPLE}\n"
        "training: {steps: 1, batch_size: 2}\n",
        encoding="utf-8",
    )
    result = run_arena(["train", "recipe.yaml"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "has no chat template" in result.stderr
    assert not (tmp_path / "runs").exists()  # refused before anything is written


def test_implicit_prompts_that_do_not_split_are_one_line(tmp_path: Path) -> None:
    no = {"role": "assistant", "content": "No."}
    cases = [
        (
            [{"chosen": [ANSWER], "rejected": [no]}],
            "row 1: expected chosen and rejected to begin with the same prompt turns and then differ "
            "(they share 0 of 1 and 1 messages)",
        ),
        (
            [{"chosen": [USER, ANSWER], "rejected": [USER, ANSWER]}],
            "row 1: expected chosen and rejected to begin with the same prompt turns and then differ "
            "(they share 2 of 2 and 2 messages)",
        ),
        (
            [{"prompt": "Pick two.", "chosen": [USER, ANSWER], "rejected": [USER, no]}],
            "row 1: expected the text prompt to be the last user turn that chosen and rejected begin "
            "with, got str 'Pick two.'",
        ),
    ]
    for rows, expected in cases:
        path = write_jsonl(tmp_path / "pairs.jsonl", rows)
        with pytest.raises(RecipeKeyError) as error:
            load_rows(DataSettings(path), PAIR_COLUMNS)
        assert str(error.value) == f"data: '{path}' {expected}"
    text_pairs = write_jsonl(tmp_path / "text.jsonl", [{"chosen": "Yes.", "rejected": "No."}])
    with pytest.raises(RecipeKeyError) as error:
        load_rows(DataSettings(text_pairs), PAIR_COLUMNS)
    assert str(error.value) == (
        f"data.columns.prompt: column 'prompt' not in '{text_pairs}' (columns: chosen, rejected)"
    )


def test_a_backend_samples_a_conversational_prompt_after_the_policys_template(chat_model_dir: Path) -> None:
    """What a tournament hands a backend is the prompt's JSON text; each sample's log-prob, recomputed
    here on the template's own token ids followed by the sampled tokens, shows those were the context."""
    import torch

    from arena.generation.base import SamplingSettings
    from arena.generation.config import HFBackendConfig
    from arena.generation.hf import HFBackend

    messages = [{"role": "system", "content": "Be brief."}, USER, ANSWER, {"role": "user", "content": "Why?"}]
    settings = SamplingSettings(max_new_tokens=8, temperature=1.0, seed=3)
    [samples] = HFBackend(HFBackendConfig(batch_size=2)).generate(
        str(chat_model_dir), [json.dumps(messages)], 2, settings
    )
    policy = load_policy(chat_model_dir, dtype=torch.float32, device="cpu")
    context = policy.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)
    for sample in samples:
        ids = torch.tensor([context["input_ids"] + list(sample.token_ids)])
        with torch.no_grad():
            logits = policy.model(ids).logits[0, :-1].log_softmax(-1)
        start = len(context["input_ids"]) - 1
        picked = logits[start:].gather(-1, ids[0, start + 1 :, None]).sum()
        assert float(picked) == pytest.approx(sample.logprob, abs=1e-4)
