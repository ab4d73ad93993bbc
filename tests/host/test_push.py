"""`arena push` against a local stub of the hub's HTTP API (never the real hub).

The stub implements the endpoints huggingface_hub 2.x calls for `create_repo`, `create_branch` and
`upload_folder` (huggingface_hub/hf_api.py, _commit_api.py, _upload_pipeline.py):
POST /api/validate-yaml (a README.md's front matter), POST /api/repos/create,
POST /api/{type}s/{repo}/branch/{branch}, POST /api/{type}s/{repo}/preupload/{revision} (it answers
"regular" for every file, so the files travel base64-encoded inside the commit rather than through
LFS/Xet storage) and POST /api/{type}s/{repo}/commit/{revision} (NDJSON). It checks the bearer token and
keeps what it received, which the tests compare with the files on disk byte for byte.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from arena.testing import run_arena

REPO = Path(__file__).resolve().parents[2]
TOKEN = "hf_stub_token_for_tests"


@dataclass
class StubHub:
    """What the stub received: repos created, branches, commits and each file's bytes per revision."""

    url: str = ""
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)  # "type:owner/name" -> create payload
    branches: list[tuple[str, str]] = field(default_factory=list)  # ("type:owner/name", branch)
    files: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)  # (repo key, rev) -> files
    commits: list[dict[str, Any]] = field(default_factory=list)  # each commit's header
    validated: list[str] = field(default_factory=list)  # README.md texts sent to /api/validate-yaml
    unexpected: list[str] = field(default_factory=list)  # requests the stub does not implement


def _handler(hub: StubHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:  # quiet: the tests assert what arrived
            return

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            # The client's best-effort registry of AI agent harnesses (huggingface_hub/utils/_detect_agent.py,
            # fetched when an agent's variables are set, errors ignored): no part of a push.
            if self.path.split("?")[0] != "/api/agent-harnesses":
                hub.unexpected.append(f"GET {self.path}")
            self._answer(404, {"error": "not implemented by the stub"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._answer(401, {"error": "Invalid credentials in Authorization header"})
                return
            path = self.path.split("?")[0]
            parts = path.strip("/").split("/")
            if path == "/api/validate-yaml":  # a README.md's front matter, checked before the upload
                content = json.loads(body)["content"]
                hub.validated.append(content)
                front = content.split("---\n")[1] if content.startswith("---\n") else ""
                valid = isinstance(yaml.safe_load(front) or {}, dict)
                self._answer(200 if valid else 400, {"errors": [] if valid else [{"message": "bad YAML"}]})
            elif path == "/api/repos/create":
                payload = json.loads(body)
                key = f"{payload.get('type', 'model')}:{payload['organization']}/{payload['name']}"
                hub.repos[key] = payload
                prefix = "" if payload.get("type", "model") == "model" else f"{payload['type']}s/"
                self._answer(200, {"url": f"{hub.url}/{prefix}{payload['organization']}/{payload['name']}"})
            elif len(parts) == 6 and parts[0] == "api" and parts[4] in ("branch", "preupload", "commit"):
                key, action, revision = f"{parts[1][:-1]}:{parts[2]}/{parts[3]}", parts[4], parts[5]
                if action == "branch":
                    hub.branches.append((key, revision))
                    self._answer(200, {})
                elif action == "preupload":
                    files = json.loads(body)["files"]
                    modes = [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files
                    ]
                    self._answer(200, {"files": modes})
                else:
                    self._commit(key, revision, body)
            else:
                hub.unexpected.append(f"POST {self.path}")
                self._answer(404, {"error": "not implemented by the stub"})

        def _commit(self, key: str, revision: str, body: bytes) -> None:
            received = hub.files.setdefault((key, revision), {})
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item["key"] == "header":
                    hub.commits.append(item["value"])
                elif item["key"] == "file" and item["value"]["encoding"] == "base64":
                    received[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                else:
                    hub.unexpected.append(f"commit item {item['key']}")
            oid = f"{len(hub.commits):040x}"
            kind, repo = key.split(":")
            page = f"{hub.url}/{repo}" if kind == "model" else f"{hub.url}/{kind}s/{repo}"
            self._answer(200, {"commitUrl": f"{page}/commit/{oid}", "commitOid": oid})

    return Handler


@pytest.fixture
def stub_hub() -> Iterator[StubHub]:
    hub = StubHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hub
    server.shutdown()
    server.server_close()


def hub_env(tmp_path: Path, endpoint: str, token: str | None = TOKEN) -> dict[str, str]:
    """Online, toward `endpoint`, with `token` (none: HF_TOKEN empty and an empty HF_HOME, no saved login)."""
    return {
        "HF_HUB_OFFLINE": "0",
        "HF_ENDPOINT": endpoint,
        "HF_TOKEN": token or "",
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }


def files_under(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def fake_run(tmp_path: Path) -> Path:
    """A finished run's files as `arena train` leaves them (the card is written by `arena push` for a
    run without one); the model's bytes are arbitrary, the stub compares them, nothing loads them."""
    from tests.host.test_cards import RECIPE_YAML, SUMMARY

    run = tmp_path / "run"
    (run / "final").mkdir(parents=True)
    (run / "recipe.yaml").write_text(RECIPE_YAML)
    (run / "summary.json").write_text(json.dumps(SUMMARY))
    (run / "final" / "config.json").write_text('{"model_type": "llama"}\n')
    (run / "final" / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    (run / "final" / "tokenizer.json").write_text('{"version": "1.0"}\n')
    return run


def test_push_a_run_uploads_final_with_its_card(tmp_path: Path, stub_hub: StubHub) -> None:
    run = fake_run(tmp_path)
    result = run_arena(
        ["push", str(run), "lab/tiny-dpo", "--private"], env=hub_env(tmp_path, stub_hub.url), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert stub_hub.unexpected == []
    assert stub_hub.repos["model:lab/tiny-dpo"] == {
        "name": "tiny-dpo",
        "organization": "lab",
        "visibility": "private",
        "type": "model",
    }
    sent = stub_hub.files[("model:lab/tiny-dpo", "main")]
    on_disk = files_under(run / "final")
    assert {"README.md", "recipe.yaml", "config.json", "model.safetensors", "tokenizer.json"} == set(on_disk)
    assert sent == on_disk  # every file, byte for byte
    assert sent["recipe.yaml"] == (run / "recipe.yaml").read_bytes()
    assert sent["README.md"].startswith(b"---\nbase_model: Qwen/Qwen2.5-0.5B\nlibrary_name: transformers\n")
    assert stub_hub.validated == [sent["README.md"].decode()]
    assert f"{stub_hub.url}/lab/tiny-dpo" in result.stdout and "5 files" in result.stdout


def test_push_a_board_to_a_dataset_repo_on_a_branch(tmp_path: Path, stub_hub: StubHub) -> None:
    board = REPO / "leaderboards" / "rps-cup"
    result = run_arena(
        ["push", str(board), "lab/rps-cup", "--revision", "v1"], env=hub_env(tmp_path, stub_hub.url)
    )
    assert result.returncode == 0, result.stderr
    assert stub_hub.unexpected == []
    assert stub_hub.repos["dataset:lab/rps-cup"]["type"] == "dataset"
    assert "visibility" not in stub_hub.repos["dataset:lab/rps-cup"]  # without --private: the hub's default
    assert stub_hub.branches == [("dataset:lab/rps-cup", "v1")]
    assert stub_hub.files[("dataset:lab/rps-cup", "v1")] == files_under(board)
    assert "leaderboard.csv" in stub_hub.files[("dataset:lab/rps-cup", "v1")]


def test_without_a_token_one_line_and_exit_2(tmp_path: Path, stub_hub: StubHub) -> None:
    run = fake_run(tmp_path)
    result = run_arena(["push", str(run), "lab/x"], env=hub_env(tmp_path, stub_hub.url, token=None))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "not logged in to the hub" in result.stderr and "HF_TOKEN" in result.stderr
    assert stub_hub.repos == {} and stub_hub.files == {}


def test_a_refused_token_one_line_and_exit_2(tmp_path: Path, stub_hub: StubHub) -> None:
    run = fake_run(tmp_path)
    result = run_arena(["push", str(run), "lab/x"], env=hub_env(tmp_path, stub_hub.url, token="hf_wrong"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "refused the token (401 unauthorized)" in result.stderr
    assert stub_hub.files == {}


def test_offline_one_line_and_exit_2(tmp_path: Path, stub_hub: StubHub) -> None:
    run = fake_run(tmp_path)
    offline = {**hub_env(tmp_path, stub_hub.url), "HF_HUB_OFFLINE": "1"}
    result = run_arena(["push", str(run), "lab/x"], env=offline)
    assert (result.returncode, result.stderr.strip().count("\n")) == (2, 0), result.stderr
    assert "HF_HUB_OFFLINE is set" in result.stderr
    assert stub_hub.repos == {}


def test_an_unreachable_endpoint_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = fake_run(tmp_path)
    result = run_arena(["push", str(run), "lab/x"], env=hub_env(tmp_path, f"http://127.0.0.1:{port}"))
    assert (result.returncode, result.stderr.strip().count("\n")) == (2, 0), result.stderr
    assert f"cannot reach the hub at http://127.0.0.1:{port}" in result.stderr


def test_a_folder_that_is_neither_a_run_nor_a_board(tmp_path: Path, stub_hub: StubHub) -> None:
    (tmp_path / "empty").mkdir()
    result = run_arena(["push", str(tmp_path / "empty"), "lab/x"], env=hub_env(tmp_path, stub_hub.url))
    assert (result.returncode, result.stderr.strip().count("\n")) == (2, 0), result.stderr
    assert "expected a run directory (with final/)" in result.stderr
