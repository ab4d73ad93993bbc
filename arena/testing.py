"""Helpers for testing Arena and its plugins: run the CLI in a subprocess exactly as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Nothing in a test may wait on an unreachable hub.
OFFLINE_ENV: dict[str, str] = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_arena(
    args: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> CliResult:
    """`python -m arena ARGS` in a subprocess, offline, colours off, wide enough not to wrap tables."""
    full_env = {**os.environ, **OFFLINE_ENV, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "arena", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def kill_train_after_checkpoint(
    directory: Path, step: int, *, args: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> Path:
    """Start `arena train recipe.yaml ARGS` in `directory` and SIGKILL it, with every process it started (a
    launcher's workers too), once its checkpoint of `step` exists; returns that checkpoint. Fails if the run
    never reached it or finished before the kill."""
    full_env = {**os.environ, **OFFLINE_ENV, "NO_COLOR": "1", **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "arena", "train", "recipe.yaml", *args],
        cwd=directory,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a process group of its own, killed whole
    )
    checkpoint = directory / "runs" / "run" / "checkpoints" / f"step-{step:08d}"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert checkpoint.exists(), f"the run never reached its checkpoint of step {step}"
    assert not (directory / "runs" / "run" / "summary.json").exists(), "the run finished before it was killed"
    return checkpoint


def install_fixture_plugin(site: Path, entry_point: str, module: str, source: str) -> None:
    """Make `module` (its `source`) an installed distribution with an `arena` entry point under `site`.

    importlib.metadata finds it exactly as it finds a pip-installed package once `site` is on sys.path
    (or PYTHONPATH for a subprocess): tests of plugin discovery need no pip install.
    """
    import textwrap

    (site / f"{module}.py").write_text(textwrap.dedent(source))
    dist_info = site / f"{module}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[arena]\n{entry_point} = {module}\n")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server a test starts)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def vllm_serve_command(
    model: Path, name: str, port: int, max_model_len: int, kv_cache_mib: int = 128
) -> list[str]:
    """`vllm serve` of a (tiny) local model on the CPU, as `name`: float32, eager, a small KV cache."""
    return [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
        "--served-model-name", name, "--host", "127.0.0.1", "--port", str(port),
        "--max-model-len", str(max_model_len), "--dtype", "float32", "--enforce-eager",
        "--kv-cache-memory-bytes", str(kv_cache_mib << 20), "--uvicorn-log-level", "warning",
        "--disable-log-stats",
    ]  # fmt: skip


@contextmanager
def running_server(
    command: Sequence[str],
    url: str,
    log: Path,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    seconds: float = 240.0,
) -> Iterator[str]:
    """Start an OpenAI-compatible server (e.g. `vllm serve`) in its own process group, wait until
    `{url}/models` answers, yield `url`, and stop the whole group afterwards (the server and any engine
    process it started). vLLM runs its engine in the server's process (VLLM_ENABLE_V1_MULTIPROCESSING=0:
    it starts in seconds here) with one OpenMP thread unless `env` says otherwise."""
    import signal
    import time
    import urllib.request

    environ = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "OMP_NUM_THREADS": "1", **os.environ, **(env or {})}
    with log.open("w") as sink:
        server = subprocess.Popen(
            list(command), cwd=cwd, env=environ, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + seconds
        while True:
            if server.poll() is not None:
                raise AssertionError(f"the server exited {server.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the server did not answer in {seconds:.0f} s") from None
                time.sleep(0.5)
        yield url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
