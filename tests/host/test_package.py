"""Arena as a package: the wheel built from the tracked files, its metadata, what it ships, and an installed
copy that runs from any directory.

The wheel is built once (module fixture) from a copy of the files git tracks, as a fresh clone has them.
`make wheel-check` (CI) goes further: it pip-installs the wheel in a fresh venv and runs the reduced
quickstart there (.ci/wheel_check.py).
"""

from __future__ import annotations

import configparser
import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

import pytest

import arena
from arena.quickstart.plan import CHECKOUT_RECIPES, default_recipes
from arena.testing import OFFLINE_ENV, run_arena

# One worker builds the wheel once for every test here (module fixture).
pytestmark = pytest.mark.xdist_group("package")

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# The MD5 of the Apache License 2.0 as the ASF publishes it (www.apache.org/licenses/LICENSE-2.0.txt), the
# same digest every unmodified copy in a Python distribution has: LICENSE must be that text, unedited.
APACHE_2_0_MD5 = "3b83ef96387f14655fc854ddc3c6bd57"
DISTRIBUTION = "nash-arena"
# Where each tracked source directory lands in the wheel.
WHEEL_ROOTS = {"arena": "arena", "plugins/arena_plugins": "arena_plugins"}


def tracked_files() -> list[str]:
    done = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
    return [name for name in done.stdout.decode().split("\0") if name and os.path.lexists(REPO / name)]


def expected_wheel_files(tracked: list[str]) -> set[str]:
    """Every tracked file of the two packages, where the wheel puts it; a linked directory (the
    quickstart's recipes) as the files it links to."""
    expected: set[str] = set()
    for name in tracked:
        source = REPO / name
        for root, target in WHEEL_ROOTS.items():
            if not name.startswith(root + "/"):
                continue
            inside = target + name[len(root) :]
            if source.is_symlink() and source.is_dir():
                linked = source.resolve().relative_to(REPO).as_posix()
                expected |= {inside + t[len(linked) :] for t in tracked if t.startswith(linked + "/")}
            else:
                expected.add(inside)
    return expected


def run(cwd: Path, env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tree = tmp_path_factory.mktemp("clone")
    tracked = tracked_files()
    for name in tracked:
        source, target = REPO / name, tree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copyfile(source, target)
    dist = tmp_path_factory.mktemp("dist")
    build = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(dist),
    ]
    done = subprocess.run([*build, str(tree)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    [path] = dist.glob("*.whl")
    with zipfile.ZipFile(path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    info = next(name.split("/")[0] for name in contents if name.endswith(".dist-info/METADATA"))
    metadata = HeaderParser().parsestr(contents[f"{info}/METADATA"].decode())
    return {"path": path, "contents": contents, "info": info, "metadata": metadata, "tracked": tracked}


def test_license_is_the_unmodified_apache_2_0_text() -> None:
    text = (REPO / "LICENSE").read_bytes()
    assert hashlib.md5(text).hexdigest() == APACHE_2_0_MD5
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]


def test_python_m_arena_is_the_arena_command(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "arena"
    env = {**os.environ, **OFFLINE_ENV, "NO_COLOR": "1", "COLUMNS": "200"}
    for args, code in ((["--version"], 0), (["quickstart", "--help"], 0), (["no-such-command"], 2)):
        module = run(tmp_path, env, sys.executable, "-m", "arena", *args)
        script = run(tmp_path, env, str(command), *args)
        assert (module.returncode, script.returncode) == (code, code), module.stderr
        assert (module.stdout, module.stderr) == (script.stdout, script.stderr)
    assert module.stderr.startswith("Usage: arena ")  # the command's name, not __main__.py's


def test_version_is_written_once_and_the_wheel_and_command_agree(wheel: dict[str, Any]) -> None:
    assert "version" not in PYPROJECT["project"]
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "arena.__version__"}
    metadata: Message = wheel["metadata"]
    assert metadata["Name"] == DISTRIBUTION
    assert metadata["Version"] == arena.__version__
    assert wheel["path"].name == f"nash_arena-{arena.__version__}-py3-none-any.whl"
    result = run_arena(["--version"])
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == f"arena {arena.__version__}"


def test_wheel_metadata_names_the_licence_command_and_plugins(wheel: dict[str, Any]) -> None:
    contents, info = wheel["contents"], wheel["info"]
    assert wheel["metadata"]["License-Expression"] == "Apache-2.0"
    assert contents[f"{info}/licenses/LICENSE"] == (REPO / "LICENSE").read_bytes()
    entry_points = configparser.ConfigParser(delimiters=("=",))
    entry_points.optionxform = str  # type: ignore[assignment,method-assign]  # names are case-sensitive
    entry_points.read_string(contents[f"{info}/entry_points.txt"].decode())
    assert dict(entry_points["console_scripts"]) == {"arena": "arena.cli:main"}
    assert dict(entry_points["arena"]) == PYPROJECT["project"]["entry-points"]["arena"]


def test_wheel_ships_every_package_file_and_nothing_else(wheel: dict[str, Any]) -> None:
    shipped = {name for name in wheel["contents"] if not name.startswith(wheel["info"] + "/")}
    assert shipped == expected_wheel_files(wheel["tracked"])
    assert wheel["contents"]["arena/py.typed"] == b""  # PEP 561: the package's own annotations are its types
    recipes = sorted(p.name for p in (REPO / "recipes" / "quickstart").glob("*.yaml"))
    assert len(recipes) >= 2  # quickstart.yaml and at least one stage
    for name in recipes:
        packaged = wheel["contents"][f"arena/quickstart/recipes/{name}"]
        assert packaged == (REPO / "recipes" / "quickstart" / name).read_bytes()


def test_installed_wheel_runs_the_quickstart_from_any_directory(
    wheel: dict[str, Any], tmp_path: Path
) -> None:
    """The wheel unpacked on its own (`pip install --target`, no source tree on the path; the
    dependencies are this environment's): every stage of the reduced quickstart validates from its
    installed recipes, in a directory that holds none."""
    site, work = tmp_path / "site", tmp_path / "work"
    work.mkdir()
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site)]
    done = subprocess.run([*install, str(wheel["path"])], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    env = {"PYTHONPATH": str(site)}
    code = "import arena, arena_plugins; print(arena.__file__, arena_plugins.__file__)"
    found = run(work, {**os.environ, **env}, sys.executable, "-c", code)
    assert found.stdout.split() == [
        str(site / "arena" / "__init__.py"),
        str(site / "arena_plugins" / "__init__.py"),
    ]
    result = run_arena(["quickstart", "--reduced", "--dry-run", "--out", "out"], cwd=work, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    recipes = site / "arena" / "quickstart" / "recipes"
    for name in ("sft.yaml", "dpo.yaml", "tournament.yaml", "tournament-clones.yaml"):
        assert str(recipes / name) in result.stdout
    assert sorted(p.name for p in work.iterdir()) == []  # a dry run writes nothing


def test_default_recipes_are_the_checkout_s_from_its_root_and_the_package_s_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    assert default_recipes() == CHECKOUT_RECIPES
    monkeypatch.chdir(tmp_path)
    shipped = default_recipes()
    assert shipped == Path(arena.__file__).parent / "quickstart" / "recipes"
    assert shipped.resolve() == (REPO / "recipes" / "quickstart").resolve()
