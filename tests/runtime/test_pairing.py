"""Pairing (PairRun.begin_pairing / pair_chunk / pair_tail) as a unit: records in, candidates
and dead letters out. No API is involved in pairing, so none is called; the state store is the
real SQLite one, in a temporary file."""

from __future__ import annotations

from pathlib import Path

import pytest
from offline import offline_engine, shipped_plan

from syncmap.runtime.connectors.base import Record
from syncmap.runtime.engine import PairRun
from syncmap.runtime.state import Link

PAIR = "pipedrive.Person<->autopilot.Contact"


@pytest.fixture(scope="module")
def plan() -> dict:
    return shipped_plan("autopilot")


@pytest.fixture
def run(plan: dict, tmp_path: Path) -> PairRun:
    engine = offline_engine(plan, tmp_path / "state.db")
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
    right = {"c1": contact("c1", "ada@x.com"), "c8": contact("c8", "eve@x.com")}
    run.begin_pairing(right)
    assert pairs(run.pair_chunk({"1": person("1", "ada@x.com")}, right)) == [("1", "c1")]
    # c1 paired in the chunk; c8, after it, pairs with person 8 as last synced
    [candidate] = run.pair_tail(right)
    assert (candidate.left.id, candidate.left.values["first_name"], candidate.right.id) == ("8", "Eve", "c8")
    # and a new person with Eve's email is her duplicate, although person 8 was not read
    run.begin_pairing(right)
    assert pairs(run.pair_chunk({"9": person("9", "eve@x.com")}, right)) == []
    assert ("left", "9", "duplicate_match_key") in letters(run)


def test_contacts_sharing_an_email_only_the_oldest_may_create(run: PairRun) -> None:
    right = {
        c.id: c
        for c in [
            contact("young", "sam@x.com", "2024-06-01T00:00:00Z"),
            contact("old", "SAM@x.com", "2023-01-01T00:00:00Z"),
            contact("kim", "kim@x.com", "2025-01-01T00:00:00Z"),  # after the duplicate: still created
        ]
    }
    run.begin_pairing(right)
    assert run.pair_chunk({}, right) == []
    assert pairs(run.pair_tail(right)) == [(None, "kim"), (None, "old")]
    assert letters(run) == [("right", "young", "duplicate_match_key")]


def test_values_written_to_pipedrive_are_checked_against_the_live_account() -> None:
    """R18: an activity type must be one of the account's (by key or by name); R20: an owner id
    must be an active user's (the connecting user always is)."""
    from syncmap.runtime.candidates import DeadLetter
    from syncmap.runtime.connectors.pipedrive import Pipedrive

    pd = Pipedrive(client=None)
    pd.activity_types = [{"key_string": "call", "name": "Call"}, {"key_string": "lunch", "name": "Lunch"}]
    pd.me = {"id": 1}
    pd.users = {"1": {"id": 1, "active_flag": True}, "2": {"id": 2, "active_flag": True}, "3": {"id": 3, "active_flag": False}}
    changes = {"type": "Lunch"}
    pd.check_values("Activity", changes)
    assert changes == {"type": "lunch"}  # written as the account's key
    with pytest.raises(DeadLetter) as refused:
        pd.check_values("Activity", {"type": "email"})
    assert refused.value.reason == "activity_type_unknown" and "'email'" in refused.value.message
    pd.check_values("Person", {"owner_id": 2})
    pd.check_values("Person", {"owner_id": "1"})
    for owner in (3, 999):  # inactive, and nobody
        with pytest.raises(DeadLetter) as refused:
            pd.check_values("Person", {"owner_id": owner})
        assert refused.value.reason == "owner_not_a_user" and str(owner) in refused.value.message


def test_of_two_persons_with_one_email_the_lower_id_pairs_whatever_the_order_read(run: PairRun) -> None:
    """Ids compare as numbers (9 before 10), and a chunk is paired in that order, not as read."""
    right = {"c1": contact("c1", "ada@x.com")}
    run.begin_pairing(right)
    candidates = run.pair_chunk({"10": person("10", "ada@x.com"), "9": person("9", "ada@x.com")}, right)
    assert pairs(candidates) == [("9", "c1")]
    assert letters(run) == [("left", "10", "duplicate_match_key")]
    [letter] = run.state.dead_letters()
    assert letter.details["ids"] == ["9", "10"] and letter.details["key"] == ["ada@x.com"]


def test_a_link_field_naming_a_contact_that_is_gone_falls_back_to_the_email(run: PairRun) -> None:
    right = {"c1": contact("c1", "ada@x.com")}
    run.begin_pairing(right)
    candidates = run.pair_chunk(
        {"1": person("1", "ada@x.com", **{"custom:apId": "c404"}), "2": person("2", "bob@x.com", **{"custom:apId": " "})}, right
    )
    assert pairs(candidates) == [("1", "c1"), ("2", None)]
    assert all(c.link is None for c in candidates)


def test_a_linked_contact_not_read_this_pass_is_what_was_last_synced(run: PairRun) -> None:
    run.state.put_link(Link(PAIR, "1", "c9", {"email.primary": "ada@x.com"}, {"Email": "ada@x.com", "FirstName": "Ada"}, 0.0))
    run.begin_pairing({})
    [candidate] = run.pair_chunk({"1": person("1", "ada@x.com")}, {})
    assert candidate.right.id == "c9" and candidate.right.values == {"Email": "ada@x.com", "FirstName": "Ada"}
    assert candidate.link is not None and candidate.link.right_id == "c9"
    assert run.pair_tail({}) == []


def test_a_contact_linked_to_another_person_does_not_pair_with_a_second_one(run: PairRun) -> None:
    """The link was stored without the email (the person had none then): the contact is
    still taken, and a person who now has its email is reported as the duplicate."""
    run.state.put_link(Link(PAIR, "1", "c1", {}, {"Email": "ada@x.com"}, 0.0))
    right = {"c1": contact("c1", "ada@x.com")}
    run.begin_pairing(right)
    assert pairs(run.pair_chunk({"2": person("2", "ada@x.com"), "3": person("3", "carol@x.com")}, right)) == [("3", None)]
    [letter] = run.state.dead_letters()
    assert (letter.side, letter.record_id, letter.reason) == ("left", "2", "duplicate_match_key")
    assert letter.details["ids"] == ["1", "2"]
    # the contact stays with person 1, who was not read
    [candidate] = run.pair_tail(right)
    assert (candidate.left.id, candidate.right.id, candidate.link is not None) == ("1", "c1", True)


def test_a_contact_whose_email_a_person_has_is_reported_naming_that_person(run: PairRun) -> None:
    right = {"c1": contact("c1", "ada@x.com"), "c2": contact("c2", "ADA@x.com", "2024-05-01T00:00:00Z")}
    run.begin_pairing(right)
    assert pairs(run.pair_chunk({"1": person("1", "ada@x.com")}, right)) == [("1", "c1")]
    assert run.pair_tail(right) == []
    [letter] = run.state.dead_letters()
    assert (letter.side, letter.record_id, letter.details["holder"]) == ("right", "c2", "1")
    assert "person 1" in letter.message


def test_contacts_without_a_creation_time_are_ordered_by_their_last_change_then_id(run: PairRun) -> None:
    def undated(cid: str, updated: float | None) -> Record:
        return Record(cid, {"Email": "sam@x.com"}, updated)

    for right, oldest in (
        ({"a": undated("a", 200.0), "b": undated("b", 100.0)}, "b"),
        ({"b": undated("b", None), "a": undated("a", None)}, "a"),
    ):
        run.begin_pairing(right)
        assert pairs(run.pair_tail(right)) == [(None, oldest)]


def test_each_pass_starts_afresh(run: PairRun) -> None:
    right = {"c1": contact("c1", "ada@x.com")}
    run.begin_pairing(right)
    assert pairs(run.pair_chunk({"1": person("1", "ada@x.com")}, right)) == [("1", "c1")]
    # a pass that did not link them (a dry run) leaves nothing: the next pass pairs again
    run.begin_pairing(right)
    assert pairs(run.pair_chunk({"1": person("1", "ada@x.com")}, right)) == [("1", "c1")]
    assert run.pair_tail(right) == [] and letters(run) == []


def test_the_link_field_pairs_although_the_emails_now_differ(run: PairRun) -> None:
    """R11: the contact id a run wrote to the person keeps them together when no link is
    stored (a lost or new state file) and the email alone would pair elsewhere, or nowhere."""
    right = {"c7": contact("c7", "new@x.com"), "c8": contact("c8", "old@x.com")}
    run.begin_pairing(right)
    candidates = run.pair_chunk({"5": person("5", "old@x.com", **{"custom:apId": "c7"}), "6": person("6", None, **{"custom:apId": "c8"})}, right)
    assert pairs(candidates) == [("5", "c7"), ("6", "c8")]
    assert all(c.link is None for c in candidates)
    assert run.pair_tail(right) == []


def test_a_person_with_the_email_of_a_contact_linked_to_another_person_is_reported_whether_that_person_was_read_or_not(
    run: PairRun,
) -> None:
    """Contact c7 (linked to person 5) took bob's email in Autopilot; person 7 in Pipedrive is
    bob. Creating a contact for person 7 would reach c7 through Autopilot's upsert by email and
    merge the two persons into it: person 7 is the duplicate (R9), in the chunk that reads
    person 5 as in a pass that does not."""
    run.state.put_link(Link(PAIR, "5", "c7", {"email.primary": "ada@x.com"}, {"Email": "ada@x.com"}, 0.0))
    right = {"c7": contact("c7", "bob@x.com")}
    for left in ({"5": person("5", "ada@x.com"), "7": person("7", "bob@x.com")}, {"7": person("7", "bob@x.com")}):
        run.state.resolve_dead_letters_for(PAIR, "left", "7")
        run.begin_pairing(right)
        candidates = run.pair_chunk(left, right)
        assert pairs(candidates) == ([("5", "c7")] if "5" in left else [])
        [letter] = run.state.dead_letters()
        assert (letter.record_id, letter.reason, letter.details["ids"]) == ("7", "duplicate_match_key", ["5", "7"])


@pytest.mark.parametrize(("chunks", "paired", "reported"), [
    # one chunk: the link field pairs first, so the email's person is the duplicate
    ([["1", "5"]], "5", "1"),
    # person 1 took c7 by email in an earlier chunk, whose writes are made: 5 is the duplicate
    ([["1"], ["5"]], "1", "5"),
])  # fmt: skip
def test_a_link_field_naming_a_contact_another_person_took_is_a_duplicate(run: PairRun, chunks: list[list[str]], paired: str, reported: str) -> None:
    # Person 5's link field (left, say, by another integration's apId) names c7, which person 1
    # has by its email. However the chunks fall, c7 pairs once and the other person is reported (R9).
    right = {"c7": contact("c7", "ada@x.com")}
    people = {"1": person("1", "ada@x.com"), "5": person("5", "eve@x.com", **{"custom:apId": "c7"})}
    run.begin_pairing(right)
    candidates = [c for chunk in chunks for c in run.pair_chunk({pid: people[pid] for pid in chunk}, right)]
    assert [left for left, right_id in pairs(candidates) if right_id == "c7"] == [paired]
    assert letters(run) == [("left", reported, "duplicate_match_key")]
