"""The diff (runtime/diff.py): what to write for one pair of records. Pure, so tested directly
with hand-built field operations; each case states the rule it pins."""

from __future__ import annotations

import datetime as dt

import pytest

from syncmap.runtime.diff import diff, digest_ops, keys_of, snapshot_after
from syncmap.runtime.values import Context

SPAN_A = {"file": "m.syncmap", "line": 10, "col": 3, "end_line": 10, "end_col": 30}
SPAN_B = {"file": "m.syncmap", "line": 11, "col": 3, "end_line": 11, "end_col": 30}
SPAN_C = {"file": "m.syncmap", "line": 12, "col": 3, "end_line": 12, "end_col": 30}


def ref(system: str, path: list[str], **extra) -> dict:
    return {"system": system, "object": "X", "path": path, "via": [], "kind": "field", "field": {"name": path[-1]}, "type": "string", **extra}


def field_op(direction: str, source: list[str], target: list[str], span: dict, **extra) -> dict:
    src_system, tgt_system = ("pipedrive", "autopilot") if direction == "left_to_right" else ("autopilot", "pipedrive")
    return {
        "direction": direction,
        "source": {"kind": "field", "ref": ref(src_system, source)},
        "target": ref(tgt_system, target),
        "transforms": extra.get("transforms", []),
        "default": extra.get("default"),
        "conflict": extra.get("conflict"),
        "on": extra.get("on", "always"),
        "span": span,
    }


def two_way(left: str, right: str, span: dict, **extra) -> list[dict]:
    return [field_op("left_to_right", [left], [right], span, **extra), field_op("right_to_left", [right], [left], span, **extra)]


OPS = digest_ops([*two_way("first_name", "FirstName", SPAN_A), field_op("left_to_right", ["org"], ["Company"], SPAN_B)])
SYSTEMS = {"left": "pipedrive", "right": "autopilot"}
BOTH = {"left": True, "right": True}


def run(records, snapshots, *, ops=OPS, writable=BOTH, conflict=None, empty="skip", newest="left"):
    return diff(
        ops,
        records,
        snapshots,
        Context(),
        writable=writable,
        systems=SYSTEMS,
        pair_conflict=conflict or {"policy": "newest"},
        empty_policy=empty,
        newest=newest,
    )


def test_nothing_changed_since_the_last_sync_writes_nothing() -> None:
    left = {"first_name": "Ada", "org": "Engines"}
    right = {"FirstName": "Ada", "Company": "Engines"}
    result = run({"left": left, "right": right}, {"left": dict(left), "right": dict(right)})
    assert result.changes == {"left": {}, "right": {}} and not result.conflicts


def test_a_change_on_one_side_is_written_to_the_other_only() -> None:
    before = {"left": {"first_name": "Ada", "org": "E"}, "right": {"FirstName": "Ada", "Company": "E"}}
    result = run({"left": {"first_name": "Augusta", "org": "E"}, "right": {"FirstName": "Ada", "Company": "E"}}, before)
    assert result.changes == {"left": {}, "right": {"FirstName": "Augusta"}}
    result = run({"left": {"first_name": "Ada", "org": "E"}, "right": {"FirstName": "Augusta", "Company": "E"}}, before)
    assert result.changes == {"left": {"first_name": "Augusta"}, "right": {}}


def test_a_value_the_other_system_rewrote_its_own_way_does_not_bounce() -> None:
    # We wrote "Mary Ann"; the CRM split it and now shows "Mary". Neither side's source changed
    # since the last sync (the snapshot holds what each side showed after the write): no write.
    snapshots = {"left": {"first_name": "Mary", "org": None}, "right": {"FirstName": "Mary Ann", "Company": None}}
    result = run({"left": {"first_name": "Mary", "org": None}, "right": {"FirstName": "Mary Ann", "Company": None}}, snapshots)
    assert result.changes == {"left": {}, "right": {}}


def test_both_sides_changed_newest_wins_and_the_loser_is_reported() -> None:
    before = {"left": {"first_name": "Ada", "org": None}, "right": {"FirstName": "Ada", "Company": None}}
    now = {"left": {"first_name": "Left", "org": None}, "right": {"FirstName": "Right", "Company": None}}
    result = run(now, before, newest="right")
    assert result.changes == {"left": {"first_name": "Right"}, "right": {}}
    [conflict] = result.conflicts
    assert (conflict.winner, conflict.kept, conflict.lost, conflict.policy) == ("right", "Right", "Left", "newest")
    result = run(now, before, newest="left")
    assert result.changes == {"left": {}, "right": {"FirstName": "Left"}}
    assert result.conflicts[0].lost == "Right"


def test_a_field_policy_overrides_the_pairs() -> None:
    ops = digest_ops(two_way("first_name", "FirstName", SPAN_A, conflict={"policy": "system", "winner": "pipedrive"}))
    before = {"left": {"first_name": "Ada"}, "right": {"FirstName": "Ada"}}
    now = {"left": {"first_name": "Left"}, "right": {"FirstName": "Right"}}
    result = run(now, before, ops=ops, newest="right", conflict={"policy": "system", "winner": "autopilot"})
    assert result.changes == {"left": {}, "right": {"FirstName": "Left"}}
    assert result.conflicts[0].policy == "system"


def test_empty_values_are_never_written_under_skip_and_are_under_write() -> None:
    before = {"left": {"first_name": "Ada", "org": "E"}, "right": {"FirstName": "Ada", "Company": "E"}}
    now = {"left": {"first_name": "  ", "org": None}, "right": {"FirstName": "Ada", "Company": "E"}}
    assert run(now, before).changes == {"left": {}, "right": {}}  # R10
    assert run(now, before, empty="write").changes == {"left": {}, "right": {"FirstName": "  ", "Company": None}}


def test_a_record_to_create_gets_every_mapped_non_empty_value() -> None:
    result = run({"left": {"first_name": "Ada", "org": None}, "right": None}, {"left": None, "right": None})
    assert result.changes == {"left": {}, "right": {"FirstName": "Ada"}}


def test_first_pairing_fills_empty_targets_and_settles_differences_by_policy() -> None:
    # Never synced: an empty target is filled; a non-empty, different one is a conflict.
    result = run(
        {"left": {"first_name": "Ada", "org": "E"}, "right": {"FirstName": None, "Company": "Other"}}, {"left": None, "right": None}, newest="right"
    )
    assert result.changes == {"left": {}, "right": {"FirstName": "Ada", "Company": "E"}}
    # Company is one-way (org -> Company): no conflict, the source side owns it.
    assert not result.conflicts


def test_sides_that_may_not_be_written_are_left_alone() -> None:
    before = {"left": {"first_name": "Ada", "org": "E"}, "right": {"FirstName": "Ada", "Company": "E"}}
    now = {"left": {"first_name": "New", "org": "F"}, "right": {"FirstName": "Ada", "Company": "E"}}
    assert run(now, before, writable={"left": True, "right": False}).changes == {"left": {}, "right": {}}


def test_create_only_operations_apply_to_new_records_only() -> None:
    ops = digest_ops(
        [{**field_op("right_to_left", ["x"], ["type"], SPAN_C, on="create"), "source": {"kind": "literal", "value": "email", "type": "string"}}]
    )
    assert run({"left": None, "right": {}}, {"left": None, "right": None}, ops=ops).changes["left"] == {"type": "email"}
    # an existing record, even one never synced before, keeps its own value
    assert run({"left": {"type": "call"}, "right": {}}, {"left": None, "right": None}, ops=ops).changes["left"] == {}


def test_a_constant_is_asserted_once_not_against_a_person_who_changed_it() -> None:
    ops = digest_ops(
        [
            {
                **field_op("right_to_left", ["x"], ["done"], SPAN_C),
                "source": {"kind": "literal", "value": True, "type": "boolean"},
                "target": ref("pipedrive", ["done"], type="boolean"),
            }
        ]
    )
    # first sync: written
    assert run({"left": {"done": False}, "right": {}}, {"left": None, "right": None}, ops=ops).changes["left"] == {"done": True}
    # synced before, someone unticked it since: left alone
    assert run({"left": {"done": False}, "right": {}}, {"left": {"done": True}, "right": {}}, ops=ops).changes["left"] == {}


def test_default_fills_an_empty_source_and_value_maps_read_backwards_on_the_way_back() -> None:
    pairs = [["open", "Open"], ["won", "Customer"]]
    ops = digest_ops(
        two_way(
            "status", "Status", SPAN_A, transforms=[{"name": "map", "pairs": pairs}], default={"kind": "literal", "value": "Lead", "type": "string"}
        )
    )
    result = run({"left": {"status": "won"}, "right": None}, {"left": None, "right": None}, ops=ops)
    assert result.changes["right"] == {"Status": "Customer"}
    result = run({"left": None, "right": {"Status": "Customer"}}, {"left": None, "right": None}, ops=ops)
    assert result.changes["left"] == {"status": "won"}
    result = run({"left": {"status": None}, "right": None}, {"left": None, "right": None}, ops=ops)
    assert result.changes["right"] == {"Status": "Lead"}  # the default is the value written, as it is


@pytest.mark.parametrize(("a", "b"), [(5, 5.0), ("5", 5), ("ADA@x.com", "ada@x.com"), ("2024-03-05", "2024-03-05T00:00:00.000Z")])
def test_values_that_mean_the_same_are_not_changes(a, b) -> None:
    ops = digest_ops([field_op("left_to_right", ["v"], ["V"], SPAN_A)])
    assert run({"left": {"v": a}, "right": {"V": b}}, {"left": {"v": a}, "right": {"V": b}}, ops=ops).changes["right"] == {}
    assert run({"left": {"v": a}, "right": {"V": b}}, {"left": None, "right": None}, ops=ops).changes["right"] == {}


def test_keys_and_snapshots() -> None:
    assert keys_of(OPS, "left") == ["first_name", "org"]
    assert keys_of(OPS, "right") == ["FirstName", "Company"]
    assert snapshot_after({"a": 1, "b": 2}, {"b": 3}, ["a", "b", "c"]) == {"a": 1, "b": 3, "c": None}


def test_a_negative_date_shift_goes_back_in_time() -> None:
    from syncmap.runtime.values import evaluate

    ctx = Context(now=lambda: dt.datetime(2024, 3, 31, 12, tzinfo=dt.UTC))
    back = {"kind": "clock", "base": "today", "shift": {"sign": "-", "amount": 3, "unit": "days"}}
    ahead = {"kind": "clock", "base": "today", "shift": {"sign": "+", "amount": 1, "unit": "months"}}
    assert evaluate(back, {}, ctx) == "2024-03-28"
    assert evaluate(ahead, {}, ctx) == "2024-04-30"  # 31 March + 1 month: the month's last day


def test_every_operation_is_considered_whatever_the_ones_before_it_decided() -> None:
    """Each reason to skip one operation (side not writable, create-only on an existing record,
    empty value, already equal, source unchanged, the other half of a conflict) leaves the
    operations after it to be decided on their own."""
    ops = digest_ops(
        [
            field_op("left_to_right", ["a"], ["A"], SPAN_A),  # equal already
            field_op("left_to_right", ["b"], ["B"], SPAN_B),  # empty source
            {**field_op("left_to_right", ["c"], ["C"], SPAN_C), "on": "create"},  # create-only
            *two_way("d", "D", {**SPAN_A, "line": 20}),  # conflict: left wins
            field_op("left_to_right", ["e"], ["E"], {**SPAN_A, "line": 21}),  # unchanged source
            field_op("left_to_right", ["f"], ["F"], {**SPAN_A, "line": 22}),  # written
        ]
    )
    left = {"a": 1, "b": None, "c": "x", "d": "L", "e": "same", "f": "new"}
    right = {"A": 1, "B": "keep", "C": "y", "D": "R", "E": "other", "F": "old"}
    snapshots = {
        "left": {"a": 1, "b": "was", "c": "x", "d": "d0", "e": "same", "f": "f0"},
        "right": {"A": 1, "B": "keep", "C": "y", "D": "d0", "E": "other", "F": "old"},
    }
    result = diff(
        ops, {"left": left, "right": right}, snapshots, Context(), writable=BOTH, systems=SYSTEMS, pair_conflict={}, newest="left"
    )  # no pair policy given: newest
    assert result.changes == {"left": {}, "right": {"D": "L", "F": "new"}}
    assert result.any() and [c.policy for c in result.conflicts] == ["newest"]
    assert not diff(
        ops, {"left": left, "right": right}, snapshots, Context(), writable={"left": False, "right": False}, systems=SYSTEMS, pair_conflict={}
    ).any()


def test_a_value_its_target_type_cannot_hold_is_a_misfit_and_the_rest_is_written() -> None:
    """Validated before sending: converted into the target's type, or reported and left out."""
    score = {**field_op("left_to_right", ["score"], ["Score"], SPAN_B), "target": ref("autopilot", ["Score"], type="integer")}
    signup = {**field_op("left_to_right", ["signup"], ["Signup"], SPAN_C), "target": ref("autopilot", ["Signup"], type="date")}
    ops = digest_ops([field_op("left_to_right", ["first_name"], ["FirstName"], SPAN_A), score, signup])
    records = {"left": {"first_name": "Ada", "score": "46.7", "signup": "2024-03-05T10:00:00Z"}, "right": {"FirstName": "A"}}
    result = run(records, {"left": None, "right": None}, ops=ops)
    assert result.changes["right"] == {"FirstName": "Ada", "Signup": "2024-03-05"}
    assert [(m.side, m.field) for m in result.misfits] == [("right", "Score")]
    assert result.misfits[0].message == "'46.7' is not a whole number, and the Autopilot field 'Score' is an integer field"
    # written and read back in the target's form: nothing more to write
    records["right"] = {"FirstName": "Ada", "Signup": "2024-03-05T00:00:00.000Z"}
    assert run(records, {"left": None, "right": None}, ops=ops).changes["right"] == {}
