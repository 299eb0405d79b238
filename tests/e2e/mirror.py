"""What `mappings/autopilot.syncmap` promises, checked through both APIs, written from the
mapping and the FAQ (not from the engine): every Pipedrive person with an email of its own is a
contact with the mapped values, carries that contact's id in `apId`, and is on the
"Pipedrive Contacts" list; every complete contact on that list is a Pipedrive person."""

from __future__ import annotations

from typing import Any

from harness import Sandbox, primary

LIST = "Pipedrive Contacts"


def norm(email: Any) -> str | None:
    return str(email).strip().lower() if email and str(email).strip() else None


def snapshot(sbx: Sandbox) -> dict[str, Any]:
    persons = sbx.persons()
    orgs = {o["id"]: o for o in sbx._pd_pages("/api/v2/organizations")}
    users = {u["id"]: u for u in sbx.pd("GET", "/v1/users")["data"]}
    contacts = {c["contact_id"]: c for c in sbx.contacts()}
    ap_id = sbx.person_fields().get("apId")
    return {"persons": persons, "orgs": orgs, "users": users, "contacts": contacts, "apId": ap_id, "roster": sbx.roster(LIST)}


def owners_of_emails(persons: list[dict[str, Any]]) -> dict[str, int]:
    """R9: of the persons sharing an email, the first (lowest id) pairs; the others are reported."""
    first: dict[str, int] = {}
    for person in sorted(persons, key=lambda p: p["id"]):
        email = norm(primary(person["emails"]))
        if email:
            first.setdefault(email, person["id"])
    return first


def check_mirror(sbx: Sandbox, excused: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Assert the mapping holds; return the snapshot for further checks. `excused`: contacts the
    mapping cannot hold as it says, each reported by a dead letter a person must act on (an email
    several Autopilot contacts share: Autopilot's upsert by email reaches another of them)."""
    snap = snapshot(sbx)
    assert snap["apId"], "the link field apId exists in Pipedrive (R11)"
    owners = owners_of_emails(snap["persons"])
    contacts, problems = snap["contacts"], []
    for person in snap["persons"]:
        email = norm(primary(person["emails"]))
        if email is None or owners[email] != person["id"]:
            continue
        contact_id = (person.get("custom_fields") or {}).get(snap["apId"])
        contact = contacts.get(contact_id)
        if contact_id in excused:
            continue
        if contact is None:
            problems.append(f"person {person['id']} ({email}) has no contact (apId={contact_id!r})")
            continue
        # Pipedrive keeps one `name` and splits it itself (the split is unverified: the strict
        # profile splits "Uma Van Dijk" as "Uma Van" + "Dijk"), so names agree as a whole.
        full = lambda *parts: " ".join(p for p in parts if p)  # noqa: E731
        if full(contact.get("FirstName"), contact.get("LastName")) != full(person.get("first_name"), person.get("last_name")):
            problems.append(
                f"person {person['id']}: contact {contact_id} is named {full(contact.get('FirstName'), contact.get('LastName'))!r}, "
                f"expected {person.get('name')!r}"
            )
        expected = {
            "Email": email,
            "Phone": primary(person.get("phones")),
            "Company": (snap["orgs"].get(person.get("org_id")) or {}).get("name"),
            "owner_name": (snap["users"].get(person.get("owner_id")) or {}).get("name"),
        }
        for field, value in expected.items():
            if value in (None, ""):
                continue  # R10: empty values are never written
            got = norm(contact.get(field)) if field == "Email" else contact.get(field)
            if got != value:
                problems.append(f"person {person['id']}: contact {contact_id} {field} = {got!r}, expected {value!r}")
        if contact_id not in snap["roster"]:
            problems.append(f"contact {contact_id} of person {person['id']} is not on {LIST!r} (R7)")
    linked = {(p.get("custom_fields") or {}).get(snap["apId"]): p for p in snap["persons"]}
    for contact_id in snap["roster"]:
        contact = contacts.get(contact_id)
        if not contact or not (contact.get("FirstName") and contact.get("LastName") and norm(contact.get("Email"))):
            continue
        person = linked.get(contact_id)
        if person is None:
            if norm(contact.get("Email")) in owners:
                continue  # paired through a person sharing that email (R9 reports the rest)
            problems.append(f"list member {contact_id} ({contact.get('Email')}) has no Pipedrive person")
    assert not problems, "\n".join(problems)
    return snap
