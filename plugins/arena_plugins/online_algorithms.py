"""Nash-MD, online IPO, IPO-MD, SPPO and online DPO on the shared Trainer loop.

Every step rolls out fresh samples (`arena.training.rollouts`) for the batch's prompts, asks the judge,
and returns one loss per prompt. Logged per step: the mean judge preference the loss used, the KL to the
reference of the policy's samples (summed log-ratio), and the response length.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F

from arena.errors import RecipeError
from arena.generation.base import SamplingSettings
from arena.policy import Policy
from arena.training.algorithm import StepOutput, TrainContext
from arena.training.rollouts import Responses, make_rollouts
from arena_plugins.online import IPOMDArgs, NashMDArgs, OnlineDPOArgs, OnlineIPOArgs, SPPOArgs


def resolve_judge(context: TrainContext) -> Any:
    """The recipe's judge, else the task's oracle."""
    recipe = context.recipe
    if recipe.judge is not None:
        return context.plugins.judges.get(recipe.judge.name).build(recipe.judge.args)
    if context.task is not None and hasattr(context.task, "oracle_judge"):
        return context.task.oracle_judge()
    raise RecipeError(
        context.recipe_file,
        "judge",
        f"missing required key ({recipe.algorithm} needs a judge, or a task with an oracle)",
    )


class OnlineAlgorithm:
    data = "prompts"
    needs_reference = True
    kl_coefficient: float | None = None

    def setup(self, context: TrainContext) -> None:
        assert context.reference is not None
        self.policy, self.reference = context.policy, context.reference
        self.rollouts = make_rollouts(
            context.policy, context.reference, context.task, SamplingSettings.of(context.recipe.generation)
        )
        self.judge = resolve_judge(context)
        task = context.task
        self.eval_prompts: list[str] = list(task.prompts("eval")) if task is not None else []
        self.last_prompts: list[str] = []

    def prefer(self, responses_a: Responses, responses_b: Responses) -> torch.Tensor:
        """P(a beats b) for aligned rows, as a tensor on the policy's device."""
        if not self.last_prompts:
            self.last_prompts = list(dict.fromkeys(responses_a.prompts))
        values = self.judge.compare(responses_a.prompts, responses_a.texts, responses_b.texts)
        return torch.tensor(values, dtype=torch.float32, device=self.policy.device)

    def log_ratios(self, responses: Responses) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token log pi (with gradients) and log(pi / mu) per response (summed)."""
        token_logprobs = self.rollouts.policy_logprobs(responses) * responses.mask
        ratio = token_logprobs.sum(-1) - (responses.reference_logprobs * responses.mask).sum(-1)
        return token_logprobs, ratio

    def evaluate(self) -> dict[str, Any]:
        """P(policy sample beats reference sample) under the judge, on held-out prompts: did training help?"""
        prompts = (self.eval_prompts or self.last_prompts or [""]) * 256
        prompts = prompts[:256]
        with torch.no_grad():
            ours = self.rollouts.sample(prompts, 1, beta=0.0)
            theirs = self.rollouts.sample(prompts, 1, beta=1.0)
            return {
                "preference_vs_reference": float(self.prefer(ours, theirs).mean()),
                "evaluated_pairs": len(prompts),
            }


def _metrics(preference: torch.Tensor, ratio: torch.Tensor, responses: Responses, groups: int) -> dict:
    return {
        "judge_preference": preference.detach().reshape(groups, -1).mean(1),
        "kl": ratio.detach().reshape(groups, -1).mean(1),
        "response_length": responses.lengths.reshape(groups, -1).mean(1),
    }


class NashMD(OnlineAlgorithm):
    def __init__(self, args: NashMDArgs) -> None:
        self.args = args
        self.kl_coefficient = args.tau
        self.ema: Policy | None = None

    def setup(self, context: TrainContext) -> None:
        super().setup(context)
        if self.args.opponent == "ema":
            model = copy.deepcopy(self.policy.model).requires_grad_(False).eval()
            self.ema = Policy(model, self.policy.tokenizer, f"{self.policy.source} (EMA)")

    @torch.no_grad()
    def _update_ema(self) -> None:
        assert self.ema is not None
        decay = self.args.ema_decay
        for average, current in zip(self.ema.model.parameters(), self.policy.model.parameters(), strict=True):
            average.mul_(decay).add_(current.detach(), alpha=1 - decay)

    def start_step(self, step: int) -> None:
        # Once per optimizer step, not per micro-batch: the same EMA whatever the accumulation/processes.
        if self.ema is not None:
            self._update_ema()

    def loss(self, prompts: list[str]) -> StepOutput:
        n = self.args.samples
        with torch.no_grad():
            ours = self.rollouts.sample(prompts, n, beta=0.0)
            theirs = self.rollouts.sample(prompts, n, beta=self.args.beta, opponent=self.ema)
        preference = self.prefer(ours, theirs)
        token_logprobs, ratio = self.log_ratios(ours)
        # The KL term of token t is the log-ratio of the tokens from t to the end (what t influences).
        token_ratio = (token_logprobs.detach() - ours.reference_logprobs) * ours.mask
        to_go = token_ratio.flip(-1).cumsum(-1).flip(-1)
        advantage = (preference[:, None] - 0.5 - self.args.tau * to_go) * ours.mask
        per_response = -(token_logprobs * advantage).sum(-1)
        losses = per_response.reshape(len(prompts), n).mean(1)
        return StepOutput(losses, _metrics(preference, ratio, ours, len(prompts)))


class OnlineIPO(OnlineAlgorithm):
    def __init__(self, args: OnlineIPOArgs | IPOMDArgs) -> None:
        self.args = args
        self.kl_coefficient = args.tau

    def loss(self, prompts: list[str]) -> StepOutput:
        with torch.no_grad():
            both = self.rollouts.sample(prompts, 2, beta=self.args.beta)
        first, second = _split_pairs(both)
        preference = self.prefer(first, second)
        _, ratio = self.log_ratios(both)
        h = ratio[0::2] - ratio[1::2]
        # IPO with a soft label p: the expected loss over labels is minimal at h = (p - 1/2) / tau.
        losses = (h - (preference - 0.5) / self.args.tau) ** 2
        return StepOutput(losses, _metrics(preference, ratio[0::2], first, len(prompts)))


class IPOMD(OnlineIPO):
    """Online IPO whose two samples come from the geometric mixture (beta = 0.5 by default)."""


class OnlineDPO(OnlineAlgorithm):
    def __init__(self, args: OnlineDPOArgs) -> None:
        self.args = args
        self.kl_coefficient = args.beta

    def loss(self, prompts: list[str]) -> StepOutput:
        with torch.no_grad():
            both = self.rollouts.sample(prompts, 2, beta=0.0)
        first, second = _split_pairs(both)
        preference = self.prefer(first, second)
        # The judge picks: the first is chosen with probability P(first beats second).
        sign = 2.0 * torch.bernoulli(preference.cpu()).to(preference.device) - 1.0
        _, ratio = self.log_ratios(both)
        h = sign * (ratio[0::2] - ratio[1::2])
        losses = -F.logsigmoid(self.args.beta * h)
        return StepOutput(losses, _metrics(preference, ratio[0::2], first, len(prompts)))


class SPPO(OnlineAlgorithm):
    def __init__(self, args: SPPOArgs) -> None:
        self.args = args
        self.previous: Policy | None = None

    def start_step(self, step: int) -> None:
        """pi_t becomes the current policy every `iteration_steps` optimizer steps (not micro-batches)."""
        if self.previous is None or step % self.args.iteration_steps == 0:
            model = copy.deepcopy(self.policy.model).requires_grad_(False).eval()
            self.previous = Policy(model, self.policy.tokenizer, f"{self.policy.source} (previous)")

    def loss(self, prompts: list[str]) -> StepOutput:
        if self.previous is None:  # called outside the Trainer loop
            self.start_step(0)
        k = self.args.samples
        with torch.no_grad():
            samples = self.rollouts.sample(prompts, k, beta=0.0, opponent=self.previous)
            win = self._win_rates(samples, len(prompts), k)  # P-hat(y > pi_t), from the other samples
            previous = (self.rollouts.policy_logprobs(samples, self.previous) * samples.mask).sum(-1)
        current = (self.rollouts.policy_logprobs(samples) * samples.mask).sum(-1)
        per_response = (current - previous - self.args.eta * (win - 0.5)) ** 2
        losses = per_response.reshape(len(prompts), k).mean(1)
        ratio = current.detach() - (samples.reference_logprobs * samples.mask).sum(-1)
        return StepOutput(losses, _metrics(win, ratio, samples, len(prompts)))

    def _win_rates(self, samples: Responses, groups: int, k: int) -> torch.Tensor:
        """Mean over the other k - 1 samples of the same prompt of P(y_i beats y_j) (one call per pair)."""
        rows_a, rows_b = [], []
        for g in range(groups):
            for i in range(k):
                for j in range(i + 1, k):
                    rows_a.append(g * k + i)
                    rows_b.append(g * k + j)
        values = self.judge.compare(
            [samples.prompts[a] for a in rows_a],
            [samples.texts[a] for a in rows_a],
            [samples.texts[b] for b in rows_b],
        )
        total = torch.zeros(groups * k)
        for a, b, p in zip(rows_a, rows_b, values, strict=True):
            total[a] += p
            total[b] += 1.0 - p  # the judges are antisymmetric: P(b beats a) = 1 - P(a beats b)
        return (total / (k - 1)).to(self.policy.device)


def _split_pairs(both: Responses) -> tuple[Responses, Responses]:
    def rows(start: int) -> Responses:
        return Responses(
            both.prompts[start::2],
            both.texts[start::2],
            both.token_ids[start::2],
            both.reference_logprobs[start::2],
            both.mask[start::2],
        )

    return rows(0), rows(1)
