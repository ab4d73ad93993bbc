"""The `openai` judge: any OpenAI-compatible chat-completions endpoint (a hosted API, `vllm serve`, ...).

The judge reads the prompt and both responses, reasons, and ends with a verdict on Arena-Hard's scale,
`[[A>>B]]`, `[[A>B]]`, `[[A=B]]`, `[[B>A]]` or `[[B>>A]]`, which `args.verdicts` maps to P(A beats B).
Both orders are asked and combined by `antisymmetric_compare`, so position bias cancels and
P(a > b) + P(b > a) = 1 exactly. A reply with no verdict, or with two different ones, is unreadable: it
counts as 1/2 for that order and in `counters()["unreadable"]`, never as a win for either side.

Requests run `args.concurrency` at a time (threads: urllib blocks). HTTP 429, 5xx, timeouts and refused
or dropped connections are retried with exponential backoff (Retry-After is honoured); any other HTTP
error, or a server that keeps failing, stops the run with one line (ArenaError). Replies already read are
remembered for the judge's lifetime, so a pair split across two of a tournament's batches is paid once.
Every request and token is counted; the cost is in micro-dollars, so that counters stay integers.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from arena.api import ArenaError, RecipeKeyError, antisymmetric_compare
from arena_plugins.judges import OpenAIJudgeArgs

VERDICT = re.compile(r"\[\[([^\[\]]{1,32})\]\]")
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_BACKOFF = 60.0  # seconds: the longest wait between two attempts, Retry-After included
COUNTERS = (
    "verdicts",  # orders asked (two per distinct pair)
    "unreadable",  # replies without exactly one known verdict
    "requests",  # HTTP requests sent, retried ones included
    "retries",  # requests that failed and were sent again
    "prompt_tokens",  # as the server's `usage` reports them
    "completion_tokens",
    "truncated_responses",  # responses cut to max_response_chars
)


def read_verdict(text: str | None, verdicts: dict[str, float]) -> float | None:
    """P(A beats B) for the one verdict the reply gives, or None when it gives none, an unknown one or two
    different ones (Arena-Hard's reading: a judge that contradicts itself has no verdict)."""
    if not text:
        return None
    found = {re.sub(r"\s+", "", label) for label in VERDICT.findall(text)}
    if len(found) != 1:
        return None
    return verdicts.get(found.pop())


def fill(template: str, prompt: str, response_a: str, response_b: str) -> str:
    """The template filled in; braces inside the texts stay text (str.format does not re-read values)."""
    return template.format(prompt=prompt, response_a=response_a, response_b=response_b)


class RetryableError(Exception):
    """A failed attempt worth repeating: rate limits, server errors, timeouts, dropped connections."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.wait = reason, wait


class OpenAIJudge:
    def __init__(self, args: OpenAIJudgeArgs) -> None:
        self.args = args
        self.url = args.base_url.rstrip("/") + "/chat/completions"
        self._key = _api_key(args.api_key_env)
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._verdicts: dict[str, float | None] = {}  # sha256 of a question -> its verdict
        self._stop = threading.Event()

    def counters(self) -> dict[str, int]:
        """Running totals (COUNTERS), and the cost in micro-dollars from the token counts and prices."""
        with self._lock:
            counts = dict(self._counts)
        # Price per 1M tokens in dollars times tokens is micro-dollars.
        cost = (
            counts["prompt_tokens"] * self.args.price_input
            + counts["completion_tokens"] * self.args.price_output
        )
        return {**counts, "cost_microdollars": round(cost)}

    def compare(
        self, prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]
    ) -> list[float]:
        """(f(a, b) + 1 - f(b, a)) / 2, exactly antisymmetric; unreadable orders count as 1/2."""
        return antisymmetric_compare(self.one_order, prompts, responses_a, responses_b)

    def questions(self, prompts: Sequence[str], firsts: Sequence[str], seconds: Sequence[str]) -> list[str]:
        """The user messages: the template filled in, each response cut to max_response_chars."""
        return [
            fill(self.args.template, p, self._cut(a), self._cut(b))
            for p, a, b in zip(prompts, firsts, seconds, strict=True)
        ]

    def messages(self, question: str) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.args.system}] if self.args.system else []
        return [*system, {"role": "user", "content": question}]

    def one_order(self, prompts: Sequence[str], firsts: Sequence[str], seconds: Sequence[str]) -> list[float]:
        """f(first, second): the mapped verdict of the reply, or 1/2 when it is unreadable."""
        questions = self.questions(prompts, firsts, seconds)
        keys = [hashlib.sha256(question.encode()).hexdigest() for question in questions]
        todo = {
            key: question for key, question in zip(keys, questions, strict=True) if key not in self._verdicts
        }
        replies = self.ask_all(list(todo.values()))
        for key, reply in zip(todo, replies, strict=True):
            verdict = read_verdict(reply, self.args.verdicts)
            self._verdicts[key] = verdict
            with self._lock:
                self._counts["verdicts"] += 1
                self._counts["unreadable"] += verdict is None
        return [_or_half(self._verdicts[key]) for key in keys]

    def ask_all(self, questions: Sequence[str]) -> list[str | None]:
        """The reply to each question, `concurrency` requests at a time, in order. The first request that
        fails for good stops the others (none is retried after that) and raises its ArenaError."""
        if not questions:
            return []
        self._stop.clear()
        with ThreadPoolExecutor(max_workers=min(self.args.concurrency, len(questions))) as pool:
            futures = [pool.submit(self.ask, question) for question in questions]
            try:
                return [future.result() for future in futures]
            except BaseException:
                self._stop.set()
                for future in futures:
                    future.cancel()
                raise

    def ask(self, question: str) -> str | None:
        """One chat completion, retried with backoff; its text (None when the reply has none)."""
        body = {
            **self.args.extra_body,
            "model": self.args.model,
            "messages": self.messages(question),
            "max_tokens": self.args.max_tokens,
            "temperature": self.args.temperature,
        }
        data = json.dumps(body).encode()
        attempts = self.args.retries + 1
        for attempt in range(attempts):
            if self._stop.is_set():
                raise ArenaError(f"judge 'openai': {self.url}: stopped after another request failed")
            self._count("requests")
            try:
                reply = self._post(data)
            except RetryableError as failure:
                if attempt + 1 == attempts:
                    raise ArenaError(
                        f"judge 'openai': {self.url}: {failure.reason}, {attempts} attempt"
                        f"{'s' if attempts > 1 else ''} (raise retries or timeout, or check the server)"
                    ) from None
                self._count("retries")
                wait = min(MAX_BACKOFF, self.args.backoff * 2**attempt)
                if failure.wait is not None:
                    wait = min(MAX_BACKOFF, max(wait, failure.wait))
                if self._stop.wait(wait):
                    raise ArenaError(
                        f"judge 'openai': {self.url}: stopped after another request failed"
                    ) from None
                continue
            return self._read(reply)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _post(self, data: bytes) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.args.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            detail = _error_detail(error)
            if error.code in RETRY_STATUSES:
                raise RetryableError(f"HTTP {error.code}{detail}", _retry_after(error)) from None
            raise ArenaError(f"judge 'openai': {self.url}: HTTP {error.code}{detail}") from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            raise RetryableError(self._describe(error)) from None
        except urllib.error.URLError as error:  # connection refused, DNS, ...: the server may be starting
            reason = error.reason
            if isinstance(reason, OSError) and not isinstance(reason, (TimeoutError, ConnectionError)):
                raise ArenaError(f"judge 'openai': {self.url}: {self._describe(reason)}") from None
            raise RetryableError(
                self._describe(reason) if isinstance(reason, BaseException) else str(reason)
            ) from None
        try:
            reply = json.loads(raw)
            reply["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            # A proxy's error page or a cut-off body: worth another try, and one line if it persists.
            raise RetryableError(f"expected a chat completion, got {raw[:80]!r}") from None
        return reply

    def _read(self, reply: dict[str, Any]) -> str | None:
        usage = reply.get("usage") or {}
        with self._lock:
            self._counts["prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
            self._counts["completion_tokens"] += int(usage.get("completion_tokens") or 0)
        content = reply["choices"][0]["message"].get("content")
        return content if isinstance(content, str) else None

    def _describe(self, error: BaseException) -> str:
        if isinstance(error, TimeoutError):
            return f"timed out after {self.args.timeout:g} s"
        return " ".join(str(error).split())[:200] or type(error).__name__

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def _cut(self, response: str) -> str:
        limit = self.args.max_response_chars
        if limit is None or len(response) <= limit:
            return response
        self._count("truncated_responses")
        return response[:limit]


def _api_key(name: str | None) -> str | None:
    """The key from the environment, read once when the judge is built; only its variable's name is in
    the args, so no recipe, resolved recipe or store ever holds the key."""
    if name is None:
        return None
    key = os.environ.get(name)
    if not key:
        raise RecipeKeyError(
            "judge.args.api_key_env",
            f"environment variable {name} is not set (export it, or api_key_env: null for an endpoint "
            "without a key)",
        )
    return key


def _retry_after(error: urllib.error.HTTPError) -> float | None:
    value = error.headers.get("Retry-After") if error.headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: rare from these APIs; the exponential backoff applies
        return None


def _error_detail(error: urllib.error.HTTPError) -> str:
    """': MESSAGE' from the server's JSON error body when it has one, cut to a line."""
    try:
        body = error.read()
        message = json.loads(body).get("error", {})
        text = message.get("message") if isinstance(message, dict) else str(message)
    except (ValueError, AttributeError, OSError):
        text = None
    return f": {' '.join(str(text).split())[:200]}" if text else f" {error.reason}"


def _or_half(verdict: float | None) -> float:
    return 0.5 if verdict is None else float(verdict)
