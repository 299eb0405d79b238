"""Pipedrive sandbox: a client's malformed input gets Pipedrive's 400 envelope, never a 500 or a
traceback, and nothing it accepts can make a later answer invalid (found by fuzzing the
sandbox from the published OpenAPI descriptions)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from pipedrive_support import async_test, client, conform, requires_specs, seeded

ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."


def cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def assert_400(response: httpx.Response, message: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "success": False, "error": message, "error_info": ERROR_INFO, "data": None, "additional_data": None
    }  # fmt: skip


def strict_json(response: httpx.Response) -> object:
    """Parse as a strict client would: NaN/Infinity are not JSON."""

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in the answer")

    return json.loads(response.content, parse_constant=refuse)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v2/persons", {}),
        ("/api/v2/deals", {"sort_by": "update_time"}),
        ("/api/v2/activities", {"sort_by": "due_date"}),
        ("/api/v2/personFields", {}),
    ],
)
@async_test
async def test_hand_made_cursor_of_the_wrong_type_is_a_400(path: str, params: dict) -> None:
    app = await seeded(10)
    field = params.get("sort_by", "id")
    async with client(app) as c:
        for value in ((5, [1]) if field == "due_date" else ("abc", "2024-01-01")) + ({"a": 1},):
            mark = {"field": field, "fieldValue": value, "sortDirection": "asc", "id": 1}
            assert_400(await c.get(path, params={**params, "cursor": cursor(mark)}), '"cursor" is invalid')
        bool_id = {"field": field, "fieldValue": None, "sortDirection": "asc", "id": True}
        assert_400(await c.get(path, params={**params, "cursor": cursor(bool_id)}), '"cursor" is invalid')
        found = await c.get("/api/v2/persons/search", params={"term": "an", "cursor": cursor({"offset": True})})
        assert_400(found, '"cursor" is invalid')


@async_test
async def test_bodies_that_are_not_strict_json_are_a_400() -> None:
    app = await seeded(3)
    json_type = {"content-type": "application/json"}
    async with client(app) as c:
        for raw in (b"[" * 50_000 + b"]" * 50_000, b'{"title": "x", "value": NaN}', b'{"title": "x", "value": Infinity}',
                    b'{"title": "x", "value": 1e999}', b"\xff\xfe"):  # fmt: skip
            assert_400(await c.post("/api/v2/deals", content=raw, headers=json_type), "Invalid JSON in request body")
        listed = await c.get("/api/v2/deals", params={"limit": 500})
        assert all(d["title"] != "x" for d in strict_json(listed)["data"])  # type: ignore[index]


@async_test
async def test_form_bodies_are_parsed_without_a_multipart_dependency() -> None:
    app = await seeded(3)
    form = {"content-type": "application/x-www-form-urlencoded"}
    async with client(app) as c:
        made = await c.post("/v1/activityTypes", content=b"name=Demo+call&icon_key=camera", headers=form)
        assert made.status_code == 200 and made.json()["data"]["key_string"] == "demo_call"
        assert_400(await c.post("/api/v2/persons", content=b"\xff=\xfe", headers=form), "Invalid JSON in request body")


@async_test
async def test_numbers_are_ascii_integers() -> None:
    app = await seeded(12)
    async with client(app) as c:
        assert_400(await c.get("/api/v2/persons/١٢"), '"id" must be a number')  # int() would read 12
        assert_400(await c.get("/api/v2/persons", params={"limit": "1_0"}), '"limit" must be a number')
        assert_400(await c.get("/api/v2/persons", params={"ids": "1,٣"}), '"ids" must be a comma separated list of numbers')
        assert_400(await c.get("/api/v2/persons/" + "9" * 5000), '"id" must be a number')
        assert (await c.get("/api/v2/persons", params={"limit": " 7 "})).status_code == 200


@async_test
async def test_v1_offset_paging_refuses_a_negative_start() -> None:
    app = await seeded(3)
    async with client(app) as c:
        assert_400(await c.get("/v1/personFields", params={"start": "-5"}), '"start" must be greater than or equal to 0')
        assert_400(await c.get("/v1/persons/search", params={"term": "an", "start": "-1"}),
                   '"start" must be greater than or equal to 0')  # fmt: skip


@async_test
async def test_timestamps_outside_years_1_to_9999_utc_are_refused() -> None:
    app = await seeded(3)
    async with client(app) as c:
        for stamp in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):
            body = {"name": "Far Away", "add_time": stamp}
            assert_400(await c.post("/api/v2/persons", json=body), '"add_time" must be a valid date in RFC 3339 format')
            assert_400(await c.get("/api/v2/persons", params={"updated_since": stamp}),
                       '"updated_since" must be a valid date in RFC 3339 format')  # fmt: skip
        made = await c.post("/api/v2/persons", json={"name": "Early", "add_time": "0001-01-01T00:00:00Z"})
        assert made.json()["data"]["add_time"] == "0001-01-01T00:00:00Z"  # zero-padded year


@async_test
async def test_participants_need_a_person_id() -> None:
    app = await seeded(3)
    async with client(app) as c:
        for participants in ([{"primary": True}], [{"person_id": None, "primary": True}]):
            assert_400(await c.post("/api/v2/activities", json={"subject": "Call", "participants": participants}),
                       '"participants[0].person_id" is required')  # fmt: skip
            assert_400(await c.patch("/api/v2/activities/1", json={"participants": participants}),
                       '"participants[0].person_id" is required')  # fmt: skip


@pytest.mark.parametrize(
    ("entity", "body", "message"),
    [
        ("deals", {"status": None}, '"status" must be one of [open, won, lost]'),
        ("deals", {"is_archived": None}, '"is_archived" must be a boolean'),
        ("deals", {"stage_id": None}, '"stage_id" must be a number'),
        ("deals", {"currency": None}, '"currency" must be a string'),
        ("activities", {"done": None}, '"done" must be a boolean'),
        ("activities", {"busy": None}, '"busy" must be a boolean'),
        ("persons", {"visible_to": None}, '"visible_to" must be a number'),
    ],
)
@async_test
async def test_keys_a_record_cannot_be_without_refuse_null(entity: str, body: dict, message: str) -> None:
    app = await seeded(6)
    async with client(app) as c:
        assert_400(await c.patch(f"/api/v2/{entity}/1", json=body), message)
        if entity == "deals":  # the deal is still in exactly one of the two lists
            live = [d["id"] for d in (await c.get("/api/v2/deals", params={"limit": 500})).json()["data"]]
            archived = [d["id"] for d in (await c.get("/api/v2/deals/archived", params={"limit": 500})).json()["data"]]
            assert (1 in live) != (1 in archived)


@async_test
async def test_search_include_fields_is_person_picture_only() -> None:
    app = await seeded(3)
    async with client(app) as c:
        for path in ("/api/v2/persons/search", "/v1/persons/search"):
            assert_400(await c.get(path, params={"term": "an", "include_fields": "person.name"}),
                       '"include_fields" must be one of [person.picture]')  # fmt: skip
            assert (await c.get(path, params={"term": "an", "include_fields": "person.picture"})).status_code == 200


@async_test
async def test_label_flags_must_be_booleans() -> None:
    app = await seeded(3)
    async with client(app) as c:
        assert_400(await c.get("/api/v2/deals", params={"include_labels": "maybe"}), '"include_labels" must be a boolean')
        assert_400(await c.get("/api/v2/persons/1", params={"include_option_labels": "-1"}),
                   '"include_option_labels" must be a boolean')  # fmt: skip
        assert (await c.get("/api/v2/deals", params={"include_labels": "false"})).status_code == 200


@requires_specs
@async_test
async def test_webhook_and_definition_bodies_are_type_checked() -> None:
    app = await seeded(3)
    hook = {"subscription_url": "https://hooks.example/p", "event_action": "*", "event_object": "*", "name": "n"}
    async with client(app) as c:
        for url in ("http://[::1", "http://x:99999", "http://x:0", "https://"):
            bad = await c.post("/v1/webhooks", json={**hook, "subscription_url": url})
            assert bad.status_code == 400 and bad.json()["errors"] == {"subscription_url": ["invalid or non-reachable URL"]}
        for user_id in ("abc", 999, True):
            bad = await c.post("/v1/webhooks", json={**hook, "user_id": user_id})
            assert bad.status_code == 400 and list(bad.json()["errors"]) == ["user_id"]
        made = await c.post("/v1/webhooks", json={**hook, "user_id": 2})
        assert made.status_code == 201 and conform(made)["data"]["user_id"] == 2

        assert_400(await c.post("/v1/activityTypes", json={"name": "x", "icon_key": "car", "color": {"a": 1}}),
                   '"color" must be a string')  # fmt: skip
        assert_400(await c.post("/v1/activityTypes", json={"name": "x", "icon_key": ["car"]}),
                   '"icon_key" is required and must be a known icon key')  # fmt: skip
        assert_400(await c.post("/v1/personFields", json={"name": "x", "field_type": "varchar", "add_visible_flag": {}}),
                   '"add_visible_flag" must be a boolean')  # fmt: skip
