"""Stand-ins for tests/host/test_recipe_keys.py: recording `vllm` and `ray` modules, and a recorder of the
fields a run reads from a config dataclass."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import types
from collections.abc import Iterator
from typing import Any

# Reads that are not uses: saving the resolved recipe, fingerprints, the schema's checks, dataclass
# machinery (eq, repr, astuple) and copies.
_NOT_USES = {"arena.schema", "arena.tournament.fingerprint", "dataclasses", "copy"}
_NOT_USE_FUNCTIONS = {"check", "__eq__", "__repr__", "__hash__"}


@contextlib.contextmanager
def recording_reads(cls: type) -> Iterator[set[tuple[str, str]]]:
    """Within the block, every read of a field of an instance of `cls` by the run is recorded as
    (class name, field name)."""
    reads: set[tuple[str, str]] = set()
    names = {field.name for field in dataclasses.fields(cls)}
    had_own = "__getattribute__" in cls.__dict__

    def getattribute(self: Any, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if name in names:
            caller = sys._getframe(1)
            if (
                caller.f_globals.get("__name__") not in _NOT_USES
                and caller.f_code.co_name not in _NOT_USE_FUNCTIONS
            ):
                reads.add((type(self).__name__, name))
        return value

    cls.__getattribute__ = getattribute  # type: ignore[method-assign]
    try:
        yield reads
    finally:
        if not had_own:
            del cls.__getattribute__


class FakeVLLM:
    """What `arena.generation.vllm._start_engine` hands to `vllm.LLM`, recorded instead of starting an engine."""

    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {}

    def LLM(self, model: str, **kwargs: Any) -> object:  # noqa: N802 - vllm's name
        self.kwargs = {"model": model, **kwargs}
        return object()


class FakeJudgeVLLM(FakeVLLM):
    """FakeVLLM whose engine also generates: each reply is a verdict `[[LABEL]]` that follows from the
    prompt's token ids and the sampling params (a hash), so that what reaches `generate` decides it."""

    LABELS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")

    def __init__(self, tokenizer: Any) -> None:
        super().__init__()
        self.replies = [
            tokenizer(f"[[{label}]]", add_special_tokens=False)["input_ids"] for label in self.LABELS
        ]
        self.params: list[dict[str, Any]] = []

    def SamplingParams(self, **kwargs: Any) -> Any:  # noqa: N802 - vllm's name
        return types.SimpleNamespace(**kwargs)

    def LLM(self, model: str, **kwargs: Any) -> object:  # noqa: N802 - vllm's name
        super().LLM(model, **kwargs)
        return types.SimpleNamespace(generate=self.generate)

    def generate(
        self, requests: list[dict[str, Any]], params: list[Any], use_tqdm: bool = False
    ) -> list[Any]:
        import hashlib

        outputs = []
        for request, param in zip(requests, params, strict=True):
            self.params.append(dict(sorted(vars(param).items())))
            digest = hashlib.sha256(repr((request["prompt_token_ids"], vars(param))).encode()).digest()
            ids = self.replies[digest[0] % len(self.replies)]
            flat = types.SimpleNamespace(logprobs=[0.0] * len(ids), start_indices=list(range(len(ids))))
            completion = types.SimpleNamespace(token_ids=list(ids), logprobs=flat)
            outputs.append(types.SimpleNamespace(outputs=[completion]))
        return outputs


class _Ref:
    def __init__(self, ray: FakeRay) -> None:
        ray.in_flight += 1
        ray.peak = max(ray.peak, ray.in_flight)


class _Actor:
    """Every method call `actor.name.remote(...)` returns a ref to None at once."""

    def __init__(self, ray: FakeRay) -> None:
        self.ray = ray

    def __getattr__(self, name: str) -> Any:
        return types.SimpleNamespace(remote=lambda *args: _Ref(self.ray))


class _Remote:
    def __init__(self, ray: FakeRay, cls: type) -> None:
        self.ray, self.cls, self.opts = ray, cls, {}

    def options(self, **opts: Any) -> _Remote:
        self.opts = opts
        return self

    def remote(self, spec: Any) -> _Actor:
        self.ray.actors.append((self.cls.__name__, tuple(sorted(self.opts.items()))))
        return _Actor(self.ray)


class FakeRay:
    """The part of Ray the executor calls, answering at once (every actor method returns None), and what it
    was asked: init's address and CPUs, each actor with its resources, the most refs in flight at once."""

    class exceptions:  # noqa: N801 - ray's name
        class RayTaskError(Exception):
            cause: Exception | None = None

    def __init__(self, cpus: float, gpus: float) -> None:
        self.resources = {"CPU": cpus, "GPU": gpus}
        self.initialized = False
        self.started_with: tuple[Any, Any] | None = None
        self.actors: list[tuple[str, tuple[Any, ...]]] = []
        self.in_flight = self.peak = 0

    def summary(self) -> dict[str, Any]:
        return {"init": self.started_with, "actors": self.actors, "peak_in_flight": self.peak}

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, **kwargs: Any) -> None:
        self.initialized = True
        self.started_with = (kwargs.get("address"), kwargs.get("num_cpus"))

    def cluster_resources(self) -> dict[str, float]:
        return dict(self.resources)

    def remote(self, cls: type) -> _Remote:
        return _Remote(self, cls)

    def wait(self, refs: list[Any], num_returns: int = 1, timeout: float | None = None) -> tuple[list, list]:
        return list(refs[:num_returns]), list(refs[num_returns:])

    def get(self, refs: Any) -> Any:
        items = refs if isinstance(refs, list) else [refs]
        self.in_flight -= len(items)
        return [None] * len(items) if isinstance(refs, list) else None

    def kill(self, actor: Any) -> None:
        pass

    def shutdown(self) -> None:
        self.initialized = False
