"""Bad judge recipes, and bad judge args in other recipes, fail with one exact line and exit code 2 before
any training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.errors import ArenaError
from arena.testing import run_arena
from tests.judges.conftest import REPO, THREADS, TrainedJudge, build_judge

MODEL = REPO / "recipes/games/model"
# Only the built-in plugins, so that the lists of names in the messages do not depend on what else is installed.
ENV = {**THREADS, "ARENA_PLUGINS": "games,sft,dpo,backends,judges"}
JUDGE = """\
kind: judge
name: rm
judge: reward-model
backbone: {model}
data: {{path: pairs.jsonl, eval_fraction: 0.5}}
training: {{steps: 2, batch_size: 2}}
"""


def write(tmp_path: Path, recipe: str, rows: list[dict] | None = None) -> None:
    rows = rows or [{"prompt": f"Q{n}", "chosen": "yes", "rejected": "no"} for n in range(4)]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "recipe.yaml").write_text(recipe)


@pytest.mark.parametrize(
    ("old", "new", "rows", "expected"),
    [
        (
            "judge: reward-model",
            "judge: game-oracle\nargs: {game: dice}",
            None,
            "judge: judge 'game-oracle' cannot be trained by `arena train` "
            "(trainable judges: preference-model, reward-model)",
        ),
        # A judge recipe's args are the judge's training args, not where a trained judge is used.
        ("judge: reward-model", "judge: reward-model\nargs: {path: x}", None, "args.path: unknown key"),
        (
            "judge: reward-model",
            "judge: preference-model\nargs: {label_smoothing: 0.7}",
            None,
            "args.label_smoothing: expected a value <= 0.49, got 0.7",
        ),
        (
            "backbone: ",
            "backbone: ./nope #",
            None,
            "backbone: no such model directory './nope' (nor a hub id)",
        ),
        (
            "",
            "",
            [{"prompt": "Q", "good": "yes", "bad": "no"}],
            "data.columns.chosen: column 'chosen' not in 'pairs.jsonl' (columns: prompt, good, bad)",
        ),
        (
            "",
            "",
            [{"prompt": "Q", "chosen": "yes", "rejected": "no"}] * 3,
            "data.eval_fraction: expected data with at least 2 distinct prompts to hold some out, got 1",
        ),
        (
            "",
            "",
            [{"prompt": "Q", "chosen": "yes", "rejected": "no", "label": 2}],
            "data: row 0: expected a label in [0, 1], got 2",
        ),
        (
            "batch_size: 2",
            "batch_size: 2, gradient_accumulation: 4",
            None,
            "training.batch_size: expected a multiple of gradient_accumulation x processes = 4, got 2",
        ),
    ],
)
def test_bad_judge_recipe_fails_before_training(
    tmp_path: Path, old: str, new: str, rows: list[dict] | None, expected: str
) -> None:
    write(tmp_path, JUDGE.format(model=MODEL).replace(old, new, 1), rows)
    result = run_arena(["train", "recipe.yaml"], cwd=tmp_path, env=ENV)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"recipe.yaml: {expected}\n")
    assert not (tmp_path / "runs").exists()  # nothing written


def test_unknown_judge_is_named_with_the_installed_ones(tmp_path: Path) -> None:
    write(tmp_path, JUDGE.format(model=MODEL).replace("judge: reward-model", "judge: reward-modle"))
    result = run_arena(["train", "recipe.yaml"], cwd=tmp_path, env={**ENV, "ARENA_PLUGINS": "judges"})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "recipe.yaml: judge: unknown judge 'reward-modle' (did you mean 'reward-model'?); "
        "expected one of: llm, openai, oracle, preference-model, reward-model, rule-reward, vllm\n"
    )


TOURNAMENT = """\
kind: tournament
name: cup
entrants: [{{name: a, model: {model}}}, {{name: b, model: {model}}}]
prompts: pairs.jsonl
judge: {judge}
"""


@pytest.mark.parametrize(
    ("judge", "expected"),
    [
        ("reward-model", "judge.args.path: missing required key (a judge directory or a hub id)"),
        (
            "{name: preference-model, args: {path: ./nope}}",
            "judge.args.path: no such judge directory './nope' (nor a hub id)",
        ),
        # Training args are not usage args.
        (
            "{name: reward-model, args: {path: pairs.jsonl, center_rewards: 0.1}}",
            "judge.args.center_rewards: unknown key",
        ),
        (
            "{name: llm, args: {model: MODEL, template: 'Which is better? {response_a}'}}",
            "judge.args.template: expected a template with {response_b}",
        ),
        (
            "{name: llm, args: {model: MODEL, template: '{prompt} {response_a} {response_b} {answer}'}}",
            "judge.args.template: unknown placeholder {answer} (expected {prompt}, {response_a}, {response_b}; "
            "write {{ and }} for literal braces)",
        ),
        (
            "{name: llm, args: {model: MODEL, answers: [A, A]}}",
            "judge.args.answers: expected two different non-empty answers, got ['A', 'A']",
        ),
        (
            "{name: llm, args: {model: MODEL, min_answer_mass: 2}}",
            "judge.args.min_answer_mass: expected a value <= 1, got 2",
        ),
        (
            "{name: oracle, args: {task: cycle4}}",
            "judge.args.task: unknown task 'cycle4' (did you mean 'cycle3'?); expected one of: cycle3, dice, "
            "matrix-game, order3, raters3, two-actions",
        ),
    ],
)
def test_bad_judge_args_in_a_recipe_that_uses_a_judge(tmp_path: Path, judge: str, expected: str) -> None:
    write(tmp_path, TOURNAMENT.format(model=MODEL, judge=judge.replace("MODEL", str(MODEL))))
    result = run_arena(["recipes", "validate", "recipe.yaml"], cwd=tmp_path, env=ENV)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"recipe.yaml: {expected}") and result.stderr.count("\n") == 1


@pytest.mark.slow
def test_a_judge_directory_of_another_kind_is_refused(preference_model: TrainedJudge) -> None:
    with pytest.raises(ArenaError, match=r"holds a preference-model judge, not a reward-model$"):
        build_judge("reward-model", path=str(preference_model.path))


def test_oracle_judge_of_a_task_is_the_tasks_own(tmp_path: Path) -> None:
    oracle = build_judge("oracle", task="cycle3")
    game = build_judge("game-oracle", game="cycle3")
    actions = ["rock", "paper", "scissors", "lizard"]
    a = [x for x in actions for _ in actions]
    b = [y for _ in actions for y in actions]
    assert oracle.compare(["Pick one:"] * 16, a, b) == game.compare(["Pick one:"] * 16, a, b)
    with pytest.raises(ArenaError, match=r"^judge 'oracle': judge.args.args.bogus: unknown key$"):
        build_judge("oracle", task="cycle3", args={"bogus": 1})
