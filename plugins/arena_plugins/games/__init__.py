"""Matrix games with known answers (KNOWN_ANSWERS.md): one fixed prompt, K one-word responses.

A game's preference matrix P[i][j] = P(action i beats action j) is its oracle judge, and its reference
policy mu is what alignment starts from. Tests compare what algorithms reach against the exact
equilibria of these games. This module is imported by plugin discovery, so it stays free of torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Any, Literal

from arena.api import ArenaError, Range, Register, Task, check_batch, hookimpl

GAME_PROMPT = "Pick one:"


@dataclass(frozen=True)
class MatrixGame:
    name: str
    actions: tuple[str, ...]
    preferences: tuple[tuple[float, ...], ...]
    reference: tuple[float, ...]
    prompt: str = GAME_PROMPT

    def __post_init__(self) -> None:
        k = len(self.actions)
        if len(self.preferences) != k or any(len(row) != k for row in self.preferences):
            raise ValueError(f"game {self.name}: the preference matrix must be {k}x{k}")
        for i in range(k):
            for j in range(k):
                if abs(self.preferences[i][j] + self.preferences[j][i] - 1.0) > 1e-12:
                    raise ValueError(f"game {self.name}: P[{i}][{j}] + P[{j}][{i}] must be 1")
        if len(self.reference) != k or abs(sum(self.reference) - 1.0) > 1e-9 or min(self.reference) <= 0:
            raise ValueError(
                f"game {self.name}: the reference must be {k} positive probabilities summing to 1"
            )

    def prompts(self, split: str = "train") -> list[str]:
        return [self.prompt]

    def oracle_judge(self) -> MatrixOracle:
        return MatrixOracle(self)

    def preference(self, response_a: str, response_b: str) -> float:
        """P(a beats b). A response that is not one of the actions loses to every action."""
        index = {action: i for i, action in enumerate(self.actions)}
        a, b = index.get(response_a.strip()), index.get(response_b.strip())
        if a is None or b is None:
            return 0.5 if a is None and b is None else (0.0 if a is None else 1.0)
        return self.preferences[a][b]


@dataclass(frozen=True)
class MatrixOracle:
    """The oracle judge of a matrix game: reads P off the game's matrix."""

    game: MatrixGame

    def compare(
        self, prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]
    ) -> list[float]:
        check_batch(prompts, responses_a, responses_b)
        return [self.game.preference(a, b) for a, b in zip(responses_a, responses_b, strict=True)]


def _matrix(rows: list[list[Fraction | int]]) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(x) for x in row) for row in rows)


_HALF, _5_9, _4_9 = Fraction(1, 2), Fraction(5, 9), Fraction(4, 9)
_UNIFORM3 = (1 / 3, 1 / 3, 1 / 3)
_RATERS = (Fraction(40, 100), Fraction(35, 100), Fraction(25, 100))  # the raters3 population's weights


def raters3_nash(weights: tuple[Fraction, Fraction, Fraction] = _RATERS) -> tuple[float, float, float]:
    """The Nash equilibrium of the three-rater cycle in closed form. With x = P(red > green) - 1/2,
    y = P(green > blue) - 1/2, z = P(blue > red) - 1/2 (all positive: a cycle), the skew-symmetric
    game A = P - 1/2 has kernel (y, z, x): row red gives x*z - z*x = 0, and so on. Normalised, it is the
    unique equilibrium (every action is in the support)."""
    w1, w2, w3 = weights
    x, y, z = w1 + w3 - _HALF, w1 + w2 - _HALF, w2 + w3 - _HALF
    total = x + y + z
    return (float(y / total), float(z / total), float(x / total))


RATERS3_NASH = raters3_nash()

GAMES: dict[str, MatrixGame] = {
    # Non-transitive dice {2,4,9}, {1,6,8}, {3,5,7}: each beats the next with probability 5/9.
    "dice": MatrixGame(
        "dice",
        ("red", "green", "blue"),
        _matrix([[_HALF, _5_9, _4_9], [_4_9, _HALF, _5_9], [_5_9, _4_9, _HALF]]),
        (0.6, 0.3, 0.1),
    ),
    # Two actions, y1 always preferred (IPO vs DPO, Azar et al.).
    "two-actions": MatrixGame("two-actions", ("yes", "no"), _matrix([[_HALF, 1], [0, _HALF]]), (0.5, 0.5)),
    # Three actions in a total order a > b > c.
    "order3": MatrixGame(
        "order3",
        ("red", "green", "blue"),
        _matrix([[_HALF, 1, 1], [0, _HALF, 1], [0, 0, _HALF]]),
        _UNIFORM3,
    ),
    # Three actions in a cycle a > b > c > a: rock beats scissors beats paper beats rock.
    "cycle3": MatrixGame(
        "cycle3",
        ("rock", "scissors", "paper"),
        _matrix([[_HALF, 1, 0], [0, _HALF, 1], [1, 0, _HALF]]),
        _UNIFORM3,
    ),
    # A population of three raters, each with a total order, weighted w = (0.40, 0.35, 0.25):
    # red > green > blue, green > blue > red, blue > red > green. P(i > j) is the weight of the raters
    # who rank i above j, so P(red > green) = w1 + w3, P(green > blue) = w1 + w2, P(blue > red) = w2 + w3:
    # every majority holds, and together they cycle. The Nash equilibrium is (0.5, 0.2, 0.3) in closed
    # form (RATERS3_NASH, derived in docs/last-iterate.md), uniform mu.
    "raters3": MatrixGame(
        "raters3",
        ("red", "green", "blue"),
        _matrix(
            [
                [_HALF, _RATERS[0] + _RATERS[2], 1 - _RATERS[1] - _RATERS[2]],
                [1 - _RATERS[0] - _RATERS[2], _HALF, _RATERS[0] + _RATERS[1]],
                [_RATERS[1] + _RATERS[2], 1 - _RATERS[0] - _RATERS[1], _HALF],
            ]
        ),
        _UNIFORM3,
    ),
}


def game_corpus(repeats: int = 20) -> list[str]:
    """Lines that make every built-in action a single token when a tiny tokenizer is trained on them."""
    actions = sorted({action for game in GAMES.values() for action in game.actions})
    return [f"{GAME_PROMPT} {action}" for action in actions for _ in range(repeats)]


GameName = Literal["dice", "two-actions", "order3", "cycle3", "raters3"]
# A game's offline pairs: `preferred`, every ordered pair the matrix prefers once (the D datasets of IPO's
# paper); `population`, every ordered pair of distinct actions weighted by mu(i) mu(j) (pairs sampled from mu).
PairsKind = Literal["preferred", "population"]


@dataclass
class GameArgs:
    """`args:` of a game task: optionally replace the reference policy mu."""

    reference: list[Annotated[float, Range(0, low_open=True)]] | None = None  # None: the game's own mu
    pairs: PairsKind = "preferred"  # offline data: preferred pairs once, or every pair weighted mu(i) mu(j)

    def check(self) -> tuple[str, str] | None:
        if self.reference is not None and abs(sum(self.reference) - 1.0) > 1e-6:
            return "reference", f"expected probabilities summing to 1, got a sum of {sum(self.reference):g}"
        return None


@dataclass
class GameOracleArgs:
    """`args:` of the `game-oracle` judge: which game's matrix to read."""

    game: GameName  # the known-answer game whose exact preference matrix judges


class GameTask(Task):
    """A matrix game as a training task: preference pairs for offline algorithms, the reference policy set
    exactly to mu, exact one-token rollouts for online ones, and after each logged step the policy's action
    distribution and its exploitability."""

    provides_pairs = True
    provides_completions = True
    provides_oracle = True
    prepares_policy = True
    provides_diagnostics = True
    provides_game_rollouts = True
    completions_end_with_eos = False  # an action is one token; nothing follows it

    def __init__(self, game: MatrixGame, pairs: PairsKind = "preferred") -> None:
        self.game = game
        self.pairs = pairs
        self.name = game.name
        self._completions: list[str] | None = None
        self._token_ids: list[int] | None = None

    def prompts(self, split: str = "train") -> list[str]:
        return self.game.prompts(split)

    def oracle_judge(self) -> MatrixOracle:
        return self.game.oracle_judge()

    def prepare_policy(self, policy: Any) -> None:
        from arena_plugins.games.actions import action_completions, set_action_distribution

        self._completions, self._token_ids = action_completions(policy, self.game.actions)
        set_action_distribution(policy, self.game.prompt, self._token_ids, self.game.reference)

    def pairs_rows(self, split: str = "train") -> list[dict[str, Any]]:
        """The offline pairs, labelled with P (a game has no held-out pairs: its one prompt is both splits).

        `preferred`: every ordered pair the matrix prefers (P > 1/2) once, the D datasets of IPO's paper.
        `population`: every ordered pair (i, j) of distinct actions with weight mu(i) mu(j), the law of a
        pair sampled from mu, so a weighted loss is its expectation under that sampling. The diagonal is
        left out: a pair (i, i) has margin 0 and label 1/2 whatever the policy, so its loss is a constant."""
        if split != "train":
            return []
        texts = self._completions or list(self.game.actions)
        mu = self.game.reference
        rows = []
        for i, row in enumerate(self.game.preferences):
            for j, p in enumerate(row):
                if self.pairs == "population" and i != j:
                    rows.append(
                        {
                            "prompt": self.game.prompt,
                            "chosen": texts[i],
                            "rejected": texts[j],
                            "label": p,
                            "weight": mu[i] * mu[j],
                        }
                    )
                elif self.pairs == "preferred" and p > 0.5:
                    rows.append(
                        {"prompt": self.game.prompt, "chosen": texts[i], "rejected": texts[j], "label": p}
                    )
        return rows

    def completions_rows(self, size: int = 100) -> list[dict[str, Any]]:
        """SFT data: the actions in proportion to the reference mu (`size` rows), to make a policy that plays mu."""
        texts = self._completions or list(self.game.actions)
        rows = []
        for text, probability in zip(texts, self.game.reference, strict=True):
            rows += [{"prompt": self.game.prompt, "completion": text}] * round(probability * size)
        return rows

    def game_rollouts(self, policy: Any, reference: Any) -> Any:
        from arena_plugins.games.actions import ActionRollouts

        return ActionRollouts(policy, reference, self.game.actions, self.game.prompt)

    def action_probs(self, policy: Any) -> list[float]:
        import torch

        from arena_plugins.games.actions import action_completions, action_logprobs

        if self._token_ids is None:
            self._completions, self._token_ids = action_completions(policy, self.game.actions)
        with torch.no_grad():
            return action_logprobs(policy, self.game.prompt, self._token_ids).exp().tolist()

    def equilibrium(self, tau: float) -> list[float]:
        """The exact answer: the regularised Nash equilibrium pi*_tau of (P, mu) (KNOWN_ANSWERS.md section 2)."""
        import numpy as np

        from arena.api import regularized_nash

        return regularized_nash(np.array(self.game.preferences), np.array(self.game.reference), tau).tolist()

    def diagnostics(self, policy: Any, kl_coefficient: float | None) -> dict[str, Any]:
        tau = kl_coefficient
        probs = self.action_probs(policy)
        # `actions` names the entries of action_probs; `equilibrium` is the known answer pi*_tau they are
        # plotted against (`arena plot`), the same every step.
        result: dict[str, Any] = {"action_probs": probs, "actions": list(self.game.actions)}
        if tau is not None:
            import numpy as np

            from arena.api import exploitability

            P, mu = np.array(self.game.preferences), np.array(self.game.reference)
            result["exploitability"] = float(exploitability(P, np.array(probs), mu, tau))
            result["equilibrium"] = self.equilibrium(tau)
        return result


def build_game(name: str, args: GameArgs) -> GameTask:
    return GameTask(_game_with_reference(GAMES[name], args), args.pairs)


def _game_with_reference(game: MatrixGame, args: GameArgs) -> MatrixGame:
    name = game.name
    if args.reference is None:
        return game
    if len(args.reference) != len(game.actions):
        raise ArenaError(
            f"args.reference: expected {len(game.actions)} probabilities for game '{name}', "
            f"got {len(args.reference)}"
        )
    return MatrixGame(game.name, game.actions, game.preferences, tuple(args.reference), game.prompt)


@dataclass
class MatrixGameArgs:
    """`args:` of the `matrix-game` task: any game, given in the recipe."""

    actions: list[str]  # one token each: the responses a policy can give
    preferences: list[list[Annotated[float, Range(0, 1)]]]  # P[i][j] = P(action i beats j), P + P^T = 1
    reference: list[Annotated[float, Range(0, low_open=True)]] | None = None  # default: uniform
    prompt: str = GAME_PROMPT  # the one fixed prompt the actions answer
    pairs: PairsKind = "preferred"  # offline data: preferred pairs once, or every pair weighted mu(i) mu(j)

    def check(self) -> tuple[str, str] | None:
        k = len(self.actions)
        if k < 2 or len(set(self.actions)) != k:
            return "actions", f"expected at least 2 distinct actions, got {self.actions}"
        if len(self.preferences) != k or any(len(row) != k for row in self.preferences):
            return "preferences", f"expected a {k}x{k} matrix (one row and column per action)"
        for i in range(k):
            for j in range(k):
                if abs(self.preferences[i][j] + self.preferences[j][i] - 1) > 1e-9:
                    return f"preferences.{i}.{j}", f"expected P[{i}][{j}] + P[{j}][{i}] = 1"
        if self.reference is not None:
            if len(self.reference) != k:
                return "reference", f"expected {k} probabilities, got {len(self.reference)}"
            if abs(sum(self.reference) - 1) > 1e-6:
                return (
                    "reference",
                    f"expected probabilities summing to 1, got a sum of {sum(self.reference):g}",
                )
        return None


def build_matrix_game(args: MatrixGameArgs) -> GameTask:
    k = len(args.actions)
    reference = tuple(args.reference) if args.reference is not None else tuple([1 / k] * k)
    preferences = tuple(tuple(float(x) for x in row) for row in args.preferences)
    game = MatrixGame("matrix-game", tuple(args.actions), preferences, reference, args.prompt)
    return GameTask(game, args.pairs)


def _game_factory(name: str) -> Callable[[GameArgs], GameTask]:
    def factory(args: GameArgs) -> GameTask:
        return build_game(name, args)

    return factory


@dataclass
class RewardTableArgs:
    """`args:` of the `reward-table` judge: a fixed reward per response text (stripped)."""

    rewards: dict[str, float]  # response text -> its reward
    default: float = -1.0  # the reward of any other text


class RewardTable:
    """A pointwise judge with fixed rewards: PPO's known answer is pi proportional to mu exp(r / tau)."""

    def __init__(self, args: RewardTableArgs) -> None:
        self.rewards, self.default = dict(args.rewards), args.default

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        return [self.rewards.get(response.strip(), self.default) for response in responses]

    def compare(
        self, prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]
    ) -> list[float]:
        from arena.api import sigmoid_preference

        check_batch(prompts, responses_a, responses_b)
        a, b = self.score(prompts, responses_a), self.score(prompts, responses_b)
        return [sigmoid_preference(x, y) for x, y in zip(a, b, strict=True)]


def build_oracle(args: GameOracleArgs) -> MatrixOracle:
    return GAMES[args.game].oracle_judge()


@hookimpl
def register_tasks(register: Register) -> None:
    for name, game in GAMES.items():
        register(
            name,
            _game_factory(name),
            config=GameArgs,
            description=f"matrix game, actions {', '.join(game.actions)}",
        )
    register(
        "matrix-game", build_matrix_game, config=MatrixGameArgs, description="a matrix game from the recipe"
    )


@hookimpl
def register_judges(register: Register) -> None:
    register(
        "game-oracle", build_oracle, config=GameOracleArgs, description="exact preferences of a matrix game"
    )
    register(
        "reward-table", RewardTable, config=RewardTableArgs, description="fixed rewards per response text"
    )
