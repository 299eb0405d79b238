"""Pipedrive sandbox: webhook v2 payloads, basic auth, retries, bans, lost events, app-user
changes (for echo suppression) and merge events."""

from __future__ import annotations

import asyncio
import base64
import itertools

import pytest
from openapi_schema_validator import OAS30Validator
from pipedrive_support import REF, Receiver, async_test, client, raw_spec, requires_specs, resolve, seeded

from syncmap.sandbox.pipedrive import PipedriveSettings, create_app
from syncmap.sandbox.profiles import PROFILES

HOOK = {
    "subscription_url": "https://receiver.example/pipedrive",
    "event_action": "*",
    "event_object": "*",
    "name": "syncmap",
    "http_auth_user": "sync",
    "http_auth_password": "s3cret",
}


async def subscribe(c, **overrides) -> int:
    r = await c.post("/v1/webhooks", json={**HOOK, **overrides})
    assert r.status_code == 201, r.text
    return r.json()["data"]["id"]


@async_test
async def test_api_changes_arrive_as_v2_payloads_with_basic_auth() -> None:
    receiver = Receiver()
    app = await seeded(5, webhook_sender=receiver.send)
    async with client(app) as c:
        hook = await subscribe(c)
        made = (await c.post("/api/v2/persons", json={"name": "Ada Lovelace", "emails": [{"value": "a@x.io"}]})).json()
        pid = made["data"]["id"]
        await c.patch(f"/api/v2/persons/{pid}", json={"name": "Ada King"})
        await c.delete(f"/api/v2/persons/{pid}")
        await app.state.webhooks.drain()
    assert [c["url"] for c in receiver.calls] == [HOOK["subscription_url"]] * 3
    auth = "Basic " + base64.b64encode(b"sync:s3cret").decode()
    assert all(c["headers"]["Authorization"] == auth for c in receiver.calls)
    assert all(c["headers"]["User-Agent"] == "Pipedrive-Webhook" for c in receiver.calls)
    create, change, delete = receiver.bodies()
    for body, action in ((create, "create"), (change, "change"), (delete, "delete")):
        meta = body["meta"]
        assert meta["action"] == action and meta["entity"] == "person" and meta["version"] == "2.0"
        assert meta["change_source"] == "api" and meta["user_id"] == "1" and meta["attempt"] == 1
        assert meta["entity_id"] == str(pid) and meta["webhook_id"] == str(hook)
        assert meta["company_id"] == str(app.state.settings.company_id) and meta["host"] == "sandbox.pipedrive.com"
        assert meta["timestamp"].endswith("Z") and len(meta["id"]) == 36
    assert create["data"]["name"] == "Ada Lovelace" and create["previous"] is None
    assert change["data"]["name"] == "Ada King" and change["data"]["last_name"] == "King"
    assert set(change["previous"]) - {"update_time"} == {"name", "last_name"}  # only what changed
    assert change["previous"]["name"] == "Ada Lovelace"
    assert delete["data"] is None and delete["previous"]["name"] == "Ada King" and delete["previous"]["is_deleted"] is False


@requires_specs
@pytest.mark.parametrize("profile", PROFILES)
@async_test
async def test_webhook_data_has_the_v2_entity_shape(profile: str) -> None:
    receiver = Receiver()
    app = await seeded(5, webhook_sender=receiver.send, profile=profile)
    async with client(app) as c:
        await subscribe(c)
        await c.post("/api/v2/deals", json={"title": "Big one", "person_id": 1})
        await c.post("/api/v2/activities", json={"subject": "Call", "type": "call", "person_id": 1})
        await app.state.webhooks.drain()
    spec = raw_spec("v2")
    for body, path in zip(receiver.bodies(), ("/deals/{id}", "/activities/{id}"), strict=True):
        schema = resolve(spec, spec["paths"][path]["get"]["responses"]["200"])["content"]["application/json"]["schema"]
        OAS30Validator(schema).validate({"success": True, "data": body["data"]})
    assert REF.is_dir()


@async_test
async def test_deliveries_do_not_block_answers_and_drain_waits() -> None:
    gate = asyncio.Event()
    seen = []

    async def slow_sender(url, headers, body):
        await gate.wait()
        seen.append(url)
        return 200

    app = create_app(webhook_sender=slow_sender, settings=PipedriveSettings(webhook_min_real_timeout=5))
    async with client(app) as c:
        await subscribe(c)
        r = await c.post("/api/v2/organizations", json={"name": "Acme"})
        assert r.status_code == 200 and seen == [] and app.state.webhooks.pending == 1
        gate.set()
        drained = (await c.post("/__sandbox__/webhooks/drain")).json()
        assert drained["delivered"] == 1 and seen == [HOOK["subscription_url"]]
        assert app.state.webhooks.pending == 0


@async_test
async def test_failures_are_retried_after_3_30_and_150_seconds() -> None:
    receiver = Receiver(500, 503, 502, 200)
    app = create_app(webhook_sender=receiver.send, time_scale=500)
    async with client(app) as c:
        hook = await subscribe(c)
        await c.post("/api/v2/persons", json={"name": "Retry Me"})
        await app.state.webhooks.drain()
        listed = (await c.get("/v1/webhooks")).json()["data"][0]
    attempts = [b["meta"]["attempt"] for b in receiver.bodies()]
    assert attempts == [1, 2, 3, 4]
    assert len({b["meta"]["id"] for b in receiver.bodies()}) == 1  # the same event each time
    log = app.state.webhooks.deliveries
    gaps = [b["time"] - a["time"] for a, b in itertools.pairwise(log)]
    # Never early; late only by event-loop lag. 20 simulated seconds are 40 ms real at this
    # scale: enough for a loaded CI machine, still far below the next step of the schedule.
    assert 3 <= gaps[0] <= 23 and 30 <= gaps[1] <= 50 and 150 <= gaps[2] <= 170
    assert listed["id"] == hook and listed["last_http_status"] == 200


@async_test
async def test_ten_failed_first_attempts_ban_the_webhook_and_lose_events() -> None:
    receiver = Receiver(default=500)
    settings = PipedriveSettings(webhook_retry_delays=())
    app = create_app(webhook_sender=receiver.send, settings=settings)
    async with client(app) as c:
        await subscribe(c)
        for i in range(11):
            await c.post("/api/v2/persons", json={"name": f"P {i}"})
            await app.state.webhooks.drain()
        assert len(receiver.calls) == 10
        (lost,) = app.state.webhooks.lost
        picked = {k: lost[k] for k in ("webhook_id", "action", "entity", "entity_id", "reason")}
        assert picked == {"webhook_id": 1, "action": "create", "entity": "person", "entity_id": 11, "reason": "banned"}
        app.state.sandbox.clock.advance(30 * 60)
        receiver.default = 200
        await c.post("/api/v2/persons", json={"name": "After the ban"})
        await app.state.webhooks.drain()
        assert receiver.calls[-1]["status"] == 200 and len(receiver.calls) == 11


@async_test
async def test_webhook_without_success_for_three_days_is_deleted() -> None:
    receiver = Receiver(default=410)
    app = create_app(webhook_sender=receiver.send, settings=PipedriveSettings(webhook_retry_delays=()))
    async with client(app) as c:
        await subscribe(c)
        app.state.sandbox.clock.advance(3 * 86_400)
        await c.post("/api/v2/persons", json={"name": "Nobody listens"})
        await app.state.webhooks.drain()
        assert (await c.get("/v1/webhooks")).json()["data"] == []


@async_test
async def test_lost_webhooks_per_fault_settings() -> None:
    receiver = Receiver()
    app = create_app(webhook_sender=receiver.send)
    async with client(app) as c:
        await subscribe(c)
        await c.put("/__sandbox__/faults", json={"p_lost_webhook": 1.0})
        await c.post("/api/v2/persons", json={"name": "Lost"})
        await c.put("/__sandbox__/faults", json={})
        await c.post("/api/v2/persons", json={"name": "Found"})
        await app.state.webhooks.drain()
        report = (await c.get("/__sandbox__/webhooks/deliveries")).json()
    assert [b["data"]["name"] for b in receiver.bodies()] == ["Found"]
    assert report["lost"][0]["reason"] == "fault" and len(report["deliveries"]) == 1


@async_test
async def test_subscriptions_filter_by_action_and_object() -> None:
    receiver = Receiver()
    app = await seeded(5, webhook_sender=receiver.send)
    async with client(app) as c:
        await subscribe(c, event_object="deal", subscription_url="https://r.example/deals")
        await subscribe(c, event_action="delete", subscription_url="https://r.example/deletes")
        await c.patch("/api/v2/persons/1", json={"name": "Changed Person"})
        await c.patch("/api/v2/deals/1", json={"title": "Changed deal"})
        await c.delete("/api/v2/persons/2")
        await app.state.webhooks.drain()
    got = sorted((c["url"], c["body"]["meta"]["entity"], c["body"]["meta"]["action"]) for c in receiver.calls)
    assert got == [("https://r.example/deals", "deal", "change"), ("https://r.example/deletes", "person", "delete")]


@async_test
async def test_app_user_changes_carry_change_source_app() -> None:
    receiver = Receiver()
    app = await seeded(5, webhook_sender=receiver.send)
    async with client(app) as c:
        await subscribe(c)
        r = await c.post("/__sandbox__/app/persons/1", json={"emails": [{"value": "new@x.io", "label": "home"}]})
        assert r.status_code == 200 and r.json()["data"]["emails"][0]["value"] == "new@x.io"
        await c.patch("/api/v2/persons/1", json={"name": "From The Api"})
        made = (await c.post("/__sandbox__/app/deals?user_id=4", json={"title": "App deal"})).json()["data"]
        await c.delete(f"/__sandbox__/app/deals/{made['id']}")
        await app.state.webhooks.drain()
        assert (await c.get("/__sandbox__/requests")).json()["requests"][-1]["path"] == "/api/v2/persons/1"
    metas = [(b["meta"]["change_source"], b["meta"]["user_id"], b["meta"]["action"]) for b in receiver.bodies()]
    assert metas == [("app", "2", "change"), ("api", "1", "change"), ("app", "4", "create"), ("app", "2", "delete")]
    assert receiver.bodies()[0]["previous"]["emails"] != receiver.bodies()[0]["data"]["emails"]


@async_test
async def test_noop_update_sends_nothing() -> None:
    receiver = Receiver()
    app = await seeded(3, webhook_sender=receiver.send)
    async with client(app) as c:
        await subscribe(c)
        before = (await c.get("/api/v2/persons/1")).json()["data"]
        app.state.sandbox.clock.advance(10)
        after = (await c.patch("/api/v2/persons/1", json={"name": before["name"]})).json()["data"]
        await app.state.webhooks.drain()
    assert after["update_time"] == before["update_time"] and receiver.calls == []


@async_test
async def test_merge_sends_delete_with_merged_to_and_change_with_merged_from() -> None:
    receiver = Receiver()
    app = await seeded(8, webhook_sender=receiver.send, settings=PipedriveSettings(webhook_meta_style="captured"))
    async with client(app) as c:
        await subscribe(c, event_object="person")
        r = await c.put("/v1/persons/5/merge", json={"merge_with_id": 2})
        assert r.status_code == 200
        await app.state.webhooks.drain()
    delete, change = receiver.bodies()
    assert delete["meta"]["action"] == "delete" and delete["meta"]["entity_id"] == 5
    assert delete["meta"]["merged_to_id"] == 2 and "merged_from_id" not in delete["meta"]
    assert change["meta"]["action"] == "change" and change["meta"]["entity_id"] == 2
    assert change["meta"]["merged_from_id"] == 5 and isinstance(change["meta"]["timestamp"], int)
