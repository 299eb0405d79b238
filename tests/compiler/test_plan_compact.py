"""The written plan (format 2): facts once, short spans, same plan in memory, small diffs."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pytest

from syncmap.compiler.api import compile_plan
from syncmap.compiler.plan import PlanError, dump_json, dump_yaml, loads
from syncmap.compiler.plan_compact import CompactError, SpanReader, SpanWriter, compact, expand

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "mappings").glob("*.syncmap"))
SOURCES = SHIPPED + sorted((ROOT / "tests" / "cases" / "valid").glob("*.syncmap"))
AUTOPILOT = ROOT / "mappings" / "autopilot.syncmap"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_expanding_the_written_plan_gives_the_lowered_plan_back(source: Path) -> None:
    plan = compile_plan(str(source)).plan
    written = json.loads(json.dumps(compact(plan)))  # what a file holds: no shared objects
    again = expand(written)
    assert again == plan
    assert json.dumps(again) == json.dumps(plan)  # keys in the same order too


def test_expanded_refs_are_fresh_objects() -> None:
    # The runtime may annotate what it reads; two operations must never share one dict.
    plan = expand(json.loads(dump_json(compile_plan(str(AUTOPILOT)).plan)))
    first, second = plan["pairs"][0]["fields"][:2]
    assert first["source"]["ref"] == second["target"]
    assert first["source"]["ref"] is not second["target"]
    assert first["source"]["ref"]["field"]["write_via"] is not second["target"]["field"]["write_via"]


def test_catalog_facts_are_stated_once() -> None:
    text = dump_yaml(compile_plan(str(AUTOPILOT)).plan)
    # first_name is read and written (two operations, two directions): its facts appear once.
    assert text.count("write_via: {field: name, how: compose, parts: [first_name, last_name]") == 2  # first_name, last_name
    assert text.count("pipedrive.Person.first_name") == 3  # its ref entry and the two operations
    assert "file:" not in text and "end_col" not in text


@pytest.mark.parametrize("dump", [dump_yaml, dump_json], ids=["yaml", "json"])
@pytest.mark.parametrize("source", SHIPPED, ids=lambda p: p.stem)
def test_a_shipped_mapping_takes_at_most_six_plan_lines_per_line(source: Path, dump) -> None:
    # Format 1 took 13 (autopilot) to 19 (five-objects) lines per mapping line in YAML, 18 to 25 in JSON.
    plan_lines = len(dump(compile_plan(str(source)).plan).splitlines())
    mapping_lines = len(source.read_text().splitlines())
    assert plan_lines <= 6 * mapping_lines, (plan_lines, mapping_lines)


def changed_plan_lines(tmp_path: Path, source: Path, edited: str, dump=dump_yaml) -> int:
    """How many plan lines change when `source` becomes `edited`: lines added or removed, a line
    replaced by another counting once (the larger of the two counts)."""
    plans = []
    for name, body in (("before", source.read_text()), ("after", edited)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / source.name).write_text(body)
        result = compile_plan(str(folder / source.name))
        assert result.plan is not None, [d.message for d in result.diagnostics]
        plans.append(dump(result.plan).splitlines())
    diff = [line for line in difflib.unified_diff(plans[0], plans[1], lineterm="", n=0) if not line.startswith(("+++", "---"))]
    return max(sum(1 for line in diff if line[:1] == "-"), sum(1 for line in diff if line[:1] == "+"))


@pytest.mark.parametrize(
    "old, new",
    [
        # rename one field
        ("  phone.primary     <-> Phone\n", "  phone.primary     <-> MobilePhone\n"),
        # add one field rule (on a line that was blank, so no other line moves)
        ("  conflict newest\n\n", "  conflict newest\n  job_title -> Title\n"),
        # remove one field rule (its line left blank)
        ("  owner.name         -> owner_name\n", "\n"),
        # delete one field rule, line and all (the lines below move up; its objects' stage goes)
        ("  owner.name         -> owner_name\n", ""),
        # change one value
        ("today + 30 days", "today + 14 days"),
    ],
    ids=["rename-field", "add-rule", "remove-rule", "delete-rule", "change-value"],
)
@pytest.mark.parametrize("dump", [dump_yaml, dump_json], ids=["yaml", "json"])
def test_a_one_line_change_changes_at_most_fifteen_plan_lines(tmp_path: Path, old: str, new: str, dump) -> None:
    text = AUTOPILOT.read_text()
    assert text.count(old) == 1, old
    changed = changed_plan_lines(tmp_path, AUTOPILOT, text.replace(old, new), dump)
    assert 0 < changed <= 15, changed


def _index_of(lines: list[str], start: str, after: int = 0) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(start)) + after


# Where a line goes in (its index among the mapping's lines) and what it says.
INSERTIONS = {
    "beginning": (lambda lines: 0, "# a note"),
    # a rule in the middle of the Person pair, which both shipped mappings have
    "middle-of-pair": (lambda lines: _index_of(lines, "  conflict newest", after=1), "  job_title -> Title"),
    "before-action": (lambda lines: _index_of(lines, "action "), "# a note"),
    "end": (len, "# a note"),
}


@pytest.mark.parametrize("dump", [dump_yaml, dump_json], ids=["yaml", "json"])
@pytest.mark.parametrize("where", INSERTIONS)
@pytest.mark.parametrize("source", SHIPPED, ids=lambda p: p.stem)
def test_an_inserted_line_changes_at_most_fifteen_plan_lines(tmp_path: Path, source: Path, where: str, dump) -> None:
    # With absolute line numbers, a line inserted at the beginning changed 43 to 92 plan lines.
    lines = source.read_text().splitlines(keepends=True)
    index, line = INSERTIONS[where]
    at = index(lines)
    edited = "".join(lines[:at] + [line + "\n"] + lines[at:])
    changed = changed_plan_lines(tmp_path, source, edited, dump)
    assert 0 < changed <= 15, changed


def _span(file: str, line: int, col: int, end_line: int, end_col: int) -> dict:
    return {"file": file, "line": line, "col": col, "end_line": end_line, "end_col": end_col}


def test_spans_count_lines_from_the_previous_span_of_their_file() -> None:
    spans = [
        _span("a.syncmap", 18, 1, 43, 2),
        _span("sub:dir/odd:name.syncmap", 7, 3, 7, 20),  # a colon in the file name is no problem
        _span("a.syncmap", 23, 9, 23, 30),
        _span("a.syncmap", 23, 3, 23, 30),
        _span("sub:dir/odd:name.syncmap", 2, 1, 5, 2),
        _span("a.syncmap", 20, 3, 20, 55),
    ]
    writer = SpanWriter()
    written = [writer.text(span) for span in spans]
    assert written == [
        "a.syncmap:18:1-+25:2",  # the first of its file: absolute; the end 25 lines below the start
        "sub:dir/odd:name.syncmap:7:3-20",  # the end on the start line: its column only
        "a.syncmap:+5:9-30",
        "a.syncmap:+0:3-30",
        "sub:dir/odd:name.syncmap:-5:1-+3:2",
        "a.syncmap:-3:3-55",
    ]
    reader = SpanReader()
    assert [reader.span(text) for text in written] == spans


def test_absolute_spans_read_as_they_are() -> None:
    reader = SpanReader()
    assert reader.span("a.syncmap:12:3-14:2") == _span("a.syncmap", 12, 3, 14, 2)
    assert reader.span("a.syncmap:+1:3-14:2") == _span("a.syncmap", 13, 3, 14, 2)  # an unsigned end line is absolute too


@pytest.mark.parametrize(
    "text, message",
    [
        ("autopilot.syncmap:12", "is not a span"),
        ("autopilot.syncmap:12:3-+-1:2", "is not a span"),
        ("autopilot.syncmap:+2:3-20", "counts from an earlier span of autopilot.syncmap, but it is the first"),
    ],
)
def test_a_span_that_cannot_be_read_is_refused(text: str, message: str) -> None:
    with pytest.raises(CompactError, match=message):
        SpanReader().span(text)


def test_a_plan_whose_first_span_is_relative_is_refused() -> None:
    written = json.loads(dump_json(compile_plan(str(AUTOPILOT)).plan))
    written["connections"][0]["span"] = "autopilot.syncmap:+11:1-+3:2"
    with pytest.raises(PlanError, match="contradicts itself") as err:
        loads(json.dumps(written), "json")
    assert "counts from an earlier span of autopilot.syncmap, but it is the first" in str(err.value)


def test_a_plan_naming_a_ref_it_does_not_define_is_refused() -> None:
    written = json.loads(dump_json(compile_plan(str(AUTOPILOT)).plan))
    written["pairs"][0]["fields"][0]["target"] = "autopilot.Contact.Nickname"
    with pytest.raises(PlanError, match="contradicts itself") as err:
        loads(json.dumps(written), "json")
    assert "names the ref 'autopilot.Contact.Nickname', which the plan's refs table does not have" in str(err.value)


def test_a_ref_whose_catalog_entry_is_missing_is_refused() -> None:
    written = json.loads(dump_json(compile_plan(str(AUTOPILOT)).plan))
    del written["catalog"]["autopilot.Contact"]["FirstName"]
    with pytest.raises(PlanError, match=re.escape("uses autopilot.Contact.FirstName, which the plan's catalog does not have")):
        loads(json.dumps(written), "json")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda w: w["refs"].__setitem__("pipedrive.Person.owner.name", {"via": ["email"], "field": "name", "type": "string"}),
        lambda w: w["refs"].__setitem__("pipedrive.Person.first_name", {"field": "owner", "type": "string"}),
    ],
    ids=["field-as-relation", "relation-as-field"],
)
def test_a_ref_that_uses_a_catalog_entry_as_the_wrong_kind_is_refused(tamper) -> None:
    written = json.loads(dump_json(compile_plan(str(AUTOPILOT)).plan))
    tamper(written)
    with pytest.raises(PlanError, match="but the plan's catalog says it is not one"):
        loads(json.dumps(written), "json")


def test_left_out_defaults_come_back() -> None:
    plan = compile_plan(str(AUTOPILOT)).plan
    written = compact(plan)
    op = written["pairs"][0]["fields"][0]
    assert list(op) == ["direction", "source", "target", "span"]
    full = expand(json.loads(json.dumps(written)))["pairs"][0]["fields"][0]
    assert (full["transforms"], full["default"], full["conflict"], full["on"]) == ([], None, None, "always")
    assert "on" not in written["actions"][0]["steps"][0]["set"][0]


def test_a_path_with_a_dot_in_a_segment_keeps_its_path() -> None:
    plan = compile_plan(str(AUTOPILOT)).plan
    ref = plan["pairs"][0]["link"]["left"]
    dotted = dict(ref, path=['custom("a.b")'], custom=dict(ref["custom"], name="a.b"))
    plan["pairs"][0]["link"]["left"] = dotted
    written = json.loads(json.dumps(compact(plan)))
    assert written["refs"]['pipedrive.Person.custom("a.b")']["path"] == ['custom("a.b")']
    assert expand(written)["pairs"][0]["link"]["left"] == dotted
