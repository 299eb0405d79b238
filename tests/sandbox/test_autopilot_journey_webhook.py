"""Autopilot sandbox: a journey's Webhook action step (help page "Autopilot: Action - Webhook"),
driven by `POST /__sandbox__/app/journey-webhook`: the records, the journey, the method, headers,
basic auth and custom payload, one request or one per contact, retries and the delivery log."""

from __future__ import annotations

import base64
import dataclasses
import re
import time

from autopilot_support import CONTROL, Receiver, async_test, client

from syncmap.sandbox.autopilot import AutopilotSettings, create_app
from syncmap.sandbox.serve import serve_app

FAST = AutopilotSettings(hook_backoff_seconds=0.01, hook_max_retries=2)
CAMPAIGN = re.compile(r"^campaign_[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$")
URL = "https://actions.test/actions/add-deal"


def app_with(receiver: Receiver, **settings) -> object:
    return create_app(rate_per_second=None, hook_sender=receiver.send, settings=dataclasses.replace(FAST, **settings))


async def two_contacts(api) -> list[str]:
    made = []
    for email, first in (("ada@x.test", "Ada"), ("bob@x.test", "Bob")):
        body = {"contact": {"Email": email, "FirstName": first, "custom": {"string--Plan": "pro"}}}
        made.append((await api.post("/contact", json=body)).json()["contact_id"])
    return made


async def step(api, **body) -> dict:
    answer = await api.post(f"{CONTROL}/app/journey-webhook", json={"journey": "Onboarding", "url": URL, **body})
    assert answer.status_code == 200, answer.text
    return answer.json()


@async_test
async def test_one_step_sends_one_request_with_every_contact_as_the_api_reads_it() -> None:
    receiver = Receiver()
    app = app_with(receiver)
    async with client(app) as api:
        ada, bob = await two_contacts(api)
        answer = await step(
            api,
            method="PUT",
            headers={"X-Shared-Key": "k3y"},
            basic_auth={"user": "journeys", "password": "pw"},
            payload={"action": "add_deal", "stage": "Won"},
            contacts=[ada, "bob@x.test"],
        )
        await app.state.hooks.drain()
        as_read = [(await api.get(f"/contact/{cid}")).json() for cid in (ada, bob)]
    (request,) = receiver.received
    assert (request["method"], request["path"]) == ("PUT", "/actions/add-deal")
    assert request["body"]["records"] == as_read  # the API read shape: custom_fields, contact_id person_…
    assert request["body"]["journey"] == answer["journey"] and answer["journey"]["name"] == "Onboarding"
    assert CAMPAIGN.match(answer["journey"]["id"])
    assert request["body"]["payload"] == {"action": "add_deal", "stage": "Won"}
    assert request["headers"]["x-shared-key"] == "k3y"
    assert request["headers"]["authorization"] == "Basic " + base64.b64encode(b"journeys:pw").decode()
    assert request["content_type"] == "application/json"
    (logged,) = app.state.hooks.deliveries
    assert logged["kind"] == "journey_webhook" and logged["contact_ids"] == [ada, bob]
    assert (logged["delivery_id"], logged["outcome"], logged["method"]) == (answer["delivery_ids"][0], "delivered", "PUT")


@async_test
async def test_a_journey_keeps_its_id_and_another_journey_gets_its_own() -> None:
    receiver = Receiver()
    app = app_with(receiver)
    async with client(app) as api:
        ada, _ = await two_contacts(api)
        first = (await step(api, contacts=[ada]))["journey"]
        again = (await step(api, contacts=[ada]))["journey"]
        other = (await step(api, journey="Win-back", contacts=[ada]))["journey"]
        await app.state.hooks.drain()
    assert first == again and other["id"] != first["id"] and CAMPAIGN.match(other["id"])
    assert [r["method"] for r in receiver.received] == ["POST"] * 3  # POST unless the step says otherwise


@async_test
async def test_settings_send_one_request_per_contact_and_merge_the_custom_payload() -> None:
    receiver = Receiver()
    app = app_with(receiver, journey_webhook_per_contact=True, journey_webhook_payload="merge")
    async with client(app) as api:
        ada, bob = await two_contacts(api)
        answer = await step(api, payload={"action": "add_deal"}, contacts=[ada, bob])
        clash = await api.post(f"{CONTROL}/app/journey-webhook", json={"journey": "J", "url": URL, "payload": {"records": []}, "contacts": [ada]})
        await app.state.hooks.drain()
    assert len(answer["delivery_ids"]) == 2
    bodies = sorted((r["body"] for r in receiver.received), key=lambda b: b["records"][0]["contact_id"])
    assert [[rec["contact_id"] for rec in b["records"]] for b in bodies] == [[c] for c in sorted((ada, bob))]
    assert all(b["action"] == "add_deal" and "payload" not in b for b in bodies)
    assert clash.status_code == 400


@async_test
async def test_failed_calls_are_retried_like_rest_hooks_and_logged_with_times() -> None:
    receiver = Receiver(statuses=[500, 503])
    app = app_with(receiver)
    async with client(app) as api:
        ada, _ = await two_contacts(api)
        before = time.time()
        await step(api, contacts=[ada])
        await app.state.hooks.drain()
    log = app.state.hooks.deliveries
    assert [(d["attempt"], d["status"], d["outcome"]) for d in log] == [(1, 500, "retrying"), (2, 503, "retrying"), (3, 200, "delivered")]
    assert len({d["delivery_id"] for d in log}) == 1 and len(receiver.received) == 3
    assert before <= log[0]["event_at"] <= log[0]["at"] < log[1]["at"] < log[2]["at"] <= time.time()


@async_test
async def test_bad_steps_are_refused_and_an_unknown_contact_sends_nothing() -> None:
    receiver = Receiver()
    app = app_with(receiver)
    async with client(app) as api:
        ada, _ = await two_contacts(api)
        base = {"journey": "J", "url": URL, "contacts": [ada]}
        for bad in (
            {"journey": ""},
            {"url": "ftp://x.test/"},
            {"url": "http://[::1"},
            {"method": "TRACE"},
            {"headers": {"X": 1}},
            {"basic_auth": {"user": "u"}},
            {"payload": [1]},
            {"contacts": []},
            {"contacts": [ada, 7]},
        ):
            answer = await api.post(f"{CONTROL}/app/journey-webhook", json={**base, **bad})
            assert answer.status_code == 400, bad
            assert answer.json()["error"] == "Bad Request"
        missing = await api.post(f"{CONTROL}/app/journey-webhook", json={**base, "contacts": [ada, "nobody@x.test"]})
        assert missing.status_code == 404
        await app.state.hooks.drain()
    assert receiver.received == [] and app.state.hooks.deliveries == []


@async_test
async def test_the_default_sender_calls_a_loopback_url_with_the_steps_method() -> None:
    receiver = Receiver()
    async with serve_app(receiver.app) as url:
        app = create_app(rate_per_second=None, settings=FAST)
        async with client(app) as api:
            ada, _ = await two_contacts(api)
            await step(api, url=f"{url}/actions/tag", method="PATCH", contacts=[ada])
            await app.state.hooks.drain()
            await app.state.hooks.aclose()
    (request,) = receiver.received
    assert (request["method"], request["path"]) == ("PATCH", "/actions/tag")
    assert [r["contact_id"] for r in request["body"]["records"]] == [ada]
