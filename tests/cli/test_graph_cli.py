"""`syncmap graph` at the edge: what it prints and writes, its errors and its usage."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from syncmap.runtime.cli import cli

ROOT = Path(__file__).resolve().parents[2]
MAPPING = str(ROOT / "mappings" / "autopilot.syncmap")
GRAPHS = ROOT / "docs" / "graphs"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_prints_the_pictures_docs_show() -> None:
    mermaid = run("graph", MAPPING)
    assert (mermaid.exit_code, mermaid.stdout) == (0, (GRAPHS / "autopilot.mmd").read_text(encoding="utf-8"))
    dot = run("graph", "--format", "dot", MAPPING)
    assert (dot.exit_code, dot.stdout) == (0, (GRAPHS / "autopilot.dot").read_text(encoding="utf-8"))


def test_output_file_gets_the_picture(tmp_path: Path) -> None:
    out = tmp_path / "five.dot"
    result = run("graph", str(ROOT / "mappings" / "five-objects.syncmap"), "--format", "dot", "-o", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert out.read_text(encoding="utf-8") == (GRAPHS / "five-objects.dot").read_text(encoding="utf-8")
    assert f"wrote {out}" in result.stderr


def test_a_mapping_with_errors_draws_nothing_and_says_why(tmp_path: Path) -> None:
    bad = ROOT / "tests" / "cases" / "invalid" / "SM004-missing-arrow.syncmap"
    result = run("graph", str(bad))
    assert result.exit_code == 1 and result.stdout == ""
    assert "error[SM004]" in result.stderr


def test_changes_between_two_mappings(tmp_path: Path) -> None:
    new = tmp_path / "new.syncmap"
    new.write_text(Path(MAPPING).read_text(encoding="utf-8").replace("phone.primary     <-> Phone", "phone.primary -> Phone"), encoding="utf-8")
    result = run("graph", "--changes", MAPPING, str(new))
    assert result.exit_code == 0
    assert '-->|"+ phone.primary -#gt; Phone"|' in result.stdout
    assert '<-->|"- phone.primary #lt;-#gt; Phone"|' in result.stdout
    same = run("graph", "--changes", MAPPING, MAPPING)
    assert same.exit_code == 0 and "no change to what flows" in same.stdout


def test_usage_errors_exit_2() -> None:
    assert run("graph").exit_code == 2
    two = run("graph", MAPPING, MAPPING)
    assert two.exit_code == 2 and "--changes OLD NEW" in two.stderr
    assert run("graph", "--changes", MAPPING).exit_code == 2
    assert run("graph", "--format", "png", MAPPING).exit_code == 2
    assert run("graph", "no-such.syncmap").exit_code == 2
