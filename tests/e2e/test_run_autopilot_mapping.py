"""`syncmap run mappings/autopilot.syncmap` against `syncmap sandbox`, both as processes."""

from __future__ import annotations

import json
from pathlib import Path

from harness import MAPPINGS, Sandbox, primary
from mirror import LIST, check_mirror, norm

MAPPING = str(MAPPINGS / "autopilot.syncmap")


def run(sbx: Sandbox, *args: str) -> tuple[int, dict]:
    done = sbx.syncmap("run", MAPPING, "--state", sbx.state, "--format", "json", *args)
    assert done.returncode in (0, 1, 3), done.stderr
    return done.returncode, json.loads(done.stdout)


def flow(summary: dict, direction: str) -> dict:
    return next((f for f in summary["flows"] if f["direction"] == direction), {})


def test_initial_sync_mirrors_pipedrive_and_a_second_run_writes_nothing(sbx: Sandbox) -> None:
    sbx.reset(pipedrive=40, autopilot=40)
    code, summary = run(sbx)
    assert code == 1  # the seed has persons sharing an email and persons with none: dead letters
    snap = check_mirror(sbx)
    letters = {d["reason"] for d in summary["dead_letters"]}
    assert letters == {"duplicate_match_key", "no_email"}
    assert flow(summary, "left_to_right")["created"] >= 20
    # The same persons and contacts, nothing changed: not one write on either side.
    sbx.clear_log()
    code, summary = run(sbx)
    assert sbx.writes("pipedrive") == [] and sbx.writes("autopilot") == []
    assert flow(summary, "both")["unchanged"] == len([c for c in snap["contacts"].values() if c["contact_id"] in snap["roster"]])


def test_edits_on_either_side_arrive_on_the_other(sbx: Sandbox) -> None:
    sbx.reset(pipedrive=12, autopilot=0)
    run(sbx)
    snap = check_mirror(sbx)
    person = next(p for p in snap["persons"] if (p.get("custom_fields") or {}).get(snap["apId"]))
    contact_id = person["custom_fields"][snap["apId"]]
    other = next(p for p in snap["persons"] if p["id"] != person["id"] and (p.get("custom_fields") or {}).get(snap["apId"]))
    other_contact = snap["contacts"][other["custom_fields"][snap["apId"]]]
    # Pipedrive: a sales rep renames a person. Autopilot: a marketer changes a list member's phone.
    sbx.control("pipedrive", "PATCH", f"app/persons/{person['id']}", {"name": "Renamed Person"})
    sbx.control(
        "autopilot",
        "POST",
        "app/contact",
        {"contact_id": other_contact["contact_id"], "contact": {"Email": other_contact["Email"], "Phone": "+1 555 0000 111"}},
    )
    sbx.clear_log()
    run(sbx)
    changed = sbx.pd("GET", f"/api/v2/persons/{other['id']}")["data"]
    assert primary(changed["phones"]) == "+1 555 0000 111"
    # One upsert for Autopilot, one PATCH for Pipedrive: nothing else was written (a write the
    # API refused with 429 and the runtime sent again is one write, not two).
    assert [w[:2] for w in sbx.writes("autopilot") if w[2] != 429] == [("POST", "/v1/contacts")]
    assert [w[:2] for w in sbx.writes("pipedrive") if w[2] != 429] == [("PATCH", f"/api/v2/persons/{other['id']}")]
    _, summary = run(sbx)
    contact = sbx.ap("GET", f"/contact/{contact_id}")
    renamed = sbx.pd("GET", f"/api/v2/persons/{person['id']}")["data"]
    assert (renamed["first_name"], renamed["last_name"]) == ("Renamed", "Person")  # never bounced back
    if (contact["FirstName"], contact["LastName"]) != ("Renamed", "Person"):
        # An Autopilot that keeps existing names on upsert (unverified; the strict profile's
        # reading): the refusal is reported, not undone in Pipedrive.
        letters = [d for d in summary["dead_letters"] if d["id"] == contact_id]
        assert letters and {d["reason"] for d in letters} == {"write_not_applied"}, summary["dead_letters"]
        assert sbx.profile == "strict"
    else:
        check_mirror(sbx)


def test_conflicting_edits_follow_newest_wins_and_the_loser_is_logged(sbx: Sandbox) -> None:
    sbx.reset(pipedrive=6)
    run(sbx)
    snap = check_mirror(sbx)
    person = next(p for p in snap["persons"] if (p.get("custom_fields") or {}).get(snap["apId"]))
    contact = snap["contacts"][person["custom_fields"][snap["apId"]]]
    # Both sides change the last name; Autopilot's edit comes later, so it wins (conflict newest).
    sbx.control("pipedrive", "PATCH", f"app/persons/{person['id']}", {"name": f"{person['first_name']} Older"})
    sbx.control("pipedrive", "PUT", "clock", {"advance": 60})
    sbx.control("autopilot", "PUT", "clock", {"advance": 120})
    sbx.control(
        "autopilot", "POST", "app/contact", {"contact_id": contact["contact_id"], "contact": {"Email": contact["Email"], "LastName": "Newer"}}
    )
    _, summary = run(sbx)
    assert sbx.pd("GET", f"/api/v2/persons/{person['id']}")["data"]["last_name"] == "Newer"
    assert sbx.ap("GET", f"/contact/{contact['contact_id']}")["LastName"] == "Newer"
    assert flow(summary, "right_to_left")["conflicts"] == 1


def test_list_members_flow_into_pipedrive_with_owner_link_and_required_fields(sbx: Sandbox) -> None:
    sbx.reset()
    run(sbx)  # creates the "Pipedrive Contacts" list and the apId field
    list_id = sbx.list_id(LIST)
    sbx.ap("POST", "/contact", json={"contact": {"Email": "outside@example.com", "FirstName": "Out", "LastName": "Side"}})
    member = sbx.ap("POST", "/contact", json={"contact": {"Email": "member@example.com", "FirstName": "Mem", "LastName": "Ber"}})
    no_last = sbx.ap("POST", "/contact", json={"contact": {"Email": "nolast@example.com", "FirstName": "Solo"}})
    for contact in (member, no_last):
        sbx.control("autopilot", "POST", f"app/list/{list_id}/contact/{contact['contact_id']}")
    code, summary = run(sbx)
    assert code == 1
    persons = sbx.persons()
    by_email = {norm(primary(p["emails"])): p for p in persons}
    assert "outside@example.com" not in by_email  # R2: only the list flows into Pipedrive
    created = by_email["member@example.com"]
    me = sbx.pd("GET", "/v1/users/me")["data"]["id"]
    assert created["owner_id"] == me  # R13: owned by the connecting user
    assert created["custom_fields"][sbx.person_fields()["apId"]] == member["contact_id"]  # R11
    assert "nolast@example.com" not in by_email  # R23: Last Name is required
    letter = next(d for d in summary["dead_letters"] if d["id"] == no_last["contact_id"])
    assert letter["reason"] == "missing_required" and "Last Name" in letter["message"]
    # Fixed in Autopilot, the letter replays.
    sbx.ap("POST", "/contact", json={"contact": {"Email": "nolast@example.com", "LastName": "Fixed"}})
    status = json.loads(sbx.syncmap("status", "--state", sbx.state, "--format", "json").stdout)
    ids = [str(d["id"]) for d in status["dead_letters"] if d["record_id"] == no_last["contact_id"]]
    done = sbx.syncmap("retry", "--state", sbx.state, *[arg for i in ids for arg in ("--id", i)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nolast@example.com" in {norm(primary(p["emails"])) for p in sbx.persons()}
    status = json.loads(sbx.syncmap("status", "--state", sbx.state, "--format", "json").stdout)
    assert not [d for d in status["dead_letters"] if d["record_id"] == no_last["contact_id"]]


def test_deletes_flow_only_from_pipedrive(sbx: Sandbox) -> None:
    sbx.reset(pipedrive=8)
    run(sbx)
    snap = check_mirror(sbx)
    linked = [p for p in snap["persons"] if (p.get("custom_fields") or {}).get(snap["apId"])]
    gone, kept = linked[0], linked[1]
    sbx.control("pipedrive", "DELETE", f"app/persons/{gone['id']}")
    # A marketer deletes a contact in Autopilot: its Pipedrive person must survive (R6).
    sbx.ap("DELETE", f"/contact/{kept['custom_fields'][snap['apId']]}")
    sbx.clear_log()
    run(sbx, "--full-scan-every", "0")
    assert sbx.ap("GET", f"/contact/{gone['custom_fields'][snap['apId']]}") is None
    assert not [w for w in sbx.writes("pipedrive") if w[0] == "DELETE"]
    assert sbx.pd("GET", f"/api/v2/persons/{kept['id']}")["data"]["is_deleted"] is False


def test_dry_run_prints_changes_and_writes_nothing(sbx: Sandbox) -> None:
    sbx.reset(pipedrive=5)
    done = sbx.syncmap("run", MAPPING, "--state", sbx.state, "--dry-run")
    assert done.returncode in (0, 1), done.stderr
    assert "dry run: nothing was written" in done.stdout and "create      autopilot.Contact (new)" in done.stdout
    assert sbx.writes("pipedrive") == [] and sbx.writes("autopilot") == []


def test_a_mapping_with_errors_runs_nothing_and_a_missing_variable_is_named(sbx: Sandbox, tmp_path) -> None:
    broken = tmp_path / "broken.syncmap"
    broken.write_text(Path(MAPPING).read_text().replace("FirstName", "FirstNme", 1))
    done = sbx.syncmap("run", str(broken), "--state", sbx.state)
    assert done.returncode == 2 and "SM203" in done.stderr and sbx.requests("pipedrive") == []
    env_less = sbx.run_env()
    del env_less["AUTOPILOT_API_KEY"]
    import subprocess

    from harness import ROOT, SYNCMAP

    done = subprocess.run([*SYNCMAP, "run", MAPPING, "--state", sbx.state], env=env_less, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "AUTOPILOT_API_KEY" in done.stderr


def test_interval_keeps_syncing_until_stopped(sbx: Sandbox) -> None:
    import time

    sbx.reset(pipedrive=6)
    proc = sbx.start("run", MAPPING, "--state", sbx.state, "--interval", "1", "--format", "json")
    try:
        deadline = time.monotonic() + 60
        while True:  # until the first pass has finished: every person linked, on the list
            assert proc.poll() is None, "the run stopped"
            try:
                snap = check_mirror(sbx)
                break
            except AssertionError:
                # the pass is still writing (the roster fills before the link fields are all in)
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)
        person = next(p for p in snap["persons"] if (p.get("custom_fields") or {}).get(snap["apId"]))
        # a phone, not a name: an Autopilot that keeps names on upsert (strict) would not take one
        sbx.control("pipedrive", "PATCH", f"app/persons/{person['id']}", {"phones": [{"value": "+1 555 0100 999", "primary": True, "label": "work"}]})
        contact_id = person["custom_fields"][snap["apId"]]
        while sbx.ap("GET", f"/contact/{contact_id}").get("Phone") != "+1 555 0100 999":
            assert proc.poll() is None and time.monotonic() < deadline, "a later pass did not carry the edit"
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_wrong_credentials_name_the_variable_to_fix(sbx: Sandbox) -> None:
    import subprocess

    from harness import ROOT, SYNCMAP

    for variable, system in (("PIPEDRIVE_API_TOKEN", "pipedrive"), ("AUTOPILOT_API_KEY", "autopilot")):
        env = {**sbx.run_env(), variable: "wrong"}
        done = subprocess.run([*SYNCMAP, "run", MAPPING, "--state", sbx.state], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"{system} refused the credentials: check {variable}" in done.stderr, done.stderr
