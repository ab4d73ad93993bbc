"""Arena from Python: `arena.train`, `arena.tournament` and `arena.leaderboard` (docs/python.md).

Each takes what its command takes and runs the same library path (`arena.training.loop.train`,
`arena.tournament.run.run_tournament`, `arena.ratings` and `arena.leaderboard.publish`), so files, numbers
and errors are the CLI's. A bad input raises an `arena.errors.ArenaError` subclass whose message is the
one line the CLI would print; nothing here calls `sys.exit`. Recipe keys are overridden with keyword
arguments whose `__` separates nested keys (`training__steps=10` is `--set training.steps=10`), or with a
mapping of dotted keys; values are Python values, not YAML text.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union, cast

from arena.errors import ArenaError, RecipeError

if TYPE_CHECKING:
    import pandas as pd

    from arena.ratings.table import Leaderboard
    from arena.recipes import Recipe, TournamentRecipe

# What names a recipe: a YAML file, its content as a mapping, or a recipe object (arena.recipes).
RecipeSource = Union[str, os.PathLike[str], Mapping[str, Any], "Recipe"]
# Errors about a recipe given as a mapping or an object name it this way, as Python names "<string>".
IN_MEMORY_RECIPE = "<recipe>"


@dataclass(frozen=True)
class TrainRun:
    """What `arena.train` leaves behind: the run's files and the numbers of its summary.json."""

    name: str
    kind: Literal["train", "judge"]
    output: Path  # the run's folder (recipe `output`, default runs/<name>)
    model_dir: Path  # output/final: the trained policy or judge, loadable with transformers
    summary_file: Path  # output/summary.json (its content is `summary`)
    metrics_file: Path  # output/metrics.jsonl: one record per logged step
    steps: int
    metrics: dict[str, Any]  # the last logged step's record (summary.json's "final")
    held_out: dict[str, Any] | None  # metrics on held-out pairs (summary.json's "eval"), when there are any
    summary: dict[str, Any]


class _BoardFields:
    """The equilibrium's headline of a result that holds a `board`."""

    board: Leaderboard

    @property
    def support(self) -> list[str]:
        return self.board.support

    @property
    def tied_for_top(self) -> list[str]:
        return self.board.tied_for_top


@dataclass(frozen=True)
class TournamentRun(_BoardFields):
    """What `arena.tournament` leaves behind: the store, the published board and the summary's numbers."""

    name: str
    output: Path  # the run's folder: tournament.sqlite (what a rerun reuses), recipe.yaml, summary.json
    leaderboard_dir: Path  # where the board was published (recipe `publish_to`)
    summary_file: Path
    matches: int
    samples_generated: int  # this call; 0 when a rerun found every sample in the store
    judge_items: int  # judged this call
    export: Path | None  # the match table written for `arena.leaderboard`, when asked for
    board: Leaderboard  # every number of the board (arena.ratings.table.Leaderboard)
    table: pd.DataFrame  # the board's rows, as leaderboard.csv has them
    published: dict[str, Any]  # leaderboard.json's content
    summary: dict[str, Any]  # summary.json's content


@dataclass(frozen=True)
class LeaderboardRun(_BoardFields):
    """What `arena.leaderboard` computed (and wrote, when given `out`)."""

    name: str
    board: Leaderboard  # every number (arena.ratings.table.Leaderboard)
    table: pd.DataFrame  # the rows with the Nash and Elo intervals, as leaderboard.csv has them
    out: Path | None  # the folder written, or None when nothing was written
    files: list[Path] = field(default_factory=list)  # the six files of `arena leaderboard`, when written
    import_note: str | None = None  # what an importer read and left out (the CLI prints this line)

    @property
    def nll_per_match(self) -> float:
        return float(self.board.fit.nll_per_match)


def train(
    recipe: RecipeSource,
    overrides: Mapping[str, Any] | None = None,
    /,
    *,
    resume: bool = False,
    **keyword_overrides: Any,
) -> TrainRun:
    """Train a policy (a `train` recipe) or a judge (a `judge` recipe): `arena train RECIPE`.

    `resume=True` continues from the latest checkpoint in the output folder (`--resume`). Several processes
    (`--launcher accelerate`) are the CLI's: run this under `accelerate launch` or torchrun instead."""
    from arena.plugins import make_plugin_host
    from arena.recipes import JudgeRecipe, TrainRecipe, output_dir
    from arena.training.loop import train as run_training

    host = make_plugin_host()
    parsed, file = _load(recipe, _override_items(overrides, keyword_overrides), host.registries, None)
    if not isinstance(parsed, (TrainRecipe, JudgeRecipe)):
        raise RecipeError(
            file, "kind", f"arena.train runs train and judge recipes; this is a {parsed.kind} recipe"
        )
    had_group = _process_group_initialized()
    try:
        summary = run_training(parsed, file, host, resume=resume)
    finally:
        if not had_group:  # the group the run started (torchrun): leave it as the CLI does, once done
            _close_process_group()
    out = output_dir(parsed)
    return TrainRun(
        name=parsed.name,
        kind="judge" if isinstance(parsed, JudgeRecipe) else "train",
        output=out,
        model_dir=out / "final",
        summary_file=out / "summary.json",
        metrics_file=out / "metrics.jsonl",
        steps=int(summary["steps"]),
        metrics=dict(summary["final"]),
        held_out=summary.get("eval"),
        summary=summary,
    )


def tournament(
    recipe: RecipeSource,
    overrides: Mapping[str, Any] | None = None,
    /,
    *,
    export: str | os.PathLike[str] | None = None,
    **keyword_overrides: Any,
) -> TournamentRun:
    """Run a round robin, judge it, rate it and publish its leaderboard: `arena tournament RECIPE`.

    A rerun continues where the store stopped; `export` also writes the match table (`--export FILE`)."""
    from arena.plugins import make_plugin_host
    from arena.recipes import output_dir
    from arena.tournament.run import run_tournament

    host = make_plugin_host()
    parsed, file = _load(recipe, _override_items(overrides, keyword_overrides), host.registries, "tournament")
    result = run_tournament(
        cast("TournamentRecipe", parsed), file, host, export=None if export is None else str(export)
    )
    out = output_dir(parsed)
    summary = {k: v for k, v in result.items() if k not in ("board", "published", "samples")}
    board = result["board"]
    return TournamentRun(
        name=parsed.name,
        output=out,
        leaderboard_dir=Path(summary["leaderboard"]),
        summary_file=out / "summary.json",
        matches=int(summary["matches"]),
        samples_generated=int(summary["samples_generated"]),
        judge_items=int(summary["judge_items"]),
        export=None if export is None else Path(export),
        board=board,
        table=board_table(board),
        published=result["published"],
        summary=summary,
    )


def leaderboard(
    matches: str | os.PathLike[str] | pd.DataFrame,
    out: str | os.PathLike[str] | None = None,
    *,
    name: str | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    nash_temperature: float | None = None,
    control: Literal["length", "style"] | None = None,
    format: str = "auto",
    split: str = "train",
    both_bad: Literal["tie", "exclude"] | None = None,
    anonymous_only: bool = False,
    strong_weight: int | None = None,
    arena_hard_baseline: str | None = None,
    anchor: str | tuple[str, float] | None = None,
) -> LeaderboardRun:
    """Nash averaging beside Bradley-Terry Elo, with bootstrap intervals: `arena leaderboard MATCHES`.

    `matches` is a file, a saved datasets folder or a hub id (any format `arena leaderboard` reads), or a
    pandas DataFrame of match rows (model_a, model_b and winner, p_a or wins_a/wins_b/ties). With `out`
    the six files of the CLI are written there; without it nothing is written."""
    import pandas as pd

    from arena.leaderboard import publish
    from arena.ratings.anchoring import anchor_elo, check_anchor_model, parse_anchor
    from arena.ratings.importers import FORMATS, ImportOptions, import_table
    from arena.ratings.matches import matches_from_frame
    from arena.ratings.table import build_leaderboard

    _check_whole(bootstrap, "bootstrap", 0)
    _check_whole(seed, "seed", None)
    if nash_temperature is not None and not (
        isinstance(nash_temperature, int | float) and nash_temperature > 0
    ):
        raise ArenaError(f"nash_temperature: expected a number > 0, got {nash_temperature!r}")
    if control not in (None, "length", "style"):
        raise ArenaError(f"control: expected 'length', 'style' or None, got {control!r}")
    if format not in FORMATS:
        raise ArenaError(f"format: expected one of {', '.join(FORMATS)}, got {format!r}")
    target = None if out is None else Path(out)
    if target is not None and target.exists() and not target.is_dir():
        raise ArenaError(f"{target}: out must be a folder, and this is a file")
    anchored = _anchor(anchor, parse_anchor)
    options = ImportOptions(
        both_bad=both_bad,
        anonymous_only=anonymous_only,
        strong_weight=strong_weight,
        baseline=arena_hard_baseline,
    )
    if isinstance(matches, pd.DataFrame):
        source, default_name = "DataFrame", "leaderboard"
        frame, report = import_table(matches, format, options, source)
        validated = matches_from_frame(frame, source)
    else:
        from arena.ratings.readers import import_matches

        source, default_name = str(matches), Path(matches).stem
        validated, report = import_matches(matches, format, options, split)
    if anchored is not None:
        check_anchor_model(anchored[0], validated.models, source)
    controlled = None
    if control is not None:
        from arena.ratings.style_control import control_from_frame, style_control
        from arena.ratings.style_features import read_match_features

        if isinstance(matches, pd.DataFrame):
            controlled = control_from_frame(frame, control, source)
        else:
            controlled = style_control(read_match_features(source, format, options, split, control), control)
    board = build_leaderboard(
        validated,
        name or default_name,
        bootstrap=bootstrap,
        seed=seed,
        nash_temperature=nash_temperature,
        control=controlled,
    )
    if anchored is not None:
        board = anchor_elo(board, *anchored)
    files = publish(board, target) if target is not None else []
    shown = report.format != "matches" or report.dropped  # when the CLI prints the importer's line
    return LeaderboardRun(
        name=board.name,
        board=board,
        table=board_table(board),
        out=target,
        files=files,
        import_note=report.summary() if shown else None,
    )


def board_table(board: Leaderboard) -> pd.DataFrame:
    """The board's rows in its columns' order: leaderboard.csv as a DataFrame (NaN where the file is empty)."""
    import pandas as pd

    return pd.DataFrame(board.rows, columns=list(board.columns))


def _override_items(
    overrides: Mapping[str, Any] | None, keywords: Mapping[str, Any]
) -> list[tuple[str, Any]]:
    """(dotted key, value) pairs: the mapping's first, then the keywords'; `__` nests in both."""
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ArenaError(
            f"overrides: expected a mapping of recipe keys to values, got {type(overrides).__name__}"
        )
    items = []
    for key, value in [*(overrides or {}).items(), *keywords.items()]:
        if not isinstance(key, str) or not key.strip(" ._"):
            raise ArenaError(f"overrides: expected recipe keys such as 'training.steps', got {key!r}")
        items.append((key.strip().replace("__", "."), value))
    return items


def _load(
    recipe: RecipeSource, items: list[tuple[str, Any]], registries: Any, expect: str | None
) -> tuple[Recipe, str]:
    """The recipe read, overridden, converted and validated exactly as the CLI does; and the name its
    errors give (the file, or IN_MEMORY_RECIPE)."""
    from arena.recipes import RECIPE_KINDS, apply_override, parse_recipe, read_yaml_mapping
    from arena.schema import to_plain

    if isinstance(recipe, str | os.PathLike):
        file = os.fspath(recipe)
        raw = read_yaml_mapping(file)
    elif isinstance(recipe, Mapping):
        file, raw = IN_MEMORY_RECIPE, copy.deepcopy(dict(recipe))
    elif isinstance(recipe, tuple(RECIPE_KINDS.values())):
        # Back to plain data and through the schema again: overrides are checked as on a file.
        file, raw = IN_MEMORY_RECIPE, to_plain(recipe)
    else:
        raise ArenaError(
            "recipe: expected a path to a YAML recipe, a mapping or a recipe object (arena.recipes), "
            f"got {type(recipe).__name__}"
        )
    for key, value in items:
        apply_override(file, raw, key, value)
    return parse_recipe(file, raw, registries=registries, expect=expect), file


def _check_whole(value: object, name: str, minimum: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ArenaError(f"{name}: expected a whole number{bound}, got {value!r}")


def _anchor(anchor: str | tuple[str, float] | None, parse: Any) -> tuple[str, float] | None:
    """`MODEL=RATING` as the CLI reads it, or the pair itself."""
    if anchor is None or isinstance(anchor, str):
        return None if anchor is None else parse(anchor)
    model, rating = anchor
    if (
        not isinstance(model, str)
        or not model
        or not isinstance(rating, int | float)
        or not math.isfinite(rating)
    ):
        raise ArenaError(f"anchor: expected (model, finite rating) or 'MODEL=RATING', got {anchor!r}")
    return model, float(rating)


def _process_group_initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def _close_process_group() -> None:
    """Under torchrun the run starts a process group; a gloo group left to the interpreter's exit can abort
    a rank after the run succeeded (arena.cli.train does the same)."""
    import torch.distributed as dist

    if _process_group_initialized():
        dist.destroy_process_group()


__all__ = [
    "LeaderboardRun",
    "TournamentRun",
    "TrainRun",
    "board_table",
    "leaderboard",
    "tournament",
    "train",
]
