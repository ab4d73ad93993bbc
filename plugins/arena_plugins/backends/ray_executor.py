"""The `ray` executor: a tournament's generation and judging as Ray actors across a cluster (docs/ray.md).

The driver (the `arena tournament` process) plans the blocks and writes each result into its SQLite store
as it arrives; the actors only compute, with the same backend and judge plugins and the same block seeds
as the local executor, so the store, resume after a kill and incremental runs are exactly the local ones.

Ray is imported only inside functions: registering this executor costs nothing where Ray is missing.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from arena.api import (
    ArenaError,
    Counters,
    GenerationBlock,
    JudgeBatch,
    PluginSpec,
    Range,
    is_pointwise,
    judge_call,
)

# Settings a worker needs to behave as the driver does (offline hubs, plugin lists, vLLM's in-process
# engine, thread counts). PYTHONPATH and paths of this machine are not sent: workers run on other nodes.
_FORWARDED_PREFIXES = ("ARENA_", "HF_", "TRANSFORMERS_", "VLLM_")
_FORWARDED = ("OMP_NUM_THREADS", "TOKENIZERS_PARALLELISM")


@dataclass
class RayExecutorArgs:
    """`executor: {name: ray, args: ...}` of a tournament recipe."""

    # None: RAY_ADDRESS if set, else a Ray started in this process; "auto": the cluster `ray start` made here.
    address: str | None = None
    num_cpus: Annotated[int, Range(1)] | None = None  # CPUs of a Ray started in this process
    generation_workers: Annotated[int, Range(1)] = 2  # actors generating at once (one engine each)
    judge_workers: Annotated[int, Range(1)] = 1  # actors judging at once (one judge each)
    cpus_per_worker: Annotated[float, Range(0, low_open=True)] = 1.0  # Ray CPUs reserved by each actor
    gpus_per_worker: Annotated[float, Range(0)] = 0.0  # Ray GPUs reserved by each actor (fractions share one)
    # Blocks queued per actor: the next one is ready in the actor while the driver stores the last.
    blocks_in_flight: Annotated[int, Range(1)] = 2

    def check(self) -> tuple[str, str] | None:
        if self.address is not None and self.num_cpus is not None:
            return "num_cpus", "only for a Ray started here; a cluster at an address has its own CPUs"
        return None


class GenerationWorker:
    """One engine in one actor. Blocks of one model come in a row, so it loads that model once."""

    def __init__(self, backend: PluginSpec) -> None:
        self.spec = backend
        self.backend: Any = None
        self.model: str | None = None

    def generate(self, block: GenerationBlock, n: int) -> list[Any]:
        if self.backend is None:  # built here, not in __init__: its errors reach the driver as they are
            self.backend = _plugins(self.spec).backends.get(self.spec.name).build(self.spec.args)
        if self.model is not None and block.model != self.model:
            self.backend.close()  # one engine at a time in an actor, as in the local executor
        self.model = block.model
        return self.backend.generate(block.model, list(block.prompts), n, block.sampling)


class JudgeWorker:
    def __init__(self, judge: PluginSpec) -> None:
        self.spec = judge
        self.judge: Any = None

    def open(self) -> bool:
        self.judge = _plugins(self.spec).judges.get(self.spec.name).build(self.spec.args)
        return is_pointwise(self.judge)

    def values(self, batch: JudgeBatch, pointwise: bool) -> tuple[list[Any], Counters]:
        """The batch's values and what the judge counted in this call (an actor runs one call at a time)."""
        return judge_call(self.judge, batch, pointwise)


class RayExecutor:
    def __init__(self, config: RayExecutorArgs | None = None) -> None:
        self.config = config or RayExecutorArgs()
        self.ray = _import_ray()  # a missing Ray stops the run here, before anything is written
        self.started = False  # whether this executor started Ray (and so shuts it down)
        self.judges: list[Any] = []
        self.opening: list[Any] = []  # the judges' open() calls, checked while generation runs

    def open_judge(self, plugins: Any, judge: PluginSpec) -> None:
        # The judges load while the entrants generate (a judge model can take minutes to load); a judge
        # that fails stops the run as soon as its failure is back, not after generation.
        self._connect()
        self.judges = [self._actor(JudgeWorker, judge) for _ in range(self.config.judge_workers)]
        self.opening = [worker.open.remote() for worker in self.judges]

    def pointwise(self) -> bool:
        return bool(self._get(self.opening)[0])

    def generate(
        self, plugins: Any, backend: PluginSpec, blocks: Sequence[GenerationBlock], n: int
    ) -> Iterator[tuple[GenerationBlock, list[list[Any]]]]:
        if not blocks:
            return
        schedule = _Schedule(blocks, min(self.config.generation_workers, len(blocks)))
        workers = [self._actor(GenerationWorker, backend) for _ in range(schedule.workers)]
        in_flight: dict[Any, tuple[int, GenerationBlock]] = {}

        def submit(worker: int) -> None:
            block = schedule.next_for(worker)
            if block is not None:
                in_flight[workers[worker].generate.remote(block, n)] = (worker, block)

        try:
            for _ in range(self.config.blocks_in_flight):
                for worker in range(schedule.workers):
                    submit(worker)
            while in_flight:
                [done], _ = self.ray.wait(list(in_flight), num_returns=1)
                self._check_judges()
                worker, block = in_flight.pop(done)
                results = self._get(done)
                submit(worker)  # before the driver stores this block, so the actor never waits on it
                yield block, results
        finally:
            for worker in workers:  # frees their engines (and CPUs/GPUs) for the judges
                self.ray.kill(worker)

    def judge(
        self, batches: Sequence[JudgeBatch], pointwise: bool
    ) -> Iterator[tuple[JudgeBatch, list[Any], Counters]]:
        pending = deque(batches)
        in_flight: dict[Any, tuple[int, JudgeBatch]] = {}

        def submit(worker: int) -> None:
            if pending:
                batch = pending.popleft()
                in_flight[self.judges[worker].values.remote(batch, pointwise)] = (worker, batch)

        for _ in range(self.config.blocks_in_flight):
            for worker in range(len(self.judges)):
                submit(worker)
        while in_flight:
            [done], _ = self.ray.wait(list(in_flight), num_returns=1)
            worker, batch = in_flight.pop(done)
            values, counters = self._get(done)
            submit(worker)
            yield batch, values, counters

    def close(self) -> None:
        for worker in self.judges:
            self.ray.kill(worker)
        self.judges = []
        if self.started:
            self.ray.shutdown()
            self.started = False

    def _check_judges(self) -> None:
        finished, _ = self.ray.wait(self.opening, num_returns=len(self.opening), timeout=0)
        if finished:
            self._get(finished)  # raises a judge's error; a built judge returns at once

    def _connect(self) -> None:
        ray = self.ray
        if not ray.is_initialized():
            address = self.config.address or os.environ.get("RAY_ADDRESS")
            where = f" at {address}" if address else ""
            # A Ray started here inherits this environment; workers of a cluster get the settings that
            # change how they behave (a Ray the caller initialised keeps the runtime env it was given).
            env = {} if address is None else {"env_vars": _forwarded_env()}
            try:
                ray.init(
                    address=address,
                    num_cpus=self.config.num_cpus,
                    include_dashboard=False,
                    log_to_driver=False,  # workers' logs stay in the session's log directory
                    logging_level=logging.WARNING,
                    runtime_env=env or None,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ArenaError(
                    f"executor 'ray': cannot start or reach Ray{where}: {_one_line(exc)}"
                ) from None
            self.started = True
        self._check_resources()

    def _check_resources(self) -> None:
        """Actors that cannot all be placed would wait forever: say so instead."""
        config, have = self.config, self.ray.cluster_resources()
        workers = config.generation_workers + config.judge_workers
        for resource, each in (("CPU", config.cpus_per_worker), ("GPU", config.gpus_per_worker)):
            need = workers * each
            if need > have.get(resource, 0.0) + 1e-9:
                raise ArenaError(
                    f"executor 'ray': the cluster has {have.get(resource, 0.0):g} {resource}s; "
                    f"{config.generation_workers} generation and {config.judge_workers} judge workers "
                    f"at {each:g} each need {need:g}"
                )

    def _actor(self, cls: type, spec: PluginSpec) -> Any:
        remote = self.ray.remote(cls).options(
            num_cpus=self.config.cpus_per_worker,
            num_gpus=self.config.gpus_per_worker,
            # A lost node restarts its actors elsewhere and reruns their blocks: a block's result depends
            # only on its seed, so a rerun gives what the lost one would have.
            max_restarts=2,
            max_task_retries=2,
        )
        return remote.remote(spec)

    def _get(self, refs: Any) -> Any:
        try:
            return self.ray.get(refs)
        except self.ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, ArenaError):  # a plugin's one-line error, as the local run gives it
                raise ArenaError(str(exc.cause)) from None
            raise


class _Schedule:
    """Which block each generation actor takes next: its own model's while there are any, then a model
    no actor holds, then the one with most blocks left, so that each model loads about once. Blocks are
    keyed by model fingerprint (the driver plans each distinct model once, whatever plays it)."""

    def __init__(self, blocks: Sequence[GenerationBlock], workers: int) -> None:
        self.workers = workers
        self.queues: dict[str, deque[GenerationBlock]] = {}
        for block in blocks:
            self.queues.setdefault(block.fingerprint, deque()).append(block)
        self.holding: list[str | None] = [None] * workers

    def next_for(self, worker: int) -> GenerationBlock | None:
        model = self.holding[worker]
        if model not in self.queues:
            held = set(self.holding)
            free = [key for key in self.queues if key not in held]
            if free:
                model = free[0]
            elif self.queues:
                model = max(self.queues, key=lambda key: len(self.queues[key]))
            else:
                return None
            self.holding[worker] = model
        assert model is not None
        queue = self.queues[model]
        block = queue.popleft()
        if not queue:
            del self.queues[model]
        return block


def _forwarded_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if key.startswith(_FORWARDED_PREFIXES) or key in _FORWARDED
    }


def _plugins(spec: PluginSpec) -> Any:
    """The plugin host of a worker: only the plugin that registered the spec's entry is loaded (the driver
    has discovered them all already), unless the entry is the host's own."""
    from arena.api import make_plugin_host

    if spec.plugins is None:
        return make_plugin_host()
    return make_plugin_host(environ={**os.environ, "ARENA_PLUGINS": ",".join(spec.plugins)})


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ArenaError(f"executor 'ray' needs Ray: pip install -e '.[ray]' ({_one_line(exc)})") from None
    return ray


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
