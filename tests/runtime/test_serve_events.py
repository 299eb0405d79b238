"""What a delivery means: Pipedrive v2 webhooks and Autopilot REST hooks, as the refs show them,
and every shape that is not one (answered 400, never an exception the server did not expect)."""

from __future__ import annotations

import json

import pytest

from syncmap.runtime.serve.events import Change, ShapeError, autopilot_delivery, body_digest, parse_json, pipedrive_delivery

# The doc's v2 example (string ids, ISO timestamp) and the captured one (integer ids, epoch).
DOC_META = {
    "action": "change",
    "entity": "person",
    "company_id": "7",
    "correlation_id": "c0ffee00-0000-4000-8000-000000000000",
    "entity_id": "42",
    "id": "9b2f1c1e-1111-4000-8000-000000000000",
    "is_bulk_edit": False,
    "timestamp": "2026-03-01T10:00:00.000Z",
    "type": "general",
    "user_id": "2",
    "version": "2.0",
    "webhook_id": "5",
    "webhook_owner_id": "1",
    "change_source": "app",
    "attempt": 1,
    "host": "acme.pipedrive.com",
}
CAPTURED_META = {**DOC_META, "company_id": 7, "entity_id": 42, "user_id": 1, "webhook_id": 5, "timestamp": 1772359200, "change_source": "api"}
PERSON = {"id": 42, "name": "Ada Lovelace", "update_time": "2026-03-01T10:00:01Z", "emails": [{"value": "ada@example.com", "primary": True}]}


@pytest.mark.parametrize("meta", [DOC_META, CAPTURED_META], ids=["doc", "captured"])
def test_a_v2_change_names_the_record_its_state_and_when(meta: dict) -> None:
    key, change = pipedrive_delivery({"meta": meta, "data": PERSON, "previous": {"name": "Ada"}})
    assert key == DOC_META["id"]
    assert change is not None
    assert (change.system, change.obj, change.record_id, change.action) == ("pipedrive", "Person", "42", "upsert")
    assert change.raw == PERSON
    assert change.occurred == pytest.approx(1772359201.0)  # the record's update_time, not the meta's


def test_a_retry_has_the_same_key_and_counts_its_attempt() -> None:
    first, _ = pipedrive_delivery({"meta": DOC_META, "data": PERSON, "previous": None})
    again, change = pipedrive_delivery({"meta": {**DOC_META, "attempt": 3}, "data": PERSON, "previous": None})
    assert first == again
    assert change is not None and change.attempt == 3


def test_a_delete_carries_no_state_and_a_merge_says_where_it_went() -> None:
    meta = {**DOC_META, "action": "delete", "merged_to_id": 77}
    _, change = pipedrive_delivery({"meta": meta, "data": None, "previous": PERSON})
    assert change == Change("pipedrive", "Person", "42", "delete", None, change.occurred, 1, details={"merged_to_id": "77"})


def test_an_entity_no_pair_syncs_is_acknowledged_and_dropped() -> None:
    key, change = pipedrive_delivery({"meta": {**DOC_META, "entity": "note"}, "data": {}, "previous": None})
    assert key == DOC_META["id"] and change is None


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([1, 2], "no `meta`"),
        ({"data": PERSON}, "no `meta`"),
        ({"meta": {**DOC_META, "version": "1.0"}}, "version 2.0"),
        ({"meta": {**DOC_META, "action": "updated"}}, "meta.action"),
        ({"meta": {k: v for k, v in DOC_META.items() if k != "id"}}, "meta.id"),
        ({"meta": {**DOC_META, "entity_id": True}}, "meta.entity_id"),
        ({"meta": {**DOC_META, "entity_id": ""}}, "meta.entity_id"),
        ({"meta": DOC_META, "data": "Ada"}, "`data`"),
    ],
)
def test_what_is_not_a_v2_webhook_is_a_shape_error(body: object, words: str) -> None:
    with pytest.raises(ShapeError, match=words.replace("`", ".").replace("(", r"\(")):
        pipedrive_delivery(body)


def test_an_autopilot_contact_hook_carries_the_contact_and_is_known_by_its_body() -> None:
    contact = {"contact_id": "person_1", "Email": "ada@example.com", "updated_at": "2026-03-01T10:00:00.000Z", "custom": {"integer--Score": 5}}
    body = {"event": "contact_updated", "contact": contact}
    key, change = autopilot_delivery(body)
    assert key == body_digest(body) == autopilot_delivery(json.loads(json.dumps(body)))[0]  # a retry sends the same body
    assert (change.system, change.obj, change.record_id, change.action, change.raw) == ("autopilot", "Contact", "person_1", "upsert", contact)
    assert change.occurred == pytest.approx(1772359200.0)
    assert autopilot_delivery({**body, "event": "contact_unsubscribes"})[1].action == "upsert"  # APD1's older spelling


def test_an_autopilot_list_hook_names_the_contact_and_the_list() -> None:
    _, added = autopilot_delivery({"event": "contact_added_to_list", "contact_id": "person_1", "list_id": "contactlist_1", "email": "a@x"})
    _, removed = autopilot_delivery({"event": "contact_removed_from_list", "contact_id": "person_1", "list_id": "contactlist_1"})
    assert (added.action, added.list_id, removed.action) == ("list_add", "contactlist_1", "list_remove")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"event": 3},
        {"event": "contact_updated"},
        {"event": "contact_updated", "contact": {"Email": "x"}},
        {"event": "contact_added_to_list", "contact_id": "person_1"},
        {"event": "contact_entered_segment", "contact_id": "person_1", "segment_id": "s"},
        ["event"],
    ],
)
def test_what_is_not_an_autopilot_hook_is_a_shape_error(body: object) -> None:
    with pytest.raises(ShapeError):
        autopilot_delivery(body)


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe{}", b'{"a": NaN'])
def test_a_body_that_is_not_json_is_a_shape_error_with_a_reason(raw: bytes) -> None:
    with pytest.raises(ShapeError, match="not JSON|not UTF-8"):
        parse_json(raw)


def test_the_digest_does_not_depend_on_key_order() -> None:
    assert body_digest({"a": 1, "b": [1, 2]}) == body_digest({"b": [1, 2], "a": 1}) != body_digest({"a": 1, "b": [2, 1]})
