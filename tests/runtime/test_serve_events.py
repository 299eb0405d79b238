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
    assert change.occurred == pytest.approx(1772359201.0, abs=1e-3)  # the record's update_time, not the meta's


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
    assert change.occurred == pytest.approx(1772359200.0, abs=1e-3)
    assert autopilot_delivery({**body, "event": "contact_unsubscribes"})[1].action == "upsert"  # APD1's older spelling


def test_an_autopilot_list_hook_names_the_contact_and_the_list() -> None:
    _, added = autopilot_delivery({"event": "contact_added_to_list", "contact_id": "person_1", "list_id": "contactlist_1", "email": "a@x"})
    _, removed = autopilot_delivery({"event": "contact_removed_from_list", "contact_id": "person_1", "list_id": "contactlist_1"})
    assert (added.action, added.list_id, removed.action) == ("list_add", "contactlist_1", "list_remove")
    assert (added.system, added.obj, added.record_id) == (removed.system, removed.obj, removed.record_id) == ("autopilot", "Contact", "person_1")


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
    with pytest.raises(ShapeError, match=r"not JSON|not UTF-8"):
        parse_json(raw)


def test_the_digest_does_not_depend_on_key_order() -> None:
    assert body_digest({"a": 1, "b": [1, 2]}) == body_digest({"b": [1, 2], "a": 1}) != body_digest({"a": 1, "b": [2, 1]})


@pytest.mark.parametrize(("entity", "obj"), [("person", "Person"), ("organization", "Organization"), ("deal", "Deal"), ("activity", "Activity")])
@pytest.mark.parametrize("action", ["create", "change"])
def test_each_synced_entity_and_action_is_an_upsert_of_its_object(entity: str, obj: str, action: str) -> None:
    _, change = pipedrive_delivery({"meta": {**DOC_META, "entity": entity, "action": action}, "data": {"id": 42}, "previous": None})
    assert change is not None and (change.obj, change.action, change.raw) == (obj, "upsert", {"id": 42})


def test_a_meta_without_a_version_is_taken_as_v2_and_a_bad_attempt_as_the_first() -> None:
    meta = {k: v for k, v in DOC_META.items() if k not in ("version", "attempt")}
    _, change = pipedrive_delivery({"meta": meta, "data": PERSON})
    assert change is not None and change.attempt == 1
    for attempt in (0, -2, True, "2", None):
        _, change = pipedrive_delivery({"meta": {**DOC_META, "attempt": attempt}, "data": PERSON})
        assert change is not None and change.attempt == 1, attempt
    _, change = pipedrive_delivery({"meta": {**DOC_META, "attempt": 4}, "data": PERSON})
    assert change is not None and change.attempt == 4


def test_when_a_change_happened_comes_from_the_record_else_from_the_meta() -> None:
    _, without_time = pipedrive_delivery({"meta": DOC_META, "data": {"id": 42}})
    assert without_time is not None and without_time.occurred == pytest.approx(1772359200.0, abs=1e-3)  # meta.timestamp
    _, deleted = pipedrive_delivery({"meta": {**DOC_META, "action": "delete"}, "data": PERSON, "previous": PERSON})
    assert deleted is not None and deleted.raw is None and deleted.action == "delete"  # a delete's data is never a state


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"meta": DOC_META, "previous": "Ada"}, "`previous` must be an object or null"),
        ({"meta": "x"}, "no `meta` object"),
        ({"meta": {**DOC_META, "entity": 5}}, "needs meta.action"),
    ],
)
def test_shape_errors_say_what_is_wrong(body: object, words: str) -> None:
    with pytest.raises(ShapeError) as error:
        pipedrive_delivery(body)
    assert words in str(error.value)


@pytest.mark.parametrize("event", ["contact_added", "contact_updated", "contact_unsubscribed", "contact_unsubscribes"])
def test_every_contact_event_is_an_upsert(event: str) -> None:
    _, change = autopilot_delivery({"event": event, "contact": {"contact_id": "person_1"}})
    assert (change.action, change.record_id, change.list_id) == ("upsert", "person_1", None)


def test_autopilot_shape_errors_say_what_is_wrong() -> None:
    cases = [
        ({"contact": {}}, "not an Autopilot hook: no `event`"),
        ({"event": "contact_added", "contact": {"Email": "a@x"}}, "needs a `contact` object with a contact_id"),
        ({"event": "contact_removed_from_list", "list_id": "l"}, "needs contact_id and list_id"),
        ({"event": "contact_left_segment"}, "'contact_left_segment' is not one syncmap subscribes to"),
    ]
    for body, words in cases:
        with pytest.raises(ShapeError) as error:
            autopilot_delivery(body)
        assert words in str(error.value)
    with pytest.raises(ShapeError) as error:
        parse_json(b'{"a": 1,}')
    assert "the body is not JSON" in str(error.value) and "line 1" in str(error.value)


def test_the_subscribed_events_are_the_ones_the_parser_accepts() -> None:
    from syncmap.runtime.serve.events import AUTOPILOT_SUBSCRIBED

    assert set(AUTOPILOT_SUBSCRIBED) == {
        "contact_added",
        "contact_updated",
        "contact_unsubscribed",
        "contact_added_to_list",
        "contact_removed_from_list",
    }
    for event in AUTOPILOT_SUBSCRIBED:
        body = {"event": event, "contact": {"contact_id": "person_1"}, "contact_id": "person_1", "list_id": "contactlist_1"}
        assert autopilot_delivery(body)[1].record_id == "person_1"


def test_a_body_nested_past_the_decoder_is_a_shape_error_not_a_crash() -> None:
    with pytest.raises(ShapeError, match="nests too deeply"):
        parse_json(b"[" * 200_000 + b"]" * 200_000)
