"""Generation stage: the blocks each model lacks, planned here, computed by an executor, stored here.

Blocks are planned per model fingerprint, not per entrant: entrants that play the same model (the same
path, or a copy with the same files) read the same cached samples, so each distinct model is generated
once per prompt and sample. Block b holds prompts [b * size, (b + 1) * size) of the prompt set and is
sampled with a seed derived from (seed, b): a block regenerated after a kill gives exactly what the
uninterrupted run gave.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, replace

from arena.errors import ArenaError
from arena.generation.base import Sample, SamplingSettings, request_seed
from arena.tournament.executor import GenerationBlock
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


def plan_blocks(
    store: TournamentStore,
    entrants: Sequence[tuple[str, str]],
    fingerprints: dict[str, str],
    backend_name: str,
    prompts: list[str],
    n: int,
    sampling: SamplingSettings,
    block_size: int,
) -> list[GenerationBlock]:
    """Every block some model lacks, model by model in entrant order (each fingerprint once, under its
    first entrant's name); each with the seed derived from (seed, block)."""
    key = settings_key(backend_name, sampling)
    blocks = []
    planned: set[str] = set()
    for name, model in entrants:
        if fingerprints[name] in planned:
            continue  # an earlier entrant plays this model: its samples are this entrant's too
        planned.add(fingerprints[name])
        cached = store.samples(fingerprints[name], key)
        for index in missing_blocks(cached, prompts, n, block_size):
            chunk = tuple(prompts[index * block_size : (index + 1) * block_size])
            block_sampling = replace(sampling, seed=request_seed(sampling.seed, index))
            blocks.append(GenerationBlock(name, model, fingerprints[name], index, chunk, block_sampling))
    return blocks


def store_block(
    store: TournamentStore,
    block: GenerationBlock,
    results: list[list[Sample]],
    backend_name: str,
    sampling: SamplingSettings,
) -> tuple[int, int]:
    """One block's samples in one transaction; returns (generated, stored): a block regenerated for a
    sample it lacked (e.g. after `samples_per_prompt` grew) stores only the samples that are new."""
    if len(results) != len(block.prompts):
        raise ArenaError(
            f"backend '{backend_name}' returned {len(results)} results for {len(block.prompts)} prompts"
        )
    key = settings_key(backend_name, sampling)  # the recipe's settings, not the block's seed
    rows = [(i, s) for samples in results for i, s in enumerate(samples)]
    return len(rows), store.add_samples(block.fingerprint, key, rows)


def entrant_samples(
    store: TournamentStore, fingerprint: str, settings: str, prompts: list[str], n: int
) -> dict[str, list[Sample]]:
    """An entrant's samples as stored under its fingerprint and settings key (`settings_key` for what was
    generated, `outputs.OUTPUTS_SETTINGS` for a file's)."""
    cached = store.samples(fingerprint, settings)
    return {prompt: [cached[(prompt, i)] for i in range(n)] for prompt in prompts}
