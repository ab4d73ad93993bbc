"""The hooks a plugin can implement. Each receives a `register` callback that adds to a typed registry.

    register(name, factory, *, config=None, description="")

`factory` builds the object (a callable, or a lazy "module:attribute" string); `config` is a dataclass
describing the recipe's `args:` section for that name, validated like the rest of the recipe.
"""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

hookspec = pluggy.HookspecMarker("arena")
hookimpl = pluggy.HookimplMarker("arena")


class Register(Protocol):
    def __call__(
        self, name: str, factory: Any, *, config: type | None = None, description: str = ""
    ) -> None: ...


@hookspec
def register_algorithms(register: Register) -> None:
    """Register training algorithms (DPO, PPO, Nash-MD, ...): objects that turn batches into a loss."""


@hookspec
def register_judges(register: Register) -> None:
    """Register judges: compare(prompts, responses_a, responses_b) -> P(a beats b)."""


@hookspec
def register_backends(register: Register) -> None:
    """Register generation backends: generate(model, prompts, n, sampling) -> samples."""


@hookspec
def register_tasks(register: Register) -> None:
    """Register tasks: prompts, preference data and, where known, an oracle judge and exact answers."""


@hookspec
def register_executors(register: Register) -> None:
    """Register tournament executors: where generation and judging run (`local`, `ray`, ...)."""
