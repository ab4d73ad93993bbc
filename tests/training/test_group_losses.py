"""GRPO's and RLOO's loss pieces (arena_plugins.group.losses) against computations written here from the
papers' definitions, row by row in numpy, on hand-made tensors; the rule-reward judge; and the binary-reward
fixed point of GRPO (tests/training/group_points.py) against a brute-force sum and a Monte-Carlo."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from arena.api import PointwiseJudge
from arena_plugins.group.losses import (
    STD_EPS,
    aggregate,
    clipped_surrogate,
    group_advantages,
    kl_estimate,
    leave_one_out,
    pair_rows,
    win_rates,
)
from arena_plugins.judges.rules import RewardRule, RuleReward, RuleRewardArgs
from tests.training.group_points import (
    binary_grpo_point,
    kl_gradient,
    simulate_binary_grpo,
    standardised_gradient,
)

G = 3
REWARDS = [1.0, 0.0, 0.5, 2.0, 2.0, 2.0, -1.0, 3.0, 0.25]  # three groups of three; the second all equal


def sample_std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def expected_advantages(scale: str, baseline: float | None = None) -> list[float]:
    out = []
    batch_std = sample_std(REWARDS)
    for start in range(0, len(REWARDS), G):
        group = REWARDS[start : start + G]
        centre = sum(group) / G if baseline is None else baseline
        for value in group:
            if scale == "group":
                out.append((value - centre) / (sample_std(group) + 1e-4))
            elif scale == "batch":
                out.append((value - centre) / (batch_std + 1e-4))
            else:
                out.append(value - centre)
    return out


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_group_advantages_follow_grpo_and_dr_grpo(scale: str) -> None:
    got = group_advantages(torch.tensor(REWARDS, dtype=torch.float64), G, scale)  # type: ignore[arg-type]
    assert got.tolist() == pytest.approx(expected_advantages(scale), abs=1e-9)
    assert STD_EPS == 1e-4
    assert got[3:6].tolist() == [0.0, 0.0, 0.0]  # a group of equal rewards teaches nothing


def test_win_rate_advantages_use_the_half_baseline() -> None:
    got = group_advantages(torch.tensor(REWARDS, dtype=torch.float64), G, "none", baseline=0.5)
    assert got.tolist() == pytest.approx([r - 0.5 for r in REWARDS], abs=1e-12)


def test_leave_one_out_subtracts_the_mean_of_the_others() -> None:
    got = leave_one_out(torch.tensor(REWARDS, dtype=torch.float64), G)
    expected = []
    for start in range(0, len(REWARDS), G):
        group = REWARDS[start : start + G]
        for i, value in enumerate(group):
            others = [v for j, v in enumerate(group) if j != i]
            expected.append(value - sum(others) / len(others))
    assert got.tolist() == pytest.approx(expected, abs=1e-12)


LOGPROBS = [[-0.2, -1.5, -0.7], [-2.0, -0.1, 0.0]]
REFERENCE = [[-0.5, -1.0, -0.9], [-1.0, -0.4, 0.0]]
MASK = [[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]


@pytest.mark.parametrize("kind", ["k1", "k2", "k3"])
def test_kl_estimators_and_their_gradients(kind: str) -> None:
    logprobs = torch.tensor(LOGPROBS, dtype=torch.float64, requires_grad=True)
    values = kl_estimate(logprobs, torch.tensor(REFERENCE, dtype=torch.float64), kind)  # type: ignore[arg-type]
    values.sum().backward()
    for row in range(2):
        for t in range(3):
            lp, ref = LOGPROBS[row][t], REFERENCE[row][t]
            ratio = math.exp(ref - lp)  # mu / pi
            value, gradient = {
                "k1": (lp - ref, 1.0),
                "k2": (0.5 * (lp - ref) ** 2, lp - ref),
                "k3": (ratio - math.log(ratio) - 1, 1 - ratio),  # d/d log pi of mu/pi + log pi
            }[kind]
            assert float(values.detach()[row, t]) == pytest.approx(value, abs=1e-12)
            assert float(logprobs.grad[row, t]) == pytest.approx(gradient, abs=1e-12)  # type: ignore[index]


def test_k3_is_unbiased_and_nonnegative() -> None:
    """E_pi[k3] = KL(pi || mu) exactly, each value >= 0 (why GRPO uses it)."""
    pi, mu = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.2, 0.6])
    values = kl_estimate(torch.tensor(np.log(pi)), torch.tensor(np.log(mu)), "k3").numpy()
    assert (values >= 0).all()
    assert float(pi @ values) == pytest.approx(float(np.sum(pi * np.log(pi / mu))), abs=1e-12)


def test_clipped_surrogate_takes_the_pessimistic_term() -> None:
    old = [[-1.0, -1.0, -1.0], [-1.0, -1.0, -1.0]]
    new = [[-0.5, -1.0, -1.5], [-0.5, -1.0, -1.5]]  # ratios e^0.5, 1, e^-0.5
    advantages = [2.0, -1.0]
    low, high = 0.2, 0.28
    loss, clipped = clipped_surrogate(
        torch.tensor(new), torch.tensor(old), torch.tensor(advantages), low, high
    )
    for row in range(2):
        for t in range(3):
            ratio = math.exp(new[row][t] - old[row][t])
            a = advantages[row]
            plain, bounded = ratio * a, min(max(ratio, 1 - low), 1 + high) * a
            assert float(loss[row, t]) == pytest.approx(-min(plain, bounded), rel=1e-6)
            assert float(clipped[row, t]) == float(bounded < plain)
    # positive advantage: clipped above 1 + high only; negative: below 1 - low only
    assert clipped.tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]


def test_loss_aggregations_sequence_and_token() -> None:
    per_token = [[1.0, 2.0, 3.0], [4.0, 5.0, 0.0], [6.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    mask = [[1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    size = 2  # two groups of two responses
    sequence = aggregate(torch.tensor(per_token), torch.tensor(mask), size, "sequence")
    response_means = [2.0, 4.5, 6.0, 1.0]
    assert sequence.tolist() == pytest.approx([(2.0 + 4.5) / 2, (6.0 + 1.0) / 2])
    token = aggregate(torch.tensor(per_token), torch.tensor(mask), size, "token")
    tokens = 9
    # mean over prompts of the per-prompt values = sum of every token's loss / number of tokens
    assert float(token.mean()) == pytest.approx((6 + 9 + 6 + 3) / tokens)
    assert token.tolist() == pytest.approx([15 * 2 / tokens, 9 * 2 / tokens])
    assert float(sequence.mean()) == pytest.approx(sum(response_means) / 4)


def test_pairwise_rewards_are_mean_win_rates_against_the_group() -> None:
    """One judge call per unordered pair; each sample's reward is its mean P(beats y_j) over the others,
    and with an antisymmetric judge a group's rewards average exactly 1/2."""
    size, groups = 4, 2
    rng = np.random.default_rng(1)
    matrix = rng.uniform(size=(groups, size, size))
    matrix = np.triu(matrix, 1) + np.tril(1 - np.transpose(np.triu(matrix, 1), (0, 2, 1)), -1)
    matrix[:, range(size), range(size)] = 0.5  # P[g, i, j] = P(sample i of group g beats sample j)
    rows_a, rows_b = pair_rows(groups, size)
    assert len(rows_a) == groups * size * (size - 1) // 2
    preferences = [matrix[a // size, a % size, b % size] for a, b in zip(rows_a, rows_b, strict=True)]
    got = win_rates(preferences, rows_a, rows_b, groups, size).numpy()
    for g in range(groups):
        for i in range(size):
            others = [matrix[g, i, j] for j in range(size) if j != i]
            assert got[g * size + i] == pytest.approx(np.mean(others), abs=1e-6)
        assert got[g * size : (g + 1) * size].mean() == pytest.approx(0.5, abs=1e-6)


def test_rule_reward_first_match_wins() -> None:
    rules = [RewardRule(r"\d+", 1.0), RewardRule(r"yes", 0.5), RewardRule(r"^y", 0.25)]
    judge = RuleReward(RuleRewardArgs(rules=rules, default=-1.0))
    assert isinstance(judge, PointwiseJudge)
    prompts = ["p"] * 5
    assert judge.score(prompts, ["answer 42", " yes ", "yak", "no", "yes 7"]) == [1.0, 0.5, 0.25, -1.0, 1.0]
    full = RuleReward(RuleRewardArgs(rules=rules, default=-1.0, match="fullmatch"))
    assert full.score(prompts, ["42", "answer 42", " yes", "yak", "yes 7"]) == [1.0, -1.0, 0.5, -1.0, -1.0]
    unstripped = RuleReward(RuleRewardArgs(rules=rules, default=-1.0, match="fullmatch", strip=False))
    assert unstripped.score(prompts[:2], [" yes", "yes"]) == [-1.0, 0.5]
    compare = judge.compare(prompts[:2], ["42", "no"], ["no", "42"])
    assert compare == pytest.approx([1 / (1 + math.exp(-2.0)), 1 / (1 + math.exp(2.0))])
    assert RewardRule("(", 1.0).check()[0] == "pattern"  # type: ignore[index]
    assert RewardRule("a+", 1.0).check() is None


@pytest.mark.parametrize("size", [2, 3, 4, 5])
def test_standardised_gradient_against_every_outcome(size: int) -> None:
    """g(p) from group_points (binomial sum in closed form) against an enumeration of all 2^G draws, each
    with its own standardised advantages and the logit-gradient of the group-mean loss."""
    for p in (0.1, 0.37, 0.8):
        total = 0.0
        for draw in itertools.product([1, 0], repeat=size):  # 1: yes
            probability = math.prod(p if y else 1 - p for y in draw)
            rewards = np.array(draw, dtype=float)
            std = rewards.std(ddof=1)
            advantages = (rewards - rewards.mean()) / (std + 1e-4)
            score = np.array([(1 - p) if y else -p for y in draw])  # d log pi(y) / d logit(yes)
            total += probability * float(np.mean(advantages * score))
        assert standardised_gradient(p, size) == pytest.approx(total, abs=1e-12)


def test_binary_grpo_point_matches_a_monte_carlo_of_the_update() -> None:
    """The documented fixed point (docs/group.md): two-actions, mu = (0.1, 0.9), beta 0.5, G = 4, k2 in the
    loss. The tabular simulation of GRPO's update lands on the brentq root, which is 0.2 from the
    unbiased optimum pi proportional to mu exp(r / beta)."""
    point = binary_grpo_point(0.1, 0.5, 4, "k2")
    assert point == pytest.approx(0.6501, abs=1e-4)
    assert standardised_gradient(point, 4) == pytest.approx(0.5 * kl_gradient(point, 0.1, "k2"), abs=1e-12)
    unbiased = 0.1 * math.exp(2) / (0.1 * math.exp(2) + 0.9)
    assert abs(point - unbiased) > 0.1
    assert simulate_binary_grpo(0.1, 0.5, 4, "k2", steps=2000) == pytest.approx(point, abs=0.005)
    k3_point = binary_grpo_point(0.1, 0.5, 4, "k3")
    assert k3_point == pytest.approx(0.6973, abs=1e-4)
    assert simulate_binary_grpo(0.1, 0.5, 4, "k3", steps=2000) == pytest.approx(k3_point, abs=0.005)


# -- the algorithms' wiring, on a tabular policy: the gradient of GRPO's and RLOO's loss in the logits ------

ACTIONS = [0, 2, 2, 1, 0, 0, 1, 2]  # two groups of G = 4, drawn in this order
THETA = np.array([0.3, -0.2, 0.1])
MU = np.array([0.5, 0.3, 0.2])
TABLE = np.array([1.0, 0.0, 0.5])
MATRIX = np.array([[0.5, 0.9, 0.3], [0.1, 0.5, 0.6], [0.7, 0.4, 0.5]])


class TabularRollouts:
    """Draws ACTIONS in order; log pi = log_softmax(theta) over three one-token actions."""

    def __init__(self) -> None:
        self.theta = torch.tensor(THETA, requires_grad=True)

    def sample(self, prompts: list[str], n: int, beta: float = 0.0, opponent: object = None) -> object:
        from arena.api import Responses

        assert (len(prompts) * n, beta) == (len(ACTIONS), 0.0)
        reference = torch.tensor(np.log(MU)[ACTIONS])[:, None]
        texts = [f"a{a}" for a in ACTIONS]
        return Responses(
            ["p"] * len(ACTIONS),
            texts,
            [(a,) for a in ACTIONS],
            reference,
            torch.ones(len(ACTIONS), 1, dtype=torch.float64),
        )

    def policy_logprobs(self, responses: object, holder: object = None) -> torch.Tensor:
        actions = [ids[0] for ids in responses.token_ids]  # type: ignore[attr-defined]
        return torch.log_softmax(self.theta, 0)[actions][:, None]


class TableJudge:
    def score(self, prompts: list[str], responses: list[str]) -> list[float]:
        return [float(TABLE[int(text[1])]) for text in responses]

    def compare(self, prompts: list[str], a: list[str], b: list[str]) -> list[float]:
        raise AssertionError("a pointwise judge is scored, never compared, with reward: auto")


class MatrixJudge:
    def compare(self, prompts: list[str], a: list[str], b: list[str]) -> list[float]:
        return [float(MATRIX[int(x[1]), int(y[1])]) for x, y in zip(a, b, strict=True)]


def logit_gradient(algorithm_name: str, args: object, judge: object) -> np.ndarray:
    from arena.api import TrainContext
    from arena_plugins.group.algorithms import GRPO, RLOO

    algorithm = {"grpo": GRPO, "rloo": RLOO}[algorithm_name](args)  # type: ignore[arg-type]
    rollouts = TabularRollouts()
    algorithm.setup(TrainContext(policy=object(), reference=object(), rollouts=rollouts, judge=judge))  # type: ignore[arg-type]
    algorithm.loss(["p", "p"]).losses.mean().backward()
    return rollouts.theta.grad.numpy()  # type: ignore[union-attr]


def score_of(action: int, pi: np.ndarray) -> np.ndarray:
    return np.eye(3)[action] - pi  # d log pi(action) / d theta


def test_rloo_gradient_with_a_reward_table() -> None:
    from arena_plugins.group import RLOOArgs

    beta, pi = 0.3, np.exp(THETA) / np.exp(THETA).sum()
    rewards = [TABLE[a] - beta * np.log(pi[a] / MU[a]) for a in ACTIONS]
    expected = np.zeros(3)
    for start in (0, 4):
        group = rewards[start : start + 4]
        for i in range(4):
            advantage = group[i] - (sum(group) - group[i]) / 3
            expected -= advantage * score_of(ACTIONS[start + i], pi) / len(ACTIONS)
    got = logit_gradient("rloo", RLOOArgs(samples=4, beta=beta), TableJudge())
    assert got == pytest.approx(expected, abs=1e-6)  # rewards are float32


def test_grpo_gradient_with_a_pairwise_judge_and_k3() -> None:
    from arena_plugins.group import GRPOArgs

    beta, pi = 0.2, np.exp(THETA) / np.exp(THETA).sum()
    expected = np.zeros(3)
    for start in (0, 4):
        group = ACTIONS[start : start + 4]
        for i, a in enumerate(group):
            win_rate = np.mean([MATRIX[a, b] for j, b in enumerate(group) if j != i])
            kl_weight = 1 - MU[a] / pi[a]  # k3's gradient in log pi
            expected += (-(win_rate - 0.5) + beta * kl_weight) * score_of(a, pi) / len(ACTIONS)
    args = GRPOArgs(samples=4, beta=beta, kl_estimator="k3", scale_rewards="none")
    got = logit_gradient("grpo", args, MatrixJudge())
    assert got == pytest.approx(expected, abs=1e-6)  # rewards are float32
