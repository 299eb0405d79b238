"""Values written through the real APIs and read back (runtime/wire.py with both connectors,
the sandboxes in-process): for each pair of field types a mapping syncs between a Pipedrive
person (and a deal's expected close date) and an Autopilot contact, both ways, what arrives
reads back equal to what was written, and converting the read value back gives what the
source holds, so a second run finds nothing to write."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox_accounts import sandboxes

from syncmap.runtime.wire import WireError, convert, same_as

# (Pipedrive person field, its type and options, Autopilot custom key, what the values are)
PAIRS = [
    ("Signup", "date", None, "date--Signup--Date", "date"),
    ("Seats", "double", None, "integer--Seats", "integer"),
    ("Lifetime", "double", None, "float--Lifetime--Value", "number"),
    ("Opt In", "enum", ["Yes", "No"], "boolean--Newsletter--Opt--In", "boolean"),
    ("Colour", "enum", ["Red", "Green", "Blue"], "string--Favourite--Colour", "colour"),
    ("Best Time", "time", None, "string--Best--Time", "time"),
]
VALUES = {
    "date": st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31)).map(dt.date.isoformat),
    "integer": st.integers(min_value=-(10**12), max_value=10**12),
    "number": st.floats(min_value=-1e12, max_value=1e12, allow_nan=False).map(lambda f: round(f, 4)),
    "boolean": st.booleans(),
    "colour": st.sampled_from(["Red", "Green", "Blue"]),
    "time": st.times().map(lambda t: t.strftime("%H:%M:%S")),
}
SCALE = 1000.0


def person_ref(name: str) -> dict[str, Any]:
    return {"kind": "custom", "system": "pipedrive", "object": "Person", "custom": {"name": name, "type": None, "key": None}, "type": None}


def contact_ref(key: str) -> dict[str, Any]:
    kind = {"float": "number"}.get(key.partition("--")[0], key.partition("--")[0])
    return {"kind": "custom", "system": "autopilot", "object": "Contact", "custom": {"name": key, "type": kind, "key": key}, "type": kind}


async def round_trips(values: list[dict[str, Any]]) -> None:
    async with sandboxes(time_scale=SCALE, rate=1000) as sbx:
        pd, ap = sbx.connectors["pipedrive"], sbx.connectors["autopilot"]
        for name, field_type, options, _, _ in PAIRS:
            body = {"name": name, "field_type": field_type, **({"options": [{"label": o} for o in options]} if options else {})}
            await pd.http.request("POST", "/v1/personFields", json=body, idempotent=False)
        await pd.load_fields("Person")
        pd_keys = [f"custom:{name}" for name, *_ in PAIRS]
        ap_keys = [f"custom:{key}" for *_, key, _ in PAIRS]
        for number, drawn in enumerate(values):
            # Pipedrive -> Autopilot: the value as the diff writes it into Pipedrive, read back...
            changes = {"first_name": "Val", "last_name": f"Ue{number}"}
            for name, *_, what in PAIRS:
                changes[f"custom:{name}"] = convert(drawn[what], pd.field_type(person_ref(name)))
            made = await pd.create("Person", pd.body("Person", changes, None))
            person = pd.flatten("Person", await pd.get("Person", str(made["id"])), pd_keys).values
            for name, *_ in PAIRS:
                key = f"custom:{name}"
                assert same_as(person[key], changes[key], pd.field_type(person_ref(name))), (name, person[key], changes[key])
            # ... then into Autopilot's field of the pair, read back from Autopilot
            email = f"value{number}@example.com"
            contact_changes: dict[str, Any] = {"Email": email}
            for name, _, _, ap_key, _ in PAIRS:
                try:
                    contact_changes[f"custom:{ap_key}"] = convert(person[f"custom:{name}"], ap.field_type(contact_ref(ap_key)))
                except WireError:
                    assert ap_key.startswith("integer--")  # only a fraction cannot cross (into Autopilot's integer)
            await ap.upsert_many([ap.body(contact_changes, None)])
            contact = ap.flatten("Contact", await ap.get("Contact", email), ap_keys).values
            for name, _, _, ap_key, _ in PAIRS:
                key = f"custom:{ap_key}"
                if key not in contact_changes:
                    continue
                ftype = ap.field_type(contact_ref(ap_key))
                assert same_as(contact[key], contact_changes[key], ftype), (ap_key, contact[key], contact_changes[key])
                # Autopilot -> Pipedrive: the contact's value converted back is what the person
                # holds (the second run of a two-way rule writes nothing)
                assert same_as(convert(contact[key], pd.field_type(person_ref(name))), person[f"custom:{name}"], pd.field_type(person_ref(name)))
            # A deal's expected close date from Autopilot's date field, in its recorded form.
            deal_date = convert(contact["custom:date--Signup--Date"], pd.field_type({"kind": "field", "type": "date"}))
            deal = await pd.create("Deal", pd.body("Deal", {"title": f"Deal {number}", "expected_close_date": deal_date}, None))
            assert (await pd.get("Deal", str(deal["id"])) or {})["expected_close_date"] == drawn["date"]
            # A built-in address is text to the mapping and an object on the wire.
            org = await pd.create(
                "Organization", pd.body("Organization", {"name": f"Org {number}", "address": contact["custom:string--Favourite--Colour"]}, None)
            )
            read = pd.flatten("Organization", await pd.get("Organization", str(org["id"])), ["address"]).values
            assert read["address"] == drawn["colour"]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.fixed_dictionaries(VALUES), min_size=1, max_size=5))
def test_values_written_through_the_apis_read_back_equal_both_ways(values: list[dict[str, Any]]) -> None:
    asyncio.run(round_trips(values))
