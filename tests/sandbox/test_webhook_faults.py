"""Both sandboxes: webhook faults a receiver must survive: duplicate deliveries (by chance, or
the next N), lost deliveries (the next N, deterministically), and the real cause of duplicates:
a receiver that processes a delivery but answers after the timeout gets the retry."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import autopilot_support as ap
import pipedrive_support as pd
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmap.sandbox.autopilot import AutopilotSettings
from syncmap.sandbox.autopilot import create_app as create_autopilot
from syncmap.sandbox.pipedrive import PipedriveSettings
from syncmap.sandbox.pipedrive import create_app as create_pipedrive
from syncmap.sandbox.serve import serve_app

FAST_PD = PipedriveSettings(webhook_retry_delays=(0.01, 0.01, 0.01))
FAST_AP = AutopilotSettings(hook_backoff_seconds=0.01, hook_max_retries=3)
PD_HOOK = {"subscription_url": "https://receiver.test/pd", "event_action": "*", "event_object": "person", "name": "syncmap"}
AP_HOOK = {"event": "contact_added", "target_url": "https://receiver.test/ap"}


class SlowFirstReceiver:
    """Served on a real socket: stores every request at once (it has "processed" it), then
    answers the first one only after `delay` seconds, past the sender's timeout."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.processed: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        self.processed.append(json.loads(await request.body()))
        if len(self.processed) == 1:
            await asyncio.sleep(self.delay)
        return Response(status_code=200)


async def pd_change(c, name: str) -> None:
    assert (await c.post("/api/v2/persons", json={"name": name})).status_code == 200


async def ap_change(api, email: str) -> None:
    assert (await api.post("/contact", json={"contact": {"Email": email}})).status_code == 200


# ------------------------------------------------------------------------- duplicates
@pd.async_test
async def test_pipedrive_duplicate_is_the_same_event_as_the_next_attempt() -> None:
    receiver = pd.Receiver()
    app = create_pipedrive(webhook_sender=receiver.send, settings=FAST_PD)
    async with pd.client(app) as c:
        await c.post("/v1/webhooks", json=PD_HOOK)
        await c.put("/__sandbox__/faults", json={"p_duplicate_webhook": 1.0})
        await pd_change(c, "Ada Twice")
        await app.state.webhooks.drain()
    first, second = receiver.bodies()
    assert first["meta"]["id"] == second["meta"]["id"] and (first["meta"]["attempt"], second["meta"]["attempt"]) == (1, 2)
    assert first["data"] == second["data"] and first["meta"]["correlation_id"] == second["meta"]["correlation_id"]
    assert [(d["attempt"], d["ok"], d["duplicate"]) for d in app.state.webhooks.deliveries] == [(1, True, False), (2, True, True)]


@ap.async_test
async def test_autopilot_duplicate_is_the_same_body_twice() -> None:
    receiver = ap.Receiver()
    app = create_autopilot(rate_per_second=None, hook_sender=receiver.send, settings=FAST_AP)
    async with ap.client(app) as api:
        await api.post("/hook", json=AP_HOOK)
        await api.put(f"{ap.CONTROL}/faults", json={"p_duplicate_webhook": 1.0})
        await ap_change(api, "twice@x.test")
        await app.state.hooks.drain()
    first, second = (r["body"] for r in receiver.received)
    assert first == second and first["event"] == "contact_added"
    log = app.state.hooks.deliveries
    assert [(d["attempt"], d["outcome"], d["duplicate"]) for d in log] == [(1, "delivered", False), (2, "delivered", True)]
    assert log[0]["delivery_id"] == log[1]["delivery_id"]


@pd.async_test
async def test_pipedrive_duplicate_next_webhooks_duplicates_exactly_that_many() -> None:
    receiver = pd.Receiver()
    app = create_pipedrive(webhook_sender=receiver.send, settings=FAST_PD)
    async with pd.client(app) as c:
        await c.post("/v1/webhooks", json=PD_HOOK)
        await c.put("/__sandbox__/faults", json={"duplicate_next_webhooks": 1})
        await pd_change(c, "First")
        await app.state.webhooks.drain()
        await pd_change(c, "Second")
        await app.state.webhooks.drain()
        left = (await c.get("/__sandbox__/faults")).json()["duplicate_next_webhooks"]
    assert [b["data"]["name"] for b in receiver.bodies()] == ["First", "First", "Second"]
    assert left == 0


# ------------------------------------------------------------------------- lost, deterministically
@pd.async_test
async def test_pipedrive_lose_next_webhooks_loses_exactly_the_next_n() -> None:
    receiver = pd.Receiver()
    app = create_pipedrive(webhook_sender=receiver.send, settings=FAST_PD)
    async with pd.client(app) as c:
        await c.post("/v1/webhooks", json=PD_HOOK)
        await c.put("/__sandbox__/faults", json={"p500": 0.0, "latency_ms": 1})
        patched = (await c.patch("/__sandbox__/faults", json={"lose_next_webhooks": 2})).json()
        assert (patched["lose_next_webhooks"], patched["latency_ms"]) == (2, 1)  # PATCH keeps the rest
        for name in ("Lost One", "Lost Two", "Arrives"):
            await pd_change(c, name)
        await app.state.webhooks.drain()
        listed = (await c.get("/__sandbox__/webhooks/deliveries")).json()
    assert [b["data"]["name"] for b in receiver.bodies()] == ["Arrives"]
    assert [(lost["reason"], lost["entity"]) for lost in listed["lost"]] == [("fault", "person")] * 2
    arrived = receiver.bodies()[0]["meta"]["entity_id"]
    assert str(arrived) not in [str(lost["entity_id"]) for lost in listed["lost"]]


@ap.async_test
async def test_autopilot_lose_next_webhooks_loses_exactly_the_next_n() -> None:
    receiver = ap.Receiver()
    app = create_autopilot(rate_per_second=None, hook_sender=receiver.send, settings=FAST_AP)
    async with ap.client(app) as api:
        await api.post("/hook", json=AP_HOOK)
        await api.patch(f"{ap.CONTROL}/faults", json={"lose_next_webhooks": 1, "duplicate_next_webhooks": 1})
        await ap_change(api, "lost@x.test")
        await app.state.hooks.drain()
        await ap_change(api, "doubled@x.test")
        await ap_change(api, "once@x.test")
        await app.state.hooks.drain()
        faults = (await api.get(f"{ap.CONTROL}/faults")).json()
    emails = [r["body"]["contact"]["Email"] for r in receiver.received]
    assert sorted(emails) == ["doubled@x.test", "doubled@x.test", "once@x.test"]
    (lost,) = [d for d in app.state.hooks.deliveries if d["outcome"] == "lost"]
    assert lost["body"]["contact"]["Email"] == "lost@x.test" and lost["attempt"] == 0
    assert (faults["lose_next_webhooks"], faults["duplicate_next_webhooks"]) == (0, 0)


@ap.async_test
async def test_bad_fault_counters_are_refused() -> None:
    app = create_autopilot(rate_per_second=None)
    async with ap.client(app) as api:
        for bad in ({"lose_next_webhooks": -1}, {"duplicate_next_webhooks": 1.5}, {"lose_next_webhooks": True}, {"p_duplicate_webhook": 2}):
            answer = await api.patch(f"{ap.CONTROL}/faults", json=bad)
            assert answer.status_code == 400 and not answer.json()["ok"], bad
        assert (await api.get(f"{ap.CONTROL}/faults")).json()["lose_next_webhooks"] == 0


# ------------------------------------------------------------------------- late answers
@pd.async_test
async def test_pipedrive_retries_a_delivery_the_receiver_processed_but_answered_too_late() -> None:
    receiver = SlowFirstReceiver(delay=1.2)
    async with serve_app(receiver.app) as url:
        # 10 s scaled by 100 is 0.1 s, held at a 0.5 s floor (room for a loaded machine to
        # connect): the 1.2 s answer is a timeout
        app = create_pipedrive(time_scale=100, settings=PipedriveSettings(webhook_min_real_timeout=0.5))
        async with pd.client(app) as c:
            await c.post("/v1/webhooks", json={**PD_HOOK, "subscription_url": f"{url}/pd"})
            await pd_change(c, "Slow Poke")
            await app.state.webhooks.drain()
    first, second = receiver.processed
    assert first["meta"]["id"] == second["meta"]["id"] and (first["meta"]["attempt"], second["meta"]["attempt"]) == (1, 2)
    log = app.state.webhooks.deliveries
    assert [(d["attempt"], d["ok"], d["error"]) for d in log] == [(1, False, "timeout"), (2, True, None)]


@ap.async_test
async def test_autopilot_retries_a_delivery_the_receiver_processed_but_answered_too_late() -> None:
    receiver = SlowFirstReceiver(delay=1.2)
    async with serve_app(receiver.app) as url:
        settings = AutopilotSettings(hook_timeout_seconds=0.5, hook_backoff_seconds=0.01)
        app = create_autopilot(rate_per_second=None, settings=settings)
        async with ap.client(app) as api:
            await api.post("/hook", json={**AP_HOOK, "target_url": f"{url}/ap"})
            await ap_change(api, "slow@x.test")
            await app.state.hooks.drain()
            log = list(app.state.hooks.deliveries)
            await app.state.hooks.aclose()
    first, second = receiver.processed
    assert first == second and first["contact"]["Email"] == "slow@x.test"
    assert [(d["attempt"], d["status"], d["outcome"]) for d in log] == [(1, None, "retrying"), (2, 200, "delivered")]


@ap.async_test
async def test_autopilot_retry_and_duplicate_waits_run_on_the_sandbox_clock() -> None:
    receiver = ap.Receiver(statuses=[500])
    settings = AutopilotSettings(hook_backoff_seconds=3600, hook_max_retries=1)  # an hour per wait
    app = create_autopilot(rate_per_second=None, hook_sender=receiver.send, settings=settings)
    async with ap.client(app) as api:
        await api.post("/hook", json=AP_HOOK)
        await api.patch(f"{ap.CONTROL}/faults", json={"duplicate_next_webhooks": 1})
        await ap_change(api, "clock@x.test")

        async def skip_each_wait() -> None:
            for expected in (1, 2, 3):  # the failure, the retry, the duplicate
                while len(receiver.received) < expected:
                    await asyncio.sleep(0.01)
                await api.put(f"{ap.CONTROL}/clock", json={"advance": 2 * 3600})
            await app.state.hooks.drain()

        await asyncio.wait_for(skip_each_wait(), 5)  # real hours of waiting otherwise
    log = app.state.hooks.deliveries
    assert [(d["attempt"], d["outcome"], d["duplicate"]) for d in log] == [(1, "retrying", False), (2, "delivered", False), (3, "delivered", True)]
