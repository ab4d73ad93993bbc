"""`arena push`: a run's final/ or a leaderboard folder to the Hugging Face Hub (docs/hub.md).

What goes where:
- a run directory (OUT, holding final/) or a final/ directory itself: final/'s files, the model or LoRA
  adapter with its card (README.md, written if an older run lacks one), to a **model** repo;
- a leaderboard folder (holding leaderboard.csv, as `arena tournament` publishes it): every file, to a
  **dataset** repo: the hub's viewer shows its csv files as tables, and index.html is kept beside them.

Through `huggingface_hub` (`HfApi.create_repo`, then `upload_folder`); HF_ENDPOINT points it at another
hub. Offline (HF_HUB_OFFLINE=1, or the endpoint unreachable) and unauthenticated pushes fail with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena.errors import ArenaError

LOGIN_HINT = "set HF_TOKEN or run `hf auth login`"


@dataclass(frozen=True)
class PushTarget:
    folder: Path  # what is uploaded, every file under it
    repo_type: str  # "model" or "dataset"
    what: str  # said to the user: "model", "LoRA adapter", "leaderboard"


@dataclass(frozen=True)
class PushResult:
    url: str  # the repo's page
    repo_type: str
    revision: str
    files: int
    target: PushTarget


def push_target(source: str | Path) -> PushTarget:
    """What SOURCE is: a run (its final/), a final/ directory, or a leaderboard folder."""
    from arena.cards import CARD, is_adapter, write_model_card

    path = Path(source)
    if not path.is_dir():
        raise ArenaError(f"'{path}': expected a run directory, its final/ or a leaderboard folder")
    if (path / "leaderboard.csv").is_file():
        return PushTarget(path, "dataset", "leaderboard")
    if (path / "final").is_dir():
        if not (path / "final" / CARD).is_file():  # a run from before cards: its card, from its own files
            write_model_card(path)
        path = path / "final"
    if (path / "config.json").is_file() or is_adapter(path):
        return PushTarget(path, "model", "LoRA adapter" if is_adapter(path) else "model")
    raise ArenaError(
        f"'{path}': expected a run directory (with final/), a model directory (config.json or "
        "adapter_config.json) or a leaderboard folder (leaderboard.csv)"
    )


def push(
    source: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None
) -> PushResult:
    """Create REPO_ID if needed (private if asked), then upload SOURCE's files to it, on `revision`
    (a branch, created from main when missing) or main."""
    target = push_target(source)
    from huggingface_hub import HfApi, constants, get_token

    if constants.HF_HUB_OFFLINE:
        raise ArenaError("HF_HUB_OFFLINE is set: `arena push` needs the hub (unset HF_HUB_OFFLINE)")
    token = get_token()
    if not token:
        raise ArenaError(f"not logged in to the hub ({constants.ENDPOINT}): {LOGIN_HINT}")
    api = HfApi(token=token)
    branch = revision or constants.DEFAULT_REVISION
    files = sum(1 for p in target.folder.rglob("*") if p.is_file() and ".git" not in p.parts)
    with _hub_errors(api.endpoint, repo_id):
        # Without --private, the namespace's default visibility (public for a user; an org may choose).
        url = api.create_repo(repo_id, repo_type=target.repo_type, private=private or None, exist_ok=True)
        if revision:
            api.create_branch(repo_id, branch=revision, repo_type=target.repo_type, exist_ok=True)
        api.upload_folder(
            folder_path=target.folder,
            repo_id=repo_id,
            repo_type=target.repo_type,
            revision=branch,
            commit_message=f"arena push: {target.what} from {target.folder.name}",
        )
    return PushResult(str(url), target.repo_type, branch, files, target)


class _hub_errors:
    """Turns what the hub (or the network) answers into one line naming the endpoint and repo."""

    def __init__(self, endpoint: str, repo_id: str) -> None:
        self.endpoint, self.repo_id = endpoint, repo_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: Any) -> bool:
        if error is None:
            return False
        from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

        if isinstance(error, OfflineModeIsEnabled):
            raise ArenaError("HF_HUB_OFFLINE is set: `arena push` needs the hub (unset HF_HUB_OFFLINE)")
        if isinstance(error, _transport_errors()):  # refused, timed out, name not resolved
            raise ArenaError(
                f"cannot reach the hub at {self.endpoint} ({type(error).__name__}: {_first_line(error)}): "
                "offline? (HF_ENDPOINT chooses another hub)"
            ) from error
        if isinstance(error, HfHubHTTPError) and error.response is not None:
            status = error.response.status_code
            if status == 401:
                raise ArenaError(
                    f"the hub at {self.endpoint} refused the token (401 unauthorized): {LOGIN_HINT}"
                ) from error
            if status == 403:
                raise ArenaError(
                    f"the hub at {self.endpoint}: no write access to '{self.repo_id}' (403 forbidden): "
                    "a token with write permission, on a namespace you own"
                ) from error
            raise ArenaError(
                f"the hub at {self.endpoint} answered {status} for '{self.repo_id}': {_first_line(error)}"
            ) from error
        return False


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The network errors of the HTTP client huggingface_hub uses: httpx2 since 2.x, httpx before."""
    import importlib

    found: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
