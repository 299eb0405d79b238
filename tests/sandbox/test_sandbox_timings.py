"""Both sandboxes' logs carry wall times (`at`, epoch seconds) and the delivery logs the ids of
what they deliver, so a latency bench can measure "change in one sandbox -> write in the other"
from `GET /__sandbox__/requests` and the delivery logs alone."""

from __future__ import annotations

import asyncio
import json
import time

import autopilot_support as ap
import httpx
import pipedrive_support as pd

from syncmap.sandbox.autopilot import AutopilotSettings
from syncmap.sandbox.autopilot import create_app as create_autopilot
from syncmap.sandbox.pipedrive import create_app as create_pipedrive

HOOK = {"subscription_url": "https://bridge.test/pd", "event_action": "*", "event_object": "person", "name": "bench"}


@pd.async_test
async def test_request_log_entries_carry_their_wall_time_in_order() -> None:
    app = create_pipedrive()
    async with pd.client(app) as c:
        before = time.time()
        await c.get("/api/v2/persons")
        await asyncio.sleep(0.02)
        await c.post("/api/v2/persons", json={"name": "Timed"})
        after = time.time()
        entries = (await c.get("/__sandbox__/requests")).json()["requests"]
    assert [e["method"] for e in entries] == ["GET", "POST"]
    assert before <= entries[0]["at"] < entries[0]["at"] + 0.02 <= entries[1]["at"] <= after
    assert all(isinstance(e["at"], float) for e in entries)


@ap.async_test
async def test_autopilot_request_log_and_refusals_carry_wall_times() -> None:
    app = create_autopilot(rate_per_second=None)
    async with ap.client(app) as api, ap.client(app, key="wrong") as wrong:
        before = time.time()
        await api.get("/lists")
        await wrong.get("/lists")
        entries = (await api.get(f"{ap.CONTROL}/requests")).json()["requests"]
    assert [e["status"] for e in entries] == [200, 401]
    assert before <= entries[0]["at"] <= entries[1]["at"] <= time.time()


@pd.async_test
async def test_a_change_to_write_latency_comes_from_the_logs_alone() -> None:
    """A bridge stands in for `syncmap serve`: each Pipedrive person webhook becomes an
    Autopilot upsert after 50 ms. The logs alone then give each change's latency."""
    autopilot = create_autopilot(rate_per_second=None, settings=AutopilotSettings(hook_max_retries=0))
    to_autopilot = httpx.AsyncClient(transport=httpx.ASGITransport(autopilot), base_url=f"{ap.HOST}/v1", headers={"autopilotapikey": "sandbox-key"})

    async def bridge(url: str, headers: dict[str, str], body: bytes) -> int:
        await asyncio.sleep(0.05)
        person = json.loads(body)["data"]
        await to_autopilot.post("/contact", json={"contact": {"Email": f"p{person['id']}@x.test", "FirstName": person["name"]}})
        return 200

    pipedrive = create_pipedrive(webhook_sender=bridge)
    async with pd.client(pipedrive) as c, to_autopilot:
        await c.post("/v1/webhooks", json=HOOK)
        await c.post("/__sandbox__/app/persons", json={"name": "Ada"})  # a user's edit in the Pipedrive app
        await pipedrive.state.webhooks.drain()
        deliveries = (await c.get("/__sandbox__/webhooks/deliveries")).json()["deliveries"]
        writes = (await to_autopilot.get(f"{ap.CONTROL}/requests")).json()["requests"]
    (delivery,) = deliveries
    (write,) = writes
    assert (delivery["entity"], delivery["action"], delivery["attempt"]) == ("person", "create", 1)
    assert isinstance(delivery["entity_id"], int) and delivery["event_id"] and delivery["correlation_id"]
    latency = write["at"] - delivery["event_at"]
    assert delivery["event_at"] <= delivery["at"] <= write["at"] and 0.05 <= latency < 1.0


@ap.async_test
async def test_autopilot_delivery_log_names_the_contact_and_list() -> None:
    receiver = ap.Receiver()
    app = create_autopilot(rate_per_second=None, hook_sender=receiver.send)
    async with ap.client(app) as api:
        for event in ("contact_added", "contact_added_to_list"):
            await api.post("/hook", json={"event": event, "target_url": "https://r.test/h"})
        list_id = (await api.post("/list", json={"name": "Customers"})).json()["list_id"]
        before = time.time()
        cid = (await api.post("/contact", json={"contact": {"Email": "l@x.test"}})).json()["contact_id"]
        await api.post(f"/list/{list_id}/contact/{cid}")
        await app.state.hooks.drain()
    by_event = {d["event"]: d for d in app.state.hooks.deliveries}
    assert by_event["contact_added"]["contact_ids"] == [cid] and "list_id" not in by_event["contact_added"]
    assert (by_event["contact_added_to_list"]["contact_ids"], by_event["contact_added_to_list"]["list_id"]) == ([cid], list_id)
    for d in by_event.values():
        assert d["kind"] == "hook" and before <= d["event_at"] <= d["at"] <= time.time()
