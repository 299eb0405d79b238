"""How pairs run (compiler/passes.py): orientation, what a pass reads of the held side, keyed
writes, list scopes and mirrors, cardinality; decided from the plan and the catalogs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from syncmap.compiler import passes
from syncmap.compiler.api import compile_plan

ROOT = Path(__file__).resolve().parents[2]
MIRRORED = ROOT / "tests" / "e2e" / "mappings" / "autopilot-mirrored.syncmap"


def plan_of(path: Path) -> dict[str, Any]:
    result = compile_plan(str(path))
    assert result.plan is not None, result.diagnostics
    return result.plan


def pair_of(path: Path, index: int = 0) -> dict[str, Any]:
    return plan_of(path)["pairs"][index]


def without_spans(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: without_spans(v) for k, v in node.items() if k != "span"}
    if isinstance(node, list):
        return [without_spans(v) for v in node]
    return node


def test_the_catalogs_say_which_objects_a_pass_can_walk_and_which_write_by_key() -> None:
    for obj in ("Person", "Organization", "Deal", "Activity"):
        assert passes.traits("pipedrive", obj) == passes.Traits(changes_since="updated_since", upsert_key=None)
    assert passes.traits("autopilot", "Contact") == passes.Traits(changes_since=None, upsert_key="Email")
    assert passes.traits("autopilot", "Activity") == passes.Traits()
    assert passes.traits("nosuchsystem", "Thing") == passes.Traits()  # no catalog: by id, not walked


@pytest.mark.parametrize("mapping", sorted((ROOT / "mappings").glob("*.syncmap")), ids=lambda p: p.stem)
def test_mirroring_twice_gives_the_pair_back_and_shipped_pairs_face_the_engine(mapping: Path) -> None:
    plan = plan_of(mapping)
    for pair in plan["pairs"]:
        assert passes.mirror(passes.mirror(pair)) == pair
        assert passes.faces_engine(pair)  # written Pipedrive first
        turned = passes.mirror(pair)
        assert turned["mirrored"] and (turned["left"], turned["right"]) == (pair["right"], pair["left"])
        assert not passes.faces_engine(turned)
    assert passes.orient(plan) == plan
    assert passes.orient(passes.orient(plan)) == passes.orient(plan)


def test_a_pair_written_autopilot_first_is_turned_into_the_written_pair() -> None:
    """The mirrored copy of the shipped mapping, oriented, is the shipped pair: same rules,
    same sides, same policies; only its id, spans and the mark differ, and the order of the two
    operations a `<->` rule lowers to (each writes its own side, so order does not matter)."""
    written = without_spans(pair_of(ROOT / "mappings" / "autopilot.syncmap"))
    [turned] = passes.orient(plan_of(MIRRORED))["pairs"]
    assert turned.pop("mirrored") is True
    turned = without_spans(turned)
    assert turned.pop("id") == "autopilot.Contact<->pipedrive.Person"
    written.pop("id")
    for pair in (turned, written):
        pair["fields"].sort(key=json.dumps)
    assert turned == written


def test_what_a_pass_reads_of_the_held_side() -> None:
    two_way = pair_of(ROOT / "mappings" / "autopilot.syncmap")
    assert passes.reads_held_side(two_way)  # values come back from Autopilot
    assert passes.roster_only(two_way)  # only the list's members can flow into Pipedrive (R2)
    assert passes.scope_lists(two_way) == passes.scope_lists(two_way, "autopilot") == ["Pipedrive Contacts"]
    assert passes.scope_lists(two_way, "pipedrive") == []
    assert passes.mirror_lists(two_way) == ["Pipedrive Contacts"]  # R7
    push = pair_of(ROOT / "bench" / "mappings" / "pipedrive-to-autopilot.syncmap")
    assert passes.keyed_writes(push, "right") == "Email" and passes.keyed_writes(push, "left") is None
    assert not passes.reads_held_side(push)  # the upsert by Email pairs
    assert not passes.roster_only(push) and passes.mirror_lists(push) == []
    pulled = passes.mirror(push)  # Autopilot walked: no catalog allows it, but the decisions are the pair's
    assert passes.keyed_writes(pulled, "left") == "Email" and passes.keyed_writes(pulled, "right") is None


def test_a_one_way_pull_from_the_list_does_not_mirror_it() -> None:
    pull = pair_of(ROOT / "bench" / "mappings" / "autopilot-to-pipedrive.syncmap")
    assert pull["direction"] == "right_to_left"
    assert passes.mirror_lists(pull) == []


def test_cardinality_comes_from_the_link_field_rule() -> None:
    five = plan_of(ROOT / "mappings" / "five-objects.syncmap")
    by_objects = {(p["left"]["object"], p["right"]["object"]): p for p in five["pairs"]}
    assert passes.one_to_one(by_objects[("Person", "Contact")])
    assert not passes.one_to_one(by_objects[("Organization", "Contact")])  # the contacts of a company
    assert not passes.one_to_one(by_objects[("Deal", "Contact")])
    unlinked = dict(by_objects[("Person", "Contact")], link=None)
    assert passes.one_to_one(unlinked)  # a person is a contact: R11's link field joins them
    assert passes.one_to_one(passes.mirror(unlinked))


@pytest.mark.parametrize("records", [0, 30, 100_000])
def test_explain_prices_a_mirrored_pair_as_the_written_one(records: int) -> None:
    """compiler/cost.py reads the pairs as the engine runs them, so the order a mapping wrote a
    pair's sides in changes nothing it predicts."""
    from syncmap.compiler.cost import estimate

    written = estimate(plan_of(ROOT / "mappings" / "autopilot.syncmap"), records)
    mirrored = estimate(plan_of(MIRRORED), records)
    assert mirrored.totals() == written.totals()
    assert mirrored.min_seconds == written.min_seconds
    assert [(c.system, c.kind, c.method, c.path, c.requests) for c in mirrored.calls] == [
        (c.system, c.kind, c.method, c.path, c.requests) for c in written.calls
    ]
