"""The pure half of `benchmarks/algorithms.py`: game curves read from metrics.jsonl, the side-by-side table
and its files (CSV, JSON, markdown), and the two-panel plot of a game. No training here, no torch.

A game run logs the policy's action distribution (`action_probs`) every `log_every` steps. Everything on
the board is recomputed from those distributions with the exact game (P, mu) at the game's tau, so every
algorithm is measured the same way whatever regularisation it logs its own exploitability at (online DPO,
SPPO and DPO have no tau of their own).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from arena.io import atomic_write_bytes, atomic_write_text
from arena.ratings import exploitability, max_entropy_nash, regularized_nash

PROBS_KEY = "action_probs"
# The last quarter of the run's logged iterates: their mean against the last iterate tells a run that
# settled (the two agree) from one that circles (the mean sits inside the circle, the last iterate on it).
TAIL_FRACTION = 0.25


@dataclass(frozen=True)
class Game:
    name: str
    preferences: np.ndarray  # P[i][j] = P(action i beats action j)
    reference: np.ndarray  # mu
    tau: float

    def equilibrium(self) -> np.ndarray:
        """pi*_tau: the regularised Nash equilibrium every regularised method targets."""
        return regularized_nash(self.preferences, self.reference, self.tau)

    def nash(self) -> np.ndarray:
        """The (maximum-entropy) Nash equilibrium of P itself: where the unregularised methods head."""
        return max_entropy_nash(self.preferences)


def _softmax(logits: np.ndarray) -> np.ndarray:
    weights = np.exp(logits - logits.max())
    return weights / weights.sum()


def mixture_point(game: Game, beta: float) -> np.ndarray:
    """IPO-MD's (and Nash-MD's with mixture weight beta) fixed point: pi = softmax(log mu + P pi_beta / tau),
    pi_beta proportional to pi^(1 - beta) mu^beta; damped fixed-point steps, checked to 1e-10."""
    log_mu = np.log(game.reference)
    pi = game.reference.copy()
    for _ in range(20000):
        mixture = _softmax((1 - beta) * np.log(pi) + beta * log_mu)
        pi = 0.8 * pi + 0.2 * _softmax(log_mu + game.preferences @ mixture / game.tau)
    mixture = _softmax((1 - beta) * np.log(pi) + beta * log_mu)
    residual = np.max(np.abs(pi - _softmax(log_mu + game.preferences @ mixture / game.tau)))
    if residual > 1e-10:
        raise ArithmeticError(f"{game.name}: the mixture point did not converge (residual {residual:.1e})")
    return pi


def population_ipo_limit(game: Game) -> np.ndarray:
    """Offline IPO's limit on `pairs: population`: pi proportional to mu exp(P mu / tau) (docs/training.md)."""
    return _softmax(np.log(game.reference) + game.preferences @ game.reference / game.tau)


@dataclass(frozen=True)
class Curve:
    """One run's logged iterates: steps (n,) and the action distributions (n, actions)."""

    steps: np.ndarray
    probs: np.ndarray


def read_curve(metrics: Path) -> Curve:
    """The logged action distributions of a game run's metrics.jsonl, in step order."""
    rows = []
    for number, line in enumerate(metrics.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        record = json.loads(line)
        if PROBS_KEY in record:
            rows.append((int(record["step"]), [float(x) for x in record[PROBS_KEY]]))
        elif number == 1 and "step" not in record:
            raise ValueError(f"{metrics}: line 1: expected a metrics record with a step")
    if not rows:
        raise ValueError(f"{metrics}: {PROBS_KEY}: expected at least one logged action distribution")
    rows.sort(key=lambda row: row[0])
    return Curve(np.array([row[0] for row in rows]), np.array([row[1] for row in rows]))


def distances(curve: Curve, target: np.ndarray) -> np.ndarray:
    """Max-abs distance of each iterate to `target`."""
    return np.max(np.abs(curve.probs - target[None, :]), axis=1)


def exploitabilities(curve: Curve, game: Game) -> np.ndarray:
    """Exploitability at the game's tau of each iterate (0 exactly at pi*_tau)."""
    return np.array([exploitability(game.preferences, p, game.reference, game.tau) for p in curve.probs])


def tail(curve: Curve) -> np.ndarray:
    """The iterates logged in the last quarter of the run (at least one)."""
    last = curve.steps[-1]
    kept = curve.probs[curve.steps > last * (1 - TAIL_FRACTION)]
    return kept if len(kept) else curve.probs[-1:]


def summary_row(
    algorithm: str,
    curve: Curve,
    game: Game,
    target: str,
    seconds: float | None,
    own_target: np.ndarray | None = None,
) -> dict[str, Any]:
    """One row of a game's table: the last iterate and the last quarter's mean, measured against
    pi*_tau (distance, exploitability) and against the Nash equilibrium of P (distance)."""
    star, nash = game.equilibrium(), game.nash()
    last, tail_iterates = curve.probs[-1], tail(curve)
    mean = tail_iterates.mean(axis=0)
    return {
        "algorithm": algorithm,
        "target": target,
        # the distance of the last iterate to the algorithm's own fixed point, where it is known
        "final_distance_to_own_target": None
        if own_target is None
        else float(np.max(np.abs(last - own_target))),
        "steps": int(curve.steps[-1]),
        "final_probs": [float(x) for x in last],
        "final_distance": float(np.max(np.abs(last - star))),
        "final_exploitability": float(exploitability(game.preferences, last, game.reference, game.tau)),
        "tail_mean_probs": [float(x) for x in mean],
        "tail_mean_distance": float(np.max(np.abs(mean - star))),
        "tail_mean_exploitability": float(exploitability(game.preferences, mean, game.reference, game.tau)),
        # How far the last quarter's iterates stray from their own mean: ~0 for a run that settled.
        "tail_spread": float(np.max(np.abs(tail_iterates - mean[None, :]))),
        "final_distance_to_nash_of_P": float(np.max(np.abs(last - nash))),
        "seconds": None if seconds is None else round(seconds, 1),
    }


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, list):
        return "(" + ", ".join(f"{x:.3f}" for x in value) + ")"
    return "" if value is None else str(value)


MARKDOWN_COLUMNS = (
    ("algorithm", "algorithm"),
    ("target", "its target"),
    ("final_distance_to_own_target", "last: dist to its target"),
    ("final_probs", "last iterate"),
    ("final_distance", "last: dist to pi*"),
    ("final_exploitability", "last: exploitability"),
    ("tail_mean_probs", "last-quarter mean"),
    ("tail_mean_distance", "mean: dist to pi*"),
    ("tail_mean_exploitability", "mean: exploitability"),
    ("tail_spread", "last-quarter spread"),
    ("final_distance_to_nash_of_P", "last: dist to Nash of P"),
    ("seconds", "wall s"),
)


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    header = "| " + " | ".join(title for _, title in MARKDOWN_COLUMNS) + " |"
    rule = (
        "|"
        + "|".join("---" if key in ("algorithm", "target") else "---:" for key, _ in MARKDOWN_COLUMNS)
        + "|"
    )
    body = ["| " + " | ".join(_cell(row.get(key)) for key, _ in MARKDOWN_COLUMNS) + " |" for row in rows]
    return "\n".join([header, rule, *body]) + "\n"


def csv_table(rows: Sequence[dict[str, Any]]) -> str:
    stream = io.StringIO()
    keys = list(rows[0]) if rows else [key for key, _ in MARKDOWN_COLUMNS]
    writer = csv.DictWriter(stream, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: " ".join(str(x) for x in v) if isinstance(v, list) else v for k, v in row.items()}
        )
    return stream.getvalue()


def write_table(rows: Sequence[dict[str, Any]], game: Game, directory: Path) -> list[Path]:
    """<game>.csv, <game>.json (with the game's pi*_tau and Nash of P) and <game>.md in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    document = {
        "game": game.name,
        "tau": game.tau,
        "reference": game.reference.tolist(),
        "equilibrium": [float(x) for x in game.equilibrium()],
        "nash_of_P": [float(x) for x in game.nash()],
        "tail_fraction": TAIL_FRACTION,
        "rows": list(rows),
    }
    paths = [directory / f"{game.name}.{ext}" for ext in ("csv", "json", "md")]
    atomic_write_text(paths[0], csv_table(rows))
    atomic_write_text(paths[1], json.dumps(document, indent=2) + "\n")
    atomic_write_text(paths[2], markdown_table(rows))
    return paths


# Values are clipped here before a log axis: a run that sits exactly on pi*_tau has 0 there.
LOG_FLOOR = 1e-9


def plot_game(curves: dict[str, Curve], game: Game, path: Path) -> None:
    """Two panels against steps, log y, a line per algorithm: exploitability at tau, and max-abs distance
    to pi*_tau. Every line starts at step 0 from mu, where the game sets every run's policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    star = game.equilibrium()
    figure, (left, right) = plt.subplots(1, 2, figsize=(15, 5))
    colours = plt.get_cmap("tab20")
    for number, (algorithm, logged) in enumerate(curves.items()):
        curve = Curve(np.concatenate([[0], logged.steps]), np.vstack([game.reference, logged.probs]))
        style = "--" if number >= 10 else "-"
        colour = colours(number % 20)
        left.plot(curve.steps, np.maximum(exploitabilities(curve, game), LOG_FLOOR), style, color=colour)
        right.plot(
            curve.steps, np.maximum(distances(curve, star), LOG_FLOOR), style, color=colour, label=algorithm
        )
    star_text = ", ".join(f"{x:.3f}" for x in star)
    left.set_title(f"{game.name}: exploitability at tau = {game.tau:g}")
    right.set_title(f"{game.name}: max |pi - pi*_tau|, pi*_tau = ({star_text})")
    for axis in (left, right):
        axis.set_yscale("log")
        axis.set_xlabel("step")
        axis.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())


def game_named(name: str, tau: float) -> Game:
    """A built-in game of the games plugin (P and mu exactly as its task plays them) at `tau`."""
    from arena_plugins.games import GAMES

    game = GAMES[name]
    return Game(name, np.array(game.preferences), np.array(game.reference), tau)


# --- the README -------------------------------------------------------------------------------------------

CLOSE = 0.03  # issue 19's tolerance for sampled runs: "within 0.03 of pi*_tau"


def _vector(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{x:.3f}" for x in values) + ")"


def game_reading(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Sentences with the numbers of one game's table: who reaches pi*_tau, who circles."""
    lines = []
    regularised = [row for row in rows if row["target"] == "pi*_tau"]
    close = [row for row in regularised if row["final_distance"] < CLOSE]
    far = [row for row in regularised if row["final_distance"] >= CLOSE]
    if regularised:
        lines.append(
            f"Of the {len(regularised)} methods whose target is pi*_tau, {len(close)} end within {CLOSE} of it"
            + (
                ": " + ", ".join(f"{r['algorithm']} {r['final_distance']:.4f}" for r in close)
                if close
                else ""
            )
            + (
                "; not within: " + ", ".join(f"{r['algorithm']} {r['final_distance']:.4f}" for r in far)
                if far
                else ""
            )
            + " (max-abs distance of the last iterate)."
        )
    best = min(rows, key=lambda row: row["final_exploitability"])
    worst = max(rows, key=lambda row: row["final_exploitability"])
    lines.append(
        f"Lowest final exploitability at tau: {best['algorithm']} {best['final_exploitability']:.2e}; "
        f"highest: {worst['algorithm']} {worst['final_exploitability']:.2e}."
    )
    circling = max(rows, key=lambda row: row["tail_spread"])
    lines.append(
        f"Largest spread of the last quarter's iterates around their mean: {circling['algorithm']} "
        f"{circling['tail_spread']:.4f} (last iterate {circling['final_distance']:.4f} from pi*_tau, the "
        f"last-quarter mean {circling['tail_mean_distance']:.4f}); the smallest: "
        + ", ".join(
            f"{r['algorithm']} {r['tail_spread']:.4f}"
            for r in sorted(rows, key=lambda r: r["tail_spread"])[:3]
        )
        + "."
    )
    own = [
        row
        for row in rows
        if row["target"] != "pi*_tau" and row.get("final_distance_to_own_target") is not None
    ]
    if own:
        lines.append(
            "Other targets, distance of the last iterate to its own: "
            + ", ".join(
                f"{r['algorithm']} {r['final_distance_to_own_target']:.4f} ({r['target']})" for r in own
            )
            + "."
        )
    unregularised = [row for row in rows if row["target"].startswith("none")]
    if unregularised:
        lines.append(
            "Without a regularised target, distance to the Nash equilibrium of P at the end: "
            + ", ".join(f"{r['algorithm']} {r['final_distance_to_nash_of_P']:.4f}" for r in unregularised)
            + "."
        )
    return lines


def moves_rows(board: dict[str, Any], moves: dict[str, Any]) -> list[dict[str, Any]]:
    """The moves board's rows: the tournament's ratings (leaderboard.json) beside each entrant's moves
    (the moves task's moves.json), in the board's order."""
    played = {row["model"]: row for row in moves["entrants"]}
    rows = []
    for model in board["models"]:
        move = played.get(model["model"], {})
        keys = ("malformed", "exploitability", *(name.lower() for name in moves["moves"]))
        rows.append({**model, **{key: move.get(key) for key in keys}})
    return rows


def _interval(row: dict[str, Any], key: str, digits: int) -> str:
    low, high = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
    value = f"{row[key]:.{digits}f}"
    return value if low is None or high is None else f"{value} [{low:.{digits}f}, {high:.{digits}f}]"


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def moves_table(rows: Sequence[dict[str, Any]], moves: Sequence[str]) -> str:
    header = (
        "| rank | model | Nash rating [95% CI] | Elo [95% CI] | tied for top (Nash) | win rate | "
        + " | ".join(moves)
        + " | malformed | exploitability |"
    )
    rule = "|---:|---|---:|---:|---|---:|" + "---:|" * len(moves) + "---:|---:|"
    body = []
    for row in rows:
        cells = [
            str(row["rank"]),
            row["model"],
            _interval(row, "nash_rating", 4),
            _interval(row, "elo", 1),
            "yes" if row.get("tied_for_top") else "",
            f"{row['win_rate']:.3f}",
            *(
                _share(row.get(key))
                for key in (*(move.lower() for move in moves), "malformed", "exploitability")
            ),
        ]
        body.append("| " + " | ".join(cells) + " |")
    return "\n".join([header, rule, *body]) + "\n"


def moves_reading(rows: Sequence[dict[str, Any]], reference: str) -> list[str]:
    tied = [row["model"] for row in rows if row.get("tied_for_top")]
    top = rows[0]
    lines = [
        f"Top by Nash rating: {top['model']} ({_interval(top, 'nash_rating', 4)}); tied for top (Nash "
        f"intervals overlapping the leader's): {', '.join(tied) or top['model']}."
    ]
    base = next((row for row in rows if row["model"] == reference), None)
    if base is not None:
        beaten = [
            row
            for row in rows
            if row["model"] != reference and (row.get("elo_ci_low") or 0) > (base.get("elo_ci_high") or 0)
        ]
        lines.append(
            f"The reference: Nash rating {base['nash_rating']:.4f}, Elo {base['elo']:.1f}; "
            f"{len(beaten)} of {len(rows) - 1} trained policies have an Elo interval wholly above its."
        )
    scored = [row for row in rows if row.get("exploitability") is not None]
    if scored:
        low = min(scored, key=lambda row: row["exploitability"])
        high = max(scored, key=lambda row: row["exploitability"])
        lines.append(
            f"Exploitability of the played moves (moves task, its tau): lowest {low['model']} "
            f"{low['exploitability']:.4f}, highest {high['model']} {high['exploitability']:.4f}."
        )
    formed = [row for row in rows if row.get("malformed") is not None]
    if formed:
        worst = max(formed, key=lambda row: row["malformed"])
        best = min(formed, key=lambda row: row["malformed"])
        lines.append(
            f"Malformed answers (the oracle counts them as losses): most {worst['model']} {worst['malformed']:.3f}, "
            f"fewest {best['model']} {best['malformed']:.3f}"
            + (
                f"; the reference {base['malformed']:.3f}."
                if base is not None and base.get("malformed") is not None
                else "."
            )
        )
    return lines


def _args(args: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{key}: {value}" for key, value in args.items()) + "}" if args else "{}"


def plans_table(plans: Sequence[Any], taus: dict[str, float]) -> str:
    """Each algorithm's explicit arguments, per game and on moves (algorithms_plans.ALGORITHMS)."""
    games = list(taus)
    header = (
        "| algorithm | "
        + " | ".join(f"{game} args (tau {taus[game]:g})" for game in games)
        + " | game lr | target on the games | moves args | moves judge | moves lr | note |"
    )
    rule = "|---|" + "---|" * len(games) + "---:|---|---|---|---:|---|"
    body = []
    for plan in plans:
        on_games = plan.game_args is not None
        cells = [
            plan.algorithm,
            *(_args(plan.game_args(taus[game])) if on_games else "not run" for game in games),
            f"{plan.game_lr:g}" if on_games else "",
            plan.target,
            _args(plan.moves_args),
            plan.moves_judge or "none (offline pairs)",
            f"{plan.moves_lr:g}",
            plan.note,
        ]
        body.append("| " + " | ".join(cells) + " |")
    return "\n".join([header, rule, *body]) + "\n"


def readme_text(
    *,
    command: str,
    machine: str,
    wall_seconds: float,
    plans: Sequence[Any],
    taus: dict[str, float],
    games: dict[str, dict[str, Any]],
    game_budget: Any,
    offline_pairs: str,
    moves_budget: Any,
    moves_dir: Path,
    moves: dict[str, Any],
    stages: str,
    missing: Sequence[str],
    unplanned: Sequence[str],
    reused: Sequence[str] = (),
) -> str:
    """leaderboards/algorithms/README.md: what ran, the game plots and tables, the moves board, and the
    numbers that read them: every number comes from the files beside it."""
    board = json.loads((moves_dir / "leaderboard.json").read_text())
    played = json.loads((moves_dir / "moves.json").read_text())
    rows = moves_rows(board, played)
    summary = moves["summary"]
    no_target = list(
        dict.fromkeys(
            row["algorithm"]
            for data in games.values()
            for row in data["rows"]
            if row["target"].startswith("none")
        )
    )
    parts = [
        "# Algorithms side by side\n",
        "Every algorithm in the benchmark's table that this checkout registers, trained from the same reference "
        "with the same budget, on two matrix games and on the moves task. Generated by "
        "`benchmarks/algorithms.py` (the per-algorithm arguments: `benchmarks/algorithms_plans.py`, listed below).\n",
        f"- Command (repository root): `{command}`",
        f"- Machine: {machine}",
        f"- Wall time: {wall_seconds:.0f} s ({wall_seconds / 60:.1f} min) for the whole command; runs reused "
        f"from an earlier invocation (their seconds are those of the run that made them): "
        f"{', '.join(reused) if reused else 'none'}",
        f"- Algorithms ({len(plans)}): {', '.join(plan.algorithm for plan in plans)}",
    ]
    if missing:
        parts.append(f"- In the table but not registered in this checkout, so not run: {', '.join(missing)}")
    if unplanned:
        parts.append(f"- Registered but without arguments in the table, so not run: {', '.join(unplanned)}")
    parts += [
        "",
        "## Games\n",
        f"Each game's one prompt, its reference mu set exactly in the tiny model `recipes/games/model`. Online "
        f"algorithms: {game_budget.steps} steps of {game_budget.batch} sampled actions, the learning rate "
        f"decaying linearly, logged every {game_budget.log_every} steps. Offline ones (dpo, ipo): "
        f"{game_budget.steps} full-batch steps on {offline_pairs}, constant learning rate. Every number "
        "below is recomputed from the logged action distributions with the exact game at the game's tau: the "
        "exploitability "
        "(`arena.api.exploitability`, 0 exactly at pi*_tau) and the max-abs distance to pi*_tau "
        "(`arena.api.regularized_nash`). Algorithms without a regularised-Nash target, run for comparison: "
        f"{', '.join(no_target)}; ipo-md's own fixed point is its mixture point, offline IPO's the limit of its "
        "pairs (both solved; the table's distance to its target is to them). 'Last-quarter mean' averages the "
        "iterates logged in the last quarter of the run: a run that settled has mean = last iterate and a "
        "spread near 0; one that circles has a mean nearer the centre than its last iterate.\n",
    ]
    for name, data in games.items():
        game = data["game"]
        parts += [
            f"### {name} (tau {game.tau:g})\n",
            f"mu = {_vector(game.reference)}, pi*_tau = {_vector(game.equilibrium())}, Nash equilibrium of P = "
            f"{_vector(game.nash())}; files: [{name}.csv]({name}.csv), [{name}.json]({name}.json).\n",
            f"![{name}: exploitability and distance to pi*_tau against steps]({name}.png)\n",
            markdown_table(data["rows"]),
            *(f"- {line}" for line in game_reading(data["rows"])),
            "",
        ]
    parts += [
        "## Moves\n",
        f"The quickstart's reference (SFT) and judges from `{stages}` (reward model for PPO, preference model for "
        f"the others; offline DPO and IPO on the task's oracle-labelled pairs). Every algorithm: "
        f"{moves_budget.steps} steps of {moves_budget.batch} prompts, constant learning rate. Then a round robin "
        f"among the results and the reference on the held-out prompts, judged by the moves oracle: "
        f"{len(summary['entrants'])} entrants, {summary['matches']} matches on {summary['prompts']} prompts "
        f"({summary['backend']}); recipe `{moves['recipe']}`. Published in [moves/](moves/) "
        "([leaderboard.md](moves/leaderboard.md), [index.html](moves/index.html), heatmap, win rates, "
        "[moves.csv](moves/moves.csv)). Moves and exploitability: each entrant's tournament answers.\n",
        moves_table(rows, played["moves"]),
        *(f"- {line}" for line in moves_reading(rows, "reference")),
        "",
        "Training seconds per algorithm on moves: "
        + ", ".join(f"{label.split('/')[-1]} {seconds:.0f}" for label, seconds in moves["seconds"].items())
        + ".\n",
        "## Arguments\n",
        plans_table(plans, taus),
    ]
    return "\n".join(parts)
