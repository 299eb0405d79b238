"""Compiler behaviours the shipped cases never reach: the right-hand side of a pair, a negative
date shift, and a secret that only the catalog knows is one. Each mapping is written here, so
the test says exactly which case it covers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from syncmap.compiler.api import check, compile_plan, parse
from syncmap.compiler.catalog import clear_cache
from syncmap.compiler.lower import lower
from syncmap.compiler.semantic import analyse
from syncmap.compiler.sources import load
from syncmap.compiler.structure import check_structure

CATALOGS = Path(__file__).resolve().parents[2] / "compiler" / "catalogs"

CONNECT = """syncmap 1

connect pipedrive {
  token = env("PIPEDRIVE_API_TOKEN")
}

connect autopilot {
  key = env("AUTOPILOT_API_KEY")
}
"""

# persons paired with contacts, which `match person` and `person <- contact` rely on (SM324)
PERSONS = """
sync pipedrive.Person <-> autopilot.Contact {
  link pipedrive.custom("apId") = autopilot.contact_id
  match email.primary = Email
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  first_name <-> FirstName
  last_name  <-> LastName
}
"""


def _from_memory(text: str) -> dict[str, str]:
    return {"m.syncmap": text}


def _codes(text: str) -> list[tuple[str, str]]:
    result = check("m.syncmap", _from_memory(text).__getitem__)
    return [(d.code, d.message) for d in result.diagnostics]


def _plan(text: str) -> dict[str, Any]:
    """The plan of a mapping that must compile."""
    result = compile_plan("m.syncmap", _from_memory(text).__getitem__)
    assert result.plan is not None, [d.message for d in result.diagnostics]
    return result.plan


def _write_into(plan: dict[str, Any], path: list[str]) -> dict[str, Any]:
    """The first pair's one write into the field at `path`."""
    (write,) = [f for f in plan["pairs"][0]["fields"] if f["target"]["path"] == path]
    return write


# ------------------------------------------------------------------ required fields, both sides


def test_required_field_of_the_right_hand_object_must_be_mapped() -> None:
    # Persons are usually created from contacts: Person on the right, without last_name.
    text = (
        CONNECT
        + """
sync autopilot.Contact -> pipedrive.Person {
  match Email = email.primary
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  FirstName -> first_name
}
"""
    )
    assert _codes(text) == [
        (
            "SM307",
            "Pipedrive Person requires `last_name` (Last Name), but this sync can create one from an "
            "Autopilot Contact and nothing writes it autopilot -> pipedrive",
        ),
    ]


def test_required_fields_of_the_right_hand_object_are_satisfied_when_mapped() -> None:
    text = (
        CONNECT
        + """
sync autopilot.Contact -> pipedrive.Person {
  match Email = email.primary
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  FirstName -> first_name
  LastName -> last_name
}
"""
    )
    assert _codes(text) == []


def test_required_fields_are_reported_for_each_side_that_misses_them() -> None:
    text = (
        CONNECT
        + """
sync autopilot.Contact -> pipedrive.Person {
  match Email = email.primary
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  Company -> job_title
}
"""
    )
    assert [code for code, _ in _codes(text)] == ["SM307", "SM307"]
    assert {message.split("`")[1] for _, message in _codes(text)} == {"first_name", "last_name"}


# ------------------------------------------------------------------ date shifts


def step_value(field: str, written: str) -> Any:
    """The lowered value of `field = written` in a Schedule Activity step."""
    text = (
        CONNECT
        + f"""
action "Schedule Activity" on autopilot.Contact {{
  create pipedrive.Activity {{
    subject = "Call"
    type = "call"
    {field} = {written}
    person = this
  }}
}}
"""
    )
    plan = _plan(text)
    (step,) = plan["actions"][0]["steps"]
    (value,) = [s["value"] for s in step["set"] if s["target"]["path"] == [field]]
    return value


@pytest.mark.parametrize(("written", "sign", "amount", "unit"), [
    ("today - 3 days", "-", 3, "days"),
    ("today + 3 days", "+", 3, "days"),
    ("now - 1 hour", "-", 1, "hours"),
])  # fmt: skip
def test_a_date_shift_keeps_its_sign_in_the_plan(written: str, sign: str, amount: int, unit: str) -> None:
    base = written.split()[0]
    assert step_value("due_date", written) == {"kind": "clock", "base": base, "shift": {"sign": sign, "amount": amount, "unit": unit}}


@pytest.mark.parametrize(("written", "lowered"), [
    ("pipedrive.me", {"kind": "me", "system": "pipedrive"}),
    ('pipedrive.user("Ada Lovelace")', {"kind": "user", "system": "pipedrive", "name": "Ada Lovelace"}),
])  # fmt: skip
def test_an_owner_set_by_an_action_step_is_lowered_as_the_user_it_names(written: str, lowered: dict[str, str]) -> None:
    # `owner default` has its own path through lowering; a step's value goes through the one
    # every field value takes.
    assert step_value("owner_id", written) == lowered


@pytest.mark.parametrize(("written", "expected"), [
    ('"2024-01-31"', []),  # a date is written as a string
    ("5", [("SM304", "an integer value cannot be written into `due_date`, which holds date")]),
])  # fmt: skip
def test_a_date_field_takes_a_string_constant_and_no_other(written: str, expected: list[tuple[str, str]]) -> None:
    text = (
        CONNECT
        + f"""
action "Schedule Activity" on autopilot.Contact {{
  create pipedrive.Activity {{
    subject = "Call"
    type = "call"
    due_date = {written}
    person = this
  }}
}}
"""
    )
    assert _codes(text) == expected


def test_a_default_reads_its_value_from_the_side_opposite_its_target() -> None:
    text = (
        CONNECT
        + """
sync pipedrive.Person -> autopilot.Contact {
  match email.primary = Email
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  first_name -> FirstName
  last_name -> LastName
  default Phone = phone.primary
}
"""
    )
    write = _write_into(_plan(text), ["Phone"])
    assert (write["direction"], write["on"]) == ("left_to_right", "create")
    assert (write["source"]["ref"]["system"], write["source"]["ref"]["path"]) == ("pipedrive", ["phone", "primary"])


BAD_LINK = "`link` keeps one side's id in a custom field of the other, where its catalog says a link can be kept"


@pytest.mark.parametrize(("link", "expected"), [
    ('pipedrive.custom("apId") = autopilot.contact_id', []),
    # neither side's id: nothing to keep the partner's id in
    ('pipedrive.custom("apId") = autopilot.Email', [("SM320", BAD_LINK)]),
    # the runtime writes the partner's id into a custom field it creates if missing (R11): a
    # plain field, even a writable one, would never be written
    ("pipedrive.id = autopilot.Website", [("SM320", BAD_LINK)]),
    ("pipedrive.id = autopilot.created_at", [("SM320", BAD_LINK)]),
    # nor does Autopilot keep Pipedrive's id: only Autopilot's catalog has a link field rule
    ('pipedrive.id = autopilot.custom("pdId", integer)', [("SM320", BAD_LINK)]),
    # two ids, nothing to keep them in
    ("pipedrive.id = autopilot.contact_id", [("SM320", BAD_LINK)]),
])  # fmt: skip
def test_a_link_pairs_exactly_one_id_field_with_a_field_that_keeps_it(link: str, expected: list[tuple[str, str]]) -> None:
    text = (
        CONNECT
        + f"""
sync pipedrive.Person <-> autopilot.Contact {{
  link {link}
  match email.primary = Email
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  first_name <-> FirstName
  last_name <-> LastName
}}
"""
    )
    assert _codes(text) == expected


def test_an_owner_default_on_a_side_without_owners_is_sm314() -> None:
    # pipedrive.me is a user, but Pipedrive's users have no owner field to put one in.
    text = (
        CONNECT
        + """
sync pipedrive.User -> autopilot.Contact {
  match email = Email
  owner default pipedrive.me
  name -> FirstName
}
"""
    )
    owner = '`owner default` needs `SYSTEM.me`, a user id or `SYSTEM.user("Name")` of a side that has owners'
    assert [(code, m) for code, m in _codes(text) if code == "SM314"] == [("SM314", owner)]


@pytest.mark.parametrize(("owner", "accepted"), [("1", True), ("0", False), ("pipedrive.me", True)])
def test_an_owner_default_may_be_any_positive_user_id(owner: str, accepted: bool) -> None:
    text = (
        CONNECT
        + f"""
sync pipedrive.Person <- autopilot.Contact {{
  match email.primary = Email
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  owner default {owner}
  first_name <- FirstName
  last_name <- LastName
}}
"""
    )
    assert ("SM314" not in [code for code, _ in _codes(text)]) is accepted


def test_each_relation_a_pair_matches_through_needs_its_own_pairing() -> None:
    # `match person` is paired by the person sync; `match organization`, after it, is not.
    text = (
        CONNECT
        + PERSONS
        + """
sync pipedrive.Deal -> autopilot.Contact {
  match person
  match organization
  title -> Company
}
"""
    )
    unpaired = "`organization` leads to Pipedrive Organization records, but no sync pairs pipedrive.Organization with autopilot.Contact"
    assert [(code, m) for code, m in _codes(text) if code == "SM324"] == [("SM324", unpaired)]


@pytest.mark.parametrize(("line", "expected"), [
    # a field among an in-list's options is compared as a value, not checked as a constant
    ('where status in ["open", title]', []),
    # a constant through a value map is checked as what the map makes of it
    ('status <- "web" with map { "web" = "open" }', []),
    ('status <- "web" with map { "web" = "opn" }', [("SM317", '`status` is never "opn"')]),
])  # fmt: skip
def test_constants_are_checked_against_an_enum_only_where_they_reach_it(line: str, expected: list[tuple[str, str]]) -> None:
    text = (
        CONNECT
        + PERSONS
        + f"""
sync pipedrive.Deal <-> autopilot.Contact {{
  match person
  only linked -> pipedrive
  expected_close_date <-> custom("Expected Close", date)
  {line}
}}
"""
    )
    assert _codes(text) == expected


# ------------------------------------------------------------------ two-way syncs


def _two_way(*lines: str) -> str:
    body = "".join(f"  {line}\n" for line in lines)
    return (
        CONNECT
        + f"""
sync pipedrive.Person <-> autopilot.Contact {{
  match email.primary = Email
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  last_name <-> LastName
{body}}}
"""
    )


@pytest.mark.parametrize(("written", "system", "path", "direction"), [
    ('default phone.primary = "unknown"', "pipedrive", ["phone", "primary"], "right_to_left"),
    ('default Phone = "unknown"', "autopilot", ["Phone"], "left_to_right"),
])  # fmt: skip
def test_a_default_in_a_two_way_sync_writes_the_side_that_has_the_field(written: str, system: str, path: list[str], direction: str) -> None:
    write = _write_into(_plan(_two_way("first_name <-> FirstName", written)), path)
    assert (write["target"]["system"], write["direction"], write["on"]) == (system, direction, "create")
    assert write["source"] == {"kind": "literal", "value": "unknown", "type": "string"}


def test_a_one_way_rule_in_a_two_way_sync_reads_its_default_on_its_source_side() -> None:
    # `<-` flows from Autopilot: `default LastName` is the contact's field, not the person's.
    write = _write_into(_plan(_two_way("first_name <- FirstName default LastName")), ["first_name"])
    assert write["direction"] == "right_to_left"
    assert (write["default"]["ref"]["system"], write["default"]["ref"]["path"]) == ("autopilot", ["LastName"])


def test_the_shorthand_match_pairs_a_field_both_objects_have() -> None:
    plan = _plan(_two_way("first_name <-> FirstName", 'match custom("Customer ID", string)'))
    _by_email, shorthand = plan["pairs"][0]["match"]
    (key,) = shorthand["keys"]
    assert (key["left"]["system"], key["left"]["custom"]["name"]) == ("pipedrive", "Customer ID")
    assert (key["right"]["system"], key["right"]["custom"]["name"]) == ("autopilot", "Customer ID")
    assert key["kind"] == "field"


@pytest.mark.parametrize(("rule", "expected"), [
    # a value map says what each value becomes, so the two types need not fit
    ('unsubscribed -> custom("Subscribed", integer) with map { true = 1, false = 0 }', []),
    ('unsubscribed -> custom("Subscribed", integer)',
     [("SM304", 'a boolean value cannot be written into `custom("Subscribed", integer)`, which holds integer')]),
])  # fmt: skip
def test_a_value_map_lets_a_value_into_a_field_of_another_type(rule: str, expected: list[tuple[str, str]]) -> None:
    text = (
        CONNECT
        + f"""
sync autopilot.Contact -> pipedrive.Person {{
  match Email = email.primary
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  FirstName -> first_name
  LastName -> last_name
  {rule}
}}
"""
    )
    assert _codes(text) == expected


def test_a_two_way_rule_with_a_constant_is_reported_once_and_still_names_its_field() -> None:
    # `first_name <-> "Bob"` is SM115; the field it names still counts as written, so Person's
    # required first_name is not reported as well.
    assert _codes(_two_way('first_name <-> "Bob"')) == [("SM115", "`<->` needs a field on both sides")]


def test_a_match_key_on_neither_side_is_reported_once() -> None:
    assert _codes(_two_way("first_name <-> FirstName", "match nosuch")) == [("SM203", "Pipedrive Person has no field `nosuch`")]


NEEDS_PERSON = ("SM310", "Pipedrive activities must be synced with their `person` relationship")
ORGANIZATIONS = """
sync pipedrive.Organization <- autopilot.Contact {
  match name = Company
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  name <- Company
}
"""


@pytest.mark.parametrize(("match", "rules", "more", "expected"), [
    # The shipped case writes only into Autopilot; here the activity's own fields are written,
    # but not the person it must belong to (R17).
    ("marked_as_done_time = occurred_at", "", "", [NEEDS_PERSON]),
    # written, not matched: the person is there
    ("marked_as_done_time = occurred_at", "person <- contact", "", []),
    # the organization is a relation too, but not the one R17 asks for
    ("organization = contact, marked_as_done_time = occurred_at", "", ORGANIZATIONS, [NEEDS_PERSON]),
    # `person` cannot pair activities with activities (SM324); the done time beside it on the
    # same line is still the key R15 asks for, so there is no SM323 as well
    ("person, marked_as_done_time = occurred_at", "", "",
     [("SM324", "`person` leads to Pipedrive Person records, but no sync pairs pipedrive.Person with autopilot.Activity")]),
])  # fmt: skip
def test_activities_written_into_pipedrive_and_their_person(match: str, rules: str, more: str, expected: list[tuple[str, str]]) -> None:
    text = (
        CONNECT
        + PERSONS
        + more
        + f"""
sync pipedrive.Activity <- autopilot.Activity {{
  match {match}
  only new -> pipedrive
  {rules}
  marked_as_done_time <- occurred_at
}}
"""
    )
    assert _codes(text) == expected


def test_a_pair_matched_through_an_explicit_relation_may_create_its_records() -> None:
    # `match contact = person` names both relations: each activity finds its partner through
    # the person pairing, yet a new one is created, so its required done time must be written.
    # (Only `match person`, naming one side's relation, leaves creating to the related pair.)
    # The time key is written on the activity the match creates: that is the done time.
    def activities(match: str) -> str:
        return (
            CONNECT
            + PERSONS
            + f"""
sync autopilot.Activity -> pipedrive.Activity {{
  match {match}
  only new -> pipedrive
  contact -> person
}}
"""
        )

    plan = _plan(activities("contact = person, occurred_at = marked_as_done_time"))
    assert plan["pairs"][1]["creates"]["right"] is True
    write = _write_into({"pairs": plan["pairs"][1:]}, ["marked_as_done_time"])
    assert (write["on"], write["implied"], write["source"]["ref"]["path"]) == ("create", True, ["occurred_at"])
    assert [code for code, _ in _codes(activities("contact = person"))] == ["SM307", "SM323"]


@pytest.mark.parametrize(("lines", "help_"), [
    (["person = contact"], "write `match person = contact, marked_as_done_time = occurred_at`"),
    # two lines: each is an alternative, so each needs the time
    (["person = contact", "person = contact, marked_as_done_time = occurred_at"],
     "write `match person = contact, marked_as_done_time = occurred_at` on every `match` line"),
])  # fmt: skip
def test_activities_without_the_done_time_key_are_told_which_key_and_where(lines: list[str], help_: str) -> None:
    matches = "".join(f"  match {line}\n" for line in lines)
    text = (
        CONNECT
        + PERSONS
        + f"""
sync pipedrive.Activity <- autopilot.Activity {{
{matches}  only new -> pipedrive
  person <- contact
  marked_as_done_time <- occurred_at
}}
"""
    )
    result = check("m.syncmap", _from_memory(text).__getitem__)
    assert [(d.code, d.help) for d in result.diagnostics] == [("SM323", help_)]


# ------------------------------------------------------------------ warnings in the plan


def test_a_plan_records_the_warnings_of_its_mapping() -> None:
    # No shipped mapping or valid case has a warning, so every golden plan's list is empty.
    text = (
        CONNECT
        + """
sync pipedrive.Person -> autopilot.Contact {
  match email.primary = Email
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  empty write
  first_name -> FirstName
  last_name -> LastName
}
"""
    )
    plan = _plan(text)
    assert plan["warnings"] == [
        {
            "code": "SM319",
            "message": "empty values would be written to Autopilot",
            "span": {"file": "m.syncmap", "line": 14, "col": 3, "end_line": 14, "end_col": 14},
        }
    ]


# ------------------------------------------------------------------ contradictions


def test_a_filter_excluding_every_value_of_an_enum_can_never_be_true() -> None:
    # Only the catalog's list of a deal's statuses makes this a contradiction: a present status
    # that is none of open, won, lost and deleted.
    condition = 'status and status != "open" and status != "won" and status != "lost" and status != "deleted"'
    text = (
        CONNECT
        + f"""
sync pipedrive.Deal -> autopilot.Contact {{
  match title = Email
  where {condition}
  title -> FirstName
}}
"""
    )
    assert [(code, m) for code, m in _codes(text) if code == "SM325"] == [("SM325", f"`where {condition}` can never be true")]
    # one status left open: satisfiable
    assert "SM325" not in [code for code, _ in _codes(text.replace(' and status != "deleted"', ""))]


def _organizations_where(*wheres: str) -> str:
    lines = "".join(f"  where {w}\n" for w in wheres)
    return (
        CONNECT
        + f"""
sync pipedrive.Organization -> autopilot.Contact {{
  match name = Company
{lines}  name -> Company
}}
"""
    )


@pytest.mark.parametrize(("wheres", "message"), [
    (["employee_count < 10 and employee_count > 20"], "`where employee_count < 10 and employee_count > 20` can never be true"),
    # a custom field is a variable of its own, with no list of values
    (['custom("Tier") = "A" and custom("Tier") = "B"'], '`where custom("Tier") = "A" and custom("Tier") = "B"` can never be true'),
    (["employee_count >= 50", "employee_count < 10"], "`where employee_count < 10` contradicts `where employee_count >= 50`"),
    # each earlier line alone leaves room (below 10; 10 to 49): only both together exclude it
    (["employee_count >= 50 or employee_count < 10", "employee_count >= 10", "employee_count < 50"],
     "`where employee_count < 50` contradicts the conditions before it"),
])  # fmt: skip
def test_a_contradiction_names_what_it_contradicts(wheres: list[str], message: str) -> None:
    assert _codes(_organizations_where(*wheres)) == [("SM325", message)]


@pytest.mark.parametrize(("sync", "messages"), [
    # the written side on the right: the left one, only read, is passed over, not the end
    ("sync autopilot.Contact -> pipedrive.User {\n  match Email = email\n  only autopilot.list(\"P\") -> pipedrive\n  owner_name -> name\n}",
     ["a sync may only read Pipedrive users (Read)"]),
    # both sides read-only: each is reported; where the catalog quotes no product words (Autopilot),
    # the permissions are said the same way from its flags
    ("sync pipedrive.User <-> autopilot.Journey {\n  match name = journey\n  name <-> journey\n}",
     ["a sync may only read Autopilot journeys (Read)", "a sync may only read Pipedrive users (Read)"]),
    ("sync pipedrive.Organization <-> autopilot.List {\n  match name = title\n  only linked -> autopilot\n  name <- title\n}",
     ["this sync would update Autopilot lists, which a sync may not (Read / Create)"]),
])  # fmt: skip
def test_each_side_a_sync_may_not_write_as_it_would_is_sm302(sync: str, messages: list[str]) -> None:
    assert sorted(m for code, m in _codes(CONNECT + sync) if code == "SM302") == messages


@pytest.mark.parametrize("scope", [
    "new", "FirstName", 'Status = "Lead"', "not unsubscribed",
    'autopilot.list("Pipedrive Contacts") or Status = "Lead"',  # a contact off the list gets through
])  # fmt: skip
def test_a_scope_without_a_list_still_lets_every_contact_reach_pipedrive(scope: str) -> None:
    # `only new` limits which records are created, the others which contacts by a field, not
    # by a list: R3 still asks for the list.
    text = (
        CONNECT
        + f"""
sync pipedrive.Person <- autopilot.Contact {{
  match email.primary = Email
  only {scope} -> pipedrive
  first_name <- FirstName
  last_name <- LastName
}}
"""
    )
    assert [code for code, _ in _codes(text)] == ["SM313"]
    # the list, narrowed further by a field, is enough
    assert _codes(text.replace(f"only {scope} ->", 'only autopilot.list("Pipedrive Contacts") and Status = "Lead" ->')) == []


def test_a_rule_whose_other_side_is_unknown_still_counts_its_field_as_written() -> None:
    # `first_name` resolves; only `FirstNme` is wrong: no SM307 for an unwritten first_name.
    assert _codes(_two_way("first_name <-> FirstNme")) == [("SM203", "Autopilot Contact has no field `FirstNme`")]


# ------------------------------------------------------------------ actions


@pytest.mark.parametrize(("action", "verb", "object_", "message"), [
    ("Update Pipedrive Field", "create", "Person", '"Update Pipedrive Field" is an update action: use `update`'),
    ("Schedule Activity", "update", "Activity", '"Schedule Activity" is a create action: use `create`'),
    # right operation, but the action's promise about a missing person decides the verb
    ("Assign Person Owner", "update", "Person", '"Assign Person Owner" creates the person if missing, so use `upsert`'),
    ("Update Pipedrive Field", "upsert", "Person", '"Update Pipedrive Field" never creates the person if missing, so use `update`'),
])  # fmt: skip
def test_a_step_against_its_catalog_action_names_the_verb_to_use(action: str, verb: str, object_: str, message: str) -> None:
    text = (
        CONNECT
        + f"""
action "{action}" on autopilot.Contact {{
  {verb} pipedrive.{object_} {{
    subject = "Call"
  }}
}}
"""
    )
    assert [m for code, m in _codes(text) if code == "SM316"] == [message]


def test_a_step_no_catalog_action_can_take_names_the_objects() -> None:
    text = CONNECT + '\naction "Make Users" on autopilot.Contact {\n  create pipedrive.User {\n    name = "x"\n  }\n}\n'
    assert _codes(text) == [("SM316", "Pipedrive offers no action that can create users")]


def test_a_step_on_an_unknown_system_does_not_hide_the_next_steps_problems() -> None:
    text = (
        CONNECT
        + """
action "Two Steps" on autopilot.Contact {
  create salesforce.Lead {
    name = "x"
  }
  create pipedrive.Activity {
    subjekt = "Call"
    person = this
  }
}
"""
    )
    assert _codes(text) == [("SM201", "there is no system `salesforce`"), ("SM203", "Pipedrive Activity has no field `subjekt`")]


# ------------------------------------------------------------------ did you mean


def test_each_unknown_name_suggests_the_closest_known_one() -> None:
    text = """syncmap 1

connect pipedrive {
  token = env("PIPEDRIVE_API_TOKEN")
  base_ur = env("PIPEDRIVE_BASE_URL")
}

connect autopilot {
  key = env("AUTOPILOT_API_KEY")
}

sync pipedrive.Persn -> autopilot.Contact {
  match email.primary = Email
  first_name -> FirstName
}

sync pipedrve.Person -> autopilot.Contact {
  match email.primary = Email
  first_name -> FirstName
}

sync pipedrive.Person -> autopilot.Contact {
  match email.primary = Email
  first_name -> FirstNme
  last_name -> LastName
}

sync pipedrive.Deal -> autopilot.Contact {
  match title = Email
  where status = "opn"
  title -> Company
  expected_close_date -> custom("Expected Close", date)
}
"""
    result = check("m.syncmap", _from_memory(text).__getitem__)
    assert [(d.code, d.help) for d in result.diagnostics] == [
        ("SM322", "did you mean `base_url`?"),
        ("SM202", "did you mean `pipedrive.Person`?"),
        ("SM201", "did you mean `pipedrive`?"),
        ("SM203", "did you mean `FirstName`?"),
        ("SM317", 'did you mean "open"? values: open, won, lost, deleted'),
    ]


# ------------------------------------------------------------------ SM108 from the catalog


def _catalogs_changed(into: Path, change: Callable[[str, dict[str, Any]], None]) -> Iterator[Path]:
    """The shipped catalogs written into `into`, each changed by change(file name, data), and
    the catalog cache cleared around the test that reads them."""
    for name in ("pipedrive.json", "autopilot.json"):
        data = json.loads((CATALOGS / name).read_text(encoding="utf-8"))
        change(name, data)
        (into / name).write_text(json.dumps(data), encoding="utf-8")
    clear_cache()
    yield into
    clear_cache()


@pytest.fixture
def catalog_with_passphrase(tmp_path: Path) -> Iterator[Path]:
    """The shipped catalogs, with an Autopilot setting whose name does not look like a secret
    but which the catalog marks as one (no shipped setting is like that)."""

    def change(name: str, data: dict[str, Any]) -> None:
        if name == "autopilot.json":
            data["connection"]["settings"]["passphrase"] = {"secret": True, "required": False, "description": "made for the test"}

    yield from _catalogs_changed(tmp_path, change)


def _analysed(text: str, search_path: Path) -> list[tuple[str, str, int, int]]:
    mapping = parse(text, "m.syncmap").mapping
    assert mapping is not None
    diagnostics = list(check_structure([mapping])) + analyse([mapping], search_path=[search_path])[1]
    return [(d.code, d.message, d.span.line, d.span.col) for d in diagnostics]


def test_a_catalog_secret_written_in_the_mapping_is_sm108(catalog_with_passphrase: Path) -> None:
    text = 'connect autopilot {\n  key = env("AUTOPILOT_API_KEY")\n  passphrase = "open sesame"\n}\n'
    assert _analysed(text, catalog_with_passphrase) == [
        ("SM108", "`passphrase` is a secret and must come from the environment", 3, 16),
    ]


def test_a_catalog_secret_from_the_environment_is_accepted(catalog_with_passphrase: Path) -> None:
    text = 'connect autopilot {\n  key = env("AUTOPILOT_API_KEY")\n  passphrase = env("AUTOPILOT_PASSPHRASE")\n}\n'
    assert _analysed(text, catalog_with_passphrase) == []


# ------------------------------------------------------------------ a step's idempotency

ADD_DEAL = (
    CONNECT
    + """
action "Add Deal" on autopilot.Contact {
  create pipedrive.Deal {
    title = "Inbound"
    person = this
  }
}
"""
)


@pytest.fixture
def catalog_with_idempotent_add_deal(tmp_path: Path) -> Iterator[Path]:
    """The shipped catalogs, with "Add Deal" (a create) marked idempotent: no shipped action's
    idempotency differs from what its verb would suggest."""

    def change(name: str, data: dict[str, Any]) -> None:
        for action in data.get("actions", []):
            if action["name"] == "Add Deal":
                action["idempotent"] = True

    yield from _catalogs_changed(tmp_path, change)


def _step(search_path: Path | None) -> dict[str, object]:
    sources = load("m.syncmap", _from_memory(ADD_DEAL).__getitem__)
    model, diagnostics = analyse(sources.mappings, search_path=[search_path] if search_path else None)
    assert diagnostics == []
    (step,) = lower(model, sources)["actions"][0]["steps"]
    return step


def test_a_step_is_idempotent_as_its_catalog_action_says_not_as_its_verb_suggests(catalog_with_idempotent_add_deal: Path) -> None:
    shipped, made = _step(None), _step(catalog_with_idempotent_add_deal)
    assert (shipped["verb"], shipped["catalog_action"], shipped["idempotent"]) == ("create", "Add Deal", False)
    assert (made["verb"], made["catalog_action"], made["idempotent"]) == ("create", "Add Deal", True)


# ------------------------------------------------------------------ activity types by label


@pytest.fixture
def catalog_with_renamed_call(tmp_path: Path) -> Iterator[Path]:
    """The shipped catalogs, with the activity type `call` labelled "Phone call" (an account can
    rename its types; every shipped label is its key capitalised) and a value rule on another
    field listed before the type's."""

    def change(name: str, data: dict[str, Any]) -> None:
        if name != "pipedrive.json":
            return
        (types,) = [r for r in data["rules"] if r["rule"] == "allowed_values" and r["field"] == "type"]
        types["values"][0]["label"] = "Phone call"
        due_time = dict(types, field="due_time", values=[{"value": "09:00", "label": "9 am"}], seed="made for the test")
        data["rules"].insert(data["rules"].index(types), due_time)

    yield from _catalogs_changed(tmp_path, change)


@pytest.mark.parametrize(("written", "expected"), [
    ('"call"', []),
    ('"Phone call"', []),  # the label an account shows is as good as the key
    ('"Phone"', [("SM308", 'activity type "Phone" is neither blank nor one of the available types', 11, 12)]),
])  # fmt: skip
def test_an_activity_type_may_be_given_by_its_label(catalog_with_renamed_call: Path, written: str, expected: list[tuple[str, str, int, int]]) -> None:
    text = f"""connect pipedrive {{
  token = env("PIPEDRIVE_API_TOKEN")
}}
connect autopilot {{
  key = env("AUTOPILOT_API_KEY")
}}

action "Schedule Activity" on autopilot.Contact {{
  create pipedrive.Activity {{
    subject = "Call"
    type = {written}
    person = this
  }}
}}
"""
    assert _analysed(text, catalog_with_renamed_call) == expected


# ------------------------------------------------------------------ match keys written on creation


@pytest.mark.parametrize(("block", "implied"), [
    # persons flow out only: the contact a match creates gets the email
    ("sync pipedrive.Person -> autopilot.Contact {\n match email.primary = Email\n first_name -> FirstName\n last_name -> LastName\n}",
     [("left_to_right", "autopilot", ["Email"])]),
    # both ways, creating on both sides: each side gets the other's key
    ("sync pipedrive.Person <-> autopilot.Contact {\n match email.primary = Email\n"
     ' only autopilot.list("Pipedrive Contacts") -> pipedrive\n first_name <-> FirstName\n last_name <-> LastName\n}',
     [("left_to_right", "autopilot", ["Email"]), ("right_to_left", "pipedrive", ["email", "primary"])]),
    # a rule writes the key already (another item of the same list field counts)
    ("sync pipedrive.Person -> autopilot.Contact {\n match email.primary = Email\n"
     " first_name -> FirstName\n last_name -> LastName\n email.primary -> Email\n}", []),
    ("sync pipedrive.Person <- autopilot.Contact {\n match email.primary = Email\n"
     ' only autopilot.list("Pipedrive Contacts") -> pipedrive\n first_name <- FirstName\n last_name <- LastName\n email.work <- Email\n}', []),
    # a default writes it on creation already
    ("sync pipedrive.Person -> autopilot.Contact {\n match email.primary = Email\n"
     ' first_name -> FirstName\n last_name -> LastName\n default Email = "nobody@example.com"\n}', []),
    # nothing is created: no write on creation
    ("sync pipedrive.Person <- autopilot.Contact {\n match email.primary = Email\n only linked -> pipedrive\n job_title <- Title\n}", []),
    # a relation key finds the partner through another pair, which creates it
    ("sync pipedrive.Deal -> autopilot.Contact {\n match person\n expected_close_date -> custom(\"Expected Close\", date)\n}", []),
])  # fmt: skip
def test_a_match_key_is_written_on_the_record_the_match_creates(block: str, implied: list[tuple[str, str, list[str]]]) -> None:
    text = CONNECT + (PERSONS if "match person" in block else "") + "\n" + block + "\n"
    pair = _plan(text)["pairs"][-1]
    ops = [op for op in pair["fields"] if op["implied"]]
    assert [(op["direction"], op["target"]["system"], op["target"]["path"]) for op in ops] == implied
    assert all(op["on"] == "create" and op["span"] == pair["match"][0]["keys"][0]["span"] for op in ops)


@pytest.mark.parametrize(("block", "col", "help_"), [
    # the contact id lives on persons: a deal or an organization pairs another way
    ('sync pipedrive.Deal <-> autopilot.Contact {\n  link pipedrive.custom("apId") = autopilot.contact_id\n  match person\n'
     '  only linked -> pipedrive\n  expected_close_date -> custom("Expected Close", date)\n}', 8,
     "keep the link in the sync of pipedrive.Person with autopilot.Contact, and pair through it here: `match person`"),
    ('sync autopilot.Contact -> pipedrive.Organization {\n  link autopilot.contact_id = pipedrive.custom("apId")\n'
     '  match Company = name\n  only autopilot.list("Pipedrive Contacts") -> pipedrive\n  Company -> name\n}', 31,
     "keep the link in the sync of pipedrive.Person with autopilot.Contact"),
    # a field of a related record, even of the right object, is not the pair's own
    ('sync pipedrive.Deal <-> autopilot.Contact {\n  link pipedrive.person.custom("apId") = autopilot.contact_id\n  match person\n'
     '  only linked -> pipedrive\n  expected_close_date -> custom("Expected Close", date)\n}', 8,
     "keep the link in the sync of pipedrive.Person with autopilot.Contact, and pair through it here: `match person`"),
])  # fmt: skip
def test_a_link_field_lives_on_the_object_its_catalog_names(block: str, col: int, help_: str) -> None:
    text = CONNECT + PERSONS + block + "\n"
    line = text.count("\n", 0, text.index(block)) + 2  # the `link` line
    result = check("m.syncmap", _from_memory(text).__getitem__)
    assert [(d.code, d.span.line, d.span.col, d.help) for d in result.diagnostics] == [("SM320", line, col, help_)]
