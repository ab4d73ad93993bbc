"""The `vllm` judge: a local judge model in this process's one vLLM engine, with the `openai` judge's
question, verdict scale and reading (plugins/arena_plugins/judges/openai.py).

The engine is the `vllm` backend's (`arena.api.VLLMBackend`): the process holds one engine at a time, so
a tournament's entrants generate first, their engines are torn down, and the judge model then loads once
for all the judging. Greedy decoding (temperature 0). The question is one user turn, the system text
then the filled template, through the judge model's chat template when it has one. Both orders are
asked and combined exactly as the `openai` judge does; unreadable replies count 1/2 and are counted.
"""

from __future__ import annotations

from collections.abc import Sequence

from arena.api import (
    ArenaError,
    SamplingSettings,
    VLLMBackend,
    antisymmetric_compare,
    encode_prompts,
    load_tokenizer,
)
from arena_plugins.judges import VLLMJudgeArgs
from arena_plugins.judges.openai import fill, read_verdict

COUNTERS = ("verdicts", "unreadable", "prompt_tokens", "completion_tokens", "truncated_responses")


class VLLMJudge:
    def __init__(self, args: VLLMJudgeArgs) -> None:
        self.args = args
        self.backend = VLLMBackend(args.engine)  # imports vLLM now: a missing one is one line, at once
        self.tokenizer = load_tokenizer(args.model, trust_remote_code=args.engine.trust_remote_code)
        self.sampling = SamplingSettings(max_new_tokens=args.max_tokens, temperature=0.0)
        self._counts = dict.fromkeys(COUNTERS, 0)

    def counters(self) -> dict[str, int]:
        """Orders asked, unreadable replies, tokens in and out (the judge tokenizer's), responses cut."""
        return dict(self._counts)

    def compare(
        self, prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]
    ) -> list[float]:
        """(f(a, b) + 1 - f(b, a)) / 2, exactly antisymmetric; unreadable orders count as 1/2."""
        return antisymmetric_compare(self.one_order, prompts, responses_a, responses_b)

    def questions(self, prompts: Sequence[str], firsts: Sequence[str], seconds: Sequence[str]) -> list[str]:
        """The user turn: the system text, a blank line, the template filled in (responses cut)."""
        head = f"{self.args.system.rstrip()}\n\n" if self.args.system else ""
        return [
            head + fill(self.args.template, p, self._cut(a), self._cut(b))
            for p, a, b in zip(prompts, firsts, seconds, strict=True)
        ]

    def one_order(self, prompts: Sequence[str], firsts: Sequence[str], seconds: Sequence[str]) -> list[float]:
        """f(first, second): the mapped verdict of the greedy reply, or 1/2 when it is unreadable."""
        questions = self.questions(prompts, firsts, seconds)
        try:
            replies = self.backend.generate(self.args.model, questions, 1, self.sampling)
        except Exception as exc:
            if not _refused_request(exc):
                raise
            raise ArenaError(
                f"judge 'vllm': {' '.join(str(exc).split())[:200]} (lower max_response_tokens or raise "
                "engine.max_model_len)"
            ) from None
        self._counts["prompt_tokens"] += sum(len(ids) for ids in encode_prompts(self.tokenizer, questions))
        verdicts = []
        for [sample] in replies:
            verdict = read_verdict(sample.text, self.args.verdicts)
            self._counts["verdicts"] += 1
            self._counts["unreadable"] += verdict is None
            self._counts["completion_tokens"] += len(sample.token_ids)
            verdicts.append(0.5 if verdict is None else float(verdict))
        return verdicts

    def close(self) -> None:
        """Free the engine now (it is freed anyway when another model takes the process's engine)."""
        self.backend.close()

    def _cut(self, response: str) -> str:
        ids = self.tokenizer(response, add_special_tokens=False)["input_ids"]
        if len(ids) <= self.args.max_response_tokens:
            return response
        self._counts["truncated_responses"] += 1
        return self.tokenizer.decode(ids[: self.args.max_response_tokens], skip_special_tokens=True)


def _refused_request(error: Exception) -> bool:
    """vLLM refusing a request, e.g. a prompt longer than the engine's max_model_len: ValueError in older
    versions, VLLMClientError (VLLMValidationError) in newer ones, which derives from neither."""
    return isinstance(error, ValueError) or any(
        cls.__name__ == "VLLMClientError" for cls in type(error).__mro__
    )
