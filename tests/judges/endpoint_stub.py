"""A minimal OpenAI-compatible chat-completions server in a thread, for the `openai` judge's fault cases.

`respond(request, index)` decides each reply (index counts requests from 0; with `http_details`, also
the request's path and Authorization header): a `Reply` with a status, a
JSON body (or raw bytes), headers and a delay before answering. Every request is recorded with its
headers, and the most requests ever in flight at once is kept.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from arena_plugins.judges import VERDICT_TEMPLATE

# The sides of a question written with the default template, as the judge sent them.
_SIDES = re.compile(
    r"The user's prompt:\n(?P<prompt>.*)\n\n=== Assistant A's response ===\n(?P<a>.*)\n"
    r"=== End of assistant A's response ===\n\n=== Assistant B's response ===\n(?P<b>.*)\n"
    r"=== End of assistant B's response ===\n$",
    re.DOTALL,
)
assert VERDICT_TEMPLATE.startswith("The user's prompt:\n{prompt}\n\n=== Assistant A's response ===")


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # a dict is sent as JSON, bytes as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the reply is sent


def completion(content: str | None, prompt_tokens: int = 100, completion_tokens: int = 20) -> Reply:
    return Reply(
        body={
            "id": "stub",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        }
    )


def sides(request: dict[str, Any]) -> tuple[str, str, str]:
    """(prompt, response shown as A, response shown as B) of a request built from the default template."""
    match = _SIDES.match(request["messages"][-1]["content"])
    assert match is not None, request["messages"][-1]["content"]
    return match["prompt"], match["a"], match["b"]


class Stub:
    def __init__(self, respond: Callable[..., Reply], http_details: bool = False) -> None:
        self.respond = respond
        # True: respond(request, index, path, authorization header), for replies that depend on them.
        self.http_details = http_details
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True  # a reply still sleeping must not hold the test up
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub._lock:
                    index = len(stub.requests)
                    stub.requests.append(request)
                    stub.headers.append(dict(self.headers))
                    stub.in_flight += 1
                    stub.most_in_flight = max(stub.most_in_flight, stub.in_flight)
                released = False

                def release() -> None:
                    nonlocal released
                    if not released:
                        released = True
                        with stub._lock:
                            stub.in_flight -= 1

                try:
                    if stub.http_details:
                        reply = stub.respond(request, index, self.path, self.headers.get("Authorization"))
                    else:
                        reply = stub.respond(request, index)
                    time.sleep(reply.delay)
                    raw = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                    # Out of flight before the client can read the reply: once it has, it may send its next
                    # request, which must not find this one still counted (a loaded machine saw 4 of 3).
                    release()
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:  # the client gave up (a timeout test): nobody to answer
                    pass
                finally:
                    release()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler


@contextmanager
def serving(respond: Callable[..., Reply], http_details: bool = False) -> Iterator[Stub]:
    stub = Stub(respond, http_details)
    stub._thread.start()
    try:
        yield stub
    finally:
        stub._server.shutdown()
        stub._server.server_close()


def hashed_verdicts() -> Callable[[dict[str, Any], int, str, str | None], Reply]:
    """A judge whose verdict and token counts follow from everything it is sent (body, path, key), so that
    changing anything a request carries changes the verdicts. A system message containing "(flaky)" makes
    the first attempt of each question fail with a 429 (then every other attempt: runs stay alike)."""
    import hashlib

    seen: dict[str, int] = {}
    labels = ["A>>B", "A>B", "A=B", "B>A", "B>>A"]

    def respond(request: dict[str, Any], index: int, path: str, authorization: str | None) -> Reply:
        body = json.dumps(request, sort_keys=True)
        digest = hashlib.sha256(f"{body}|{path}|{authorization}".encode()).digest()
        times = seen[body] = seen.get(body, 0) + 1
        if "(flaky)" in request["messages"][0]["content"] and times % 2 == 1:
            return Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})
        reply = completion(f"Reasons.\n[[{labels[digest[0] % 5]}]]", len(body) // 4, 5 + digest[1] % 5)
        return reply

    return respond
