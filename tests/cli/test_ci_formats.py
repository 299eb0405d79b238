"""`check --format github` read back the way GitHub's runner reads workflow commands, and
`check --format gitlab` as GitLab's code quality report.

The positions below are counted by hand from MAPPING, not taken from the renderer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncmap.runtime.cli import cli

MAPPING = """\
syncmap 1

sync pipedrive.Person <-> autopilot.Contact {
  first_name <-> FirstNme
  last_name  <-> LastName with titlecase
  email.primary <-> Email
}
"""
# A comma and a colon in the name: both must be escaped inside a property value.
NAME = "team, a:b.syncmap"

# `::command key=value,key=value::data`, as the runner's parser splits it.
COMMAND = re.compile(r"^::(?P<command>[a-z-]+)(?: (?P<props>[^:]*))?::(?P<data>.*)$")


def _unescape(text: str, *, property_value: bool) -> str:
    pairs = [("%0D", "\r"), ("%0A", "\n")] + ([("%3A", ":"), ("%2C", ",")] if property_value else [])
    for escaped, raw in pairs:
        text = text.replace(escaped, raw)
    return text.replace("%25", "%")


def parse_workflow_command(line: str) -> tuple[str, dict[str, str], str]:
    match = COMMAND.match(line)
    assert match, f"not a workflow command: {line!r}"
    props: dict[str, str] = {}
    for item in (match["props"] or "").split(","):
        key, sep, value = item.partition("=")
        assert sep and key, f"property without a value in {line!r}"
        props[key] = _unescape(value, property_value=True)
    return match["command"], props, _unescape(match["data"], property_value=False)


def runner_accepts(props: dict[str, str]) -> bool:
    """The rules GitHub's runner checks before keeping an annotation's position as given:
    columns only on one line, and no range that runs backwards."""
    line, end_line = int(props["line"]), int(props["endLine"])
    if end_line < line:
        return False
    if "col" in props or "endColumn" in props:
        return line == end_line and int(props["col"]) <= int(props["endColumn"])
    return True


@pytest.fixture
def mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    Path(NAME).write_text(MAPPING, encoding="utf-8")
    return NAME


def test_annotations_carry_file_line_and_inclusive_columns(mapping: str) -> None:
    result = CliRunner().invoke(cli, ["check", "--format", "github", mapping])
    assert result.exit_code == 1
    commands = [parse_workflow_command(line) for line in result.stdout.splitlines()]
    by_code = {props["title"]: (command, props, message) for command, props, message in commands}

    command, props, message = by_code["SM203"]
    assert command == "error"
    # `FirstNme` is line 4, columns 18 to 25 (GitHub's end column is the last character).
    assert props == {"file": NAME, "line": "4", "col": "18", "endLine": "4", "endColumn": "25", "title": "SM203"}
    assert message == "[SM203] Autopilot Contact has no field `FirstNme`\nhelp: did you mean `FirstName`?"

    _, props, _ = by_code["SM112"]
    # `titlecase` is line 5, columns 32 to 40.
    assert (props["line"], props["col"], props["endLine"], props["endColumn"]) == ("5", "32", "5", "40")

    # The missing `match` is reported on the whole block, lines 3 to 7: no columns there,
    # since the runner would drop them.
    _, props, _ = by_code["SM312"]
    assert (props["line"], props["endLine"]) == ("3", "7") and "col" not in props and "endColumn" not in props

    assert all(runner_accepts(props) for _, props, _ in commands)


def test_a_one_character_span_ends_where_it_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("m.syncmap").write_text("sync pipedrive.Person <-> autopilot.Contact {\n  first_name @ FirstName\n}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", "--format", "github", "m.syncmap"])
    (_, props, _), *_ = [parse_workflow_command(line) for line in result.stdout.splitlines()]
    assert (props["title"], props["col"], props["endColumn"]) == ("SM001", "14", "14")


def test_gitlab_report_has_the_code_quality_fields(mapping: str) -> None:
    result = CliRunner().invoke(cli, ["check", "--format", "gitlab", mapping])
    assert result.exit_code == 1
    issues = json.loads(result.stdout)
    (typo,) = [i for i in issues if i["check_name"] == "SM203"]
    assert typo["severity"] == "major"
    assert typo["location"] == {"path": NAME, "lines": {"begin": 4, "end": 4}}
    assert typo["description"] == "[SM203] Autopilot Contact has no field `FirstNme` (help: did you mean `FirstName`?)"
    assert all(set(i) == {"description", "check_name", "fingerprint", "severity", "location"} for i in issues)
    # GitLab shows one issue per fingerprint: two identical messages still get two.
    assert len({i["fingerprint"] for i in issues}) == len(issues)


def test_gitlab_fingerprints_survive_lines_added_above(mapping: str) -> None:
    before = json.loads(CliRunner().invoke(cli, ["check", "--format", "gitlab", mapping]).stdout)
    Path(NAME).write_text("# a comment\n\n" + MAPPING, encoding="utf-8")
    after = json.loads(CliRunner().invoke(cli, ["check", "--format", "gitlab", mapping]).stdout)
    assert [i["location"]["lines"]["begin"] + 2 for i in before] == [i["location"]["lines"]["begin"] for i in after]
    assert [i["fingerprint"] for i in before] == [i["fingerprint"] for i in after]


def test_gitlab_warnings_are_minor_and_a_clean_file_is_an_empty_report(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    warn = root / "tests" / "cases" / "invalid" / "SM117-empty-block.syncmap"
    issues = json.loads(CliRunner().invoke(cli, ["check", "--format", "gitlab", str(warn)]).stdout)
    assert issues and {i["severity"] for i in issues} == {"minor"}
    clean = CliRunner().invoke(cli, ["check", "--format", "gitlab", str(root / "mappings" / "autopilot.syncmap")])
    assert (clean.exit_code, json.loads(clean.stdout)) == (0, [])
