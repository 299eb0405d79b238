"""Shell completion through click's own mechanism (`_SYNCMAP_COMPLETE`), as a user gets it.

The bash test types into a real interactive bash on a pseudo-terminal, presses Tab and runs the
completed line, so what it proves is what a user sees: the script `syncmap` prints, sourced,
completes a command name and a file name.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent  # the environment's `syncmap` sits beside its python


def completion_script(shell: str) -> str:
    result = subprocess.run([str(BIN / "syncmap")], env={**os.environ, "_SYNCMAP_COMPLETE": f"{shell}_source"}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F _syncmap_completion syncmap"), ("zsh", "#compdef syncmap"), ("fish", "complete --no-files --command syncmap")],
)
def test_each_shell_gets_a_script_that_registers_syncmap(shell: str, marker: str) -> None:
    assert marker in completion_script(shell)


def test_click_answers_commands_choices_and_files() -> None:
    def complete(words: str, cword: int) -> list[str]:
        env = {**os.environ, "_SYNCMAP_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        return subprocess.run([str(BIN / "syncmap")], env=env, capture_output=True, text=True).stdout.split()

    assert complete("syncmap gr", 1) == ["plain,graph"]
    assert complete("syncmap c", 1) == ["plain,check", "plain,compile"]
    assert complete("syncmap graph --format ", 3) == ["plain,dot", "plain,mermaid"]
    assert complete("syncmap check ma", 2) == ["file,ma"]  # the shell lists the files


class Terminal:
    """An interactive bash on a pseudo-terminal: type, and read what it shows."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become bash, in `cwd`
            os.chdir(cwd)
            os.execve(shutil.which("bash", path=env["PATH"]) or "/bin/bash", ["bash", "--norc", "--noprofile", "-i"], env)
        self.shown = ""

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.shown and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.shown += os.read(self.fd, 4096).decode(errors="replace")
                except OSError:
                    break
        assert text in self.shown, f"{text!r} never appeared; the terminal showed:\n{self.shown}"
        return self.shown

    def close(self) -> None:
        self.type("\x15exit\n")
        os.waitpid(self.pid, 0)


def test_bash_completes_a_command_name_and_a_file(tmp_path: Path) -> None:
    (tmp_path / "complete-me.syncmap").write_text("syncmap 1\n", encoding="utf-8")
    (tmp_path / "other.txt").write_text("", encoding="utf-8")
    (tmp_path / "syncmap.bash").write_text(completion_script("bash"), encoding="utf-8")
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp_path),
        "INPUTRC": "/dev/null",
        "PS1": "$ ",
        "TERM": "dumb",
        "PYTHONDONTWRITEBYTECODE": "1",  # no bytecode caches in the checkout (tests/conftest.py)
    }
    term = Terminal(tmp_path, env)
    try:
        term.type("source syncmap.bash\n")
        term.wait_for("$ ")
        # `gr` + Tab becomes `graph `; run it with --help to see which command the line holds.
        term.type("syncmap gr\t")
        term.wait_for("syncmap graph ")
        term.type("--help\n")
        term.wait_for("Usage: syncmap graph [OPTIONS]")
        # `com` + Tab becomes the one file starting so, and `check` reads it (a mapping that
        # declares nothing: SM119, named with the completed file).
        term.type("syncmap check com\t")
        term.wait_for("complete-me.syncmap ")
        term.type("\n")
        term.wait_for("--> complete-me.syncmap:")
    finally:
        term.close()
