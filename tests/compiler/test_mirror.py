"""Either order of a pair's sides compiles like its mirror image (issue 17).

Every mapping the project ships or tests is written the other way round (`mirror_text`) and
compiled again: the same diagnostics, and for a valid mapping the same plan once each mirrored
pair is turned back with the `mirror` the runtime turns pairs with (compiler/passes.py), the
same initial-sync estimate and the same verdicts from `explain`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from mirror_text import mirror_text

from syncmap.compiler.api import check, compile_plan
from syncmap.compiler.cost import estimate
from syncmap.compiler.explain import explain_plan
from syncmap.compiler.parser import parse
from syncmap.compiler.passes import mirror, orient
from syncmap.compiler.plan import dump_yaml, loads, validate_plan
from syncmap.compiler.sources import read_file
from syncmap.runtime.diff import digest_ops
from syncmap.runtime.values import apply_transforms

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "cases"
VALID = [
    *sorted((ROOT / "mappings").glob("*.syncmap")),
    *sorted((CASES / "valid").glob("*.syncmap")),
    *sorted((ROOT / "bench" / "mappings").glob("*.syncmap")),
    *sorted((ROOT / "tests" / "e2e" / "mappings").glob("*.syncmap")),
]
INVALID = [p for p in sorted((CASES / "invalid").glob("*.syncmap")) if parse(read_file(str(p)), str(p)).mapping is not None]


def read_mirrored(path: str) -> str:
    """The reader that hands the compiler every file, included ones too, mirrored (a file that
    does not parse has no mirror and is read as it is, to fail the same way)."""
    text = read_file(path)
    return mirror_text(text, path) if parse(text, path).mapping is not None else text


def _ids(case: Path) -> str:
    return os.path.relpath(case, ROOT)


def _codes(result: Any) -> Counter[tuple[str, str]]:
    return Counter((d.code, d.severity) for d in result.diagnostics)


def _without_spans(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_spans(v) for k, v in node.items() if k != "span"}
    if isinstance(node, list):
        return [_without_spans(v) for v in node]
    return node


def _unordered(items: list[Any]) -> list[Any]:
    return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))


def _comparable(plan: dict[str, Any], turn: bool) -> dict[str, Any]:
    """What must not depend on the order of the sides: pair ids become positions, spans and the
    source's digest go, and the lists a pair keeps side by side (two halves of a `<->` rule,
    each side's required fields and product filters) are compared as sets."""
    index = {p["id"]: i for i, p in enumerate(plan["pairs"])}
    pairs = []
    for p in plan["pairs"]:
        q = mirror(p) if turn else dict(p)
        q.pop("mirrored", None)
        q["id"] = index[p["id"]]
        for key in ("fields", "required", "implicit_filters"):
            q[key] = _unordered(_without_spans(q[key]))
        pairs.append(q)
    stages = [{**s, "pairs": [index[pid] for pid in s["pairs"]]} for s in plan["stages"]]
    out = {**plan, "pairs": pairs, "stages": stages, "warnings": [w["code"] for w in plan["warnings"]]}
    del out["source"]
    return _without_spans(out)


def _flow(words: str | None) -> str | None:
    """A call's direction (`explain` says it in the mapping's own order) in one order."""
    if words is None:
        return None
    a, arrow, b = words.split()
    return f"{b} → {a}" if arrow == "←" else " ↔ ".join(sorted((a, b))) if arrow == "↔" else words


def _calls(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**c.as_json(), "pair": None, "direction": _flow(c.direction)} for c in estimate(plan, 10_000).calls]


def _explained(plan: dict[str, Any]) -> tuple[Any, ...]:
    """What `explain` says that does not depend on the order of the sides: how each product
    rule is honoured and in how many places, and per pair its direction, what it may write and
    which required fields are mapped."""
    data = explain_plan(plan, estimate(plan, 100))
    rules = [(r["rule"], r["status"], len(r["where"])) for r in data["rules"]]
    pairs = [
        (p["direction"], p["permissions"], _unordered([(r["field"], r["satisfied"], len(r["by"])) for r in p["required"]])) for p in data["pairs"]
    ]
    return rules, pairs


def test_the_mirror_of_the_mirror_is_the_mapping() -> None:
    text = (ROOT / "mappings" / "five-objects.syncmap").read_text()
    once = mirror_text(text)
    assert "sync autopilot.Contact <-> pipedrive.Person {" in once
    assert "  match Email = email.primary" in once
    assert '  link autopilot.contact_id = pipedrive.custom("apId")' in once
    assert "  Company -> name with trim" in once
    assert "  match person\n" in once
    assert mirror_text(once) == mirror_text(mirror_text(text, "a"), "b") != once
    assert parse(mirror_text(once)).mapping == parse(text).mapping


@pytest.mark.parametrize("case", VALID, ids=_ids)
def test_a_mapping_written_the_other_way_round_compiles_to_the_mirror_of_its_plan(case: Path) -> None:
    plain = compile_plan(str(case))
    turned = compile_plan(str(case), read_mirrored)
    assert plain.plan is not None and turned.plan is not None, [d.message for d in turned.diagnostics if d.is_error]
    assert _codes(turned) == _codes(plain)
    validate_plan(turned.plan)  # a key with nothing on its left side (`match person` on the right) is a plan like any other
    assert loads(dump_yaml(turned.plan), "yaml") == turned.plan
    assert _comparable(turned.plan, turn=True) == _comparable(plain.plan, turn=False)
    assert _calls(turned.plan) == _calls(plain.plan)
    assert _explained(turned.plan) == _explained(plain.plan)


@pytest.mark.parametrize("case", INVALID, ids=_ids)
def test_a_broken_mapping_written_the_other_way_round_reports_the_same_problems(case: Path) -> None:
    assert _codes(check(str(case), read_mirrored)) == _codes(check(str(case)))


PERSONS = """syncmap 1

connect pipedrive {
  token = env("PIPEDRIVE_API_TOKEN")
}

connect autopilot {
  key = env("AUTOPILOT_API_KEY")
}

sync pipedrive.Person <-> autopilot.Contact {
  match email.primary = Email
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  first_name <-> FirstName default custom("Nickname", string)
  last_name  <-> LastName
}
"""


def test_each_half_of_a_two_way_rule_reads_its_default_on_its_own_source_side() -> None:
    # The runtime evaluates a default against the record the value comes from: the half that
    # writes Autopilot reads Pipedrive's "Nickname", the half that writes Pipedrive Autopilot's.
    result = compile_plan("m.syncmap", {"m.syncmap": PERSONS}.__getitem__)
    assert result.plan is not None, [d.message for d in result.diagnostics]
    ops = [op for op in result.plan["pairs"][0]["fields"] if op["target"]["path"] in (["first_name"], ["FirstName"])]
    read_from = {op["target"]["system"]: op["default"]["ref"]["system"] for op in ops}
    assert read_from == {"autopilot": "pipedrive", "pipedrive": "autopilot"}
    assert {op["default"]["ref"]["custom"]["name"] for op in ops} == {"Nickname"}


def test_a_shorthand_relation_key_stands_on_the_side_that_has_the_relation() -> None:
    deal = (
        PERSONS
        + """
sync autopilot.Contact <-> pipedrive.Deal {
  match person
  only linked -> pipedrive
  custom("Expected Close", date) <-> expected_close_date
}
"""
    )
    result = compile_plan("m.syncmap", {"m.syncmap": deal}.__getitem__)
    assert result.plan is not None, [d.message for d in result.diagnostics]
    pair = result.plan["pairs"][1]
    ((key,),) = [line["keys"] for line in pair["match"]]
    assert key["kind"] == "relation" and key["left"] is None
    assert (key["right"]["system"], key["right"]["path"]) == ("pipedrive", ["person"])
    # the contact is the deal's person's partner, owned by the Person pair: never created here
    assert pair["creates"] == {"left": False, "right": False}


def test_a_turned_pair_still_reads_each_half_of_a_two_way_value_map_its_own_way() -> None:
    # The runtime reads the right-to-left half of a two-way rule's map backwards (runtime/diff.py);
    # a pair written Autopilot first is turned when it runs, and must map values as written.
    text = (
        PERSONS
        + """
sync autopilot.Contact <-> pipedrive.Deal {
  match person
  only linked -> pipedrive
  custom("Expected Close", date) <-> expected_close_date
  custom("Deal Stage", string)   <-> status with map { "Customer" = "won", "Lost" = "lost" }
}
"""
    )
    result = compile_plan("m.syncmap", {"m.syncmap": text}.__getitem__)
    assert result.plan is not None, [d.message for d in result.diagnostics]
    deal = orient(result.plan)["pairs"][1]
    assert deal["mirrored"] and deal["left"]["system"] == "pipedrive"
    mapped = {
        (op.source["ref"]["system"], value): apply_transforms(value, op.transforms, backwards=op.backwards)
        for op in digest_ops(deal["fields"])
        if op.transforms
        for value in ("won", "Customer")
    }
    assert mapped[("pipedrive", "won")] == "Customer" and mapped[("autopilot", "Customer")] == "won"
