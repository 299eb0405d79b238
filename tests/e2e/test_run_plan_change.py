"""A changed mapping reaches every record (issue 17, item 5): a baseline sync with mapping A,
then mapping B on the same state, leaves both systems exactly as a first sync with B on a fresh
state from the same seed would, and writes only the records whose target really differs."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from harness import CONNECT, Sandbox
from plan_compare import Picture, picture

SEED = 7
PERSONS = 30

HEAD = (
    CONNECT
    + """

sync pipedrive.Person -> autopilot.Contact {
  match email.primary = Email
  deletes pipedrive -> autopilot
"""
)
NAMES = "  first_name -> FirstName\n  last_name -> LastName\n  email.primary -> Email\n"
PHONE = "  phone.primary -> Phone\n"
SOURCE = '  custom("Referral source") -> LeadSource with map { "Webinar" = "Web", "Ads" = "Paid" }\n'
BASE = NAMES + PHONE + SOURCE

# kind of change -> (the rules of B, the Autopilot fields B writes)
CHANGES: dict[str, tuple[str, list[str]]] = {
    "field added": (BASE + "  organization.name -> Company\n", ["FirstName", "LastName", "Email", "Phone", "LeadSource", "Company"]),
    "field removed": (NAMES + SOURCE, ["FirstName", "LastName", "Email", "LeadSource"]),
    "field re-pointed": (NAMES + "  phone.primary -> MobilePhone\n" + SOURCE, ["FirstName", "LastName", "Email", "MobilePhone", "LeadSource"]),
    "value map changed": (
        NAMES + PHONE + '  custom("Referral source") -> LeadSource with map { "Webinar" = "Online", "Ads" = "Paid", "Event" = "Events" }\n',
        ["FirstName", "LastName", "Email", "Phone", "LeadSource"],
    ),
    # a policy applies from the next change on: read in full, nothing written now
    "policy changed": ("  empty write\n" + BASE, ["FirstName", "LastName", "Email", "Phone", "LeadSource"]),
    "filter added": ("  where phone.primary != null\n" + BASE, ["FirstName", "LastName", "Email", "Phone", "LeadSource"]),
    "scope added": ('  only custom("Referral source") != null -> autopilot\n' + BASE, ["FirstName", "LastName", "Email", "Phone", "LeadSource"]),
}
NOTHING_TO_WRITE = ("field removed", "policy changed")


def mapping(tmp_path: Path, name: str, rules: str) -> str:
    path = tmp_path / f"{name}.syncmap"
    path.write_text(HEAD + rules + "}\n")
    return str(path)


def run(sbx: Sandbox, source: str, state: str, *args: str) -> dict[str, Any]:
    done = sbx.syncmap("run", source, "--state", state, "--format", "json", *args)
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: persons without an email, duplicates (R9)
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def pushed(summary: dict[str, Any]) -> dict[str, int]:
    return next((f for f in summary["flows"] if f["direction"] == "left_to_right"), {})


def fresh_sync(sbx: Sandbox, source: str, state: str, fields: list[str]) -> Picture:
    sbx.reset(pipedrive=PERSONS, seed=SEED)
    run(sbx, source, state)
    return picture(sbx, fields)


def sent(sbx: Sandbox, method: str, path: str) -> int:
    """Requests the APIs took (a 429 refused one, and the runtime sent it again)."""
    return sum(1 for m, p, status in sbx.writes("autopilot") if m == method and p.startswith(path) and status != 429)


@pytest.mark.parametrize("kind", list(CHANGES))
def test_a_changed_mapping_leaves_both_systems_as_a_first_sync_with_it(sbx: Sandbox, tmp_path: Path, kind: str) -> None:
    rules, fields = CHANGES[kind]
    a, b = mapping(tmp_path, "a", BASE), mapping(tmp_path, "b", rules)
    expected = fresh_sync(sbx, b, str(tmp_path / "fresh.db"), fields)

    sbx.reset(pipedrive=PERSONS, seed=SEED)
    run(sbx, a, sbx.state)
    before = picture(sbx, fields)
    changed, created, deleted = before.differing(expected)
    if kind not in NOTHING_TO_WRITE:
        assert changed or deleted, f"the seed gives {kind!r} nothing to change: the case would prove nothing"

    if kind == "field added":
        # The dry run says what the next run does before it does it, and writes nothing.
        sbx.clear_log()
        done = sbx.syncmap("run", b, "--state", sbx.state, "--dry-run")
        assert (
            "pipedrive.Person->autopilot.Contact's rules changed since the last run: every record is read and brought to the new plan" in done.stdout
        )
        assert "explain estimates a full pass of" in done.stdout, done.stdout
        assert sbx.writes("pipedrive") == [] and sbx.writes("autopilot") == []

    sbx.clear_log()
    summary = run(sbx, b, sbx.state)
    after = picture(sbx, fields)
    assert after.persons == expected.persons
    assert after.lists == expected.lists
    assert after.contacts == expected.contacts, {e: (after.contacts.get(e), expected.contacts.get(e)) for e in after.differing(expected)[0]}
    assert [p["pair"] for p in summary["plan_changes"]] == ["pipedrive.Person->autopilot.Contact"]

    # Written: exactly the contacts whose mapped values differ, and nothing in Pipedrive.
    flow = pushed(summary)
    assert (flow.get("updated", 0), flow.get("created", 0), flow.get("deleted", 0)) == (len(changed), len(created), len(deleted))
    if kind in NOTHING_TO_WRITE:
        assert flow["unchanged"] == len(before.contacts)  # every contact read and compared, none written
    assert sent(sbx, "POST", "/v1/contacts") == math.ceil((len(changed) + len(created)) / 100)
    assert sent(sbx, "DELETE", "/v1/contact/") == len(deleted)
    assert sbx.writes("pipedrive") == []

    # The plan is the one the pair last ran with: the next run is incremental and writes nothing.
    status = json.loads(sbx.syncmap("status", "--state", sbx.state, "--format", "json").stdout)
    assert status["pairs"][0]["plan"]["current"] is True
    sbx.clear_log()
    again = run(sbx, b, sbx.state)
    assert again["plan_changes"] == []
    assert sbx.writes("pipedrive") == [] and sbx.writes("autopilot") == []
    if kind == "field removed":
        from syncmap.runtime.state import open_state

        store = open_state(sbx.state)
        try:
            assert all("Phone" not in link.right_values for link in store.iter_links("pipedrive.Person->autopilot.Contact"))
        finally:
            store.close()


TWO_WAY = HEAD.replace("sync pipedrive.Person -> autopilot.Contact {\n  match email.primary = Email\n  deletes pipedrive -> autopilot\n", "") + (
    "sync pipedrive.Person <-> autopilot.Contact {\n"
    '  link pipedrive.custom("apId") = autopilot.contact_id\n'
    "  match email.primary = Email\n"
    '  only autopilot.list("Newsletter") -> pipedrive\n'
    "  first_name <-> FirstName\n  last_name <-> LastName\n  email.primary <-> Email\n"
    '  custom("Referral source") <- LeadSource with map { MAP }\n'
    "}\n"
)


def test_a_changed_value_map_toward_pipedrive_patches_exactly_the_persons_whose_value_differs(sbx: Sandbox, tmp_path: Path) -> None:
    """Two-way, with a link field and a list scope: Pipedrive has no bulk write, so each
    person written is one PATCH, counted in the sandbox's log."""
    a, b = tmp_path / "a.syncmap", tmp_path / "b.syncmap"
    a.write_text(TWO_WAY.replace("MAP", '"Webinar" = "Web"'))
    b.write_text(TWO_WAY.replace("MAP", '"Webinar" = "Online", "Trade Show" = "Event", "Referral" = "Partner", "Web Form" = "Form"'))
    fields = ["FirstName", "LastName", "Email", "LeadSource"]

    def seeded() -> None:
        sbx.reset(pipedrive=20, autopilot=40, seed=SEED)

    seeded()
    run(sbx, str(b), str(tmp_path / "fresh.db"))
    expected = picture(sbx, fields)
    seeded()
    run(sbx, str(a), sbx.state)
    before = picture(sbx, fields)
    differing = sum((Counter(before.persons) - Counter(expected.persons)).values())
    assert differing > 0, "the seed gives the new value map nothing to change: the case would prove nothing"

    sbx.clear_log()
    summary = run(sbx, str(b), sbx.state)
    after = picture(sbx, fields)
    assert after.persons == expected.persons
    assert after.contacts == expected.contacts and after.lists == expected.lists
    patches = [(m, p) for m, p, status in sbx.writes("pipedrive") if status != 429]
    assert len(patches) == differing and all(m == "PATCH" and p.startswith("/api/v2/persons/") for m, p in patches), patches
    assert next(f for f in summary["flows"] if f["direction"] == "right_to_left")["updated"] == differing
    assert [w for w in sbx.writes("autopilot") if w[2] != 429] == []
    sbx.clear_log()
    run(sbx, str(b), sbx.state)
    assert sbx.writes("pipedrive") == [] and sbx.writes("autopilot") == []
