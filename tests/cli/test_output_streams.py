"""Stdout is data, stderr is for people (issue 10): `compile` and `explain` keep diagnostics off
stdout in every format, `check` keeps them there (they are its data), and `compile --check`
without `-o` is refused before anything is compiled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncmap.runtime.cli import cli

ROOT = Path(__file__).resolve().parents[2]
INVALID = ROOT / "tests" / "cases" / "invalid"
WARNS = str(INVALID / "SM119-only-comments.syncmap")  # compiles to a plan, with one warning
ERRS = str(INVALID / "SM307-create-organization.syncmap")


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize(("output_format", "rendered"), [("human", "warning[SM119]"), ("json", '"code": "SM119"'), ("github", "::warning file=")])
def test_compile_to_stdout_prints_only_the_plan_there_in_every_format(tmp_path: Path, output_format: str, rendered: str) -> None:
    written = tmp_path / "plan.json"
    assert run("compile", WARNS, "-o", str(written)).exit_code == 0
    result = run("compile", WARNS, "--format", output_format)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == written.read_text()  # the plan and nothing else: `> plan.json` is valid JSON
    assert rendered in result.stderr


@pytest.mark.parametrize("output_format", ["json", "github"])
def test_compile_errors_go_to_stderr_and_stdout_stays_empty(output_format: str) -> None:
    result = run("compile", ERRS, "--format", output_format)
    assert result.exit_code == 1
    assert result.stdout == "" and "SM307" in result.stderr


def test_compile_json_diagnostics_on_stderr_are_still_one_json_list(tmp_path: Path) -> None:
    result = run("compile", WARNS, "--format", "json", "-o", str(tmp_path / "plan.json"))
    assert result.exit_code == 0 and result.stdout == ""
    records_text = result.stderr.split("\nwrote ")[0]
    assert [r["code"] for r in json.loads(records_text)] == ["SM119"]


def test_check_keeps_its_json_and_github_records_on_stdout() -> None:
    # check's diagnostics are its data (docs/cli.md): CI pipes them from stdout
    as_json = run("check", WARNS, "--format", "json")
    assert [r["code"] for r in json.loads(as_json.stdout)] == ["SM119"]
    assert run("check", WARNS, "--format", "github").stdout.startswith("::warning ")


def test_compile_check_without_output_is_a_usage_error_before_compiling(monkeypatch) -> None:
    import syncmap.runtime.cli.compile_cmd as compile_cmd

    def no_compiling(path: str):
        raise AssertionError("compiled before checking the command line")

    monkeypatch.setattr(compile_cmd, "compile_plan", no_compiling)
    result = run("compile", ERRS, "--check")
    assert result.exit_code == 2 and "--check needs -o FILE" in result.stderr
    assert "SM307" not in result.stdout + result.stderr


def test_compile_check_without_output_on_a_broken_mapping_is_still_a_usage_error() -> None:
    result = run("compile", ERRS, "--check")
    assert result.exit_code == 2 and "SM307" not in result.stderr
