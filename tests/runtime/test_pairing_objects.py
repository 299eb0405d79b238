"""Pairing of the pairs that are not person with contact (mappings/five-objects.syncmap):
organizations with the contacts naming them (many-to-one), deals and activities with the
contact of their person (`match person`), Autopilot activities by person and time. Records in,
candidates and dead letters out, with the real SQLite state store; no API is called."""

from __future__ import annotations

from pathlib import Path

import pytest
from offline import compiled, offline_engine, shipped_plan

from syncmap.runtime.connectors.base import Record
from syncmap.runtime.engine import Engine, PairRun
from syncmap.runtime.state import Link

PERSONS = "pipedrive.Person<->autopilot.Contact"
ORGS = "pipedrive.Organization<-autopilot.Contact"
DEALS = "pipedrive.Deal<->autopilot.Contact"
ACTIVITIES_IN = "pipedrive.Activity<-autopilot.Activity"


@pytest.fixture(scope="module")
def plan() -> dict:
    return shipped_plan("five-objects")


@pytest.fixture
def engine(plan: dict, tmp_path: Path) -> Engine:
    return offline_engine(plan, tmp_path / "state.db")


def pair_run(engine: Engine, pair_id: str) -> PairRun:
    return PairRun(engine, next(p for p in engine.plan["pairs"] if p["id"] == pair_id), engine.run_id)


def contact(cid: str, company: str | None, created: str = "2024-01-01T00:00:00Z") -> Record:
    return Record(cid, {"Company": company}, raw={"created_at": created})


def pairs(candidates) -> list[tuple]:
    # by repr: a candidate without a left record sorts among those with one
    return sorted(((c.left.id if c.left else None, c.right.id if c.right else None) for c in candidates), key=repr)


def letters(engine: Engine) -> list[tuple]:
    return sorted((d.side, d.record_id, d.reason) for d in engine.state.dead_letters())


def test_an_organization_pairs_with_every_contact_naming_it(engine: Engine) -> None:
    run = pair_run(engine, ORGS)
    right = {c.id: c for c in [contact("c1", "Acme"), contact("c2", "Acme"), contact("c3", "Other"), contact("c4", "Globex")]}
    run.begin_pairing(right)
    candidates = run.pair_chunk({"1": Record("1", {"name": "Acme"}), "2": Record("2", {"name": "Globex"})}, right)
    assert pairs(candidates) == [("1", "c1"), ("1", "c2"), ("2", "c4")]
    # c3's company is new: it may create the organization; nothing is reported
    assert pairs(run.pair_tail(right)) == [(None, "c3")]
    assert letters(engine) == []
    # a second Acme read later is Acme's duplicate, not a second home for its contacts
    run.begin_pairing(right)
    run.pair_chunk({"1": Record("1", {"name": "Acme"})}, right)
    assert pairs(run.pair_chunk({"3": Record("3", {"name": "Acme"})}, right)) == []
    assert letters(engine) == [("left", "3", "duplicate_match_key")]


def test_contacts_of_a_new_company_create_it_once_and_the_others_wait(engine: Engine) -> None:
    run = pair_run(engine, ORGS)
    right = {c.id: c for c in [contact("late", "Newco", "2024-06-01T00:00:00Z"), contact("early", "Newco", "2023-01-01T00:00:00Z")]}
    run.begin_pairing(right)
    assert run.pair_chunk({}, right) == []
    # the oldest creates the organization; the other pairs with it next pass, and is no duplicate
    assert pairs(run.pair_tail(right)) == [(None, "early")]
    assert letters(engine) == []


def test_a_new_contact_of_a_linked_organization_pairs_with_it_unread(engine: Engine) -> None:
    """The organization did not change since the last pass (not read): a new contact naming it
    pairs with it, whole, as it was last synced, instead of creating a second one."""
    engine.state.put_link(Link(ORGS, "7", "c1", {"name": "Acme", "address": "Main St"}, {"Company": "Acme"}, 0.0))
    run = pair_run(engine, ORGS)
    right = {c.id: c for c in [contact("c1", "Acme"), contact("c2", "Acme"), contact("c3", "Newco", "2025-01-01T00:00:00Z")]}
    run.begin_pairing(right)
    assert run.pair_chunk({}, right) == []
    tail = run.pair_tail(right)
    assert pairs(tail) == [("7", "c1"), ("7", "c2"), (None, "c3")]
    new = next(c for c in tail if c.right.id == "c2")
    assert new.link is None and new.left.values == {"name": "Acme", "address": "Main St"}
    assert next(c for c in tail if c.right.id == "c1").link is not None


def test_an_organization_that_names_no_contact_stays_unpaired_and_a_later_duplicate_is_reported(engine: Engine) -> None:
    run = pair_run(engine, ORGS)
    right = {"c1": contact("c1", "Acme")}
    run.begin_pairing(right)
    first = run.pair_chunk({"1": Record("1", {"name": "Solo"}), "2": Record("2", {"name": None})}, right)
    second = run.pair_chunk({"3": Record("3", {"name": "Solo"})}, right)
    assert pairs(first) == [("1", None), ("2", None)]
    assert pairs(second) == []
    assert letters(engine) == [("left", "3", "duplicate_match_key")]


def test_a_deal_pairs_with_the_contact_of_its_person(engine: Engine) -> None:
    engine.state.put_link(Link(PERSONS, "5", "c5", {}, {}, 0.0))
    run = pair_run(engine, DEALS)
    right = {"c5": Record("c5", {}), "c6": Record("c6", {})}
    run.begin_pairing(right)
    deals = {
        "10": Record("10", {"person": 5}),
        "11": Record("11", {"person": 5}),  # a second deal of the same person pairs too (no duplicate)
        "12": Record("12", {"person": 6}),  # its person was never synced: no contact to pair with
        "9": Record("9", {"person": None}),  # paired first (9 < 10): the deals after it still pair
    }
    assert pairs(run.pair_chunk(deals, right)) == [("10", "c5"), ("11", "c5"), ("12", None), ("9", None)]
    assert letters(engine) == []
    # contacts without a deal never create deals (only linked -> pipedrive decides later; here
    # pairing offers them once each)
    assert pairs(run.pair_tail(right)) == [(None, "c6")]


def test_an_autopilot_activity_pairs_by_its_person_and_the_moment_it_happened(engine: Engine) -> None:
    engine.state.put_link(Link(PERSONS, "5", "c5", {}, {}, 0.0))
    run = pair_run(engine, ACTIVITIES_IN)
    at = 1709287200  # 2024-03-01 10:00:00 UTC
    right = {
        "a1": Record("a1", {"contact": "c5", "occurred_at": at * 1000}),  # Autopilot: epoch milliseconds
        "a2": Record("a2", {"contact": "c5", "occurred_at": (at + 60) * 1000}),
        "a3": Record("a3", {"contact": "c9", "occurred_at": at * 1000}),
    }
    run.begin_pairing(right)
    activities = {
        "20": Record("20", {"person": 5, "marked_as_done_time": "2024-03-01 10:00:00"}),
        "21": Record("21", {"person": 5, "marked_as_done_time": "2024-03-01 09:00:00"}),
        "22": Record("22", {"person": 5, "marked_as_done_time": None}),
    }
    assert pairs(run.pair_chunk(activities, right)) == [("20", "a1"), ("21", None), ("22", None)]
    # the unpaired Autopilot activities each create one: a key with a relation is no duplicate
    assert pairs(run.pair_tail(right)) == [(None, "a2"), (None, "a3")]
    assert letters(engine) == []


def test_two_autopilot_activities_of_one_contact_at_one_moment_each_create_one(engine: Engine) -> None:
    """A key with a relation in it is no duplicate check on the right: two engagements at the
    same second are two activities."""
    engine.state.put_link(Link(PERSONS, "5", "c5", {}, {}, 0.0))
    run = pair_run(engine, ACTIVITIES_IN)
    right = {a: Record(a, {"contact": "c5", "occurred_at": 1709287200000}) for a in ("a1", "a2")}
    run.begin_pairing(right)
    assert run.pair_chunk({}, right) == []
    assert pairs(run.pair_tail(right)) == [(None, "a1"), (None, "a2")]
    assert letters(engine) == []


# Unlike the shipped mappings: persons kept by their match alone, organizations by a link
# field (whether a record has one partner follows the objects or the link, either one), and
# the organizations' sync listed first, before the persons' that deals pair through.
OTHER = """syncmap 1
connect pipedrive {
  token = env("PIPEDRIVE_API_TOKEN")
}
connect autopilot {
  key = env("AUTOPILOT_API_KEY")
}
sync pipedrive.Organization <- autopilot.Contact {
  match name = Company
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  name <- Company
}
sync pipedrive.Person <-> autopilot.Contact {
  match email.primary = Email
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  first_name <-> FirstName
  last_name <-> LastName
  email.primary <-> Email
}
sync pipedrive.Deal <-> autopilot.Contact {
  match person
  only linked -> pipedrive
  title -> custom("Open Deal", string)
  expected_close_date -> custom("Expected Close", date)
}
"""


@pytest.fixture
def other(tmp_path: Path) -> Engine:
    mapping = tmp_path / "other.syncmap"
    mapping.write_text(OTHER)
    return offline_engine(compiled(mapping), tmp_path / "other.db")


def test_persons_pair_one_to_one_without_a_link(other: Engine) -> None:
    run = pair_run(other, PERSONS)
    assert run.pair.get("link") is None
    right = {c: Record(c, {"Email": "sam@x.com"}, raw={"created_at": created}) for c, created in (("new", "2024-06-01"), ("old", "2023-01-01"))}
    run.begin_pairing(right)
    assert run.pair_chunk({}, right) == []
    assert pairs(run.pair_tail(right)) == [(None, "old")]
    assert letters(other) == [("right", "new", "duplicate_match_key")]


def test_a_deal_pairs_through_its_persons_sync_not_another_sync_of_the_same_contacts(other: Engine) -> None:
    """Pipedrive numbers organizations and persons separately: organization 5 is linked to
    another contact than person 5, and the organizations' sync comes first in the plan."""
    assert [p["id"] for p in other.plan["pairs"]][:2] == [ORGS, PERSONS]
    other.state.put_link(Link(ORGS, "5", "c7", {}, {}, 0.0))
    other.state.put_link(Link(PERSONS, "5", "c5", {}, {}, 0.0))
    run = pair_run(other, DEALS)
    right = {"c5": Record("c5", {}), "c7": Record("c7", {})}
    run.begin_pairing(right)
    assert pairs(run.pair_chunk({"10": Record("10", {"person": 5})}, right)) == [("10", "c5")]


def test_an_incremental_pass_knows_the_keys_linked_persons_hold(tmp_path: Path) -> None:
    """A one-way push into contacts by email reads no contact, and an incremental pass reads
    only the persons that changed: a new person with the email of a linked person that did not
    change is that person's duplicate (R9), not a second writer of its contact."""
    plan = compiled(Path(__file__).resolve().parents[2] / "bench" / "mappings" / "pipedrive-to-autopilot.syncmap")
    engine = offline_engine(plan, tmp_path / "state.db")
    [pair] = engine.plan["pairs"]
    run = PairRun(engine, pair, engine.run_id)
    assert not run.needs_right_read() and run.one_to_one()
    engine.state.put_link(Link(pair["id"], "1", "c1", {"email.primary": "ada@x.com"}, {"Email": "ada@x.com"}, 0.0))
    run.begin_pairing({})
    run.own_linked()
    chunk = {"2": Record("2", {"email.primary": "ADA@x.com "}), "3": Record("3", {"email.primary": "bo@x.com"})}
    assert pairs(run.pair_chunk(chunk, {})) == [("3", None)]  # only bo creates a contact
    assert letters(engine) == [("left", "2", "duplicate_match_key")]
