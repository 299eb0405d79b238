"""Pipedrive sandbox: every answer shape the tests exercise validates against Pipedrive's
published OpenAPI description (v2.yaml for /api/v2, v1.yaml for /v1, the January 2026 v1 for
paths only it still has), through openapi-core, and carries no key the description lacks,
under both profiles (the strict one must stay within the published description too)."""

from __future__ import annotations

import httpx
import pytest
from pipedrive_support import assert_declared, async_test, client, conform, requires_specs, seeded

from syncmap.sandbox.pipedrive import PipedriveSettings, create_app
from syncmap.sandbox.profiles import PROFILES

pytestmark = requires_specs
each_profile = pytest.mark.parametrize("profile", PROFILES)

ENTITY_BODIES = {
    "persons": ({"name": "Ada Lovelace", "emails": [{"value": "ada@example.com"}]}, {"name": "Ada King"}),
    "organizations": ({"name": "Analytical Engines Ltd"}, {"website": "https://engines.example"}),
    "deals": ({"title": "Engine order", "value": 1200, "expected_close_date": "2025-06-30"}, {"status": "won"}),
    "activities": ({"subject": "Call Ada", "type": "call", "person_id": 1, "due_date": "2025-01-02"}, {"done": True}),
}


def check(response: httpx.Response, status: int = 200, *, strict: bool = True) -> dict:
    assert response.status_code == status, response.text
    body = conform(response)
    if strict and status < 300:
        assert_declared(response)
    return body


@each_profile
@pytest.mark.parametrize("entity", sorted(ENTITY_BODIES))
@async_test
async def test_v2_entity_answers_conform(entity: str, profile: str) -> None:
    app = await seeded(20, profile=profile)
    create, patch = ENTITY_BODIES[entity]
    async with client(app) as c:
        listed = check(await c.get(f"/api/v2/{entity}", params={"limit": 3}))
        assert len(listed["data"]) == 3 and listed["additional_data"]["next_cursor"]
        first = listed["data"][0]["id"]
        check(await c.get(f"/api/v2/{entity}/{first}"))
        made = check(await c.post(f"/api/v2/{entity}", json=create))["data"]
        changed = check(await c.patch(f"/api/v2/{entity}/{made['id']}", json=patch))["data"]
        assert all(changed[k] == v for k, v in patch.items() if k != "status") and changed["update_time"]
        assert check(await c.delete(f"/api/v2/{entity}/{made['id']}"))["data"] == {"id": made["id"]}
        deleted_status = 200 if app.state.settings.deleted_get == "object" else int(app.state.settings.deleted_get)
        check(await c.get(f"/api/v2/{entity}/{made['id']}"), deleted_status)  # soft-deleted: answered or not
        check(await c.get(f"/api/v2/{entity}/999999"), 404)
        check(await c.get(f"/api/v2/{entity}", params={"limit": 501}), 400)
        check(await c.patch(f"/api/v2/{entity}/{first}", json={"owner_id": "me"}), 400)
        last = check(await c.get(f"/api/v2/{entity}", params={"limit": 500, "sort_by": "update_time"}))
        assert last["additional_data"]["next_cursor"] is None


@each_profile
@async_test
async def test_v2_extras_and_searches_conform(profile: str) -> None:
    app = await seeded(20, profile=profile)
    async with client(app) as c:
        check(await c.get("/api/v2/deals", params={"status": "open,won,lost,deleted"}))
        check(await c.get("/api/v2/deals/archived"))
        check(await c.get("/api/v2/activities", params={"include_fields": "attendees", "done": "false"}))
        check(
            await c.get("/api/v2/persons", params={"include_fields": "open_deals_count"}),
            strict=False,  # the include_fields extras are not in the person schema
        )
        person = (await c.get("/api/v2/persons/2")).json()["data"]
        found = check(await c.get("/api/v2/persons/search", params={"term": person["name"], "fields": "name"}))
        assert person["id"] in [i["item"]["id"] for i in found["data"]["items"]]
        check(await c.get("/v1/persons/search", params={"term": person["name"][:3]}))  # only in the Jan 2026 v1
        check(await c.get("/api/v2/persons/search", params={"term": "x"}), 400)


@each_profile
@async_test
async def test_field_definitions_conform(profile: str) -> None:
    app = await seeded(5, profile=profile)
    async with client(app) as c:
        for path in ("personFields", "organizationFields", "dealFields", "activityFields"):
            v1 = check(await c.get(f"/v1/{path}"))
            assert any(f["edit_flag"] for f in v1["data"]) == (path != "activityFields")
            include = "ui_visibility" if path == "activityFields" else "ui_visibility,required_fields"
            v2 = check(await c.get(f"/api/v2/{path}", params={"include_fields": include}))
            check(await c.get(f"/api/v2/{path}/{v2['data'][0]['field_code']}"))
            check(await c.get(f"/api/v2/{path}/nope"), 404, strict=False)
        person_fields = check(await c.get("/v1/personFields", params={"start": 2, "limit": 3}))
        assert person_fields["additional_data"]["pagination"] == {"start": 2, "limit": 3, "more_items_in_collection": True, "next_start": 5}
        check(await c.get(f"/v1/personFields/{person_fields['data'][0]['id']}"))
        made = check(await c.post("/v1/personFields", json={"name": "Shoe size", "field_type": "double"}))
        assert len(made["data"]["key"]) == 40
        check(
            await c.post(
                "/api/v2/dealFields",
                json={"field_name": "Tier", "field_type": "enum", "options": [{"label": "Gold"}, {"label": "Silver"}]},
            )
        )
        check(await c.post("/v1/personFields", json={"name": "Bad", "field_type": "int"}), 400)


@each_profile
@async_test
async def test_v1_only_endpoints_conform(profile: str) -> None:
    app = await seeded(10, profile=profile)
    async with client(app) as c:
        me = check(await c.get("/v1/users/me"))["data"]
        assert me["is_you"] and me["company_domain"] == "sandbox"
        users = check(await c.get("/v1/users"))["data"]
        check(await c.get(f"/v1/users/{users[1]['id']}"))
        check(await c.get("/v1/users/find", params={"term": "owner", "search_by_email": 1}))
        assert check(await c.get("/v1/users/4040"), 404)["error"] == "User not found or not accessible."
        types = check(await c.get("/v1/activityTypes"))["data"]
        assert {t["key_string"] for t in types} == {"call", "meeting", "task", "deadline", "email", "lunch"}
        made = check(await c.post("/v1/activityTypes", json={"name": "Site visit", "icon_key": "car"}))["data"]
        assert made["key_string"] == "site_visit" and made["is_custom_flag"]
        merged = check(await c.put("/v1/persons/3/merge", json={"merge_with_id": 4}))["data"]
        survivor_first = app.state.settings.merge_response_id == "survivor"
        assert (merged["id"], merged["merge_what_id"]) == ((4, 3) if survivor_first else (3, 4))


@each_profile
@async_test
async def test_webhook_management_conforms(profile: str) -> None:
    app = create_app(profile=profile)
    async with client(app) as c:
        body = {
            "subscription_url": "https://hooks.example/pd",
            "event_action": "*",
            "event_object": "person",
            "name": "sync",
            "http_auth_user": "u",
            "http_auth_password": "p",
        }
        made = check(await c.post("/v1/webhooks", json=body), 201)["data"]
        assert made["version"] == "2.0" and made["is_active"] == 1
        listed = check(await c.get("/v1/webhooks"))["data"]
        assert [w["id"] for w in listed] == [made["id"]]
        bad = check(await c.post("/v1/webhooks", json={**body, "subscription_url": "not a url"}), 400)
        assert bad == {"status": "error", "success": False, "errors": {"subscription_url": ["invalid or non-reachable URL"]}}
        check(await c.delete(f"/v1/webhooks/{made['id']}"))
        assert check(await c.delete(f"/v1/webhooks/{made['id']}"), 404)["errors"] == {"id": ["not found"]}


@async_test
async def test_auth_failures_conform() -> None:
    app = create_app(token="right")
    async with client(app, token="wrong") as c:
        for path in ("/v1/users/me", "/v1/webhooks", "/api/v2/persons"):
            body = check(await c.get(path), 401)
            assert body["error"] == "unauthorized access" and body["errorCode"] == 401


@async_test
async def test_legacy_v1_timestamps_break_the_schema_as_the_examples_do() -> None:
    """The `legacy` setting reproduces the spec examples, which the spec's own schema rejects."""
    app = create_app(settings=PipedriveSettings(v1_definition_timestamps="legacy"))
    async with client(app) as c:
        response = await c.get("/v1/activityTypes")
        assert response.json()["data"][0]["add_time"] == "2023-01-01 00:00:00"
        with pytest.raises(Exception, match=r"date-time|add_time|Invalid"):
            conform(response)


@pytest.mark.parametrize("entity", sorted(ENTITY_BODIES))
def test_body_keys_are_the_published_ones(entity: str) -> None:
    """The sandbox accepts exactly the keys of the v2 POST and PATCH bodies, no more, no less."""
    from pipedrive_support import raw_spec, resolve

    from syncmap.sandbox.pipedrive import models
    from syncmap.sandbox.pipedrive.api_entities import PATHS

    kind = next(k for k, p in PATHS.items() if p == entity)
    spec = raw_spec("v2")
    for path, method in ((f"/{entity}", "post"), (f"/{entity}/{{id}}", "patch")):
        schema = resolve(spec, spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"])
        published = set(schema["properties"])
        accepted = set(models.BODY[kind]) | ({"custom_fields"} if kind in models.HAS_CUSTOM_FIELDS else set())
        if method == "patch":
            accepted -= models.POST_ONLY
        assert accepted == published, (path, method, accepted ^ published)
