"""Generation stage: each entrant generates everything it lacks in one engine session, block by block.

Block b holds prompts [b * size, (b + 1) * size) of the prompt set and is sampled with a seed derived
from (seed, b): a block regenerated after a kill gives exactly what the uninterrupted run gave.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from arena.generation.base import Sample, SamplingSettings, request_seed
from arena.tournament.store import TournamentStore


def settings_key(backend: str, sampling: SamplingSettings) -> str:
    """Everything besides the model and the prompt that decides a sample."""
    return json.dumps({"backend": backend, **asdict(sampling)}, sort_keys=True)


def missing_blocks(
    cached: dict[tuple[str, int], Sample], prompts: list[str], n: int, block_size: int
) -> list[int]:
    blocks = []
    for start in range(0, len(prompts), block_size):
        block = prompts[start : start + block_size]
        if any((prompt, i) not in cached for prompt in block for i in range(n)):
            blocks.append(start // block_size)
    return blocks


def generate_entrant(
    store: TournamentStore,
    backend: Any,
    model: str,
    fingerprint: str,
    backend_name: str,
    prompts: list[str],
    n: int,
    sampling: SamplingSettings,
    block_size: int,
    on_block: Callable[[int], None],
) -> int:
    """Fill the cache for one entrant; returns how many samples were generated now."""
    key = settings_key(backend_name, sampling)
    cached = store.samples(fingerprint, key)
    blocks = missing_blocks(cached, prompts, n, block_size)
    generated = 0
    try:
        for block in blocks:
            chunk = prompts[block * block_size : (block + 1) * block_size]
            block_sampling = replace(sampling, seed=request_seed(sampling.seed, block))
            results = backend.generate(model, chunk, n, block_sampling)
            store.add_samples(
                fingerprint, key, [(i, s) for samples in results for i, s in enumerate(samples)]
            )
            generated += sum(len(samples) for samples in results)
            on_block(len(chunk))
    finally:
        backend.close()  # one engine at a time: free this entrant's before the next loads
    return generated


def entrant_samples(
    store: TournamentStore,
    fingerprint: str,
    backend_name: str,
    sampling: SamplingSettings,
    prompts: list[str],
    n: int,
) -> dict[str, list[Sample]]:
    cached = store.samples(fingerprint, settings_key(backend_name, sampling))
    return {prompt: [cached[(prompt, i)] for i in range(n)] for prompt in prompts}
