"""Which pairs' rules changed since they last ran, and which rules are new to them
(runtime/plan_change.py): pure functions over compiled plans, each case a mapping edit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from offline import offline_engine

from syncmap.compiler.api import compile_plan
from syncmap.runtime.connectors.base import Record
from syncmap.runtime.engine import PairRun
from syncmap.runtime.plan_change import (
    backfill_cost,
    changed_pairs,
    describe,
    kept,
    pair_digest,
    plan_change,
    record_of,
)
from syncmap.runtime.state import Link

HEAD = """syncmap 1

connect pipedrive {
  token = env("PIPEDRIVE_API_TOKEN")
}

connect autopilot {
  key = env("AUTOPILOT_API_KEY")
}

sync pipedrive.Person -> autopilot.Contact {
  match email.primary = Email
"""
BASE = """  first_name -> FirstName
  email.primary -> Email
  custom("Referral source") -> LeadSource with map { "Webinar" = "Web" }
"""


def plan_of(rules: str, head: str = HEAD) -> dict[str, Any]:
    result = compile_plan("m.syncmap", reader=lambda _: head + rules + "}\n")
    assert result.plan is not None, [d.message for d in result.diagnostics]
    return result.plan


def pair_of(rules: str, head: str = HEAD) -> dict[str, Any]:
    pair: dict[str, Any] = plan_of(rules, head)["pairs"][0]
    return pair


def ran_with(rules: str) -> dict[str, Any]:
    return record_of(pair_of(rules), run_id=1, at=0.0)


def test_the_same_rules_moved_or_commented_are_the_same_plan() -> None:
    moved = "\n\n  # the names first\n" + BASE
    assert pair_digest(pair_of(moved)) == pair_digest(pair_of(BASE))
    assert not plan_change(pair_of(moved), ran_with(BASE)).changed


@pytest.mark.parametrize(
    ("edit", "new_targets"),
    [
        ("field added", ["Company"]),
        ("field re-pointed", ["LastName"]),
        ("value map changed", ["LeadSource"]),
        ("filter added", []),
        ("policy changed", []),
        ("field removed", []),
    ],
)
def test_each_kind_of_edit_changes_the_plan_and_names_only_the_new_rules(edit: str, new_targets: list[str]) -> None:
    rules = {
        "field added": BASE + "  organization.name -> Company\n",
        "field re-pointed": BASE.replace("first_name -> FirstName", "first_name -> LastName"),
        "value map changed": BASE.replace('"Webinar" = "Web"', '"Webinar" = "Online"'),
        "filter added": "  where phone.primary != null\n" + BASE,
        "policy changed": "  empty write\n" + BASE,
        "field removed": BASE.replace("  first_name -> FirstName\n", ""),
    }[edit]
    pair = pair_of(rules)
    change = plan_change(pair, ran_with(BASE))
    assert change.changed
    assert sorted(pair["fields"][i]["target"]["path"][-1] for i in change.forced(pair["fields"])) == new_targets
    assert change.scope_changed == (edit == "filter added")


def test_a_scope_is_part_of_the_pair_and_says_records_may_leave() -> None:
    change = plan_change(pair_of('  only custom("Referral source") != null -> autopilot\n' + BASE), ran_with(BASE))
    assert change.changed and change.scope_changed and not change.new_rules


def test_a_field_conflict_policy_alone_forces_no_rule_but_changes_the_plan() -> None:
    two_way = HEAD.replace("autopilot.Contact {", 'autopilot.Contact {\n  only autopilot.list("Pipedrive Contacts") -> pipedrive').replace(
        "->", "<->", 1
    )
    names = "  last_name <-> LastName\n  email.primary <-> Email\n"
    before = record_of(pair_of("  first_name <-> FirstName\n" + names, two_way), run_id=1, at=0.0)
    pair = pair_of("  first_name <-> FirstName conflict pipedrive wins\n" + names, two_way)
    change = plan_change(pair, before)
    assert change.changed and change.forced(pair["fields"]) == frozenset()


def test_a_pair_that_never_finished_a_pass_with_a_digest_is_not_a_change() -> None:
    # A first run reads everything anyway; a state file from before digests adopts its plan.
    for stored in (None, {}, {"digest": 5}):
        change = plan_change(pair_of(BASE), stored)
        assert not change.changed and change.before is None and change.forced(pair_of(BASE)["fields"]) == frozenset()


def test_changed_pairs_lists_only_the_pairs_whose_rules_changed() -> None:
    plan = plan_of(BASE)
    pid = plan["pairs"][0]["id"]
    assert changed_pairs(plan, {pid: ran_with(BASE)}) == []
    assert changed_pairs(plan, {}) == []
    assert [c.pair for c in changed_pairs(plan, {pid: ran_with(BASE + "  phone.primary -> Phone\n")})] == [pid]


def test_a_snapshot_keeps_only_the_fields_the_plan_still_has_and_its_marks() -> None:
    snapshot = {"FirstName": "Ada", "Phone": "+1 555", "__deleted__": True, "__before__": {"FirstName": "A"}}
    assert kept(snapshot, ["FirstName", "Email"]) == {"FirstName": "Ada", "__deleted__": True, "__before__": {"FirstName": "A"}}


def test_the_backfill_note_carries_explains_cost_of_one_full_pass_of_the_pair() -> None:
    plan = plan_of(BASE)
    pid = plan["pairs"][0]["id"]
    cost = backfill_cost(plan, pid, 1000)
    # Pipedrive: every person read (pages of 500, as explain counts them); Autopilot: upserts of 100 if all differ.
    assert cost["pipedrive"]["read_requests"] == 2 and cost["autopilot"]["write_requests"] == 10
    assert cost["autopilot"]["read_requests"] == 0  # the upsert by email pairs: nothing read first
    change = plan_change(plan["pairs"][0], ran_with(BASE + "  phone.primary -> Phone\n"))
    text = describe(change, cost, 1000)
    assert text.startswith(f"pair {pid}'s rules changed since the last run: every record is read and brought to the new plan")
    assert "explain estimates a full pass of 1,000 records: pipedrive 2 read requests" in text
    assert "autopilot 0 read requests + at most 10 write requests" in text
    assert backfill_cost(plan, "no such pair", 1000) == {}


def test_only_records_read_in_the_pass_can_leave_a_changed_scope(tmp_path: Path) -> None:
    """A pair is undone only on what this pass read: a partner known only by the values last
    synced lacks the field a new `where` reads, and is not judged by it."""
    two_way = HEAD.replace("autopilot.Contact {", 'autopilot.Contact {\n  only autopilot.list("Pipedrive Contacts") -> pipedrive').replace(
        "->", "<->", 1
    )
    plan = plan_of("  where LeadSource != null\n  first_name <-> FirstName\n  last_name <-> LastName\n  email.primary <-> Email\n", two_way)
    pair = plan["pairs"][0]
    engine = offline_engine(plan, tmp_path / "state.db")
    run = PairRun(engine, pair, engine.run_id)
    links = [Link(pair["id"], str(n), f"c{n}", {"email.primary": f"p{n}@x.com"}, {"Email": f"p{n}@x.com"}, 0.0) for n in (1, 2)]
    engine.state.put_links(links)
    read = {"c1": Record("c1", {"Email": "p1@x.com", "LeadSource": None})}  # c2 was not read: only remembered
    run.begin_pairing(read)
    persons = {str(n): Record(str(n), {"email.primary": f"p{n}@x.com"}) for n in (1, 2)}
    candidates = run.pair_chunk(persons, read)
    assert [(c.left.id, c.right.id, c.right.id in read) for c in candidates if c.left and c.right] == [("1", "c1", True), ("2", "c2", False)]
    assert [(side, link.left_id) for side, link in run.left_scope(candidates, {})] == [("right", "1")]
