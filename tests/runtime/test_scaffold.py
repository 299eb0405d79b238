"""The starter mapping `syncmap init` writes, from account data made here (the e2e tests read
real sandboxes): canonical, checked as written and with every optional line enabled, and built
from what the account holds."""

from __future__ import annotations

from typing import Any

import pytest

from syncmap.compiler.api import check, compile_plan, format_text
from syncmap.compiler.catalog import load_catalog
from syncmap.runtime.scaffold import COMMENT_WIDTH, Account, scaffold


def custom_key(n: int) -> str:
    return f"{n:040x}"


PERSON_FIELDS = (
    {"key": "name", "name": "Name", "field_type": "varchar"},
    {"key": "first_name", "name": "First name", "field_type": "varchar"},
    {"key": "last_name", "name": "Last name", "field_type": "varchar"},
    {"key": "email", "name": "Email", "field_type": "varchar"},
    {"key": "phone", "name": "Phone", "field_type": "phone"},
    {"key": "org_id", "name": "Organization", "field_type": "org"},
    {"key": "label_ids", "name": "Labels", "field_type": "set"},
    {"key": custom_key(1), "name": "Lead score", "field_type": "double"},
    {"key": custom_key(2), "name": "Interests", "field_type": "set"},
    {"key": custom_key(3), "name": 'Quote " and \\ slash', "field_type": "varchar"},
    {"key": custom_key(4), "name": "Contract start", "field_type": "date"},
)
CONTACT_FIELDS = (
    {"name": "LEAD SCORE", "fieldType": "integer"},
    {"name": "Signup Date", "fieldType": "date"},
    {"name": "Odd", "fieldType": "geopoint"},  # a type Autopilot's catalog does not know: left out
)
TYPES = ({"key_string": "call", "name": "Call"}, {"key_string": "email", "name": "Email"})


def account(**changes: Any) -> Account:
    given: dict[str, Any] = {
        "person_fields": PERSON_FIELDS,
        "contact_fields": CONTACT_FIELDS,
        "lists": ("Newsletter", "Pipedrive Contacts"),
        "activity_types": TYPES,
        "source": "a test",
    }
    return Account(**{**given, **changes})


def plan_of(text: str) -> dict[str, Any]:
    result = compile_plan("starter.syncmap", reader=lambda _: text)
    assert result.plan is not None, [d.message for d in result.diagnostics]
    return result.plan


def flows(plan: dict[str, Any], obj: str) -> set[tuple[str, str, str]]:
    """(direction, source field, target field) of the pair whose Pipedrive side is `obj`; custom
    fields by their names."""

    def name(ref: dict[str, Any]) -> str:
        return (ref.get("custom") or {}).get("name") or ".".join(ref["path"])

    pair = next(p for p in plan["pairs"] if p["left"]["object"] == obj)
    return {(f["direction"], name(f["source"]["ref"]), name(f["target"])) for f in pair["fields"] if "ref" in f["source"]}


def test_the_starter_is_canonical_and_checks_clean() -> None:
    text = scaffold(account())
    assert format_text(text, "starter.syncmap")[0] == text
    result = check("starter.syncmap", reader=lambda _: text)
    assert [d for d in result.diagnostics if d.is_error] == []


def test_every_required_person_field_is_mapped_live() -> None:
    live = [line.strip() for line in scaffold(account()).splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for required in load_catalog("pipedrive").object("Person").required:
        assert any(line.startswith(required.field + " ") and "<->" in line for line in live), required.field


def test_optional_lines_are_commented_and_enabling_them_all_still_compiles() -> None:
    written = scaffold(account())
    enabled = scaffold(account(), enable_optional=True)
    assert '  # custom("Lead score") <-> custom("LEAD SCORE", integer)' in written.splitlines()
    assert '  custom("Lead score") <-> custom("LEAD SCORE", integer)' in enabled.splitlines()
    plan = plan_of(enabled)
    live_only = plan_of(written)
    assert len(plan["pairs"]) == len(live_only["pairs"]) + 1  # the activity sync
    assert flows(plan, "Person") > flows(live_only, "Person")
    assert ("right_to_left", "Signup Date", "Signup Date") in flows(plan, "Person") - flows(live_only, "Person")


def test_custom_fields_pair_by_name_and_each_side_offers_its_own() -> None:
    lines = [line.strip() for line in scaffold(account(), enable_optional=True).splitlines()]
    rules = [line for line in lines if line.startswith("custom(")]
    assert 'custom("Lead score") <-> custom("LEAD SCORE", integer)' in rules  # case-insensitive pairing, each side's spelling
    assert any(r.startswith('custom("Contract start")') and r.endswith('-> custom("Contract start", date)') for r in rules)
    assert any(r.startswith('custom("Signup Date")') and r.endswith('<- custom("Signup Date", date)') for r in rules)
    assert not any("Interests" in r or "Odd" in r for r in rules)  # a Pipedrive set, an unknown Autopilot type
    said = " ".join(line.removeprefix("#").strip() for line in lines if line.startswith("#"))
    assert "custom fields whose type Autopilot cannot hold: Interests (set)" in said


def test_field_names_are_quoted_so_they_round_trip() -> None:
    plan = plan_of(scaffold(account(), enable_optional=True))
    name = 'Quote " and \\ slash'
    assert ("left_to_right", name, name) in flows(plan, "Person")


def test_standard_fields_are_offered_only_when_the_account_has_them() -> None:
    text = scaffold(account())
    assert "# phone.primary" in text and "# organization.name" in text
    assert "job_title" not in text and "owner.name" not in text  # no job_title or owner_id field in this account


def test_the_activity_sync_uses_the_accounts_types() -> None:
    assert 'default type = "email"' in scaffold(account())
    assert 'default type = "meeting"' in scaffold(account(activity_types=({"key_string": "meeting", "name": "Meeting"},)))
    none = scaffold(account(activity_types=()))
    assert "pipedrive.Activity" not in none and "has no activity types" in none


@pytest.mark.parametrize("lists", [(), ("Pipedrive Contacts",)])
def test_without_other_lists_no_list_comment(lists: tuple[str, ...]) -> None:
    text = scaffold(account(lists=lists))
    assert "Lists in this account" not in text
    assert 'only autopilot.list("Pipedrive Contacts") -> pipedrive' in text


def test_long_comments_are_wrapped_and_keep_every_name() -> None:
    lists = tuple(f"Campaign list number {n}" for n in range(30))
    text = scaffold(account(lists=lists))
    comment_lines = [line.strip() for line in text.splitlines() if line.strip().startswith("#")]
    assert all(len(line) <= COMMENT_WIDTH + 2 for line in comment_lines)
    said = " ".join(line.removeprefix("#").strip() for line in comment_lines)
    assert all(f'"{title}"' in said for title in lists)


def test_the_link_field_a_first_run_made_is_not_offered_as_a_field() -> None:
    fields = (*PERSON_FIELDS, {"key": custom_key(9), "name": "apId", "field_type": "varchar"})
    lines = [line for line in scaffold(account(person_fields=fields)).splitlines() if "apId" in line]
    assert lines == ['  link pipedrive.custom("apId") = autopilot.contact_id']
