"""Plugins installed for real (dist-info on the path), to test discovery, isolation and validation.

Each fixture plugin is a distribution with an `arena` entry point, found by importlib.metadata exactly
as a pip-installed package is; subprocesses see them through PYTHONPATH.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from arena.testing import install_fixture_plugin

PLUGINS: dict[str, tuple[str, str]] = {
    # entry-point name: (module name, module source)
    "fixture": (
        "arena_fixture_plugin",
        '''
        from dataclasses import dataclass
        from typing import Annotated, Literal

        from arena import hookimpl
        from arena.schema import Range

        __version__ = "1.0"


        @dataclass
        class PairwiseArgs:
            beta: Annotated[float, Range(0, low_open=True)] = 0.1
            loss: Literal["sigmoid", "hinge"] = "sigmoid"


        def build_pairwise(args: PairwiseArgs):
            # arena.api's Algorithm imports torch: the class is made when a recipe builds it, so discovery
            # stays torch-free, as a real plugin's lazy "module:attr" factory keeps it.
            from arena.api import ONLY_MICRO_BATCH, Algorithm

            class PairwiseLoss(Algorithm):
                data = "pairs"
                needs_reference = True

                def __init__(self, args: PairwiseArgs) -> None:
                    self.args = args

                def loss(self, batch, micro_batch=ONLY_MICRO_BATCH):
                    raise NotImplementedError("the recipe tests validate recipes; they never train this")

            return PairwiseLoss(args)


        class EchoBackend:
            """Returns each prompt as its own completion."""

            def generate(self, prompts, n=1):
                return [[prompt] * n for prompt in prompts]


        @hookimpl
        def register_algorithms(register):
            register("pairwise-fixture", build_pairwise, config=PairwiseArgs, description="test algorithm")


        @hookimpl
        def register_backends(register):
            register("echo-fixture", "arena_fixture_plugin:EchoBackend", description="test backend")
        ''',
    ),
    "broken-import": ("arena_broken_import", "import a_module_that_does_not_exist\n"),
    "raises-in-hook": (
        "arena_raises_in_hook",
        """
        from arena import hookimpl


        @hookimpl
        def register_tasks(register):
            register("half-registered", lambda: None)


        @hookimpl
        def register_judges(register):
            raise RuntimeError("judge weights missing")
        """,
    ),
    "duplicate-name": (
        "arena_duplicate_name",
        """
        from arena import hookimpl


        @hookimpl
        def register_tasks(register):
            register("dice", lambda: None)
            register("unique-task", lambda: None)
        """,
    ),
}


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    for entry_point, (module, source) in PLUGINS.items():
        install_fixture_plugin(site, entry_point, module, source)
    return site


@pytest.fixture
def with_plugins(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Put the fixture plugins on sys.path (this process) and return the env for subprocesses."""
    monkeypatch.syspath_prepend(str(plugin_site))
    pythonpath = os.pathsep.join(filter(None, [str(plugin_site), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": pythonpath}
