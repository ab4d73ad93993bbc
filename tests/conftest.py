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
SHARED = REPO.parent / "shared"

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
