"""`arena train --launcher accelerate`: run the same command again under `accelerate launch`.

The parent process checks what it can first (accelerate installed, the config file readable), so those
mistakes are one line and exit code 2; the children run `python -m arena train RECIPE ...` without the
launcher options, exactly as `accelerate launch -m arena train RECIPE` would.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from arena.errors import ArenaError


def launch_processes(num_processes: int | None, config_file: str | None) -> int:
    """How many processes `accelerate launch` will start: the flag, else the config's, else one per GPU."""
    if importlib.util.find_spec("accelerate") is None:
        raise ArenaError("--launcher accelerate needs accelerate: pip install accelerate")
    config = _read_config(config_file) if config_file else {}
    return num_processes or int(config.get("num_processes") or 0) or _default_processes()


def accelerate_command(train_args: Sequence[str], processes: int, config_file: str | None) -> list[str]:
    """The `accelerate launch` command line that runs `arena train TRAIN_ARGS` in every process."""
    config = _read_config(config_file) if config_file else {}
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    if config_file:
        command += ["--config_file", config_file]
    command += ["--num_processes", str(processes)]
    if not config_file:
        # Without a config, accelerate's torchrun-based launcher is `--multi_gpu`; it also runs CPU
        # processes (the loop then uses gloo). `--cpu` would start a single process (it expects mpirun).
        command += ["--multi_gpu"] if processes > 1 else []
        command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    if int(config.get("num_machines") or 1) == 1 and "main_process_port" not in config:
        # One machine: any free port, so that two runs (or two test sessions) never collide on 29500.
        command += ["--main_process_port", str(_free_port())]
    return [*command, "-m", "arena", "train", *train_args]


def relaunch(command: Sequence[str]) -> int:
    """Run the launcher and return its exit code (the children print their own output)."""
    return subprocess.run(list(command), check=False).returncode


def _read_config(path: str) -> dict[str, Any]:
    import yaml

    file = Path(path)
    if not file.is_file():
        raise ArenaError(f"--accelerate-config: no such file '{path}' (see recipes/accelerate/ for examples)")
    try:
        loaded = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise ArenaError(f"--accelerate-config: '{path}' is not YAML ({' '.join(str(exc).split())})") from exc
    if not isinstance(loaded, dict) or "distributed_type" not in loaded:
        raise ArenaError(f"--accelerate-config: '{path}' is not an accelerate config (no distributed_type)")
    return loaded


def _default_processes() -> int:
    import torch

    return max(torch.cuda.device_count(), 1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
