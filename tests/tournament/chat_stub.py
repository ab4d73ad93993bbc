"""A small OpenAI-compatible chat-completions server for tests: deterministic answers, every request logged.

The answer to a conversation is `answer_for(last user message, temperature)`, so a test knows each text in
advance. Faults for retry tests: `fail_next` answers the next requests with a status (429 comes with
`Retry-After: 3`), "garbage" (a body that is not JSON) or "slow" (an answer after 1 s); `fail_after` answers
500 to every request after that many.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def answer_for(prompt: str, temperature: float) -> str:
    return f"Stub answer to {prompt} at temperature {temperature}"


@dataclass
class ChatStub:
    url: str  # base URL, ending in /v1
    requests: list[dict[str, Any]] = field(default_factory=list)  # every request body, failed ones too
    fail_next: list[int | str] = field(default_factory=list)  # faults for the next requests, in order
    fail_after: int | None = None  # requests answered before the server answers only 500


@contextmanager
def chat_stub() -> Iterator[ChatStub]:
    lock = threading.Lock()
    stub = ChatStub("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                stub.requests.append(body)
                fault = stub.fail_next.pop(0) if stub.fail_next else 200
                if stub.fail_after is not None and len(stub.requests) > stub.fail_after:
                    fault = 500
            if self.path != "/v1/chat/completions":
                fault = 404
            if fault == "slow":
                time.sleep(1.0)
            elif fault == "garbage":
                self._send(200, b"<html>not json</html>")
                return
            elif fault != 200:
                self._send(int(fault), {"error": {"message": f"stub status {fault}"}})
                return
            prompt = body["messages"][-1]["content"]
            text = answer_for(prompt, body["temperature"])
            self._send(
                200,
                {
                    "id": "stub",
                    "object": "chat.completion",
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())},
                },
            )

        def _send(self, status: int, payload: dict[str, Any] | bytes) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if status == 429:
                self.send_header("Retry-After", "3")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            return  # quiet: pytest shows stderr of failing tests

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
