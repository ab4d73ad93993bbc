"""A client for OpenAI-compatible chat-completions endpoints (`vllm serve`, hosted APIs), stdlib only.

Used by tournaments for entrants served behind an endpoint, and meant for any judge that asks one: the
endpoint's settings are a recipe dataclass (`ChatEndpoint`), a `ChatClient` sends requests with bounded
concurrency, retries 429s, 5xx answers, timeouts and unreadable bodies with exponential backoff, and counts
requests, retries and tokens (ints, as a judge's `counters()` must be). What still fails after the retries
is one line (`EndpointError`, exit code 2) naming the endpoint and the last reason.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any

from arena.errors import ArenaError
from arena.schema import Range

Message = dict[str, str]  # {"role": "user", "content": "..."}

_RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_MAX_WAIT = 60.0  # seconds: the longest single backoff, whatever Retry-After says


@dataclass
class ChatEndpoint:
    """An OpenAI-compatible chat-completions endpoint and how to call it."""

    base_url: str  # up to and including the API version, e.g. http://localhost:8000/v1
    model: str  # the served model's name, sent as `model`
    api_key_env: str | None = None  # the environment variable that holds the key (never the key itself)
    timeout: Annotated[float, Range(0, low_open=True)] = 120.0  # seconds per request
    retries: Annotated[int, Range(0)] = 4  # further tries of a request after a retryable failure
    backoff: Annotated[float, Range(0)] = 1.0  # seconds before the first retry, doubled for each next one
    concurrency: Annotated[int, Range(1)] = 4  # requests in flight at once
    system_prompt: str | None = None  # sent as a system message before each prompt
    extra_body: dict[str, Any] = field(default_factory=dict)  # more request keys, e.g. {top_k: 20}

    def check(self) -> tuple[str, str] | None:
        if not self.base_url.startswith(("http://", "https://")):
            return "base_url", f"expected an http:// or https:// URL, got {self.base_url!r}"
        return None

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


@dataclass(frozen=True)
class ChatReply:
    """One choice of one answer."""

    text: str
    finish_reason: str  # as the server says: "stop", "length", ...
    prompt_tokens: int
    completion_tokens: int


class EndpointError(ArenaError):
    """An endpoint that still fails after its retries, or refuses a request outright (e.g. HTTP 401/404)."""


class _Retryable(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


class ChatClient:
    """Sends chat-completion requests to one endpoint; thread-safe counters of what it sent and got."""

    def __init__(self, endpoint: ChatEndpoint, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.endpoint = endpoint
        self._sleep = sleep
        self._lock = threading.Lock()
        self._counts = {"requests": 0, "retries": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self._headers = {"Content-Type": "application/json"}
        if endpoint.api_key_env:
            key = os.environ.get(endpoint.api_key_env)
            if not key:
                raise EndpointError(
                    f"endpoint {endpoint.base_url}: environment variable {endpoint.api_key_env} "
                    "(api_key_env) is not set"
                )
            self._headers["Authorization"] = f"Bearer {key}"

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def messages(self, prompt: str | Sequence[Message]) -> list[Message]:
        """The conversation sent for a prompt (a text, or a list of messages): the endpoint's system prompt
        first, unless the conversation brings its own."""
        turns = (
            [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
        )
        if self.endpoint.system_prompt and not any(m.get("role") == "system" for m in turns):
            turns.insert(0, {"role": "system", "content": self.endpoint.system_prompt})
        return turns

    def complete(self, messages: Sequence[Message], **params: Any) -> list[ChatReply]:
        """One request (its choices, in order); `params` are request keys (max_tokens, temperature, seed,
        n, ...) over the endpoint's `extra_body`."""
        body = {
            **self.endpoint.extra_body,
            **params,
            "model": self.endpoint.model,
            "messages": list(messages),
        }
        payload = json.dumps(body).encode()
        attempts = self.endpoint.retries + 1
        for attempt in range(attempts):
            self._count("requests")
            try:
                return self._replies(self._post(payload))
            except _Retryable as problem:
                if attempt + 1 == attempts:
                    raise EndpointError(
                        f"endpoint {self.endpoint.url} (model {self.endpoint.model}): {problem} "
                        f"after {attempts} tries (raise `retries` or `timeout`, or check the server)"
                    ) from None
                self._count("retries")
                wait = self.endpoint.backoff * 2**attempt
                self._sleep(min(_MAX_WAIT, max(wait, problem.wait or 0.0)))
        raise AssertionError("unreachable")

    def complete_all(
        self, requests: Sequence[tuple[Sequence[Message], dict[str, Any]]]
    ) -> list[list[ChatReply]]:
        """Many requests, `concurrency` at a time; results in request order. The first that fails for
        good raises, once the requests in flight have finished; the queued ones are never sent."""
        if len(requests) <= 1 or self.endpoint.concurrency == 1:
            return [self.complete(messages, **params) for messages, params in requests]
        with ThreadPoolExecutor(self.endpoint.concurrency) as pool:
            futures = [pool.submit(self.complete, messages, **params) for messages, params in requests]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:  # the queued ones are not sent; those in flight finish
                    future.cancel()
                raise

    def _count(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[key] += amount

    def _post(self, payload: bytes) -> dict[str, Any]:
        request = urllib.request.Request(
            self.endpoint.url, data=payload, headers=self._headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.endpoint.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            detail = _error_detail(error)
            if error.code in _RETRYABLE_STATUS:
                raise _Retryable(f"HTTP {error.code}{detail}", _retry_after(error)) from None
            raise EndpointError(
                f"endpoint {self.endpoint.url} (model {self.endpoint.model}): HTTP {error.code}{detail}"
            ) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            reason = getattr(error, "reason", error)
            raise _Retryable(f"no answer ({reason})") from None
        try:
            answer = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _Retryable("an answer that is not JSON") from None
        if not isinstance(answer, dict):
            raise _Retryable("an answer that is not a JSON object")
        return answer

    def _replies(self, answer: dict[str, Any]) -> list[ChatReply]:
        choices = answer.get("choices")
        if not isinstance(choices, list) or not choices:
            raise _Retryable("an answer without choices")
        usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
        replies = []
        for choice in choices:
            message = choice.get("message") if isinstance(choice, dict) else None
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, str):
                raise _Retryable("a choice without message.content")
            replies.append(ChatReply(content, str(choice.get("finish_reason") or "stop"), 0, 0))
        # usage covers the whole answer: its counts are kept on the first choice, so sums stay exact
        replies[0] = ChatReply(replies[0].text, replies[0].finish_reason, prompt_tokens, completion_tokens)
        self._count("prompt_tokens", prompt_tokens)
        self._count("completion_tokens", completion_tokens)
        return replies


def _error_detail(error: urllib.error.HTTPError) -> str:
    """The server's own error message, when it sent one (OpenAI style: {"error": {"message": ...}})."""
    try:
        body = json.loads(error.read() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return ""
    problem = body.get("error") if isinstance(body, dict) else None
    message = problem.get("message") if isinstance(problem, dict) else problem
    return f": {' '.join(str(message).split())[:200]}" if message else ""


def _retry_after(error: urllib.error.HTTPError) -> float | None:
    value = error.headers.get("Retry-After") if error.headers else None
    try:
        return float(value) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to the backoff
