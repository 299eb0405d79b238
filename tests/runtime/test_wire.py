"""Values across systems (runtime/wire.py): every pair of field types, both ways.

Properties, for values drawn by hypothesis in each type's canonical form:
- converting twice is converting once (idempotence), from any form a value can arrive in;
- a value written to a system and read back is the value (round trip through the wire form);
- a value converted into another type, written there and read back, compares equal to what
  the diff would write, so a second run writes nothing;
- a value that cannot be converted raises WireError (a dead letter before any request).
"""

from __future__ import annotations

import datetime as dt
import itertools
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncmap.runtime.connectors.autopilot import custom_type as autopilot_type
from syncmap.runtime.connectors.autopilot import fit_custom
from syncmap.runtime.connectors.pipedrive import Pipedrive, decode_custom, encode_custom, refused_body_key
from syncmap.runtime.connectors.pipedrive import custom_type as pipedrive_type
from syncmap.runtime.wire import FieldType, WireError, convert, from_wire, native_type, plan_type, same_as, to_wire

COLOURS = [{"id": 11, "label": "Red"}, {"id": 12, "label": "Green"}, {"id": 13, "label": "Blue"}]
YES_NO = [{"id": 21, "label": "Yes"}, {"id": 22, "label": "No"}]


def pd_field(field_type: str, options: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"key": "a" * 40, "name": f"A {field_type}", "field_type": field_type, "options": options}


# Each field type a mapping can write, as (system, FieldType).
TYPES: dict[str, tuple[str, FieldType]] = {
    "pd.date": ("pipedrive", pipedrive_type(pd_field("date"))),
    "pd.double": ("pipedrive", pipedrive_type(pd_field("double"))),
    "pd.int": ("pipedrive", pipedrive_type(pd_field("int"))),
    "pd.boolean": ("pipedrive", pipedrive_type(pd_field("boolean"))),
    "pd.varchar": ("pipedrive", pipedrive_type(pd_field("varchar"))),
    "pd.enum": ("pipedrive", pipedrive_type(pd_field("enum", COLOURS))),
    "pd.yes_no": ("pipedrive", pipedrive_type(pd_field("enum", YES_NO))),
    "pd.set": ("pipedrive", pipedrive_type(pd_field("set", COLOURS))),
    "pd.monetary": ("pipedrive", pipedrive_type(pd_field("monetary"))),
    "pd.phone": ("pipedrive", pipedrive_type(pd_field("phone"))),
    "pd.time": ("pipedrive", pipedrive_type(pd_field("time"))),
    "pd.expected_close_date": ("pipedrive", FieldType("date")),
    "pd.close_time": ("pipedrive", FieldType("datetime")),
    "pd.email": ("pipedrive", FieldType("email")),
    "ap.date": ("autopilot", autopilot_type("date--Signup--Date")),
    "ap.integer": ("autopilot", autopilot_type("integer--Lead--Score")),
    "ap.float": ("autopilot", autopilot_type("float--Lifetime--Value")),
    "ap.boolean": ("autopilot", autopilot_type("boolean--Opt--In")),
    "ap.string": ("autopilot", autopilot_type("string--Colour")),
    "ap.Phone": ("autopilot", FieldType("phone")),
    "ap.Email": ("autopilot", FieldType("email")),
}

dates = st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)).map(dt.date.isoformat)
# hypothesis bounds are naive; the moments drawn are read as UTC
moments = st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)).map(lambda m: m.replace(microsecond=0))  # noqa: DTZ001
datetimes = moments.map(lambda m: m.isoformat() + "Z")
integers = st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
numbers = integers | st.floats(allow_nan=False, allow_infinity=False, width=64).map(lambda f: int(f) if f.is_integer() and abs(f) < 2**53 else f)
texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1).filter(lambda t: t.strip() != "")
phones = st.from_regex(r"\+?[0-9][0-9 ()-]{3,15}[0-9]", fullmatch=True)
emails = st.emails()
CANONICAL: dict[str, st.SearchStrategy[Any]] = {
    "date": dates,
    "datetime": datetimes,
    "integer": integers,
    "number": numbers,
    "boolean": st.booleans(),
    "string": texts,
    "text": texts,
    "enum": st.sampled_from(["Red", "Green", "Blue"]),
    "set": st.lists(st.sampled_from(["Red", "Green", "Blue"]), min_size=1, unique=True),
    "phone": phones,
    "email": emails,
    "time": st.times().map(lambda t: t.strftime("%H:%M:%S")),
}


def canonical_values(name: str) -> st.SearchStrategy[Any]:
    ftype = TYPES[name][1]
    if name == "pd.yes_no":
        return st.sampled_from(["Yes", "No"])
    assert ftype.kind is not None
    return CANONICAL[ftype.kind]


# Everything a value of one type may arrive as: its canonical form, and each wire form.
def arrivals(name: str) -> st.SearchStrategy[Any]:
    system, ftype = TYPES[name]
    return canonical_values(name).flatmap(lambda v: st.sampled_from([v, to_wire(v, ftype, system)]))


@pytest.mark.parametrize("name", sorted(TYPES))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_value_written_and_read_back_is_the_value(name: str, data: st.DataObject) -> None:
    system, ftype = TYPES[name]
    value = data.draw(canonical_values(name))
    wire = to_wire(value, ftype, system)
    assert from_wire(wire, ftype, system) == convert(value, ftype)
    assert same_as(from_wire(wire, ftype, system), value, ftype)
    # idempotence: the canonical form and the wire form are fixed points of their conversion
    assert convert(convert(value, ftype), ftype) == convert(value, ftype)
    assert to_wire(from_wire(wire, ftype, system), ftype, system) == wire


PAIRS = [(a, b) for a, b in itertools.product(sorted(TYPES), repeat=2) if a.split(".")[0] != b.split(".")[0]]


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_a_value_crossing_systems_settles_in_the_target_form(source: str, target: str, data: st.DataObject) -> None:
    """Read from one system (any of its forms), written to the other: what arrives reads back
    equal to what the diff wrote, converting again changes nothing, and a value the target
    type cannot hold is refused before sending (WireError), never sent as it is."""
    source_system, source_type = TYPES[source]
    target_system, target_type = TYPES[target]
    read = from_wire(data.draw(arrivals(source)), source_type, source_system)
    try:
        written = convert(read, target_type)
    except WireError:
        with pytest.raises(WireError):
            to_wire(read, target_type, target_system)
        return
    assert convert(written, target_type) == written  # converting twice = once
    wire = to_wire(read, target_type, target_system)
    back = from_wire(wire, target_type, target_system)
    assert same_as(back, written, target_type)  # a second run compares equal: nothing to write
    assert same_as(back, read, target_type)


# Pairs whose conversion loses nothing: a -> b -> a gives the value again.
LOSSLESS = [
    ("date", "datetime"),
    ("integer", "number"),
    ("integer", "string"),
    ("number", "string"),
    ("boolean", "string"),
    ("enum", "string"),
    ("date", "string"),
    ("datetime", "string"),
    ("boolean", "yes_no"),
]


@pytest.mark.parametrize(("a", "b"), LOSSLESS)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_lossless_pairs_come_back_unchanged(a: str, b: str, data: st.DataObject) -> None:
    there = TYPES["pd.yes_no"][1] if b == "yes_no" else FieldType(b)
    back = TYPES["pd.enum"][1] if a == "enum" else FieldType(a)
    value = data.draw(CANONICAL[a])
    assert convert(convert(value, there), back) == value


def test_boolean_and_yes_no_options_are_each_other() -> None:
    yes_no = TYPES["pd.yes_no"][1]
    assert to_wire(True, yes_no, "pipedrive") == 21 and to_wire(False, yes_no, "pipedrive") == 22
    assert convert(from_wire(22, yes_no, "pipedrive"), FieldType("boolean")) is False
    assert fit_custom("boolean--Opt--In", "Yes") is True


@pytest.mark.parametrize(
    ("value", "name", "says"),
    [
        ("many", "ap.integer", "is not a number"),
        (4.5, "ap.integer", "is not a whole number"),
        ("many", "pd.double", "is not a number"),
        ("maybe", "ap.boolean", "is not true or false"),
        ("Purple", "pd.enum", "is not one of the field's options ('Red', 'Green', 'Blue')"),
        (["Red", "Purple"], "pd.set", "'Purple' is not one of the field's options"),
        ("2024-02-30", "pd.date", "is not a calendar date"),
        ("next week", "ap.date", "is not a date or time"),
        ("noon", "pd.time", "is not a time of day"),
        (True, "pd.double", "is a boolean, not a number"),
        ("1e999", "ap.float", "is not a finite number"),
    ],
)
def test_a_value_the_field_cannot_hold_is_refused_before_sending(value: Any, name: str, says: str) -> None:
    system, ftype = TYPES[name]
    with pytest.raises(WireError, match=None) as caught:
        to_wire(value, ftype, system)
    assert says in str(caught.value)


def test_autopilot_dates_in_each_recorded_form_are_the_same_day() -> None:
    date = TYPES["pd.expected_close_date"][1]
    moment = dt.datetime(2016, 11, 22, tzinfo=dt.UTC)
    forms = ["2016-11-22T00:00:00.000Z", format_datetime(moment, usegmt=True), int(moment.timestamp() * 1000), "2016-11-22 00:00:00", "2016-11-22"]
    assert {convert(form, date) for form in forms} == {"2016-11-22"}
    # the case: Autopilot's date reaches Pipedrive's date field as YYYY-MM-DD
    assert encode_custom(pd_field("date"), "2016-11-22T00:00:00.000Z") == "2016-11-22"
    assert fit_custom("date--Signup--Date", "2016-11-22") == "2016-11-22T00:00:00.000Z"
    # a moment is the day it falls on in UTC
    assert convert("2016-11-22T23:30:00-02:00", date) == "2016-11-23"


def test_pipedrive_option_ids_labels_and_webhook_shapes_read_as_labels() -> None:
    enum = pd_field("enum", COLOURS)
    assert decode_custom(enum, 12) == "Green"
    assert decode_custom(enum, {"id": 12, "label": "Green"}) == "Green"  # include_option_labels
    assert decode_custom(enum, {"type": "enum", "id": 12}) == "Green"  # webhook v2
    assert decode_custom(pd_field("set", COLOURS), [11, 13]) == ["Red", "Blue"]
    assert decode_custom(pd_field("set", COLOURS), {"type": "set", "values": [{"id": 13}]}) == ["Blue"]  # webhook v2
    assert decode_custom(pd_field("time"), {"type": "time", "value": "09:05:00", "timezone_name": None}) == "09:05:00"
    assert decode_custom(pd_field("monetary"), {"value": 5, "currency": "EUR"}) == 5
    assert encode_custom(enum, "green") == 12  # a label in any case
    assert encode_custom(pd_field("set", COLOURS), "Blue, Red") == [13, 11]


def test_values_meaning_the_same_compare_equal_in_the_target_type() -> None:
    assert same_as("+1 (555) 010-2000", "+15550102000", FieldType("phone"))
    assert same_as("Ann@X.com ", "ann@x.com", FieldType("email"))
    assert same_as(5, 5.0, FieldType("number")) and same_as("5", 5, FieldType("integer"))
    assert same_as("2021-03-04T15:30:00.000Z", "2021-03-04T15:30:00Z", FieldType("datetime"))
    assert same_as("2021-03-04T15:30:00Z", "2021-03-04", FieldType("date"))
    assert same_as("red", "Red", TYPES["pd.enum"][1])
    assert not same_as(True, 1.0, FieldType("number"))  # a boolean is not the number 1
    assert not same_as("2021-03-04T15:30:00Z", "2021-03-04", FieldType("datetime"))


def test_types_come_from_the_plan_and_the_definitions() -> None:
    custom = {"kind": "custom", "custom": {"name": "Lead Score", "type": "number", "key": "float--Lead--Score"}, "type": "number"}
    assert plan_type(custom) == FieldType("number", "float")
    assert plan_type({"kind": "field", "type": "date"}) == FieldType("date")
    assert plan_type({"kind": "relation", "type": "id"}).kind is None
    assert native_type("pipedrive", "daterange").kind is None  # no scalar: sent as it is, the API judges
    assert to_wire("whatever", native_type("pipedrive", "daterange"), "pipedrive") == "whatever"


def test_a_refusal_names_the_body_key() -> None:
    class Refusal:
        def __init__(self, text: str) -> None:
            self.body = {"success": False, "error": text}

    key = "b" * 40
    assert refused_body_key(Refusal(f'"custom_fields.{key}" must be in YYYY-MM-DD format')) == ("custom_fields", key)
    assert refused_body_key(Refusal('"expected_close_date" must be in YYYY-MM-DD format')) == ("expected_close_date", None)
    assert refused_body_key(Refusal('"emails[0].value" is required')) == ("emails", None)
    assert refused_body_key(Refusal("Lost reason can only be set if deal status is lost")) is None
    # ... and the flat keys of the write it refused, so only those fields are left out
    pd = Pipedrive(None)
    pd.custom["Person"] = {"Contract": {"key": key, "name": "Contract", "field_type": "daterange"}}
    changes = {"custom:Contract": "x", "email.primary": "a@b.c", "first_name": "A", "organization": "4"}
    assert pd.refused_keys("Person", Refusal(f'"custom_fields.{key}" must be an object with value and until'), changes) == ["custom:Contract"]
    assert pd.refused_keys("Person", Refusal('"emails[0].value" is required'), changes) == ["email.primary"]
    assert pd.refused_keys("Person", Refusal('"org_id" must be the id of an existing organization'), changes) == ["organization"]
    assert pd.refused_keys("Person", Refusal('"name" must be a string'), changes) == ["first_name"]
    assert pd.refused_keys("Person", Refusal('"body" must be of type object'), changes) == []
