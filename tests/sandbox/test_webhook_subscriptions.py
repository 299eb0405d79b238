"""Both sandboxes' subscription APIs, where the other tests leave gaps: Pipedrive's 40 webhooks
per user (a 422) and v1 payloads refused; Autopilot's `DELETE /hooks` stopping retries; and
deliveries to a loopback URL (where `syncmap serve` listens) that go straight to it even when
the environment names an HTTP proxy."""

from __future__ import annotations

import asyncio
import base64

import autopilot_support as ap
import pipedrive_support as pd
import pytest

from syncmap.sandbox.autopilot import AutopilotSettings
from syncmap.sandbox.autopilot import create_app as create_autopilot
from syncmap.sandbox.pipedrive import PipedriveSettings
from syncmap.sandbox.pipedrive import create_app as create_pipedrive
from syncmap.sandbox.serve import serve_app

PD_HOOK = {"subscription_url": "https://receiver.test/pd", "event_action": "create", "event_object": "person", "name": "syncmap"}
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing answers there


@pd.async_test
async def test_pipedrive_allows_40_webhooks_per_user_then_422() -> None:
    app = create_pipedrive(plan="enterprise")  # 120 requests per 2 s: the burst limit stays out of the way
    async with pd.client(app) as c:
        made = [await c.post("/v1/webhooks", json={**PD_HOOK, "name": f"hook {i}"}) for i in range(40)]
        assert {r.status_code for r in made} == {201}
        over = await c.post("/v1/webhooks", json={**PD_HOOK, "name": "one too many"})
        assert over.status_code == 422 and over.json()["success"] is False
        assert len((await c.get("/v1/webhooks")).json()["data"]) == 40
        assert (await c.delete(f"/v1/webhooks/{made[0].json()['data']['id']}")).status_code == 200
        assert (await c.post("/v1/webhooks", json={**PD_HOOK, "name": "fits again"})).status_code == 201


@pd.async_test
async def test_pipedrive_webhook_limit_is_a_setting() -> None:
    app = create_pipedrive(settings=PipedriveSettings(max_webhooks_per_user=1))
    async with pd.client(app) as c:
        assert (await c.post("/v1/webhooks", json=PD_HOOK)).status_code == 201
        assert (await c.post("/v1/webhooks", json=PD_HOOK)).status_code == 422


@pd.async_test
async def test_pipedrive_subscription_keeps_version_2_and_refuses_v1_payloads() -> None:
    app = create_pipedrive()
    async with pd.client(app) as c:
        made = (await c.post("/v1/webhooks", json={**PD_HOOK, "version": "2.0", "http_auth_user": "u", "http_auth_password": "p"})).json()
        assert (made["data"]["version"], made["data"]["http_auth_user"], made["data"]["http_auth_password"]) == ("2.0", "u", "p")
        v1 = await c.post("/v1/webhooks", json={**PD_HOOK, "version": "1.0"})
        assert v1.status_code == 400 and list(v1.json()["errors"]) == ["version"]
        assert [w["id"] for w in (await c.get("/v1/webhooks")).json()["data"]] == [made["data"]["id"]]


@ap.async_test
async def test_autopilot_delete_all_hooks_stops_pending_retries() -> None:
    receiver = ap.Receiver(statuses=[500] * 10)
    settings = AutopilotSettings(hook_backoff_seconds=0.2, hook_max_retries=5)
    app = create_autopilot(rate_per_second=None, hook_sender=receiver.send, settings=settings)
    async with ap.client(app) as api:
        await api.post("/hook", json={"event": "contact_added", "target_url": "https://r.test/a"})
        await api.post("/contact", json={"contact": {"Email": "retry@x.test"}})
        while not app.state.hooks.deliveries:  # the first attempt has failed
            await asyncio.sleep(0.01)
        assert (await api.delete("/hooks")).status_code == 204
        await app.state.hooks.drain()
    assert [d["outcome"] for d in app.state.hooks.deliveries] == ["retrying", "hook_deleted"]
    assert len(receiver.received) == 1


@pd.async_test
async def test_pipedrive_delivers_to_loopback_despite_a_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, DEAD_PROXY)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    receiver = ap.Receiver()
    async with serve_app(receiver.app) as url:
        app = create_pipedrive(settings=PipedriveSettings(webhook_retry_delays=()))
        async with pd.client(app) as c:
            await c.post("/v1/webhooks", json={**PD_HOOK, "subscription_url": f"{url}/serve/pd", "http_auth_user": "a", "http_auth_password": "b"})
            await c.post("/api/v2/persons", json={"name": "Via Loopback"})
            stats = await app.state.webhooks.drain()
    assert stats["delivered"] == 1, app.state.webhooks.deliveries
    (request,) = receiver.received
    assert request["path"] == "/serve/pd" and request["headers"]["authorization"] == "Basic " + base64.b64encode(b"a:b").decode()


@ap.async_test
async def test_autopilot_delivers_to_loopback_despite_a_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, DEAD_PROXY)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    receiver = ap.Receiver()
    async with serve_app(receiver.app) as url:
        app = create_autopilot(rate_per_second=None, settings=AutopilotSettings(hook_max_retries=0))
        async with ap.client(app) as api:
            await api.post("/hook", json={"event": "contact_added", "target_url": f"{url}/serve/ap?token=s3cret"})
            await api.post("/contact", json={"contact": {"Email": "loop@x.test"}})
            await app.state.hooks.drain()
            outcomes = [d["outcome"] for d in app.state.hooks.deliveries]
            await app.state.hooks.aclose()
    assert outcomes == ["delivered"]
    assert receiver.received[0]["path"] == "/serve/ap" and receiver.received[0]["body"]["contact"]["Email"] == "loop@x.test"
