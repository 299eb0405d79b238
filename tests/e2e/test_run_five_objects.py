"""`syncmap run mappings/five-objects.syncmap`: all five Pipedrive objects, end to end.

Each check is written from the mapping's lines, through both APIs."""

from __future__ import annotations

import json
from collections import defaultdict

from harness import MAPPINGS, Sandbox
from mirror import LIST, check_mirror

MAPPING = str(MAPPINGS / "five-objects.syncmap")


def run(sbx: Sandbox) -> dict:
    done = sbx.syncmap("run", MAPPING, "--state", sbx.state, "--format", "json")
    assert done.returncode in (0, 1), done.stderr + done.stdout[-2000:]
    return json.loads(done.stdout)


def custom(contact: dict, name: str):
    return next((f["value"] for f in contact.get("custom_fields") or () if f["kind"] == name), None)


def test_five_objects_sync_as_the_mapping_says_and_settle(sbx: Sandbox) -> None:
    sbx.reset(pipedrive=30, autopilot=30, seed=5)
    list_id = sbx.ap("POST", "/list", json={"name": LIST})["list_id"]
    for contact in sbx.contacts()[:10]:
        sbx.control("autopilot", "POST", f"app/list/{list_id}/contact/{contact['contact_id']}")
    orgs_before = [o["name"] for o in sbx._pd_pages("/api/v2/organizations")]
    summary = run(sbx)
    # Activities made from Autopilot's history are done activities: they flow out to the contacts
    # in the same run (the pair writing activities runs before the one reading them), so a second
    # run has nothing left to write.
    sbx.clear_log()
    run(sbx)
    assert sbx.writes("pipedrive") == [] and sbx.writes("autopilot") == []
    snap = check_mirror(sbx)
    # Lead score: Pipedrive keeps a decimal, the mapping declares Autopilot's field an integer:
    # those values are reported per field, and the rest of each person still syncs.
    misfits = [d for d in summary["dead_letters"] if d["reason"] == "value_does_not_fit"]
    assert misfits and all("Lead Score" in d["message"] for d in misfits)

    contacts = snap["contacts"]
    by_person = {p["id"]: contacts.get((p.get("custom_fields") or {}).get(snap["apId"])) for p in snap["persons"]}
    # Organization <- Contact: every list member's company is an organization, made only when
    # none had that name (the seed's own same-named organizations stay as they were).
    orgs = [o["name"] for o in snap["orgs"].values()]
    companies = {(contacts[c].get("Company") or "").strip() for c in snap["roster"]} - {""}
    assert companies
    for company in companies:
        assert orgs.count(company) == max(orgs_before.count(company), 1), (company, orgs)
    # Deal <-> Contact: only deals with an expected close date pair (R19); their title reaches the contact.
    deals = list(sbx._pd_pages("/api/v2/deals"))
    titles = defaultdict(set)
    for deal in deals:
        if deal.get("expected_close_date") and deal.get("person_id"):
            titles[deal["person_id"]].add(deal["title"])
    checked = 0
    for person_id, contact in by_person.items():
        if contact is None:
            continue
        open_deal = custom(contact, "Open Deal")
        if titles.get(person_id):
            assert open_deal in titles[person_id], (person_id, open_deal, titles[person_id])
            checked += 1
        else:
            assert open_deal is None  # a deal without a close date never pairs
    assert checked
    # Activity -> Contact: only done activities sync out (R16).
    activities = list(sbx._pd_pages("/api/v2/activities"))
    done_subjects = defaultdict(set)
    for activity in activities:
        if activity.get("done") and activity.get("person_id"):
            done_subjects[activity["person_id"]].add(activity["subject"])
    for person_id, contact in by_person.items():
        if contact is not None and custom(contact, "Last Activity") is not None:
            assert custom(contact, "Last Activity") in done_subjects[person_id]
    # Activity <- Autopilot.Activity: each engagement event of a paired contact is one done email
    # activity of its person, made once (only new -> pipedrive), after the person (R17).
    made = defaultdict(int)
    for activity in activities:
        if str(activity.get("subject", "")).startswith("Autopilot: "):
            assert activity["done"] is True and activity["type"] == "email"
            made[activity["person_id"]] += 1
    assert made
    for person_id, contact in by_person.items():
        if contact is None:
            continue
        full = sbx.ap("GET", f"/contact/{contact['contact_id']}")
        events = sum(len(v) for k, v in full.items() if k.startswith("mail_") and isinstance(v, dict))
        assert made[person_id] == events, (person_id, made[person_id], events)
    # Settled: one more run writes nothing anywhere.
    sbx.clear_log()
    run(sbx)
    assert sbx.writes("pipedrive") == [] and sbx.writes("autopilot") == []


def test_owner_ids_from_autopilot_must_be_real_users(sbx: Sandbox) -> None:
    """R20: `owner_id <- custom("Pipedrive Owner ID", integer)`: a number that is not an active
    user of the account is a dead letter naming it; a real user's id is written."""
    sbx.reset(pipedrive=4, autopilot=0)
    run(sbx)
    snap = check_mirror(sbx)
    paired = [p for p in snap["persons"] if (p.get("custom_fields") or {}).get(snap["apId"])]
    good, bad = paired[0], paired[1]
    users = [u["id"] for u in sbx.pd("GET", "/v1/users")["data"] if u.get("active_flag")]
    other = next(u for u in users if u != good["owner_id"])
    for person, owner in ((good, other), (bad, 987654)):
        contact = snap["contacts"][person["custom_fields"][snap["apId"]]]
        sbx.control(
            "autopilot",
            "POST",
            "app/contact",
            {"contact_id": contact["contact_id"], "contact": {"Email": contact["Email"], "custom": {"integer--Pipedrive--Owner--ID": owner}}},
        )
    summary = run(sbx)
    assert sbx.pd("GET", f"/api/v2/persons/{good['id']}")["data"]["owner_id"] == other
    assert sbx.pd("GET", f"/api/v2/persons/{bad['id']}")["data"]["owner_id"] == bad["owner_id"]
    letter = next(d for d in summary["dead_letters"] if d["reason"] == "owner_not_a_user")
    assert "987654" in letter["message"] and letter["id"] == snap["contacts"][bad["custom_fields"][snap["apId"]]]["contact_id"]
