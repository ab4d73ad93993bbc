"""Where a tournament's generation and judging run: an executor (`local` here, `ray` as a plugin).

The driver (`arena.tournament.run`) decides what the store lacks, hands it to the executor as blocks and
stores every result as it comes back, one transaction per block. An executor only computes and never
touches the store: whatever runs the work, the same rows are stored, a killed run loses at most the blocks
in flight, and a rerun or a grown tournament asks for exactly what is missing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from arena.generation.base import Sample, SamplingSettings

JudgeBatch = Sequence[Any]  # items: (prompt, response) to score, or (prompt, response a, response b)
Counters = dict[str, int]  # what a judge counted in one call, e.g. {"verdicts": 16, "unreadable": 2}


@dataclass(frozen=True)
class PluginSpec:
    """A plugin by name and typed config: what a worker needs to build its own copy."""

    name: str
    args: Any = None
    # The plugins another process loads to build it (the one that registered it); None: every installed one.
    plugins: tuple[str, ...] | None = None


@dataclass(frozen=True)
class GenerationBlock:
    """Prompts [index * size, (index + 1) * size) of one model, with the block's own seed.

    Blocks are planned per model fingerprint: entrants that play the same model share its samples, and
    `entrant` is the first of them (the name progress shows)."""

    entrant: str
    model: str
    fingerprint: str
    index: int
    prompts: tuple[str, ...]
    sampling: SamplingSettings


class Executor(Protocol):
    def open_judge(self, plugins: Any, judge: PluginSpec) -> None:
        """Start building the judge where it will run, before any generation: a judge that cannot load
        stops the run as soon as that is known (the local executor builds it right here)."""
        ...

    def pointwise(self) -> bool:
        """Whether the judge scores responses (else it compares pairs); waits until it is built."""
        ...

    def generate(
        self, plugins: Any, backend: PluginSpec, blocks: Sequence[GenerationBlock], n: int
    ) -> Iterator[tuple[GenerationBlock, list[list[Sample]]]]:
        """n samples per prompt of every block, yielded block by block as they are done (any order)."""
        ...

    def judge(
        self, batches: Sequence[JudgeBatch], pointwise: bool
    ) -> Iterator[tuple[JudgeBatch, list[Any], Counters]]:
        """Per batch, the judge's values (scores, or P(a beats b)) and what it counted in that call (empty
        when it counts nothing), yielded as they are done (any order)."""
        ...

    def close(self) -> None: ...


def judge_call(judge: Any, batch: JudgeBatch, pointwise: bool) -> tuple[list[Any], Counters]:
    """One judge call for one batch, and the judge's counters it added: the same code wherever it runs."""
    before = judge_counters(judge)
    prompts = [item[0] for item in batch]
    if pointwise:
        values = list(judge.score(prompts, [item[1] for item in batch]))
    else:
        values = list(judge.compare(prompts, [item[1] for item in batch], [item[2] for item in batch]))
    after = judge_counters(judge)
    # A judge's counters run over its lifetime; the difference is this call's, which the driver stores
    # with the call's judgments (a rerun that reads them from the cache still knows what was counted).
    return values, {key: int(value) - int(before.get(key, 0)) for key, value in after.items()}


def is_pointwise(judge: Any) -> bool:
    from arena.judging import PointwiseJudge

    return isinstance(judge, PointwiseJudge)


def judge_counters(judge: Any) -> Counters:
    """A judge's counters so far (a `CountingJudge`'s `counters()`); empty when it counts nothing."""
    from arena.judging import CountingJudge

    return dict(judge.counters() or {}) if isinstance(judge, CountingJudge) else {}


class LocalExecutor:
    """Everything in this process: one engine at a time, entrant after entrant, blocks in order."""

    def __init__(self, config: Any = None) -> None:
        self._judge: Any = None

    def open_judge(self, plugins: Any, judge: PluginSpec) -> None:
        self._judge = plugins.judges.get(judge.name).build(judge.args)

    def pointwise(self) -> bool:
        return is_pointwise(self._judge)

    def generate(
        self, plugins: Any, backend: PluginSpec, blocks: Sequence[GenerationBlock], n: int
    ) -> Iterator[tuple[GenerationBlock, list[list[Sample]]]]:
        if not blocks:
            return
        engine = plugins.backends.get(backend.name).build(backend.args)
        current: str | None = None
        try:
            for block in blocks:
                if current is not None and block.model != current:
                    engine.close()  # one engine at a time: free this entrant's before the next loads
                current = block.model
                yield block, engine.generate(block.model, list(block.prompts), n, block.sampling)
        finally:
            engine.close()

    def judge(
        self, batches: Sequence[JudgeBatch], pointwise: bool
    ) -> Iterator[tuple[JudgeBatch, list[Any], Counters]]:
        for batch in batches:
            yield batch, *judge_call(self._judge, batch, pointwise)

    def close(self) -> None:
        self._judge = None
