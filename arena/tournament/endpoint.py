"""Entrants served behind an OpenAI-compatible chat-completions endpoint (`vllm serve`, a hosted API).

Their samples are planned in the same blocks as a model's and cached in the store the same way, keyed by
the endpoint's fingerprint (base URL, model, system prompt, extra request keys) and the recipe's generation
settings: a rerun asks the endpoint nothing. The requests go from this process whatever the executor (the
work is the server's); each sample is its own request (`n` is not sent: many APIs refuse it), a
conversation prompt goes as its messages, and each request is seeded with a seed derived from
(generation.seed, block, prompt, sample), which servers that honour `seed` (vLLM does)
turn into samples a regenerated block reproduces.
"""

from __future__ import annotations

from arena.generation.base import Sample, SamplingSettings, request_seed
from arena.http_chat import ChatClient, Message
from arena.rows import as_conversation
from arena.tournament.executor import GenerationBlock

# Plays the part of a generation backend's name in the settings key of an endpoint's samples.
ENDPOINT_BACKEND = "endpoint"


def request_params(sampling: SamplingSettings, seed: int) -> dict[str, object]:
    """The recipe's generation settings as chat-completion request keys."""
    params: dict[str, object] = {
        "max_tokens": sampling.max_new_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "seed": seed % 2**31,  # servers take 32-bit seeds
    }
    if sampling.top_k:
        params["top_k"] = sampling.top_k  # not an OpenAI key: sent only when set (vLLM reads it)
    return params


def prompt_messages(client: ChatClient, prompt: str) -> list[Message]:
    """A conversation prompt (a JSON list of messages, docs/recipes.md) is sent as its messages, any other
    as one user message; the endpoint's system prompt goes first unless the conversation has its own."""
    conversation = as_conversation(prompt)
    return client.messages(conversation.messages() if conversation is not None else prompt)


def generate_block(client: ChatClient, block: GenerationBlock, n: int) -> list[list[Sample]]:
    """`n` samples of each of the block's prompts, in prompt order, as a backend returns them."""
    requests = [
        (
            prompt_messages(client, prompt),
            request_params(block.sampling, request_seed(block.sampling.seed, j * n + i)),
        )
        for j, prompt in enumerate(block.prompts)
        for i in range(n)
    ]
    replies = client.complete_all(requests)
    samples = [
        Sample(prompt, reply[0].text, (), 0.0, "length" if reply[0].finish_reason == "length" else "stop")
        for prompt, reply in zip([p for p in block.prompts for _ in range(n)], replies, strict=True)
    ]
    return [samples[j * n : (j + 1) * n] for j in range(len(block.prompts))]
