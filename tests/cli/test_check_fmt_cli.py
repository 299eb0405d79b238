"""`syncmap check` and `syncmap fmt` as CI uses them: exit codes, formats, several files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from syncmap.runtime.cli import cli

ROOT = Path(__file__).resolve().parents[2]
INVALID = ROOT / "tests" / "cases" / "invalid"
GOOD = str(ROOT / "mappings" / "autopilot.syncmap")
BAD = str(INVALID / "SM004-missing-arrow.syncmap")


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_clean_file_exits_0() -> None:
    result = run("check", GOOD)
    assert result.exit_code == 0
    assert "0 errors" in result.stderr


def test_problems_exit_1_with_caret_and_help() -> None:
    result = run("check", BAD)
    assert result.exit_code == 1
    assert "error[SM004]: expected an arrow between `first_name` and `FirstName`" in result.stderr
    assert "2 |   first_name FirstName\n  |              ^^^^^^^^^" in result.stderr
    assert "= help:" in result.stderr
    assert result.stdout == ""  # human output goes to stderr


def test_usage_errors_exit_2() -> None:
    assert run("check").exit_code == 2
    assert run("check", "no-such-file.syncmap").exit_code == 2
    assert run("check", "--format", "xml", GOOD).exit_code == 2


def test_json_format_lists_records_from_several_files() -> None:
    other = str(INVALID / "SM108-literal-secret.syncmap")
    result = run("check", "--format", "json", BAD, GOOD, other)
    assert result.exit_code == 1
    records = json.loads(result.stdout)
    assert [(r["code"], Path(r["span"]["file"]).name, r["span"]["line"], r["span"]["col"]) for r in records] == [
        ("SM004", "SM004-missing-arrow.syncmap", 2, 14),
        ("SM108", "SM108-literal-secret.syncmap", 2, 9),
    ]
    assert records[1]["severity"] == "error" and records[1]["help"]


def test_github_format_is_workflow_annotations() -> None:
    result = run("check", "--format", "github", BAD)
    assert result.exit_code == 1
    line = result.stdout.strip()
    assert line.startswith("::error file=")
    assert ",line=2,col=14," in line and "title=SM004" in line and "::[SM004] expected an arrow" in line


def test_warnings_pass_unless_strict() -> None:
    warn = str(INVALID / "SM117-empty-block.syncmap")
    assert run("check", warn).exit_code == 0
    assert run("check", "--strict", warn).exit_code == 1


def test_fmt_check_names_files_that_would_change_and_changes_nothing(tmp_path: Path) -> None:
    messy = tmp_path / "messy.syncmap"
    messy.write_text("sync a.B->c.D{\nx->y\n}\n")
    tidy = tmp_path / "tidy.syncmap"
    tidy.write_text("sync a.B -> c.D {\n  x -> y\n}\n")
    result = run("fmt", "--check", str(messy), str(tidy))
    assert result.exit_code == 1
    assert f"would reformat {messy}" in result.stdout and str(tidy) not in result.stdout
    assert messy.read_text() == "sync a.B->c.D{\nx->y\n}\n"
    assert run("fmt", str(messy)).exit_code == 0
    assert messy.read_text() == tidy.read_text()
    assert run("fmt", "--check", str(messy)).exit_code == 0


def test_fmt_of_a_broken_file_exits_1_and_leaves_it(tmp_path: Path) -> None:
    broken = tmp_path / "broken.syncmap"
    broken.write_text("sync a.B <-> c.D {\n")
    result = run("fmt", str(broken))
    assert result.exit_code == 1 and "SM003" in result.stderr
    assert broken.read_text() == "sync a.B <-> c.D {\n"


def test_check_needs_no_environment_and_imports_no_http_client() -> None:
    code = (
        "import sys\n"
        "from syncmap.runtime.cli import cli\n"
        "try:\n"
        f"    cli(['check', {GOOD!r}])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('httpx', 'starlette', 'uvicorn', 'sqlite3')]\n"
        "assert not bad, bad\n"
    )
    # PYTHONDONTWRITEBYTECODE: the bare environment must not let the child write __pycache__/
    # into the source folders
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_a_file_that_is_not_utf8_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.syncmap"
    latin.write_bytes("# Caf\xe9\n".encode("latin-1"))
    for command in ("check", "fmt", "compile", "explain"):
        result = run(command, str(latin))
        assert result.exit_code == 2, command
        assert "is not UTF-8 text" in result.stderr and "Traceback" not in result.output + result.stderr


def test_an_include_cycle_of_three_files_checked_together_is_reported_once(tmp_path: Path) -> None:
    for name, target in (("a", "b"), ("b", "c"), ("c", "a")):
        (tmp_path / f"{name}.syncmap").write_text(f'include "{target}.syncmap"\n')
    files = [str(tmp_path / f"{n}.syncmap") for n in "bca"]
    result = run("check", "--format", "json", *files)
    assert result.exit_code == 1
    records = json.loads(result.stdout)
    assert [(r["code"], Path(r["span"]["file"]).name, r["span"]["line"]) for r in records] == [("SM102", "c.syncmap", 1)]
    assert [Path(p).name for p in records[0]["message"].removeprefix("include cycle: ").split(" -> ")] == [
        "a.syncmap",
        "b.syncmap",
        "c.syncmap",
        "a.syncmap",
    ]


def test_a_utf8_byte_order_mark_is_not_an_unexpected_character(tmp_path: Path) -> None:
    bom = tmp_path / "notepad.syncmap"
    bom.write_bytes(b"\xef\xbb\xbfsyncmap 1\n")
    assert run("check", str(bom)).exit_code == 0
    assert run("fmt", str(bom)).exit_code == 0
    assert bom.read_bytes() == b"syncmap 1\n"
