"""The worker's decisions about one delivery, as a unit: whether the payload stands for the
record or the record must be read, whether the delivery is our own write coming back, and what
list events do. Deciding calls no API (the connectors have no HTTP client here: a call would
fail the test); the state store is the real SQLite one, in a temporary file."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from syncmap.compiler.api import compile_plan
from syncmap.runtime.connectors.autopilot import Autopilot
from syncmap.runtime.connectors.pipedrive import Pipedrive
from syncmap.runtime.engine import Engine
from syncmap.runtime.serve.events import Change
from syncmap.runtime.serve.metrics import Metrics
from syncmap.runtime.serve.worker import Work, Worker
from syncmap.runtime.state import Link, open_state

ROOT = Path(__file__).resolve().parents[2]
PAIR = "pipedrive.Person<->autopilot.Contact"
APID = "a" * 40  # the apId custom field's key


@pytest.fixture(scope="module")
def plan() -> dict:
    result = compile_plan(str(ROOT / "mappings" / "autopilot.syncmap"))
    assert result.plan is not None
    return result.plan


@pytest.fixture
def worker(plan: dict, tmp_path: Path) -> Worker:
    pd, ap = Pipedrive(None), Autopilot(None)
    pd.custom["Person"] = {"apId": {"key": APID, "name": "apId", "field_type": "varchar"}}
    ap.lists = {"Pipedrive Contacts": "contactlist_1"}
    state = open_state(tmp_path / "state.db")
    engine = Engine(plan, {"pipedrive": pd, "autopilot": ap}, state)
    return Worker(engine, state, Metrics(), reconcile_every=0)


def raw_person(**changes: object) -> dict:
    person = {
        "id": 7,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "emails": [{"value": "ada@example.com", "primary": True}],
        "phones": [],
        "org_id": None,
        "owner_id": None,
        "custom_fields": {APID: "person_1"},
        "update_time": "2026-03-01T10:00:00Z",
    }
    return {**person, **changes}


def plan_of(worker: Worker, change: Change) -> tuple[bool, dict[str, Work]]:
    work: dict[str, Work] = {}
    wanted = asyncio.run(worker.plan_change(change, work))
    return wanted, work


def person_change(raw: dict, *, attempt: int = 1, occurred: float | None = 1772359200.0) -> Change:
    return Change("pipedrive", "Person", "7", "upsert", raw=raw, occurred=occurred, attempt=attempt)


def link_as(worker: Worker, raw: dict) -> None:
    """Store the pair as if `raw` were what was last synced."""
    run = worker.engine.pair_run(PAIR)
    values = worker.engine.connectors["pipedrive"].flatten("Person", raw, run.sides["left"].keys).values
    worker.state.put_link(Link(PAIR, "7", "person_1", dict(values), {"Email": "ada@example.com"}, 0.0))


def test_a_complete_first_delivery_stands_for_the_record(worker: Worker) -> None:
    wanted, work = plan_of(worker, person_change(raw_person()))
    record = work[PAIR].records["left"]["7"]
    assert wanted and record is not None
    assert record.values["first_name"] == "Ada" and record.values["custom:apId"] == "person_1"


def test_a_retry_is_read_again_because_it_may_carry_an_old_state(worker: Worker) -> None:
    wanted, work = plan_of(worker, person_change(raw_person(), attempt=2))
    assert wanted and work[PAIR].records["left"] == {"7": None}


def test_a_payload_without_a_field_the_pair_reads_is_read(worker: Worker) -> None:
    minimal = {k: v for k, v in raw_person().items() if k != "first_name"}
    _, work = plan_of(worker, person_change(minimal))
    assert work[PAIR].records["left"] == {"7": None}
    custom_missing = raw_person(custom_fields={})
    _, work = plan_of(worker, person_change(custom_missing, occurred=1772359300.0))
    assert work[PAIR].records["left"] == {"7": None}


def test_an_older_state_than_one_already_seen_is_read_not_trusted(worker: Worker) -> None:
    plan_of(worker, person_change(raw_person(first_name="New"), occurred=1772359300.0))
    _, work = plan_of(worker, person_change(raw_person(first_name="Old"), occurred=1772359200.0))
    assert work[PAIR].records["left"] == {"7": None}
    _, work = plan_of(worker, person_change(raw_person(first_name="Newer"), occurred=1772359400.0))
    assert work[PAIR].records["left"]["7"].values["first_name"] == "Newer"


def test_our_own_write_coming_back_is_no_work(worker: Worker) -> None:
    link_as(worker, raw_person())
    wanted, work = plan_of(worker, person_change(raw_person()))
    assert not wanted and not work[PAIR]
    # a change to a field no rule reads is the same: nothing to sync
    wanted, _ = plan_of(worker, person_change(raw_person(visible_to=1), occurred=1772359300.0))
    assert not wanted
    # but one changed value is work
    wanted, work = plan_of(worker, person_change(raw_person(last_name="King"), occurred=1772359400.0))
    assert wanted and work[PAIR].records["left"]["7"].values["last_name"] == "King"


def test_a_delete_is_a_deletion_and_cancels_an_earlier_change_in_the_batch(worker: Worker) -> None:
    work: dict[str, Work] = {}
    asyncio.run(worker.plan_change(person_change(raw_person()), work))
    asyncio.run(worker.plan_change(Change("pipedrive", "Person", "7", "delete"), work))
    assert work[PAIR].deleted["left"] == {"7"} and work[PAIR].records["left"] == {}


def test_list_events_keep_the_roster_and_bring_new_members(worker: Worker) -> None:
    worker.engine.members["Pipedrive Contacts"] = set()
    joined = Change("autopilot", "Contact", "person_9", "list_add", list_id="contactlist_1")
    wanted, work = plan_of(worker, joined)
    assert wanted and work[PAIR].records["right"] == {"person_9": None}  # not synced yet: read it, it may create a person (R2)
    assert worker.engine.members["Pipedrive Contacts"] == {"person_9"}
    # a linked contact joining is our own mirror write: roster updated, no work
    worker.state.put_link(Link(PAIR, "7", "person_1", {}, {}, 0.0))
    wanted, _ = plan_of(worker, Change("autopilot", "Contact", "person_1", "list_add", list_id="contactlist_1"))
    assert not wanted and "person_1" in worker.engine.members["Pipedrive Contacts"]
    # a linked contact leaving is work (it goes back on, R7); an unlinked one leaving is not
    wanted, work = plan_of(worker, Change("autopilot", "Contact", "person_1", "list_remove", list_id="contactlist_1"))
    assert wanted and work[PAIR].records["right"] == {"person_1": None}
    wanted, _ = plan_of(worker, Change("autopilot", "Contact", "person_9", "list_remove", list_id="contactlist_1"))
    assert not wanted and worker.engine.members["Pipedrive Contacts"] == set()  # both left
    # another list: nothing
    wanted, _ = plan_of(worker, Change("autopilot", "Contact", "person_5", "list_add", list_id="contactlist_other"))
    assert not wanted


def test_a_change_no_per_record_path_can_sync_marks_its_pairs_pass(tmp_path: Path) -> None:
    result = compile_plan(str(ROOT / "mappings" / "five-objects.syncmap"))
    assert result.plan is not None
    state = open_state(tmp_path / "state.db")
    engine = Engine(result.plan, {"pipedrive": Pipedrive(None), "autopilot": Autopilot(None)}, state)
    worker = Worker(engine, state, Metrics(), reconcile_every=0, pair_pass_delay=5.0)
    targetable = {p["id"]: engine.pair_run(p["id"]).targetable() for p in result.plan["pairs"]}
    assert [pid for pid, ok in targetable.items() if ok] == [PAIR]  # only persons and contacts, one to one, by fields
    deal = Change("pipedrive", "Deal", "3", "upsert", raw={"id": 3, "title": "Big"}, occurred=1.0)
    wanted, work = plan_of(worker, deal)
    assert wanted and not any(work.values())
    assert set(worker.dirty) == {"pipedrive.Deal<->autopilot.Contact"}
    # a contact's change feeds its person's pair directly, and the engagement pair by a pass
    wanted, work = plan_of(worker, Change("autopilot", "Contact", "person_1", "upsert", raw={"contact_id": "person_1"}, occurred=2.0))
    assert wanted and work[PAIR].records["right"].keys() == {"person_1"}
    assert "pipedrive.Activity<-autopilot.Activity" in worker.dirty
    assert "pipedrive.Organization<-autopilot.Contact" in worker.dirty and "pipedrive.Deal<->autopilot.Contact" in worker.dirty


def test_a_change_at_the_same_moment_as_the_last_is_not_stale(worker: Worker) -> None:
    plan_of(worker, person_change(raw_person(first_name="One"), occurred=1772359300.0))
    _, work = plan_of(worker, person_change(raw_person(first_name="Two"), occurred=1772359300.0))
    assert work[PAIR].records["left"]["7"].values["first_name"] == "Two"  # the payload, not a read


def test_an_organization_change_replaces_the_copy_persons_read_their_company_from(worker: Worker) -> None:
    pd = worker.engine.connectors["pipedrive"]
    pd.related["Organization"] = {"5": {"id": 5, "name": "Old Name"}}
    change = Change("pipedrive", "Organization", "5", "upsert", raw={"id": 5, "name": "New Name"}, occurred=1.0)
    wanted, _ = plan_of(worker, change)
    assert pd.related["Organization"]["5"]["name"] == "New Name"
    assert not wanted  # no pair syncs organizations in this mapping: nothing else to do


def test_what_a_payload_must_carry() -> None:
    from syncmap.runtime.serve.worker import covers

    pd = Pipedrive(None)
    pd.custom["Deal"] = {}
    deal = Change("pipedrive", "Deal", "3", "upsert", raw={"id": 3, "stage_id": 2, "person_id": 7})
    assert covers(pd, deal, ["stage", "person"])  # `stage` is read from stage_id, `person` from person_id
    assert not covers(pd, deal, ["stage", "title"])
    assert not covers(pd, deal, ["custom:Lead score"])  # a custom field the account does not have
    # an Autopilot hook's contact is the whole contact: a field it lacks is empty, not unknown
    assert covers(Autopilot(None), Change("autopilot", "Contact", "person_1", "upsert", raw={"contact_id": "person_1"}), ["FirstName"])


def test_a_pass_owed_by_a_killed_server_is_due_at_once_in_the_next(plan: dict, tmp_path: Path) -> None:
    result = compile_plan(str(ROOT / "mappings" / "five-objects.syncmap"))
    assert result.plan is not None
    state = open_state(tmp_path / "state.db")
    engine = Engine(result.plan, {"pipedrive": Pipedrive(None), "autopilot": Autopilot(None)}, state)
    first = Worker(engine, state, Metrics(), reconcile_every=0, pair_pass_delay=600.0)
    plan_of(first, Change("pipedrive", "Deal", "3", "upsert", raw={"id": 3}, occurred=1.0))
    # the server dies here: the delivery is finished, the pass not made
    again = Worker(engine, state, Metrics(), reconcile_every=0, pair_pass_delay=600.0)
    assert list(again.dirty) == ["pipedrive.Deal<->autopilot.Contact"]
    assert again.dirty["pipedrive.Deal<->autopilot.Contact"] <= time.monotonic()


def test_the_memory_of_change_times_is_bounded_and_keeps_the_recent_ones(worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    import syncmap.runtime.serve.worker as module

    monkeypatch.setattr(module, "LAST_SEEN_LIMIT", 4)
    for n in range(5):
        plan_of(worker, Change("pipedrive", "Person", str(100 + n), "upsert", raw=None, occurred=float(n)))
    assert [key[2] for key in worker.last_seen] == ["102", "103", "104"]
    plan_of(worker, Change("pipedrive", "Person", "102", "upsert", raw=None, occurred=9.0))
    assert [key[2] for key in worker.last_seen] == ["103", "104", "102"]  # most recently changed last
