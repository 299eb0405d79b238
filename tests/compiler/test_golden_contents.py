"""What each golden plan must contain, written by hand from its mapping.

The goldens in tests/golden/ are written by tests/regen.py with the same code the golden test
then compares against, so on their own they only detect change. These checks read each
committed golden and assert what its mapping says, in the mapping's own words: a regenerated
golden that drops a date shift's sign, a transform or a scope fails here even though it is
"current"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncmap.compiler.plan import load_plan

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def golden(name: str) -> dict[str, Any]:
    return load_plan(str(GOLDEN / name))


def _path(ref: dict[str, Any]) -> str:
    return ".".join(ref["path"])


def _value(value: dict[str, Any] | None) -> str:
    """A plan value as the mapping wrote it."""
    if value is None:
        return "None"
    kind = value["kind"]
    if kind == "field":
        return _path(value["ref"])
    if kind == "literal":
        return "true" if value["value"] is True else f'"{value["value"]}"'
    if kind == "format":
        return f'"{value["template"]}"'
    if kind == "clock":
        shift = value["shift"]
        return value["base"] if shift is None else f"{value['base']} {shift['sign']} {shift['amount']} {shift['unit']}"
    return kind  # this, me, …


def flows(pair: dict[str, Any]) -> list[str]:
    """Each field operation as a mapping line: `a -> B` (left to right) or `a <- B`."""
    out = []
    for op in pair["fields"]:
        target, source = _path(op["target"]), _value(op["source"])
        line = f"{source} -> {target}" if op["direction"] == "left_to_right" else f"{target} <- {source}"
        extra = [t["name"] for t in op["transforms"]]
        if op["default"] is not None:
            extra.append(f"default {_value(op['default'])}")
        if op["on"] != "always":
            extra.append(f"on {op['on']}")
        if op["implied"]:
            extra.append("implied")
        out.append(line + (f" [{', '.join(extra)}]" if extra else ""))
    return out


def pair_of(plan: dict[str, Any], pair_id: str) -> dict[str, Any]:
    (pair,) = [p for p in plan["pairs"] if p["id"] == pair_id]
    return pair


def steps(plan: dict[str, Any], action: str) -> list[tuple[str, str, dict[str, str]]]:
    (found,) = [a for a in plan["actions"] if a["name"] == action]
    return [(s["verb"], s["target"]["object"], {_path(w["target"]): _value(w["value"]) for w in s["set"]}) for s in found["steps"]]


def match_keys(pair: dict[str, Any]) -> list[list[tuple[str, str | None, str | None]]]:
    def side(v: Any) -> str | None:
        return None if v is None else ".".join(v["path"]) if isinstance(v, dict) else str(v)

    return [[(k["kind"], side(k["left"]), side(k.get("right"))) for k in line.get("keys", [line])] for line in pair["match"]]


ENV_CONNECTIONS = {
    "pipedrive": {"token": {"env": "PIPEDRIVE_API_TOKEN"}, "base_url": {"env": "PIPEDRIVE_BASE_URL"}},
    "autopilot": {"key": {"env": "AUTOPILOT_API_KEY"}, "base_url": {"env": "AUTOPILOT_BASE_URL"}},
}

PERSON_CONTACT_TWO_WAY = [
    "first_name -> FirstName", "first_name <- FirstName",
    "last_name -> LastName", "last_name <- LastName",
    "email.primary -> Email", "email.primary <- Email",
    "phone.primary -> Phone", "phone.primary <- Phone",
]  # fmt: skip

# The four actions both shipped mappings share (Autopilot's Pipedrive actions).
SHARED_ACTIONS = {
    "Add Deal": [("create", "Deal", {"title": '"{FirstName} {LastName}"', "person": "this", "expected_close_date": "today + 30 days"})],
    "Assign Person Owner": [("upsert", "Person", {"owner_id": 'custom("Pipedrive Owner ID", integer)'})],
    "Schedule Activity": [("create", "Activity", {"subject": '"Follow up with {FirstName} {LastName}"', "type": '"call"',
                                                  "due_date": "today + 2 days", "person": "this"})],
    "Update Pipedrive Field": [("update", "Person", {'custom("Lead score")': 'custom("Lead Score", integer)'})],
    "Update Deal Stage": [("update", "Deal", {"stage": '"Negotiation"'})],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("*.plan.yaml")))
def test_every_golden_connects_both_systems_from_the_environment(name: str) -> None:
    plan = golden(name)
    assert plan["plan_version"] == "2.1" and plan["warnings"] == []
    assert {c["system"]: c["settings"] for c in plan["connections"]} == ENV_CONNECTIONS


def test_autopilot_plan() -> None:
    plan = golden("autopilot.plan.yaml")
    assert [p["id"] for p in plan["pairs"]] == ["pipedrive.Person<->autopilot.Contact"]
    pair = plan["pairs"][0]
    assert pair["direction"] == "both"
    assert flows(pair) == PERSON_CONTACT_TWO_WAY + ["organization.name -> Company", "owner.name -> owner_name"]
    assert (_path(pair["link"]["left"]), _path(pair["link"]["right"])) == ('custom("apId")', "contact_id")
    assert match_keys(pair) == [[("field", "email.primary", "Email")]]
    assert [(s["toward"], s["condition"]) for s in pair["scope"]] == [
        ("pipedrive", {"op": "member", "system": "autopilot", "list": "Pipedrive Contacts"})
    ]
    assert (pair["deletes"]["from"], pair["deletes"]["to"]) == ("pipedrive", "autopilot")
    assert pair["owner"]["default"] == {"kind": "me", "system": "pipedrive"}
    assert (pair["empty"]["policy"], pair["conflict"]["policy"]) == ("skip", "newest")
    assert pair["creates"] == pair["updates"] == {"left": True, "right": True}
    # organization.name and owner.name are read through paths: those objects come first
    assert [(s["object"], s["pairs"]) for s in plan["stages"]] == [
        ("pipedrive.User", []), ("pipedrive.Organization", []), ("pipedrive.Person", ["pipedrive.Person<->autopilot.Contact"]),
    ]  # fmt: skip
    assert [a["name"] for a in plan["actions"]] == [
        "Add Deal",
        "Assign Person Owner",
        "Schedule Activity",
        "Update Pipedrive Field",
        "Update Deal Stage",
    ]
    for action, expected in SHARED_ACTIONS.items():
        assert steps(plan, action) == expected, action
    # FAQ: Add Deal, Assign Person Owner and Schedule Activity create the person if missing
    assert {a["name"]: a["creates_person_if_missing"] for a in plan["actions"]} == {
        "Add Deal": True, "Assign Person Owner": True, "Schedule Activity": True,
        "Update Pipedrive Field": False, "Update Deal Stage": False,
    }  # fmt: skip


def test_action_with_this_plan() -> None:
    plan = golden("case-action-with-this.plan.yaml")
    assert plan["pairs"] == [] and plan["stages"] == []
    assert steps(plan, "Update Pipedrive Field") == [("update", "Person", {"job_title": "Title"})]
    (update,) = plan["actions"][0]["steps"]
    where = update["where"]
    assert (where["op"], _value(where["left"]), _value(where["right"])) == ("eq", "email.primary", "Email")
    assert (where["left"]["ref"]["system"], where["right"]["ref"]["system"]) == ("pipedrive", "autopilot")
    assert steps(plan, "Schedule Activity") == [
        ("create", "Activity", {"subject": '"Call {FirstName}"', "type": '"call"', "due_date": "today + 1 days", "person": "this"})
    ]
    (create,) = plan["actions"][1]["steps"]
    subject = next(w["value"] for w in create["set"] if w["target"]["path"] == ["subject"])
    assert {name: (f["system"], f["object"], f["path"]) for name, f in subject["fields"].items()} == {
        "FirstName": ("autopilot", "Contact", ["FirstName"])
    }
    # `1 day` is written singular and planned plural
    due = next(w["value"] for w in create["set"] if w["target"]["path"] == ["due_date"])
    assert due["shift"] == {"sign": "+", "amount": 1, "unit": "days"}
    assert [a["creates_person_if_missing"] for a in plan["actions"]] == [False, True]


def test_include_connections_plan() -> None:
    plan = golden("case-include-connections.plan.yaml")
    assert [f["path"] for f in plan["source"]["files"]] == ["_includes/connections.syncmap", "include-connections.syncmap"]
    (pair,) = plan["pairs"]
    assert (pair["id"], pair["direction"]) == ("pipedrive.Person->autopilot.Contact", "left_to_right")
    # the match key is written on the contact the match creates
    assert flows(pair) == ["first_name -> FirstName", "last_name -> LastName", "email.primary -> Email [on create, implied]"]
    assert match_keys(pair) == [[("field", "email.primary", "Email")]]
    # one way: only Autopilot is written
    assert pair["creates"] == pair["updates"] == {"left": False, "right": True}
    assert pair["link"] is None and pair["scope"] == [] and pair["deletes"] is None and pair["owner"] is None
    assert plan["actions"] == []


def test_one_way_with_transforms_plan() -> None:
    plan = golden("case-one-way-with-transforms.plan.yaml")
    (pair,) = plan["pairs"]
    assert (pair["id"], pair["direction"]) == ("pipedrive.Person<-autopilot.Contact", "right_to_left")
    assert flows(pair) == [
        "first_name <- FirstName [trim]",
        "last_name <- LastName [trim]",
        "email.primary <- Email [trim, lowercase]",
        'phone.primary <- Phone [default "unknown"]',
        'custom("Source") <- LeadSource [map]',
        'custom("Imported") <- true [on create]',
    ]
    (mapped,) = [op for op in pair["fields"] if op["transforms"] and op["transforms"][0]["name"] == "map"]
    assert mapped["transforms"][0]["pairs"] == [["Web", "Website"], ["Ads", "Paid"]]
    (scope,) = pair["scope"]
    assert scope["toward"] == "pipedrive"
    member, negated = scope["condition"]["args"]
    assert scope["condition"]["op"] == "and"
    assert member == {"op": "member", "system": "autopilot", "list": "Newsletter"}
    assert (negated["op"], negated["arg"]["op"], _value(negated["arg"]["value"])) == ("not", "truthy", "unsubscribed")
    assert (pair["empty"]["policy"], pair["conflict"]["policy"], pair["conflict"]["winner"]) == ("write", "system", "pipedrive")
    assert pair["owner"]["default"] == {"kind": "me", "system": "pipedrive"}
    assert pair["creates"] == pair["updates"] == {"left": True, "right": False}
    # the match key is compared after the same normalisation the Email flow applies
    assert pair["match"][0]["keys"][0]["normalize"] == ["trim", "lowercase"]


def test_five_objects_plan() -> None:
    plan = golden("five-objects.plan.yaml")
    assert [p["id"] for p in plan["pairs"]] == [
        "pipedrive.Person<->autopilot.Contact",
        "pipedrive.Organization<-autopilot.Contact",
        "pipedrive.Deal<->autopilot.Contact",
        "pipedrive.Activity->autopilot.Contact",
        "pipedrive.Activity<-autopilot.Activity",
    ]
    # The activities Autopilot's history creates in Pipedrive flow out to the contacts in the
    # same run: the pair that writes the stage's object runs before the pair that reads it out.
    assert plan["stages"][-1] == {
        "stage": 5,
        "object": "pipedrive.Activity",
        "pairs": ["pipedrive.Activity<-autopilot.Activity", "pipedrive.Activity->autopilot.Contact"],
    }
    person = pair_of(plan, "pipedrive.Person<->autopilot.Contact")
    assert flows(person) == PERSON_CONTACT_TWO_WAY + [
        "owner.name -> owner_name",
        'owner_id <- custom("Pipedrive Owner ID", integer)',
        "organization.name -> Company",
        'custom("Lead score") -> custom("Lead Score", integer)',
        'custom("Lead score") <- custom("Lead Score", integer)',
    ]
    lead = [op["conflict"] for op in person["fields"] if op["target"]["path"] in (['custom("Lead score")'], ['custom("Lead Score", integer)'])]
    assert lead == [{"policy": "system", "winner": "pipedrive"}] * 2

    org = pair_of(plan, "pipedrive.Organization<-autopilot.Contact")
    assert flows(org) == ["name <- Company [trim]"]
    assert match_keys(org) == [[("field", "name", "Company")]]
    (where,) = org["filters"]
    assert (where["condition"]["op"], _value(where["condition"]["left"]), where["condition"]["right"]["value"]) == ("ne", "Company", None)

    deal = pair_of(plan, "pipedrive.Deal<->autopilot.Contact")
    assert flows(deal) == [
        'title -> custom("Open Deal", string)',
        'value -> custom("Open Deal Value", float)',
        'expected_close_date -> custom("Expected Close", date)',
        'status -> custom("Deal Status", string) [map]',
        'probability <- custom("Deal Probability", integer)',
    ]
    assert match_keys(deal) == [[("relation", "person", None)]]
    assert [s["condition"] for s in deal["scope"]] == [{"op": "linked"}]
    assert deal["creates"] == {"left": False, "right": False}  # only linked: never creates
    assert [(f["rule"], f["field"]) for f in deal["implicit_filters"]] == [("R19", "expected_close_date")]

    done = pair_of(plan, "pipedrive.Activity->autopilot.Contact")
    assert flows(done) == ['subject -> custom("Last Activity", string)', 'marked_as_done_time -> custom("Last Activity At", date)']
    assert [(f["rule"], f["field"], f["equals"]) for f in done["implicit_filters"]] == [("R16", "done", True)]

    activity = pair_of(plan, "pipedrive.Activity<-autopilot.Activity")
    assert flows(activity) == [
        'type <- "email" [on create]',
        "person <- contact",
        "marked_as_done_time <- occurred_at",
        'subject <- "Autopilot: {kind}"',
        "done <- true",
    ]
    assert match_keys(activity) == [[("relation", "person", "contact"), ("field", "marked_as_done_time", "occurred_at")]]
    assert [s["condition"] for s in activity["scope"]] == [{"op": "new"}]
    assert (activity["creates"], activity["updates"]) == ({"left": True, "right": False}, {"left": False, "right": False})

    for action, expected in SHARED_ACTIONS.items():
        assert steps(plan, action) == expected, action


def test_required_fields_are_asked_only_where_a_pair_creates_or_sends() -> None:
    # R23 (SM307) applies where a pair can create: this one never creates a person.
    update = golden("case-required-not-asked-on-update.plan.yaml")["pairs"][0]
    assert update["creates"] == {"left": False, "right": False} and update["updates"]["left"] is True
    assert [op["target"]["path"] for op in update["fields"]] == [["job_title"]]
    # the runtime still learns the required fields, to refuse a record that lacks one
    assert {r["field"] for r in update["required"]} == {"first_name", "last_name"}


def test_required_fields_are_mapped_in_every_direction_and_match_keys_are_written_on_creation() -> None:
    # R23: deals and activities flowing out map Expected Close and Marked as Done Time.
    plan = golden("case-required-every-direction.plan.yaml")
    pairs = {p["id"]: p for p in plan["pairs"]}
    deal, activity = pairs["pipedrive.Deal->autopilot.Contact"], pairs["pipedrive.Activity->autopilot.Contact"]
    assert deal["creates"] == activity["creates"] == {"left": False, "right": False}
    assert flows(deal)[1] == 'expected_close_date -> custom("Expected Close", date)'
    assert flows(activity)[1] == 'marked_as_done_time -> custom("Last Activity At", date)'
    # No rule writes first_name: the match key is written on the person a match creates.
    (pair,) = golden("case-required-by-match-key.plan.yaml")["pairs"]
    assert flows(pair) == ["last_name <- LastName", "first_name <- FirstName [on create, implied]"]
