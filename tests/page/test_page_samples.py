"""The judged sample pairs a tournament's page carries: which rows, how many, cut how."""

from __future__ import annotations

from arena.page import samples as module
from arena.page.samples import sample_pairs


def row(a: str, b: str, prompt: int, text_a: str, text_b: str, p_a: float) -> dict:
    return {"model_a": a, "model_b": b, "prompt_id": prompt, "response_a": text_a, "response_b": text_b,
            "p_a": p_a, "judge": "oracle"}  # fmt: skip


def test_first_differing_pairs_per_pair_with_their_verdicts() -> None:
    prompts = ["Pick one:", "Again:"]
    rows = [
        row("rock", "paper", 0, "Rock", "Rock", 0.5),  # identical: a tie by definition, shown last
        row("rock", "paper", 0, "Rock", "Paper", 0.0),
        row("rock", "paper", 1, "Scissors", "Paper", 1.0),
        row("rock", "paper", 1, "Rock", "Scissors", 1.0),
        row("rock", "paper", 0, "Paper", "Rock", 1.0),
        row("rock", "scissors", 1, "Rock", "Scissors", 1.0),
    ]
    chosen = sample_pairs(rows, prompts)
    assert chosen == {
        "rock|paper": [
            {"prompt": "Pick one:", "response_a": "Rock", "response_b": "Paper", "p_a": 0.0},
            {"prompt": "Again:", "response_a": "Scissors", "response_b": "Paper", "p_a": 1.0},
            {"prompt": "Again:", "response_a": "Rock", "response_b": "Scissors", "p_a": 1.0},
        ],
        "rock|scissors": [{"prompt": "Again:", "response_a": "Rock", "response_b": "Scissors", "p_a": 1.0}],
    }


def test_long_texts_are_cut_and_large_fields_get_fewer_or_none() -> None:
    long = "x" * (module.MAX_CHARS + 50)
    chosen = sample_pairs([row("a", "b", 0, long, "y", 1.0)], ["p"])
    assert chosen["a|b"][0]["response_a"] == "x" * module.MAX_CHARS + " [...]"
    models = [f"m{i}" for i in range(40)]  # 780 pairs: one sample each (600 // 780 < 1)
    rows = [
        row(a, b, 0, "s", "t", 0.5) for i, a in enumerate(models) for b in models[i + 1 :] for _ in range(3)
    ]
    assert {len(v) for v in sample_pairs(rows, ["p"]).values()} == {1}
    models = [f"m{i}" for i in range(70)]  # 2,415 pairs: past MAX_PAIRS, the page carries none
    rows = [row(a, b, 0, "s", "t", 0.5) for i, a in enumerate(models) for b in models[i + 1 :]]
    assert sample_pairs(rows, ["p"]) == {}
