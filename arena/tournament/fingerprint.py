"""Fingerprints: what a cached generation or judgment depends on, independent of where files live.

A model directory's fingerprint hashes its files' contents (weights, config, tokenizer; not its model
card, README.md, nor the recipe.yaml beside it), never its path:
moving or copying a model keeps its cache, retraining it into the same path does not. An entrant without
weights is fingerprinted by what decides its answers: a file of outputs by its contents, an endpoint by its
URL, model and request keys; each kind has its own prefix, so no two kinds share cached samples.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from arena.cards import CARD, RECIPE_BESIDE_CARD
from arena.http_chat import ChatEndpoint
from arena.schema import to_plain
from arena.tournament.store import TournamentStore

_CHUNK = 1 << 20
# final/'s model card and the recipe beside it (arena.cards) decide no answer, and the card states the
# run's wall time: left out, a model retrained bit for bit keeps its fingerprint and its cached samples.
CARD_FILES = frozenset({CARD, RECIPE_BESIDE_CARD})


def model_fingerprint(model: str, store: TournamentStore | None = None) -> str:
    """sha256 of a directory's files (names and contents), or "hub:<id>" for a hub id."""
    path = Path(model).expanduser()
    if not path.is_dir():
        return f"hub:{model}"
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.relative_to(path).as_posix() not in CARD_FILES
    )
    stamp = json.dumps([(str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in files])
    resolved = str(path.resolve())
    if store is not None and (known := store.known_fingerprint(resolved, stamp)):
        return known
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path)).encode() + b"\0")
        with file.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    result = digest.hexdigest()
    if store is not None:
        store.remember_fingerprint(resolved, stamp, result)
    return result


def judge_fingerprint(name: str, args: Any, store: TournamentStore | None = None) -> str:
    """The judge's name and resolved args; any local model directory in the args by its contents."""
    plain = to_plain(args)

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, str) and value and _is_directory(value):
            return {"directory": model_fingerprint(value, store)}
        return value

    payload = json.dumps({"judge": name, "args": resolve(plain)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _is_directory(value: str) -> bool:
    """Whether a string arg names a local directory; a long text (a judge's prompt template) is none, even
    where the OS refuses to look it up (ENAMETOOLONG)."""
    try:
        return Path(value).expanduser().is_dir()
    except (OSError, ValueError):
        return False


def outputs_fingerprint(path: str) -> str:
    """The file's contents, never its path: an edited file is a new entrant, a moved one is not."""
    return "outputs:" + hashlib.sha256(Path(path).expanduser().read_bytes()).hexdigest()


def endpoint_fingerprint(endpoint: ChatEndpoint) -> str:
    """What decides an endpoint's answers besides the prompt and the sampling settings; not how it is
    called (timeout, retries, concurrency, the key's variable)."""
    payload = {
        "base_url": endpoint.base_url.rstrip("/"),
        "model": endpoint.model,
        "system_prompt": endpoint.system_prompt,
        "extra_body": endpoint.extra_body,
    }
    return "endpoint:" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
