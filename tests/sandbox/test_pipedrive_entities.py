"""Pipedrive sandbox: entity rules: soft delete, merge, custom fields, search by email,
derived values and validation errors."""

from __future__ import annotations

import pytest
from pipedrive_support import async_test, client, seeded

from syncmap.sandbox.pipedrive import PipedriveSettings, create_app

ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."


def error(message: str) -> dict:
    return {"success": False, "error": message, "error_info": ERROR_INFO, "data": None, "additional_data": None}


@async_test
async def test_soft_delete_then_purge_after_30_days() -> None:
    app = await seeded(10)
    clock = app.state.sandbox.clock
    async with client(app) as c:
        assert (await c.delete("/api/v2/persons/4")).json() == {"success": True, "data": {"id": 4}}
        got = (await c.get("/api/v2/persons/4")).json()["data"]
        assert got["is_deleted"] is True
        listed = (await c.get("/api/v2/persons", params={"limit": 500})).json()["data"]
        assert 4 not in [p["id"] for p in listed]
        assert (await c.patch("/api/v2/persons/4", json={"name": "X Y"})).json() == error("Entity was not found") | {
            "error_info": "Object was not found."
        }
        assert (await c.delete("/api/v2/persons/4")).status_code == 404

        await c.delete("/api/v2/deals/3")
        default = [d["id"] for d in (await c.get("/api/v2/deals", params={"limit": 500})).json()["data"]]
        deleted = (await c.get("/api/v2/deals", params={"status": "deleted"})).json()["data"]
        assert 3 not in default and [d["id"] for d in deleted] == [3]
        assert deleted[0]["status"] == "deleted" and deleted[0]["is_deleted"] is True

        clock.advance(30 * 86_400 + 1)
        assert (await c.get("/api/v2/persons/4")).status_code == 404
        assert (await c.get("/api/v2/deals", params={"status": "deleted"})).json()["data"] == []


@pytest.mark.parametrize(("mode", "status"), [("404", 404), ("410", 410)])
@async_test
async def test_get_of_deleted_record_is_a_setting(mode: str, status: int) -> None:
    app = await seeded(3, settings=PipedriveSettings(deleted_get=mode))
    async with client(app) as c:
        await c.delete("/api/v2/organizations/1")
        r = await c.get("/api/v2/organizations/1")
        assert r.status_code == status and r.json()["success"] is False


@async_test
async def test_merge_fills_the_survivor_and_moves_related_records() -> None:
    app = await seeded(5)
    store = app.state.store
    async with client(app) as c:
        a = (await c.post("/api/v2/persons", json={"name": "Dup One", "emails": [{"value": "dup@x.io"}]})).json()["data"]
        b = (
            await c.post(
                "/api/v2/persons",
                json={"name": "Dup Two", "org_id": 1, "emails": [{"value": "DUP@x.io"}, {"value": "other@x.io"}]},
            )
        ).json()["data"]
        deal = (await c.post("/api/v2/deals", json={"title": "Moves", "person_id": b["id"]})).json()["data"]
        r = await c.put(f"/v1/persons/{b['id']}/merge", json={"merge_with_id": a["id"]})
        data = r.json()["data"]
        assert r.status_code == 200 and data["id"] == a["id"] and data["merge_what_id"] == b["id"]
        assert data["org_id"] == 1 and data["visible_to"] == "3" and data["update_time"].count(":") == 2
        survivor = (await c.get(f"/api/v2/persons/{a['id']}")).json()["data"]
        assert survivor["name"] == "Dup One" and survivor["org_id"] == 1
        assert [e["value"] for e in survivor["emails"]] == ["dup@x.io", "other@x.io"]  # case-insensitive dedupe
        assert (await c.get(f"/api/v2/persons/{b['id']}")).json()["data"]["is_deleted"] is True
        assert (await c.get(f"/api/v2/deals/{deal['id']}")).json()["data"]["person_id"] == a["id"]
        assert (await c.put(f"/v1/persons/{a['id']}/merge", json={"merge_with_id": a["id"]})).status_code == 400
        assert (await c.put(f"/v1/persons/{a['id']}/merge", json={})).status_code == 400
    assert store.get("person", b["id"])["is_deleted"]


@async_test
async def test_created_custom_field_key_is_usable_in_custom_fields() -> None:
    app = await seeded(3)
    async with client(app) as c:
        field = (await c.post("/v1/personFields", json={"name": "apId", "field_type": "varchar"})).json()["data"]
        key = field["key"]
        assert len(key) == 40 and int(key, 16) >= 0 and field["edit_flag"] is True
        r = await c.patch("/api/v2/persons/1", json={"custom_fields": {key: "ap-123"}})
        assert r.status_code == 200 and r.json()["data"]["custom_fields"][key] == "ap-123"
        only = (await c.get("/api/v2/persons/1", params={"custom_fields": key})).json()["data"]["custom_fields"]
        assert only == {key: "ap-123"}
        keys = [f["key"] for f in (await c.get("/v1/personFields")).json()["data"]]
        assert key in keys
        v2 = (await c.get(f"/api/v2/personFields/{key}")).json()["data"]
        assert v2["field_name"] == "apId" and v2["is_custom_field"] is True
        # null clears; unknown keys, wrong types and [] for sets are refused
        r = await c.patch("/api/v2/persons/1", json={"custom_fields": {key: None}})
        assert r.json()["data"]["custom_fields"][key] is None
        bad = "0" * 40
        assert (await c.patch("/api/v2/persons/1", json={"custom_fields": {bad: "x"}})).json() == error(f'"custom_fields.{bad}" is not allowed')
        assert (await c.patch("/api/v2/persons/1", json={"custom_fields": {key: 5}})).status_code == 400
        interests = next(f for f in (await c.get("/v1/personFields")).json()["data"] if f["name"] == "Interests")
        r = await c.patch("/api/v2/persons/1", json={"custom_fields": {interests["key"]: []}})
        assert r.status_code == 400
        option = interests["options"][0]["id"]
        r = await c.patch("/api/v2/persons/1", json={"custom_fields": {interests["key"]: [option]}})
        assert r.json()["data"]["custom_fields"][interests["key"]] == [option]
        v2 = (await c.post("/api/v2/organizationFields", json={"field_name": "Tier", "field_type": "varchar"})).json()
        r = await c.patch("/api/v2/organizations/1", json={"custom_fields": {v2["data"]["field_code"]: "gold"}})
        assert r.json()["data"]["custom_fields"][v2["data"]["field_code"]] == "gold"


@async_test
async def test_search_by_email_exact_and_case_insensitive() -> None:
    app = create_app()
    async with client(app) as c:
        one = (await c.post("/api/v2/persons", json={"name": "Mia One", "emails": [{"value": "mia@shop.io"}]})).json()
        two = (await c.post("/api/v2/persons", json={"name": "Mia Two", "emails": [{"value": "MIA@Shop.io"}]})).json()
        await c.post("/api/v2/persons", json={"name": "Not Mia", "emails": [{"value": "xmia@shop.io.example"}]})
        app.state.sandbox.clock.advance(app.state.settings.search_index_delay_seconds)  # let the index catch up
        ids = {one["data"]["id"], two["data"]["id"]}
        for term in ("mia@shop.io", "Mia@SHOP.io"):
            r = await c.get("/api/v2/persons/search", params={"term": term, "fields": "email", "exact_match": "true"})
            items = r.json()["data"]["items"]
            assert {i["item"]["id"] for i in items} == ids
            assert all(i["result_score"] == 1.0 and i["item"]["type"] == "person" for i in items)
        loose = (await c.get("/api/v2/persons/search", params={"term": "mia@shop", "fields": "email"})).json()
        assert len(loose["data"]["items"]) == 3
        v1 = await c.get("/v1/persons/search", params={"term": "MIA@SHOP.IO", "exact_match": 1, "fields": "email"})
        assert {i["item"]["id"] for i in v1.json()["data"]["items"]} == ids
        assert v1.json()["additional_data"]["pagination"]["more_items_in_collection"] is False
        await c.delete(f"/api/v2/persons/{one['data']['id']}")
        r = await c.get("/api/v2/persons/search", params={"term": "mia@shop.io", "exact_match": "true"})
        assert len(r.json()["data"]["items"]) == 2  # the index has not seen the delete yet
        app.state.sandbox.clock.advance(app.state.settings.search_index_delay_seconds)
        r = await c.get("/api/v2/persons/search", params={"term": "mia@shop.io", "exact_match": "true"})
        assert [i["item"]["id"] for i in r.json()["data"]["items"]] == [two["data"]["id"]]
        paged = await c.get("/api/v2/persons/search", params={"term": "mia", "limit": 1})
        assert paged.json()["additional_data"]["next_cursor"]


@async_test
async def test_person_names_emails_and_body_rules() -> None:
    app = create_app()
    async with client(app) as c:
        p = (
            await c.post(
                "/api/v2/persons",
                json={"name": "Jean Luc Picard", "emails": [{"value": "a@x.io"}, {"value": "b@x.io", "label": "home"}]},
            )
        ).json()["data"]
        assert (p["first_name"], p["last_name"]) == ("Jean", "Luc Picard")
        assert p["emails"] == [
            {"value": "a@x.io", "primary": True, "label": "work"},
            {"value": "b@x.io", "primary": False, "label": "home"},
        ]
        single = (await c.post("/api/v2/persons", json={"name": "Cher"})).json()["data"]
        assert (single["first_name"], single["last_name"]) == ("Cher", None)
        assert (await c.post("/api/v2/persons", json={"first_name": "A", "last_name": "B"})).json() == error('"first_name" is not allowed')
        assert (await c.post("/api/v2/persons", json={})).json() == error('"name" is required.')
        assert (await c.post("/api/v2/deals", json={"value": 3})).json() == error('"title" is required.')
        assert (await c.post("/api/v2/persons", json={"name": "X", "owner_id": "1"})).json() == error('"owner_id" must be a number')
        assert (await c.post("/api/v2/persons", json={"name": "X", "emails": [{"label": "work"}]})).status_code == 400
        r = await c.post("/api/v2/persons", json={"name": "X", "job_title": "CEO"})
        assert r.status_code == 403  # contact-sync field without contact sync
        r = await c.post("/api/v2/persons", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400
    lenient = create_app(settings=PipedriveSettings(accept_first_last_name=True, contact_sync=True))
    async with client(lenient) as c:
        p = await c.post("/api/v2/persons", json={"first_name": "Ada", "last_name": "Byron", "job_title": "CEO"})
        assert p.json()["data"]["name"] == "Ada Byron" and p.json()["data"]["job_title"] == "CEO"


@async_test
async def test_deal_status_times_and_activity_derivations() -> None:
    app = await seeded(3)
    async with client(app) as c:
        deal = (await c.post("/api/v2/deals", json={"title": "D", "expected_close_date": "2025-02-28"})).json()["data"]
        assert deal["status"] == "open" and deal["won_time"] is None and deal["expected_close_date"] == "2025-02-28"
        won = (await c.patch(f"/api/v2/deals/{deal['id']}", json={"status": "won"})).json()["data"]
        assert won["won_time"] and won["close_time"] == won["won_time"] and won["lost_time"] is None
        r = await c.patch(f"/api/v2/deals/{deal['id']}", json={"lost_reason": "Price"})
        assert r.json() == error("Lost reason can only be set if deal status is lost")
        lost = (await c.patch(f"/api/v2/deals/{deal['id']}", json={"status": "lost", "lost_reason": "Price"})).json()
        assert lost["data"]["lost_time"] and lost["data"]["won_time"] is None
        reopened = (await c.patch(f"/api/v2/deals/{deal['id']}", json={"status": "open"})).json()["data"]
        assert reopened["close_time"] is None and reopened["lost_reason"] is None
        assert (await c.post("/api/v2/deals", json={"title": "x", "expected_close_date": "28.02.2025"})).status_code == 400

        act = (await c.post("/api/v2/activities", json={"type": "meeting", "person_id": 2, "due_time": "09:30"})).json()
        act = act["data"]
        assert act["subject"] == "Meeting" and act["due_time"] == "09:30:00"
        assert act["participants"] == [{"person_id": 2, "primary": True}] and act["marked_as_done_time"] is None
        done = (await c.patch(f"/api/v2/activities/{act['id']}", json={"done": True})).json()["data"]
        assert done["done"] is True and done["marked_as_done_time"]
        moved = (await c.patch(f"/api/v2/activities/{act['id']}", json={"participants": [{"person_id": 3, "primary": True}]})).json()["data"]
        assert moved["person_id"] == 3
        r = await c.post("/api/v2/activities", json={"type": "teleport"})
        assert r.status_code == 400 and r.json()["error"].startswith('"type" must be one of')
        default = (await c.post("/api/v2/activities", json={})).json()["data"]
        assert default["type"] == "call" and default["subject"] == "Call"


@async_test
async def test_unknown_paths_and_methods_get_pipedrive_bodies() -> None:
    app = create_app()
    async with client(app) as c:
        r = await c.get("/api/v2/unicorns")
        assert r.status_code == 404 and r.json() == error("Unknown method .")
        r = await c.put("/api/v2/persons/1", json={})
        assert r.status_code == 405 and r.json()["success"] is False
        r = await c.get("/api/v2/persons/abc")
        assert r.status_code == 400
