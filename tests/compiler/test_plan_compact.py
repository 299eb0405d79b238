"""The written plan (format 2): facts once, short spans, same plan in memory, small diffs."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pytest

from syncmap.compiler.api import compile_plan
from syncmap.compiler.plan import PlanError, dump_json, dump_yaml, loads
from syncmap.compiler.plan_compact import CompactError, compact, expand, span_dict, span_text

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


def changed_plan_lines(tmp_path: Path, old: str, new: str) -> int:
    """How many plan lines change when `old` becomes `new` in autopilot.syncmap: lines added or
    removed, a line replaced by another counting once (the larger of the two counts)."""
    text = AUTOPILOT.read_text()
    assert text.count(old) == 1, old
    plans = []
    for name, body in (("before", text), ("after", text.replace(old, new))):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "autopilot.syncmap").write_text(body)
        result = compile_plan(str(folder / "autopilot.syncmap"))
        assert result.plan is not None, [d.message for d in result.diagnostics]
        plans.append(dump_yaml(result.plan).splitlines())
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
        # change one value
        ("today + 30 days", "today + 14 days"),
    ],
    ids=["rename-field", "add-rule", "remove-rule", "change-value"],
)
def test_a_one_line_change_changes_at_most_fifteen_plan_lines(tmp_path: Path, old: str, new: str) -> None:
    changed = changed_plan_lines(tmp_path, old, new)
    assert 0 < changed <= 15, changed


def test_spans_are_one_string_and_read_back() -> None:
    span = {"file": "sub:dir/odd:name.syncmap", "line": 12, "col": 3, "end_line": 14, "end_col": 2}
    assert span_text(span) == "sub:dir/odd:name.syncmap:12:3-14:2"
    assert span_dict(span_text(span)) == span  # a colon in the file name is no problem
    with pytest.raises(CompactError, match="is not a span"):
        span_dict("autopilot.syncmap:12")


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
