"""Shared test set-up: nothing reaches a hub or the network; one thread per process; a private datasets cache.

The suite runs in parallel (`pytest -n 2`, scheduled by `--dist loadgroup` from pyproject.toml): each
worker is its own process with its own session fixtures, so tests write only under tmp_path and tests
that must share one expensive fixture carry the same `pytest.mark.xdist_group`.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.testing import OFFLINE_ENV

REPO = Path(__file__).resolve().parents[1]

os.environ.update(OFFLINE_ENV)
# One OpenMP/BLAS thread in this process and in every subprocess a test starts (they inherit the
# environment): two workers on two cores must not each spin a thread per core (DEVELOPERS.md).
os.environ["OMP_NUM_THREADS"] = "1"
# `datasets` caches every file it loads; tests load files under tmp_path, so each run would add entries to
# ~/.cache/huggingface that nothing reuses, and workers would share that cache with each other and with
# whatever else runs on the machine. Each process of a run gets its own, removed at the end.
_DATASETS_CACHE = tempfile.mkdtemp(prefix="arena-tests-datasets-")
os.environ["HF_DATASETS_CACHE"] = _DATASETS_CACHE


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_DATASETS_CACHE, ignore_errors=True)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tag each test marked `xdist_group(NAME)` as NAME's, so that `--dist loadgroup` keeps the group on one worker.

    pytest-xdist 3.8 does this itself by assigning `item._nodeid`, which pytest 9.2 no longer reads: the
    scheduler never sees the group and spreads its tests over both workers. This sets the same "@NAME"
    suffix where pytest 9.2 keeps the id (and does nothing where xdist's own tag took effect).
    """
    if not getattr(config.option, "loadgroup", False):  # set on xdist workers under --dist loadgroup
        return
    from _pytest.nodes import coerce_node_id

    for item in items:
        names = {
            str(m.args[0] if m.args else m.kwargs.get("name", "default"))
            for m in item.iter_markers("xdist_group")
        }
        suffix = "@" + "_".join(sorted(names))
        if names and not item.nodeid.endswith(suffix):
            item._id = coerce_node_id(item.nodeid + suffix)
            assert item.nodeid.endswith(suffix), "pytest keeps the node id elsewhere again: update this hook"


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Two cores are shared with other work; one thread keeps timings steady and the suite polite."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Refuse connections that leave this machine (loopback and Unix sockets stay allowed: vLLM uses them)."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> object:
        if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            host = str(address[0])
            if not (host.startswith("127.") or host in ("::1", "localhost")):
                raise ConnectionRefusedError(f"tests may not reach the network ({host})")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    yield
