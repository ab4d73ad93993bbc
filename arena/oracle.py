"""The `oracle` judge: any installed task's exact preferences (its `oracle_judge()`).

It belongs to the host rather than to a plugin because it reads another plugin's task: the host builds
it from the registries it already holds (no second discovery of the plugins).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from arena.errors import ArenaError
from arena.registry import Entry
from arena.schema import FieldError, PluginName, convert

if TYPE_CHECKING:
    from arena.plugins import PluginHost

HOST_PLUGIN = "arena"  # what `arena plugins` calls the entries the host registers itself


@dataclass
class OracleArgs:
    """`args:` of the `oracle` judge: a task's exact preferences (its `oracle_judge()`)."""

    task: Annotated[str, PluginName("tasks")]  # the task whose exact preferences judge
    args: Any = field(default_factory=dict)  # the task's own args, checked when the judge is built


def oracle_entry(host: PluginHost) -> Entry[Any]:
    def build(args: OracleArgs) -> Any:
        entry = host.tasks.get(args.task)
        try:
            config = convert(args.args or {}, entry.config, "judge.args.args") if entry.config else None
        except FieldError as exc:
            raise ArenaError(f"judge 'oracle': {exc}") from None
        task = host.build_task(args.task, config)
        if not task.provides_oracle:
            raise ArenaError(
                f"judge 'oracle': task '{args.task}' has no oracle judge (its true preferences are unknown)"
            )
        return task.oracle_judge()

    return Entry("oracle", build, OracleArgs, HOST_PLUGIN, "a task's exact preferences")
