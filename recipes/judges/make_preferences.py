"""Writes recipes/judges/preferences.jsonl (run from the repository root; the output is committed).

Two kinds of preference over one-word answers, with many prompts each:
- a cycle, as in rock-paper-scissors: rock > scissors > paper > rock (no reward can express it);
- a total order of colours: red > green > blue (a reward can).
Each row is one edge for one prompt, the answers in one of a few phrasings (several rows per edge).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

CYCLE = [("rock", "scissors"), ("scissors", "paper"), ("paper", "rock")]  # (winner, loser)
ORDER = [("red", "green"), ("green", "blue"), ("red", "blue")]
CYCLE_PROMPTS = ["Game {n}: what do you play?", "Round {n}. Show your hand.", "Play {n}: pick your move."]
ORDER_PROMPTS = ["Question {n}: which colour is best?", "Poll {n}. Name a colour.", "Pick a colour, number {n}."]
STYLES = ["I pick {}", "My answer: {}", "Easy, {}"]


def rows(prompts: int = 24, styles_per_edge: int = 3, seed: int = 0) -> list[dict[str, str]]:
    rng = random.Random(seed)
    result = []
    for edges, templates in ((CYCLE, CYCLE_PROMPTS), (ORDER, ORDER_PROMPTS)):
        for n in range(prompts):
            prompt = templates[n % len(templates)].format(n=n + 1)
            for winner, loser in edges:
                for _ in range(styles_per_edge):
                    chosen, rejected = rng.choice(STYLES).format(winner), rng.choice(STYLES).format(loser)
                    result.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return result


if __name__ == "__main__":
    lines = "".join(json.dumps(row) + "\n" for row in rows())
    Path("recipes/judges/preferences.jsonl").write_text(lines)
