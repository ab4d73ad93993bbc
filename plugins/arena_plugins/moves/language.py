"""The language of the `moves` task: prompts, the reference policy's sentences, and the rules of form.

A response is well-formed when, after its surrounding whitespace is stripped, it is one sentence of
MIN_WORDS to MAX_WORDS words of letters only, separated by single spaces, ending with one period (and no
other '.', '!' or '?'), whose first word is a move ("Rock", "Scissors" or "Paper", capitalised) and in
which no word appears twice (case-insensitive). `parse_move` applies these rules. Pure Python: the
oracle judge, the corpus and the tests need no torch.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

# The order is the cycle: each move beats the next one (rock blunts scissors, scissors cut paper, paper
# wraps rock); the preference matrices in `arena_plugins.moves` are written in this order.
MOVES: tuple[str, ...] = ("Rock", "Scissors", "Paper")
MIN_WORDS, MAX_WORDS = 3, 10

# The reference policy's sentences: "<Move> <verb> <preposition> the [<adjective>] <noun>." Every word
# list is disjoint from the others and from MOVES, so a sentence built from them never repeats a word.
VERBS = ("waits", "rests", "stands", "sleeps", "hides", "sits", "shines", "lies")
PREPOSITIONS = ("by", "near", "under", "behind", "beside", "above")
ADJECTIVES = ("old", "quiet", "green", "small", "dark", "tall")
NOUNS = (
    "river",
    "hill",
    "gate",
    "tree",
    "road",
    "wall",
    "field",
    "door",
    "lake",
    "tower",
    "bridge",
    "garden",
)
HEDGES = ("Maybe", "Well", "Perhaps")

# Prompts are "<opener> <name>." (a few words each; the oracle ignores them).
OPENERS = ("Your move,", "Play now,", "Go on,", "Choose,", "Quick,", "Ready,", "Come on,", "Your turn,")
NAMES = (
    "Anna", "Ben", "Cara", "Dan", "Eva", "Finn", "Gina", "Hugo", "Ida", "Jack", "Kim", "Leo",
    "Mia", "Nora", "Omar", "Pia", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Vic", "Wen", "Zoe",
)  # fmt: skip

# How the reference policy goes wrong, each a failure a small language model really shows; every one
# breaks a rule of form, so a corrupted sentence is never well-formed.
MALFORMED_KINDS: tuple[str, ...] = (
    "unfinished",  # no final period: "Rock waits by the river"
    "stutter",  # a word repeated: "Rock waits waits by the river."
    "hedged",  # the move is not the first word: "Maybe rock waits by the river."
    "looping",  # the sentence twice: "Rock waits by the river. Rock waits by the river."
)

_WORD = re.compile(r"[A-Za-z]+")


def parse_move(response: str) -> str | None:
    """The move a well-formed response plays, or None when the response breaks a rule of form."""
    text = response.strip()
    if not text.endswith("."):
        return None
    words = text[:-1].split(" ")  # an empty word means a double space, a leading space or nothing at all
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return None
    if not all(_WORD.fullmatch(word) for word in words):  # letters only: no inner punctuation, no newline
        return None
    if words[0] not in MOVES:
        return None
    if len({word.lower() for word in words}) != len(words):
        return None
    return words[0]


def prompt_pool() -> list[str]:
    """Every prompt the task can use, in a fixed order."""
    return [f"{opener} {name}." for opener in OPENERS for name in NAMES]


def split_prompts(seed: int, train: int, eval: int) -> tuple[list[str], list[str]]:
    """Disjoint train and eval prompts: a seeded shuffle of the pool, cut in two."""
    pool = prompt_pool()
    if train + eval > len(pool):
        raise ValueError(f"the task has {len(pool)} prompts; {train} train + {eval} eval asked for")
    random.Random(f"moves:{seed}:prompts").shuffle(pool)
    return pool[:train], pool[train : train + eval]


def sentence(rng: random.Random, move: str) -> str:
    """A well-formed response playing `move`."""
    words = [move, rng.choice(VERBS), rng.choice(PREPOSITIONS), "the"]
    if rng.random() < 0.5:
        words.append(rng.choice(ADJECTIVES))
    words.append(rng.choice(NOUNS))
    return " ".join(words) + "."


def corrupt(rng: random.Random, text: str, kind: str) -> str:
    """`text` (a well-formed sentence) broken in the way `kind` names."""
    words = text[:-1].split(" ")
    if kind == "unfinished":
        return text[:-1]
    if kind == "stutter":
        position = rng.randrange(1, len(words))
        return " ".join(words[: position + 1] + words[position:]) + "."
    if kind == "hedged":
        return " ".join([rng.choice(HEDGES), words[0].lower(), *words[1:]]) + "."
    if kind == "looping":
        return f"{text} {text}"
    raise ValueError(f"unknown kind of malformed response {kind!r}; expected one of {MALFORMED_KINDS}")


def sample_response(rng: random.Random, reference: Sequence[float], malformed: float) -> str:
    """One response of the reference policy: a move drawn from `reference` (over MOVES), in a sentence
    that is corrupted with probability `malformed` (the kind of corruption uniform, independent of the move)."""
    move = rng.choices(MOVES, weights=reference)[0]
    text = sentence(rng, move)
    if rng.random() < malformed:
        text = corrupt(rng, text, rng.choice(MALFORMED_KINDS))
    return text
