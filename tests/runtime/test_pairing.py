"""Pairing (PairRun.begin_pairing / pair_chunk / pair_tail) as a unit: records in, candidates
and dead letters out. No API is involved in pairing, so none is called; the state store is the
real SQLite one, in a temporary file."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncmap.compiler.api import compile_plan
from syncmap.runtime.connectors.base import Record
from syncmap.runtime.engine import Engine, PairRun
from syncmap.runtime.state import Link, open_state

ROOT = Path(__file__).resolve().parents[2]
PAIR = "pipedrive.Person<->autopilot.Contact"


@pytest.fixture(scope="module")
def plan() -> dict:
    result = compile_plan(str(ROOT / "mappings" / "autopilot.syncmap"))
    assert result.plan is not None
    return result.plan


@pytest.fixture
def run(plan: dict, tmp_path: Path) -> PairRun:
    state = open_state(tmp_path / "state.db")
    engine = Engine(plan, {}, state)
    engine.run_id = state.start_run(mode="test", plan_digest="d")
    pair = next(p for p in plan["pairs"] if p["id"] == PAIR)
    return PairRun(engine, pair, engine.run_id)


def person(pid: str, email: str | None, **values) -> Record:
    return Record(pid, {"email.primary": email, **values})


def contact(cid: str, email: str | None, created: str = "2024-01-01T00:00:00Z") -> Record:
    return Record(cid, {"Email": email}, raw={"created_at": created})


def pairs(candidates) -> list[tuple]:
    return sorted((c.left.id if c.left else None, c.right.id if c.right else None) for c in candidates)


def letters(run: PairRun) -> list[tuple]:
    return sorted((d.side, d.record_id, d.reason) for d in run.state.dead_letters())


def test_email_pairs_across_chunks_and_duplicates_are_reported_not_merged(run: PairRun) -> None:
    right = {c.id: c for c in [contact("c1", "ADA@x.com"), contact("c2", "bob@x.com")]}
    run.begin_pairing(right)
    first = run.pair_chunk({"1": person("1", "ada@x.com "), "2": person("2", None)}, right)
    # the duplicate of person 1 arrives in a later chunk: still reported, never paired
    second = run.pair_chunk({"3": person("3", "Ada@X.com"), "4": person("4", "carol@x.com")}, right)
    tail = run.pair_tail(right)
    assert pairs(first) == [("1", "c1"), ("2", None)]
    assert pairs(second) == [("4", None)]
    assert pairs(tail) == [(None, "c2")]
    assert letters(run) == [("left", "3", "duplicate_match_key")]


def test_a_stored_link_wins_over_the_email(run: PairRun) -> None:
    run.state.put_link(Link(PAIR, "1", "c9", {"email.primary": "old@x.com"}, {"Email": "old@x.com"}, 0.0))
    right = {c.id: c for c in [contact("c1", "ada@x.com"), contact("c9", "old@x.com")]}
    run.begin_pairing(right)
    candidates = run.pair_chunk({"1": person("1", "ada@x.com")}, right)
    # person 1 changed its email to the one contact c1 has: it stays with c9, its partner, and
    # c1 may not create a second person with that email (R9)
    assert pairs(candidates) == [("1", "c9")] and candidates[0].link is not None
    assert pairs(run.pair_tail(right)) == []
    assert letters(run) == [("right", "c1", "duplicate_match_key")]


def test_the_link_field_pairs_a_record_a_killed_run_created(run: PairRun) -> None:
    right = {"c7": contact("c7", "new@x.com")}
    run.begin_pairing(right)
    candidates = run.pair_chunk({"5": person("5", "new@x.com", **{"custom:apId": "c7"})}, right)
    assert pairs(candidates) == [("5", "c7")]
    assert pairs(run.pair_tail(right)) == []


def test_linked_contacts_whose_person_did_not_change_pair_with_what_was_last_synced(run: PairRun) -> None:
    run.state.put_link(Link(PAIR, "8", "c8", {"email.primary": "eve@x.com", "first_name": "Eve"}, {"Email": "eve@x.com"}, 0.0))
    right = {"c8": contact("c8", "eve@x.com")}
    run.begin_pairing(right)
    assert run.pair_chunk({}, right) == []
    [candidate] = run.pair_tail(right)
    assert (candidate.left.id, candidate.left.values["first_name"], candidate.right.id) == ("8", "Eve", "c8")
    # and a new person with Eve's email is her duplicate, although person 8 was not read
    run.begin_pairing(right)
    assert pairs(run.pair_chunk({"9": person("9", "eve@x.com")}, right)) == []
    assert ("left", "9", "duplicate_match_key") in letters(run)


def test_contacts_sharing_an_email_only_the_oldest_may_create(run: PairRun) -> None:
    right = {c.id: c for c in [contact("young", "sam@x.com", "2024-06-01T00:00:00Z"), contact("old", "SAM@x.com", "2023-01-01T00:00:00Z")]}
    run.begin_pairing(right)
    assert run.pair_chunk({}, right) == []
    assert pairs(run.pair_tail(right)) == [(None, "old")]
    assert letters(run) == [("right", "young", "duplicate_match_key")]


def test_values_written_to_pipedrive_are_checked_against_the_live_account(plan: dict, tmp_path: Path) -> None:
    """R18: an activity type must be one of the account's (by key or by name); R20: an owner id
    must be an active user's (the connecting user always is)."""
    from syncmap.runtime.candidates import DeadLetter
    from syncmap.runtime.connectors.pipedrive import Pipedrive

    pd = Pipedrive(client=None)
    pd.activity_types = [{"key_string": "call", "name": "Call"}, {"key_string": "lunch", "name": "Lunch"}]
    pd.me = {"id": 1}
    pd.users = {"1": {"id": 1, "active_flag": True}, "2": {"id": 2, "active_flag": True}, "3": {"id": 3, "active_flag": False}}
    state = open_state(tmp_path / "state.db")
    engine = Engine(plan, {"pipedrive": pd}, state)
    changes = {"type": "Lunch"}
    engine.check_pipedrive_values("Activity", changes)
    assert changes == {"type": "lunch"}  # written as the account's key
    with pytest.raises(DeadLetter) as refused:
        engine.check_pipedrive_values("Activity", {"type": "email"})
    assert refused.value.reason == "activity_type_unknown" and "'email'" in refused.value.message
    engine.check_pipedrive_values("Person", {"owner_id": 2})
    engine.check_pipedrive_values("Person", {"owner_id": "1"})
    for owner in (3, 999):  # inactive, and nobody
        with pytest.raises(DeadLetter) as refused:
            engine.check_pipedrive_values("Person", {"owner_id": owner})
        assert refused.value.reason == "owner_not_a_user" and str(owner) in refused.value.message
