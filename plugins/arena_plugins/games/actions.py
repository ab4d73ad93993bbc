"""A matrix game played by a language model: each action is one token after the game's prompt.

The policy's action distribution is the softmax of its next-token logits at the response position,
restricted to the action tokens (log-ratios between actions, all that DPO, IPO and Nash objectives see,
do not depend on the mass left on other tokens). `ActionRollouts` is what a game task's
`game_rollouts()` gives online algorithms: actions sampled and scored exactly. With
`generation: {backend: vllm}` the host sets its `action_sampler`, and draws from the policy (beta = 0)
come from vLLM with the actions as `allowed_token_ids`: the same distribution.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from arena.api import ActionSampler, ArenaError, Policy, Responses


def action_completions(policy: Policy, actions: Sequence[str]) -> tuple[list[str], list[int]]:
    """For each action, the completion text that is exactly one token, and that token's id.

    Byte-level BPE spells a word differently at the start of a text and after a space, so both
    spellings are tried: "red" and " red".
    """
    texts, ids = [], []
    for action in actions:
        for text in (f" {action}", action):
            encoded = policy.tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(encoded) == 1:
                texts.append(text)
                ids.append(int(encoded[0]))
                break
        else:
            raise ArenaError(
                f"game action '{action}' is not a single token for the tokenizer of '{policy.source}'; "
                "build the model with a corpus that contains it (arena init-model --corpus)"
            )
    if len(set(ids)) != len(ids):
        raise ArenaError(f"game actions {list(actions)} share tokens in '{policy.source}'")
    return texts, ids


def _last_hidden(policy: Policy, prompt: str) -> torch.Tensor:
    ids = torch.tensor([policy.encode_prompts([prompt])[0]], device=policy.device)
    return policy.model.get_decoder()(input_ids=ids).last_hidden_state[0, -1]


def action_logprobs(policy: Policy, prompt: str, token_ids: Sequence[int]) -> torch.Tensor:
    """log pi(action) over the actions (renormalised), differentiable."""
    hidden = _last_hidden(policy, prompt)
    logits = policy.model.get_output_embeddings()(hidden).float()
    return torch.log_softmax(logits[list(token_ids)], dim=-1)


@torch.no_grad()
def set_action_distribution(
    policy: Policy, prompt: str, token_ids: Sequence[int], probs: Sequence[float]
) -> None:
    """Make the policy's action distribution exactly `probs`, changing only the action tokens' output rows.

    With h the hidden state at the response position, rows w_a = w_mean + log(p_a) h / |h|^2 give logits
    h.w_mean + log p_a, whose softmax over the actions is p. The body of the model is untouched.
    """
    hidden = _last_hidden(policy, prompt).float()
    head = policy.model.get_output_embeddings().weight
    rows = list(token_ids)
    base = head[rows].float().mean(0)
    direction = hidden / hidden.dot(hidden)
    log_p = torch.log(torch.tensor(list(probs), dtype=torch.float32, device=hidden.device))
    head[rows] = (base.unsqueeze(0) + log_p.unsqueeze(1) * direction.unsqueeze(0)).to(head.dtype)


class ActionRollouts:
    """The `Rollouts` of a single-token game: the actions are tokens of the policy's tokenizer."""

    def __init__(self, policy: Policy, reference: Policy, actions: Sequence[str], prompt: str) -> None:
        self.policy, self.reference = policy, reference
        self.texts, self.token_ids = action_completions(policy, actions)
        self.prompt = prompt
        self.action_sampler: ActionSampler | None = None  # set by the host for vLLM draws

    def action_logprobs(self, model_holder: Policy) -> torch.Tensor:
        return action_logprobs(model_holder, self.prompt, self.token_ids)

    def sample(
        self, prompts: Sequence[str], n: int, beta: float = 0.0, opponent: Policy | None = None
    ) -> Responses:
        count = len(prompts) * n
        with torch.no_grad():
            reference = self.action_logprobs(self.reference)
            if beta == 0 and self.action_sampler is not None:
                drawn = self.action_sampler.draw_actions(opponent, self.prompt, self.token_ids, count)
                actions = torch.tensor(drawn, dtype=torch.long)
            else:
                own = self.action_logprobs(opponent or self.policy)
                mixture = torch.log_softmax((1 - beta) * own + beta * reference, dim=-1)
                # torch's global generator: the Trainer checkpoints it, so a resumed run draws the same.
                actions = torch.multinomial(mixture.exp().cpu(), count, replacement=True)
        device = self.policy.device
        return Responses(
            [self.prompt] * count,
            [self.texts[a] for a in actions.tolist()],
            [(self.token_ids[a],) for a in actions.tolist()],
            reference[actions.to(reference.device)].unsqueeze(1).to(device),
            torch.ones(count, 1, device=device),
        )

    def policy_logprobs(self, responses: Responses, holder: Policy | None = None) -> torch.Tensor:
        logprobs = self.action_logprobs(holder or self.policy)
        index = {token: i for i, token in enumerate(self.token_ids)}
        picked = torch.tensor([index[ids[0]] for ids in responses.token_ids], device=logprobs.device)
        return logprobs[picked].unsqueeze(1)

    def logprobs_from_logits(self, logits: torch.Tensor, responses: Responses) -> torch.Tensor:
        """Over the actions only (renormalised), as `policy_logprobs`: the policy never plays another token."""
        logits = logits[..., self.token_ids]
        targets = torch.tensor([self.token_ids.index(ids[0]) for ids in responses.token_ids])
        targets = targets.to(logits.device)[:, None]
        return torch.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1) * responses.mask
