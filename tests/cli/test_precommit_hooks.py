"""The hooks of .pre-commit-hooks.yaml, run by pre-commit itself in a temporary repository.

pre-commit installs the hooks' repository the way a user's config makes it: it clones it at a
`rev` and pip-installs syncmap from it into an environment of its own. The repository here is
a snapshot of this working tree (every file git would commit, committed once), so the hooks
under test are the ones in this checkout, changes included. The environment is built once for
the module (about half a minute: pip fetches syncmap's dependencies from its index) and shared
by every test through PRE_COMMIT_HOME.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD = (ROOT / "mappings" / "autopilot.syncmap").read_text(encoding="utf-8")
TYPO = GOOD.replace("  first_name        <-> FirstName", "  first_name        <-> FirstNme")
MESSY = GOOD.replace("  first_name        <-> FirstName", "  first_name<->FirstName")
IDENTITY = ["-c", "user.name=syncmap tests", "-c", "user.email=tests@syncmap.invalid"]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *IDENTITY, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _clean_env(home: Path) -> dict[str, str]:
    # A test run inside a git hook inherits GIT_DIR and friends, which would point pre-commit
    # at the wrong repository.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["PRE_COMMIT_HOME"] = str(home)
    return env


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, str]]:
    """A one-commit copy of this checkout, its commit, and the environment to run pre-commit in."""
    snapshot = tmp_path_factory.mktemp("hooks-repo")
    files = _git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file() and not name.startswith(("tests/", "bench/", "docs/")):
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            (snapshot / name).write_bytes(source.read_bytes())
    _git(snapshot, "init", "-q")
    _git(snapshot, "add", "-A")
    _git(snapshot, "commit", "-q", "-m", "snapshot")
    return snapshot, _git(snapshot, "rev-parse", "HEAD").strip(), _clean_env(tmp_path_factory.mktemp("pre-commit-home"))


def _user_repo(tmp_path: Path, hooks_repo: tuple[Path, str, dict[str, str]], hook_ids: list[str], files: dict[str, str]) -> Path:
    snapshot, rev, _ = hooks_repo
    repo = tmp_path / "user-repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    hooks = "".join(f"      - id: {hook}\n" for hook in hook_ids)
    (repo / ".pre-commit-config.yaml").write_text(f"repos:\n  - repo: {snapshot}\n    rev: {rev}\n    hooks:\n{hooks}", encoding="utf-8")
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, encoding="utf-8")
    _git(repo, "add", "-A")
    return repo


def _pre_commit(repo: Path, hooks_repo: tuple[Path, str, dict[str, str]]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"],
        cwd=repo,
        env=hooks_repo[2],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_clean_mappings_pass_and_other_files_are_not_touched(tmp_path: Path, hooks_repo) -> None:
    repo = _user_repo(tmp_path, hooks_repo, ["syncmap-check", "syncmap-fmt"], {"mappings/sync.syncmap": GOOD, "notes.txt": "not a mapping {"})
    result = _pre_commit(repo, hooks_repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "syncmap check" in result.stdout and "Passed" in result.stdout and "Failed" not in result.stdout


def test_check_hook_fails_with_the_diagnostic_and_its_line(tmp_path: Path, hooks_repo) -> None:
    repo = _user_repo(tmp_path, hooks_repo, ["syncmap-check"], {"mappings/sync.syncmap": TYPO})
    result = _pre_commit(repo, hooks_repo)
    assert result.returncode == 1
    assert "syncmap check" in result.stdout and "Failed" in result.stdout
    assert "error[SM203]: Autopilot Contact has no field `FirstNme`" in result.stdout
    assert "--> mappings/sync.syncmap:37:" in result.stdout


def test_fmt_hook_rewrites_the_file_and_fails_the_commit_once(tmp_path: Path, hooks_repo) -> None:
    repo = _user_repo(tmp_path, hooks_repo, ["syncmap-fmt"], {"m.syncmap": MESSY})
    first = _pre_commit(repo, hooks_repo)
    assert first.returncode == 1 and "files were modified by this hook" in first.stdout
    assert (repo / "m.syncmap").read_text(encoding="utf-8") == GOOD
    _git(repo, "add", "-A")
    assert _pre_commit(repo, hooks_repo).returncode == 0


def test_fmt_check_hook_names_the_file_and_changes_nothing(tmp_path: Path, hooks_repo) -> None:
    repo = _user_repo(tmp_path, hooks_repo, ["syncmap-fmt-check"], {"m.syncmap": MESSY})
    result = _pre_commit(repo, hooks_repo)
    assert result.returncode == 1 and "would reformat m.syncmap" in result.stdout
    assert (repo / "m.syncmap").read_text(encoding="utf-8") == MESSY
