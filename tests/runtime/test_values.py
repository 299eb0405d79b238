"""Plan values, transforms, conditions and timestamps on flat records (runtime/values.py,
runtime/times.py): the pure pieces the diff and the engine stand on."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest

from syncmap.runtime.times import iso_seconds, to_epoch
from syncmap.runtime.values import (
    Context,
    apply_transforms,
    evaluate,
    is_empty,
    normalize_key,
    ref_key,
    refs_in,
    same,
    shifted,
    truth,
)


def field(path: list[str], system: str = "pipedrive") -> dict:
    return {"kind": "field", "ref": {"system": system, "object": "X", "path": path, "kind": "field"}}


def test_flat_keys_name_fields_paths_and_custom_fields() -> None:
    assert ref_key({"kind": "field", "path": ["email", "primary"]}) == "email.primary"
    assert ref_key({"kind": "relation", "path": ["person"]}) == "person"
    assert ref_key({"kind": "custom", "path": ['custom("apId")'], "custom": {"name": "apId", "key": None}}) == "custom:apId"
    # Autopilot's wire key carries the type: two fields of one name and two types stay apart.
    assert (
        ref_key({"kind": "custom", "path": ["x"], "custom": {"name": "Lead Score", "key": "integer--Lead--Score"}}) == "custom:integer--Lead--Score"
    )


@pytest.mark.parametrize("value", [None, "", "   ", [], {}])
def test_empty_values(value) -> None:
    assert is_empty(value)


@pytest.mark.parametrize("value", [0, False, "0", [0], {"a": None}, " x "])
def test_values_that_are_not_empty(value) -> None:
    assert not is_empty(value)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        ("1.50", 1.5, True),
        (True, 1, False),
        ("Ada@X.com ", "ada@x.com", True),
        ("Ada", "ada", False),
        ("2024-01-05", "2024-01-05T00:00:00Z", True),
        ("2024-01-05", "2024-01-06", False),
        (None, "", True),
        (None, 0, False),
        ("a b", "a  b", False),
    ],
)
def test_same_compares_meaning(a, b, equal) -> None:
    assert same(a, b) is equal
    assert same(b, a) is equal


def test_match_keys_are_normalised_as_the_plan_says() -> None:
    assert normalize_key("  Ada@X.COM ", ["trim", "lowercase"]) == "ada@x.com"
    assert normalize_key("  Ada ", []) == "  Ada "
    assert normalize_key("   ", ["trim"]) is None
    assert normalize_key(42, []) == "42"


def test_evaluate_every_kind_of_value() -> None:
    record = {"first_name": "Ada", "last_name": None, "email.primary": "ada@x.com"}
    ctx = Context(
        now=lambda: dt.datetime(2024, 1, 31, 9, 30, tzinfo=dt.UTC),
        me={"pipedrive": 7},
        users_by_name={"pipedrive": {"Riley": 3}},
        this_id="c1",
    )
    assert evaluate(field(["first_name"]), record, ctx) == "Ada"
    assert evaluate({"kind": "literal", "value": 3, "type": "integer"}, record, ctx) == 3
    fmt = {
        "kind": "format",
        "template": "{first} {last} <{mail}>",
        "fields": {"first": field(["first_name"])["ref"], "last": field(["last_name"])["ref"], "mail": field(["email", "primary"])["ref"]},
    }
    assert evaluate(fmt, record, ctx) == "Ada  <ada@x.com>"  # an empty part is empty, not "None"
    assert evaluate({"kind": "clock", "base": "today", "shift": None}, record, ctx) == "2024-01-31"
    assert evaluate({"kind": "clock", "base": "now", "shift": {"sign": "+", "amount": 2, "unit": "hours"}}, record, ctx) == "2024-01-31T11:30:00Z"
    assert evaluate({"kind": "me", "system": "pipedrive"}, record, ctx) == 7
    assert evaluate({"kind": "user", "system": "pipedrive", "name": "Riley"}, record, ctx) == 3
    assert evaluate({"kind": "user_id", "value": 9}, record, ctx) == 9
    assert evaluate({"kind": "this"}, record, ctx) == "c1"
    assert evaluate({"kind": "list", "items": [{"kind": "literal", "value": "a"}, field(["first_name"])]}, record, ctx) == ["a", "Ada"]
    assert evaluate(None, record, ctx) is None
    with pytest.raises(ValueError, match="kind 'member'"):
        evaluate({"kind": "member", "system": "autopilot", "name": "L"}, record, ctx)


def test_a_default_context_knows_no_user_and_no_record_and_reads_the_clock_in_utc() -> None:
    ctx = Context()
    record: dict = {}
    assert evaluate({"kind": "me", "system": "pipedrive"}, record, ctx) is None
    assert evaluate({"kind": "user", "system": "pipedrive", "name": "Riley"}, record, ctx) is None
    assert evaluate({"kind": "this"}, record, ctx) is None
    before = dt.datetime.now(dt.UTC)
    now = ctx.now()
    assert now.utcoffset() == dt.timedelta(0) and before <= now <= dt.datetime.now(dt.UTC)
    assert evaluate({"kind": "clock", "base": "today", "shift": None}, record, ctx) in {
        before.date().isoformat(),
        dt.datetime.now(dt.UTC).date().isoformat(),
    }


@pytest.mark.parametrize(
    ("base", "shift", "expected"),
    [
        (dt.datetime(2024, 1, 31), {"sign": "+", "amount": 1, "unit": "months"}, dt.datetime(2024, 2, 29)),
        (dt.datetime(2023, 1, 31), {"sign": "+", "amount": 1, "unit": "months"}, dt.datetime(2023, 2, 28)),
        (dt.datetime(2024, 3, 31), {"sign": "-", "amount": 1, "unit": "months"}, dt.datetime(2024, 2, 29)),
        (dt.datetime(2024, 1, 15), {"sign": "-", "amount": 2, "unit": "weeks"}, dt.datetime(2024, 1, 1)),
        (dt.datetime(2024, 2, 29), {"sign": "+", "amount": 1, "unit": "years"}, dt.datetime(2025, 2, 28)),
        (dt.datetime(2096, 2, 29), {"sign": "+", "amount": 4, "unit": "years"}, dt.datetime(2100, 2, 28)),  # a century: no leap day
        (dt.datetime(1996, 2, 29), {"sign": "+", "amount": 4, "unit": "years"}, dt.datetime(2000, 2, 29)),  # every 400 years: one
        (dt.datetime(2024, 12, 15), {"sign": "+", "amount": 1, "unit": "months"}, dt.datetime(2025, 1, 15)),
        (dt.datetime(2024, 1, 1, 0, 30), {"sign": "-", "amount": 45, "unit": "minutes"}, dt.datetime(2023, 12, 31, 23, 45)),
    ],
)
def test_date_arithmetic(base, shift, expected) -> None:
    assert shifted(base, shift) == expected


@pytest.mark.parametrize("year", [2023, 2024, 1900, 2000, 2100])
def test_a_month_shift_from_the_31st_lands_on_each_months_last_day(year: int) -> None:
    """Checked against the calendar module: month lengths and the leap years of the centuries."""
    for months in range(12):
        expected = dt.datetime(year, 1 + months, calendar.monthrange(year, 1 + months)[1])
        assert shifted(dt.datetime(year, 1, 31), {"sign": "+", "amount": months, "unit": "months"}) == expected


def test_transforms_in_order_and_maps_both_ways() -> None:
    chain = [{"name": "trim"}, {"name": "lowercase"}, {"name": "map", "pairs": [["won", "Customer"], ["lost", "Lost"]]}]
    assert apply_transforms("  WON ", chain) == "Customer"
    assert apply_transforms("Customer", [chain[2]], backwards=True) == "won"
    assert apply_transforms("other", [chain[2]]) == "other"  # unmapped values pass through
    assert apply_transforms("x", [{"name": "uppercase"}]) == "X"
    assert apply_transforms(None, chain) is None


def test_a_value_map_is_applied_once_even_when_a_target_is_another_pairs_source() -> None:
    swap = [{"name": "map", "pairs": [["won", "lost"], ["lost", "won"]]}]
    assert apply_transforms("won", swap) == "lost"
    assert apply_transforms("lost", swap) == "won"
    assert apply_transforms("won", swap, backwards=True) == "lost"


def test_conditions() -> None:
    ctx = Context()
    record = {"done": True, "stage": "won", "value": 10, "Company": None}
    done = {"op": "truthy", "value": field(["done"])}
    assert truth(done, record, ctx) and not truth(done, {"done": False}, ctx) and not truth(done, {"done": 0}, ctx)
    assert truth({"op": "not", "arg": done}, {"done": None}, ctx)
    ne_null = {"op": "ne", "left": field(["Company"]), "right": {"kind": "literal", "value": None}}
    assert not truth(ne_null, record, ctx) and truth(ne_null, {"Company": "Acme"}, ctx)
    within = {"op": "in", "value": field(["stage"]), "options": [{"kind": "literal", "value": "won"}, {"kind": "literal", "value": "open"}]}
    assert truth(within, record, ctx) and not truth(within, {"stage": "lost"}, ctx)
    gt = {"op": "gt", "left": field(["value"]), "right": {"kind": "literal", "value": 5}}
    assert truth(gt, record, ctx) and not truth(gt, {"value": 5}, ctx) and not truth(gt, {"value": None}, ctx)
    assert truth({"op": "le", "left": field(["value"]), "right": {"kind": "literal", "value": 10}}, record, ctx)
    both = {"op": "and", "args": [done, gt]}
    either = {"op": "or", "args": [{"op": "not", "arg": done}, gt]}
    assert truth(both, record, ctx) and not truth(both, {"done": True, "value": 1}, ctx)
    assert truth(either, {"done": True, "value": 6}, ctx) and not truth(either, {"done": True, "value": 1}, ctx)
    member = {"op": "member", "system": "autopilot", "list": "L"}
    assert truth(member, record, ctx, member=lambda system, name: name == "L")
    assert not truth(member, record, ctx, member=lambda system, name: False) and not truth(member, record, ctx)
    assert truth({"op": "linked"}, record, ctx, linked=True) and not truth({"op": "new"}, record, ctx, linked=True)


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (4, 5, {"lt": True, "le": True, "gt": False, "ge": False}),
        (5, 5.0, {"lt": False, "le": True, "gt": False, "ge": True}),
        ("6", 5, {"lt": False, "le": False, "gt": True, "ge": True}),
        ("2024-01-05", "2024-01-06T00:00:00Z", {"lt": True, "le": True, "gt": False, "ge": False}),
        # values that do not compare (text against a number, a boolean against a number, no
        # value): no ordering holds
        ("abc", 5, {"lt": False, "le": False, "gt": False, "ge": False}),
        (True, 1, {"lt": False, "le": False, "gt": False, "ge": False}),
        (None, 5, {"lt": False, "le": False, "gt": False, "ge": False}),
        (5, "", {"lt": False, "le": False, "gt": False, "ge": False}),
    ],
)
def test_orderings_at_and_around_equality_and_between_values_that_do_not_compare(left, right, expected) -> None:
    ctx = Context()
    for op, holds in expected.items():
        condition = {"op": op, "left": {"kind": "literal", "value": left}, "right": {"kind": "literal", "value": right}}
        assert truth(condition, {}, ctx) is holds, op


def test_refs_in_finds_every_reference() -> None:
    fmt = {"kind": "format", "template": "{a}", "fields": {"a": {"path": ["a"]}}}
    cond = {"op": "and", "args": [{"op": "truthy", "value": field(["done"])}, {"op": "eq", "left": fmt, "right": field(["b"])}]}
    assert sorted(r["path"][0] for r in refs_in(cond)) == ["a", "b", "done"]


@pytest.mark.parametrize(
    ("value", "epoch"),
    [
        ("2024-01-01T00:00:00Z", 1704067200.0),
        ("2024-01-01T00:00:00.250Z", 1704067200.25),
        ("2024-01-01T01:00:00+01:00", 1704067200.0),
        ("Mon, 01 Jan 2024 00:00:00 GMT", 1704067200.0),
        (1704067200250, 1704067200.25),
        ("1704067200250", 1704067200.25),
        (1704067200, 1704067200.0),
        ("2024-01-01 00:00:00", 1704067200.0),
        ("2024-01-01", 1704067200.0),
        (None, None),
        ("", None),
        ("not a time", None),
        (True, None),
    ],
)
def test_timestamps_of_both_apis(value, epoch) -> None:
    assert to_epoch(value) == epoch


def test_updated_since_is_whole_seconds_utc() -> None:
    assert iso_seconds(1704067200.9) == "2024-01-01T00:00:00Z"
