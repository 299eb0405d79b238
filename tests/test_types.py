"""The type checker runs with the tests, so `.ci/run` fails on what it finds ([tool.mypy] in
pyproject.toml: strict over compiler/, grammar/, runtime/ and sandbox/)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def package_tree(into: Path) -> Path:
    """`into/syncmap/<package>` links to each top-level folder, as pyproject.toml maps them.

    The default editable install maps the folders to `syncmap.*` with an import hook that mypy
    cannot follow; a tree of links is a layout it reads, and lives outside the checkout."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        package_dir: dict[str, str] = tomllib.load(fh)["tool"]["setuptools"]["package-dir"]
    (into / "syncmap").mkdir(parents=True)
    for package, folder in package_dir.items():
        (into / package.replace(".", "/")).symlink_to(ROOT / folder, target_is_directory=True)
    return into


def test_mypy_finds_nothing(tmp_path: Path) -> None:
    tree = package_tree(tmp_path / "tree")
    # run from the tree (mypy looks for the packages there); the cache goes to the temp dir too
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        cwd=tree,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues found in" in proc.stdout


def test_the_tree_reaches_every_package_the_config_names(tmp_path: Path) -> None:
    """The strict check covers the compiler, the grammar, the runtime and the sandbox (dropping
    one from [tool.mypy] packages would silence it), and each is a package in the tree mypy reads."""
    tree = package_tree(tmp_path / "tree")
    with open(ROOT / "pyproject.toml", "rb") as fh:
        packages = tomllib.load(fh)["tool"]["mypy"]["packages"]
    assert packages == ["syncmap.compiler", "syncmap.grammar", "syncmap.runtime", "syncmap.sandbox"]
    for package in packages:
        assert (tree / package.replace(".", "/") / "__init__.py").is_file(), package
