"""`syncmap action` (the five journey actions of mappings/autopilot.syncmap) against `syncmap
sandbox`, both as processes: who creates the person, idempotency keys, checks against the live
account, and the person an action creates joining the sync."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from harness import MAPPINGS, Sandbox

MAPPING = str(MAPPINGS / "autopilot.syncmap")
# The same mapping with its sync written Autopilot first: actions create persons through the pair
# whichever order its sides are written in.
MIRRORED = str(Path(__file__).resolve().parent / "mappings" / "autopilot-mirrored.syncmap")
LIST = "Pipedrive Contacts"
CREATES = ("Add Deal", "Assign Person Owner", "Schedule Activity")
NEVER_CREATES = ("Update Pipedrive Field", "Update Deal Stage")


def contact(sbx: Sandbox, email: str = "ada@example.com", **custom: Any) -> str:
    """A contact made in Autopilot (not through a sync); its custom fields keyed type--Name."""
    body = {"Email": email, "FirstName": "Ada", "LastName": "Lovelace", "custom": custom}
    return sbx.ap("POST", "/contact", json={"contact": body})["contact_id"]


def action(sbx: Sandbox, name: str, who: str, *args: str, mapping: str = MAPPING) -> tuple[int, dict]:
    done = sbx.syncmap("action", mapping, name, "--contact", who, "--state", sbx.state, "--format", "json", *args)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def lead_score_field(sbx: Sandbox) -> str:
    """The person field Update Pipedrive Field writes, made as an admin would (its key)."""
    return sbx.pd("POST", "/v1/personFields", json={"name": "Lead score", "field_type": "double"})["data"]["key"]


def record_writes(sbx: Sandbox) -> list[tuple[str, str, int]]:
    """Writes to Pipedrive's records (set-up makes the link field `apId` as `run` does)."""
    return [w for w in sbx.writes("pipedrive") if w[1].startswith("/api/v2/")]


def posts(sbx: Sandbox, path: str) -> int:
    return sum(1 for method, p, status in sbx.writes("pipedrive") if method == "POST" and p == path and status < 300)


def of_person(sbx: Sandbox, collection: str, person_id: int) -> list[dict]:
    return sbx.pd("GET", f"/api/v2/{collection}", params={"person_id": person_id})["data"] or []


@pytest.mark.parametrize("mapping", [MAPPING, MIRRORED], ids=["written", "mirrored"])
@pytest.mark.parametrize("name", CREATES)
def test_an_action_that_creates_makes_the_person_and_it_joins_the_sync(sbx: Sandbox, name: str, mapping: str) -> None:
    contact_id = contact(sbx, **{"integer--Pipedrive--Owner--ID": 2})
    code, outcome = action(sbx, name, "ada@example.com", mapping=mapping)
    assert (code, outcome["status"], outcome["contact"]) == (0, "done", contact_id), outcome
    [person] = sbx.persons()
    apid = sbx.person_fields()["apId"]
    assert person["custom_fields"][apid] == contact_id  # the link field (R11)
    # The owner default (R13), unless the action sets the owner.
    assert person["owner_id"] == (2 if name == "Assign Person Owner" else 1)
    assert contact_id in sbx.roster(LIST)  # the mirror list (R7)
    if name == "Add Deal":
        [deal] = of_person(sbx, "deals", person["id"])
        assert deal["title"] == "Ada Lovelace" and deal["expected_close_date"]
    if name == "Schedule Activity":
        [activity] = of_person(sbx, "activities", person["id"])
        assert (activity["subject"], activity["type"]) == ("Follow up with Ada Lovelace", "call")
    # The next run finds the pair linked: no second person, nothing created on either side.
    sbx.clear_log()
    done = sbx.syncmap("run", mapping, "--state", sbx.state, "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert posts(sbx, "/api/v2/persons") == 0 and len(sbx.persons()) == 1
    assert contact_id in sbx.roster(LIST)


@pytest.mark.parametrize("name", NEVER_CREATES)
def test_an_update_action_reports_a_missing_person_and_writes_nothing(sbx: Sandbox, name: str) -> None:
    lead_score_field(sbx)
    contact_id = contact(sbx, **{"integer--Lead--Score": 7})
    sbx.clear_log()
    code, outcome = action(sbx, name, contact_id)
    assert (code, outcome["status"], outcome["reason"]) == (1, "dead_letter", "person_missing"), outcome
    assert record_writes(sbx) == [] and sbx.persons() == []
    status = json.loads(sbx.syncmap("status", "--state", sbx.state, "--format", "json").stdout)
    letters = [d for d in status["dead_letters"] if d["reason"] == "person_missing"]
    assert [(d["pair"], d["record_id"]) for d in letters] == [(f"action:{name}", contact_id)], status["dead_letters"]


def test_update_pipedrive_field_writes_the_persons_field_once_it_exists(sbx: Sandbox) -> None:
    contact(sbx, **{"integer--Lead--Score": 7})
    action(sbx, "Add Deal", "ada@example.com")
    code, outcome = action(sbx, "Update Pipedrive Field", "ada@example.com")
    assert (code, outcome["reason"]) == (1, "field_missing") and '"Lead score"' in outcome["message"]
    key = lead_score_field(sbx)
    code, outcome = action(sbx, "Update Pipedrive Field", "ada@example.com")
    assert (code, outcome["status"]) == (0, "done"), outcome
    [person] = sbx.persons()
    assert float(person["custom_fields"][key]) == 7


def test_a_retried_step_creates_one_deal(sbx: Sandbox) -> None:
    contact(sbx)
    first = action(sbx, "Add Deal", "ada@example.com", "--key", "journey-7-step-2")
    again = action(sbx, "Add Deal", "ada@example.com", "--key", "journey-7-step-2")
    assert (first[1]["status"], again[1]["status"]) == ("done", "duplicate")
    assert again[0] == 0 and again[1]["writes"] == first[1]["writes"]
    [person] = sbx.persons()
    assert len(of_person(sbx, "deals", person["id"])) == 1
    assert posts(sbx, "/api/v2/deals") == 1
    # Another delivery (another key) is another deal: the key is what makes a retry act once.
    action(sbx, "Add Deal", "ada@example.com", "--key", "journey-7-step-2-again")
    assert len(of_person(sbx, "deals", person["id"])) == 2 and posts(sbx, "/api/v2/deals") == 2


def test_a_stage_given_by_name_is_resolved_through_the_pipelines(sbx: Sandbox) -> None:
    contact(sbx)
    action(sbx, "Add Deal", "ada@example.com")
    [person] = sbx.persons()
    [deal] = of_person(sbx, "deals", person["id"])
    # The seeded account has no stage "Negotiation": a clear error naming the stages there are.
    sbx.clear_log()
    code, outcome = action(sbx, "Update Deal Stage", "ada@example.com")
    assert (code, outcome["reason"]) == (1, "stage_unknown")
    assert '"Negotiation"' in outcome["message"] and '"Negotiations Started"' in outcome["message"]
    assert record_writes(sbx) == []
    # "Negotiation" in two pipelines: the deal's pipeline's stage is the one.
    other = sbx.pd("POST", "/api/v2/pipelines", json={"name": "Renewals"})["data"]["id"]
    sbx.pd("POST", "/api/v2/stages", json={"name": "Negotiation", "pipeline_id": other})
    mine = sbx.pd("POST", "/api/v2/stages", json={"name": "Negotiation", "pipeline_id": deal["pipeline_id"]})["data"]["id"]
    code, outcome = action(sbx, "Update Deal Stage", "ada@example.com")
    assert (code, outcome["status"]) == (0, "done"), outcome
    assert sbx.pd("GET", f"/api/v2/deals/{deal['id']}")["data"]["stage_id"] == mine


def test_an_unknown_activity_type_is_a_dead_letter(sbx: Sandbox, tmp_path: Path) -> None:
    # The compiler knows Pipedrive's default types; an account's live types may differ (a type
    # deleted or renamed there), so the plan is edited as such an account would make it wrong.
    plan = tmp_path / "plan.yaml"
    assert sbx.syncmap("compile", MAPPING, "-o", str(plan)).returncode == 0
    text = plan.read_text()
    assert text.count("value: call") == 1
    mapping = tmp_path / "webinar.yaml"
    mapping.write_text(text.replace("value: call", "value: webinar"))
    contact(sbx)
    sbx.clear_log()
    code, outcome = action(sbx, "Schedule Activity", "ada@example.com", mapping=str(mapping))
    assert (code, outcome["reason"]) == (1, "activity_type_unknown"), outcome
    assert "'webinar'" in outcome["message"]
    assert record_writes(sbx) == []  # checked before anything, the person included, is written


@pytest.mark.parametrize("owner", [99, 3])  # nobody, and a user who is no longer active
def test_an_owner_id_that_is_no_user_is_a_dead_letter(sbx: Sandbox, owner: int) -> None:
    contact(sbx, **{"integer--Pipedrive--Owner--ID": owner})
    sbx.clear_log()
    code, outcome = action(sbx, "Assign Person Owner", "ada@example.com")
    assert (code, outcome["reason"]) == (1, "owner_not_a_user"), outcome
    assert str(owner) in outcome["message"]
    assert record_writes(sbx) == [] and sbx.persons() == []


def test_a_dry_run_writes_nothing_and_says_what_it_would_write(sbx: Sandbox) -> None:
    contact_id = contact(sbx)
    sbx.clear_log()
    code, outcome = action(sbx, "Add Deal", contact_id, "--dry-run", "--key", "k")
    assert (code, outcome["status"]) == (0, "dry_run")
    assert [(w["object"], w["op"]) for w in outcome["writes"]] == [("Person", "create"), ("Deal", "create")]
    assert outcome["writes"][1]["changes"]["title"] == "Ada Lovelace"
    assert sbx.writes("pipedrive") == [] and sbx.writes("autopilot") == []
    # A dry run remembers no key: the real call acts.
    code, outcome = action(sbx, "Add Deal", contact_id, "--key", "k")
    assert outcome["status"] == "done" and posts(sbx, "/api/v2/deals") == 1


def test_retry_leaves_an_actions_dead_letter_open(sbx: Sandbox) -> None:
    contact_id = contact(sbx)
    assert sbx.syncmap("run", MAPPING, "--state", sbx.state).returncode == 0  # the state file knows the plan
    assert action(sbx, "Update Deal Stage", contact_id)[1]["reason"] == "person_missing"
    retried = sbx.syncmap("retry", "--state", sbx.state)
    assert retried.returncode == 0 and "1 dead letters of journey actions are left open" in retried.stderr, retried.stderr
    status = json.loads(sbx.syncmap("status", "--state", sbx.state, "--format", "json").stdout)
    assert [(d["pair"], d["reason"]) for d in status["dead_letters"]] == [("action:Update Deal Stage", "person_missing")]
