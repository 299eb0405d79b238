"""Typed custom values both ways between pipedrive.Person and autopilot.Contact (and a deal's
expected close date), `syncmap run` against `syncmap sandbox`: each value arrives in the
target's own form (checked through the APIs), a second run writes nothing (the request log),
and a value Pipedrive refuses is one field-level dead letter that is not sent again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness import CONNECT, Sandbox

MAPPING = (
    CONNECT
    + """

sync pipedrive.Person <-> autopilot.Contact {
  match email.primary = Email
  only autopilot.list("Pipedrive Contacts") -> pipedrive

  first_name         <-> FirstName
  last_name          <-> LastName
  email.primary      <-> Email
  custom("Signup")   <-> custom("Signup Date", date)
  custom("Seats")    <-> custom("Seats", integer)
  custom("Lifetime") <-> custom("Lifetime Value", number)
  custom("Opt In")   <-> custom("Newsletter Opt In", boolean)
  custom("Colour")   <-> custom("Favourite Colour", string)
  # A date range holds no text: Pipedrive refuses the value, naming the field.
  custom("Contract") <-  custom("Favourite Colour", string)
}

sync pipedrive.Deal <-> autopilot.Contact {
  match person
  where expected_close_date != null
  only linked -> pipedrive

  title               -> custom("Open Deal", string)
  expected_close_date <-> custom("Expected Close", date)
}
"""
)
FIELDS = [("Signup", "date", None), ("Seats", "double", None), ("Lifetime", "double", None), ("Opt In", "enum", ["Yes", "No"])]
FIELDS += [("Colour", "enum", ["Red", "Green", "Blue"]), ("Contract", "daterange", None)]
PERSONS = [  # made in Pipedrive: (first, last, email, Signup, Seats, Lifetime, Opt In, Colour)
    ("Ada", "Lovelace", "ada@example.com", "2024-05-06", 12, 1234.5, "Yes", "Green"),
    ("Alan", "Turing", "alan@example.com", "1999-12-31", 0, 0.25, "No", "Red"),
]
CONTACTS = [  # made in Autopilot, on the list: (first, last, email, date, integer, float, boolean, string)
    ("Grace", "Hopper", "grace@example.com", "2023-02-03T00:00:00.000Z", 7, 99.25, False, "blue"),
    ("Edsger", "Dijkstra", "edsger@example.com", "2030-07-08T00:00:00.000Z", 1000000, -3.5, True, "Red"),
]
LIST = "Pipedrive Contacts"


def run(sbx: Sandbox, mapping: Path) -> tuple[int, dict[str, Any]]:
    done = sbx.syncmap("run", str(mapping), "--state", sbx.state, "--format", "json")
    assert done.returncode in (0, 1), done.stderr + done.stdout[-2000:]
    return done.returncode, json.loads(done.stdout)


def custom(contact: dict[str, Any], name: str) -> Any:
    return next((f["value"] for f in contact.get("custom_fields") or () if f["kind"] == name), None)


def seed(sbx: Sandbox) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """The person fields (name -> key, and option label -> id), the persons, a deal and the contacts."""
    options: dict[str, dict[str, int]] = {}
    for name, field_type, labels in FIELDS:
        body: dict[str, Any] = {"name": name, "field_type": field_type}
        if labels:
            body["options"] = [{"label": label} for label in labels]
        made = sbx.pd("POST", "/v1/personFields", json=body)["data"]
        options[name] = {o["label"]: o["id"] for o in made.get("options") or ()}
    keys = sbx.person_fields()
    for first, last, email, signup, seats, lifetime, opt_in, colour in PERSONS:
        values = {"Signup": signup, "Seats": seats, "Lifetime": lifetime, "Opt In": options["Opt In"][opt_in], "Colour": options["Colour"][colour]}
        body = {"name": f"{first} {last}", "emails": [{"value": email, "primary": True}], "custom_fields": {keys[k]: v for k, v in values.items()}}
        person = sbx.pd("POST", "/api/v2/persons", json=body)["data"]
        if first == "Ada":
            sbx.pd("POST", "/api/v2/deals", json={"title": "Engines", "person_id": person["id"], "expected_close_date": "2027-01-15"})
    list_id = sbx.ap("POST", "/list", json={"name": LIST})["list_id"]
    contacts = []
    for first, last, email, date, integer, number, boolean, text in CONTACTS:
        custom_values = {
            "date--Signup--Date": date,
            "integer--Seats": integer,
            "float--Lifetime--Value": number,
            "boolean--Newsletter--Opt--In": boolean,
            "string--Favourite--Colour": text,
        }
        contacts.append({"Email": email, "FirstName": first, "LastName": last, "custom": custom_values})
    made = sbx.ap("POST", "/contacts", json={"contacts": contacts})["email_contact_map"]
    for contact_id in made.values():
        sbx.ap("POST", f"/list/{list_id}/contact/{contact_id}")
    return keys, options


def test_typed_values_arrive_in_the_targets_form_settle_and_a_refused_value_is_one_letter(sbx: Sandbox, tmp_path: Path) -> None:
    mapping = tmp_path / "typed.syncmap"
    mapping.write_text(MAPPING)
    keys, options = seed(sbx)
    label = {name: {v: k for k, v in ids.items()} for name, ids in options.items()}

    code, summary = run(sbx, mapping)
    # Pipedrive refused the text for the date range of each person made from a contact: one
    # field-level letter each, and the rest of the person was written.
    refused = [d for d in summary["dead_letters"] if d["reason"] == "value_refused"]
    assert code == 1 and len(refused) == len(CONTACTS), summary["dead_letters"]
    assert all(d["message"].startswith("Pipedrive refused the value of Contract") and "must be an object" in d["message"] for d in refused)
    assert {d["reason"] for d in summary["dead_letters"]} == {"value_refused"}

    # Autopilot -> Pipedrive: dates as YYYY-MM-DD, numbers, options by id (labels matched in any case).
    persons = {p["emails"][0]["value"]: p for p in sbx.persons()}
    for first, last, email, date, integer, number, boolean, text in CONTACTS:
        values = persons[email]["custom_fields"]
        assert (persons[email]["first_name"], persons[email]["last_name"]) == (first, last)
        assert values[keys["Signup"]] == date[:10]
        assert values[keys["Seats"]] == integer and values[keys["Lifetime"]] == number
        assert label["Opt In"][values[keys["Opt In"]]] == ("Yes" if boolean else "No")
        assert label["Colour"][values[keys["Colour"]]] == text.capitalize()
        assert values[keys["Contract"]] is None
    # Pipedrive -> Autopilot: dates as Autopilot keeps them, integers, floats, booleans, labels.
    contacts = {c["Email"]: c for c in sbx.contacts()}
    for _, _, email, signup, seats, lifetime, opt_in, colour in PERSONS:
        contact = contacts[email]
        assert custom(contact, "Signup Date") == f"{signup}T00:00:00.000Z"
        assert custom(contact, "Seats") == seats and isinstance(custom(contact, "Seats"), int)
        assert custom(contact, "Lifetime Value") == lifetime
        assert custom(contact, "Newsletter Opt In") is (opt_in == "Yes")
        assert custom(contact, "Favourite Colour") == colour
    assert custom(contacts["ada@example.com"], "Expected Close") == "2027-01-15T00:00:00.000Z"

    # Nothing changed: the second run writes nothing, and the refused value is not sent again.
    sbx.clear_log()
    code, summary = run(sbx, mapping)
    assert (code, summary["dead_letters"]) == (0, [])
    assert sbx.writes("pipedrive") == [] and sbx.writes("autopilot") == []

    # The case: Autopilot's date reaches the deal's expected close date as YYYY-MM-DD.
    ada = contacts["ada@example.com"]
    edit = {"Email": ada["Email"], "custom": {"date--Expected--Close": "2027-03-01T00:00:00.000Z"}}
    sbx.control("autopilot", "POST", "app/contact", {"contact_id": ada["contact_id"], "contact": edit})
    sbx.clear_log()
    code, summary = run(sbx, mapping)
    assert code == 0, summary["dead_letters"]
    deal = next(d for d in sbx._pd_pages("/api/v2/deals") if d["title"] == "Engines")
    assert deal["expected_close_date"] == "2027-03-01"
    assert [(m, p) for m, p, _ in sbx.writes("pipedrive")] == [("PATCH", f"/api/v2/deals/{deal['id']}")]
    sbx.clear_log()
    run(sbx, mapping)
    assert sbx.writes("pipedrive") == [] and sbx.writes("autopilot") == []

    # The letters stay open, one per record, each seen once: the refused value was never resent.
    status = json.loads(sbx.syncmap("status", "--state", sbx.state, "--format", "json").stdout)
    letters = [d for d in status["dead_letters"] if d["reason"] == "value_refused"]
    assert len(letters) == len(CONTACTS), letters
    assert all(d["count"] == 1 and d["details"]["fields"] == ["custom:Contract"] for d in letters), letters
