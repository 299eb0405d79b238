"""`syncmap --help` lists the commands from a table and imports none of them."""

from __future__ import annotations

import os
import subprocess
import sys

from syncmap.runtime.cli import COMMANDS, cli


def test_help_lists_every_command_without_importing_any() -> None:
    code = (
        "import sys\n"
        "from syncmap.runtime.cli import cli\n"
        "try:\n"
        "    cli(['--help'])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "heavy = ('httpx', 'starlette', 'uvicorn', 'syncmap.sandbox', 'syncmap.runtime.engine', 'syncmap.compiler')\n"
        "bad = [m for m in sys.modules if m.startswith(heavy) or m.endswith('_cmd')]\n"
        "assert not bad, bad\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    listing = proc.stdout.split("Commands:\n")[1].split("\n\n")[0]
    assert [line.split()[0] for line in listing.splitlines()] == sorted(COMMANDS)
    assert "  check    Check mappings for syntax errors and broken rules.\n" in proc.stdout


def test_the_listing_says_what_each_command_says_of_itself() -> None:
    for name, entry in COMMANDS.items():
        command = cli.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and command.help is not None
        assert " ".join(command.help.split("\n\n")[0].split()) == entry.summary, name
