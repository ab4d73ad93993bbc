"""Files of outputs as entrants: each layout read, the matching rules, and every malformed file one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.errors import RecipeError, RecipeKeyError
from arena.recipes import parse_recipe
from arena.tournament.outputs import match_outputs, read_outputs

KEY = "entrants.1.outputs"
PROMPTS = ["First prompt", "Second prompt"]
IDS = {"First prompt": "7", "Second prompt": "8"}


def _write(path: Path, records: list[object]) -> str:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        path.write_text(json.dumps(records))
    return str(path)


def _match(path: str, ids: dict[str, str], n: int) -> dict[str, list[str]]:
    samples = match_outputs(
        read_outputs(path, KEY), PROMPTS, ids, n, entrant="e", path=Path(path).name, key=KEY
    )
    return {prompt: [s.text for s in group] for prompt, group in samples.items()}


def _problem(path: str, ids: dict[str, str] | None = None, n: int = 1) -> str:
    with pytest.raises(RecipeKeyError) as caught:
        _match(path, IDS if ids is None else ids, n)
    assert caught.value.key == KEY
    return caught.value.expected.replace(str(Path(path).parent) + "/", "")


def test_each_layout_by_id_and_by_text(tmp_path: Path) -> None:
    alpaca = _write(
        tmp_path / "model_outputs.json",
        [
            {"instruction": p, "output": f"A{i}", "generator": "g", "dataset": "d"}
            for i, p in enumerate(PROMPTS)
        ],
    )
    # Arena-Hard's integer question ids match the prompts file's string ids; choices are samples.
    hard = _write(
        tmp_path / "answers.jsonl",
        [
            {
                "question_id": 8,
                "model_id": "m",
                "choices": [{"turns": [{"content": "H8a"}]}, {"turns": [{"content": "H8b"}]}],
            },
            {
                "question_id": 7,
                "model": "m",
                "choices": [{"turns": [{"content": "H7a"}]}, {"turns": [{"content": "H7b"}]}],
            },
        ],
    )
    own = _write(
        tmp_path / "own.jsonl", [{"prompt": "Second prompt", "text": "O2"}, {"prompt_id": "7", "text": "O1"}]
    )
    # Arena-Hard v2: by uid where the prompts have ids, else by the last user message; {answer} or text.
    v2 = _write(
        tmp_path / "v2.jsonl",
        [
            {"uid": "8", "model": "m", "messages": [{"role": "user", "content": "Second prompt"},
                                                   {"role": "assistant", "content": {"answer": "V8"}}]},
            {"uid": "7", "model": "m", "messages": [{"role": "system", "content": "S"},
                                                   {"role": "user", "content": "First prompt"},
                                                   {"role": "assistant", "content": "V7"}]},
        ],
    )  # fmt: skip
    assert _match(v2, IDS, 1) == {"First prompt": ["V7"], "Second prompt": ["V8"]}
    assert _match(v2, {}, 1) == {"First prompt": ["V7"], "Second prompt": ["V8"]}
    assert _match(alpaca, {}, 2) == {"First prompt": ["A0", "A0"], "Second prompt": ["A1", "A1"]}
    assert _match(alpaca, IDS, 1) == {"First prompt": ["A0"], "Second prompt": ["A1"]}
    assert _match(hard, IDS, 2) == {"First prompt": ["H7a", "H7b"], "Second prompt": ["H8a", "H8b"]}
    assert _match(hard, IDS, 1) == {"First prompt": ["H7a"], "Second prompt": ["H8a"]}
    assert _match(own, IDS, 1) == {"First prompt": ["O1"], "Second prompt": ["O2"]}
    # Several records for one prompt are its samples in file order.
    many = _write(
        tmp_path / "many.jsonl", [{"prompt": p, "text": f"{p[0]}{i}"} for i in range(3) for p in PROMPTS]
    )
    assert _match(many, {}, 3) == {"First prompt": ["F0", "F1", "F2"], "Second prompt": ["S0", "S1", "S2"]}
    assert _match(many, {}, 2) == {"First prompt": ["F0", "F1"], "Second prompt": ["S0", "S1"]}


def test_matching_problems_are_one_line(tmp_path: Path) -> None:
    hard = _write(tmp_path / "a.jsonl", [{"question_id": 7, "choices": [{"turns": [{"content": "x"}]}]}])
    assert _problem(hard, ids={}) == (
        "entrant 'e': 'a.jsonl' line 1 names its prompt only by id (7) and the tournament's prompts have "
        "no ids (add a prompt_id, question_id or uid column to the prompts file)"
    )
    assert _problem(hard) == "entrant 'e': 'a.jsonl' has no output for 1 of 2 prompts (8 'Second prompt')"
    two = _write(tmp_path / "b.jsonl", [{"prompt": p, "text": t} for p in PROMPTS for t in ("x", "y")])
    assert _problem(two, ids={}, n=3) == (
        "entrant 'e': 'b.jsonl' has 2 outputs for prompt 'First prompt': expected 1 (played as every sample) "
        "or at least samples_per_prompt (3)"
    )


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "a.json",
            "{not json",
            "'a.json' line 1, column 2: invalid JSON (Expecting property name enclosed in double quotes)",
        ),
        ("a.json", '{"instruction": "x"}', "'a.json': expected a JSON list of outputs, got a dict"),
        ("a.json", "[]", "'a.json' holds no outputs"),
        (
            "a.jsonl",
            '{"prompt": "x", "text": "y"}\n[1]\n',
            "'a.jsonl' line 2: expected an object (AlpacaEval, Arena-Hard or Arena outputs)",
        ),
        (
            "a.jsonl",
            '{"prompt": "x", "text": "y"}\n\n{"prompt": "x"\n',
            "'a.jsonl' line 3, column 15: invalid JSON (Expecting ',' delimiter)",
        ),
        (
            "a.json",
            '[{"output": "y"}]',
            "'a.json' item 1: expected a prompt id (question_id, prompt_id, uid) or the prompt's text (instruction, "
            "prompt)",
        ),
        (
            "a.json",
            '[{"instruction": "x", "output": 3}]',
            "'a.json' item 1: expected the output as a string `output` (AlpacaEval), `text` (Arena), "
            "`choices` (Arena-Hard v0.1) or `messages` (Arena-Hard v2)",
        ),
        (
            "a.json",
            '[{"instruction": ["x"], "output": "y"}]',
            "'a.json' item 1: expected a string instruction/prompt",
        ),
        (
            "a.jsonl",
            '{"question_id": 1, "choices": []}\n',
            "'a.jsonl' line 1: expected `choices` as a non-empty list of {turns: [{content}]}",
        ),
        (
            "a.jsonl",
            '{"question_id": 1, "choices": [{"turns": [{"content": "a"}, {"content": "b"}]}]}\n',
            "'a.jsonl' line 1: expected each choice with exactly one turn (`turns: [{content}]`; multi-turn "
            "answers are not read)",
        ),
        (
            "a.jsonl",
            '{"uid": "1", "messages": [{"role": "user", "content": "x"}, {"role": "user", "content": "y"}]}\n',
            "'a.jsonl' line 1: expected the last message from the assistant, its content a string or "
            "{answer: string}",
        ),
        (
            "a.jsonl",
            '{"uid": "1", "messages": [{"role": "user", "content": "x"}]}\n',
            "'a.jsonl' line 1: expected `messages` as a list of {role, content}, a user message then the "
            "assistant's",
        ),
        (
            "a.json",
            '[{"instruction": "x", "output": "y", "generator": "g1"}, '
            '{"instruction": "z", "output": "y", "generator": "g2"}]',
            "'a.json' holds the outputs of 2 generators (g1, g2): one file per entrant",
        ),
    ],
)
def test_malformed_files_are_one_line(tmp_path: Path, name: str, content: str, expected: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(RecipeKeyError) as caught:
        read_outputs(str(tmp_path / name), KEY)
    assert caught.value.key == KEY
    assert caught.value.expected.replace(str(tmp_path) + "/", "") == expected
    assert "\n" not in str(caught.value)


def test_an_entrant_names_exactly_one_source(tmp_path: Path) -> None:
    (tmp_path / "out.json").write_text("[]")
    (tmp_path / "out.txt").write_text("")

    def problem(entrant: dict[str, object]) -> str:
        raw = {
            "kind": "tournament",
            "name": "t",
            "entrants": [{"name": "a", "outputs": str(tmp_path / "out.json")}, {"name": "b", **entrant}],
            "prompts": str(tmp_path / "out.json"),
            "judge": "oracle",
        }
        with pytest.raises(RecipeError) as caught:
            parse_recipe("r.yaml", raw)
        return str(caught.value).replace(str(tmp_path) + "/", "")

    both = {"outputs": str(tmp_path / "out.json"), "endpoint": {"base_url": "http://h/v1", "model": "m"}}
    assert problem(both) == (
        "r.yaml: entrants.1.endpoint: expected exactly one of model, outputs or endpoint (got outputs and endpoint)"
    )
    assert (
        problem({})
        == "r.yaml: entrants.1.model: expected exactly one of model, outputs or endpoint (got none)"
    )
    assert problem({"outputs": str(tmp_path / "out.txt")}) == (
        "r.yaml: entrants.1.outputs: expected a .json or .jsonl file of outputs, got 'out.txt'"
    )
    assert (
        problem({"outputs": "missing.json"})
        == "r.yaml: entrants.1.outputs: no such file or directory 'missing.json'"
    )
    assert problem({"endpoint": {"base_url": "localhost:8000", "model": "m"}}) == (
        "r.yaml: entrants.1.endpoint.base_url: expected an http:// or https:// URL, got 'localhost:8000'"
    )
