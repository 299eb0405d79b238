"""Autopilot sandbox: REST hooks: registration, real payloads, notify:false, retries, 410."""

from __future__ import annotations

import time

from autopilot_support import CONTROL, Receiver, async_test, client

from syncmap.sandbox.autopilot import AutopilotSettings, create_app
from syncmap.sandbox.serve import serve_app

FAST = AutopilotSettings(hook_backoff_seconds=0.01, hook_max_retries=5)


def app_with(receiver: Receiver, settings: AutopilotSettings = FAST, **kwargs) -> object:
    return create_app(rate_per_second=None, hook_sender=receiver.send, settings=settings, **kwargs)


async def subscribe(api, *events: str, url: str = "https://receiver.test/hooks/secret") -> list[str]:
    ids = []
    for event in events:
        answer = await api.post("/hook", json={"event": event, "target_url": url})
        assert answer.status_code == 200, answer.text
        ids.append(answer.json()["hook_id"])
    return ids


@async_test
async def test_register_list_and_delete_hooks() -> None:
    async with client(app_with(Receiver())) as api:
        (added,) = await subscribe(api, "contact_added")
        assert added.startswith("hook_")
        await subscribe(api, "contact_added", url="https://other.test/h")
        dup = await api.post("/hook", json={"event": "contact_added", "target_url": "https://receiver.test/hooks/secret"})
        assert dup.status_code == 409 and dup.json()["error"] == "Conflict"
        assert (await api.post("/hook", json={"event": "contact_exploded", "target_url": "https://r.test/"})).status_code == 400
        assert (await api.post("/hook", json={"event": "contact_added", "target_url": "ftp://r.test/"})).status_code == 400
        hooks = (await api.get("/hooks")).json()["hooks"]
        assert [(h["event"], h["target_url"]) for h in hooks] == [
            ("contact_added", "https://receiver.test/hooks/secret"),
            ("contact_added", "https://other.test/h"),
        ]
        assert (await api.delete(f"/hook/{added}")).status_code == 204
        assert (await api.delete(f"/hook/{added}")).status_code == 404
        assert len((await api.get("/hooks")).json()["hooks"]) == 1
        assert (await api.delete("/hooks")).status_code == 204
        assert (await api.get("/hooks")).json() == {"hooks": []}


@async_test
async def test_contact_events_carry_the_contact_with_typed_custom_keys() -> None:
    receiver = Receiver()
    app = app_with(receiver)
    async with client(app) as api:
        await subscribe(api, "contact_added", "contact_updated")
        write = {"Email": "h@x.test", "FirstName": "H", "custom": {"integer--Review--Rating": 5}}
        cid = (await api.post("/contact", json={"contact": write})).json()["contact_id"]
        await api.post("/contact", json={"contact": {"Email": "h@x.test", "LastName": "K"}})
        await app.state.hooks.drain()
    assert receiver.events() == ["contact_added", "contact_updated"]
    added, updated = (r["body"] for r in receiver.received)
    assert receiver.received[0]["path"] == "/hooks/secret"
    assert receiver.received[0]["content_type"] == "application/json"
    assert set(added) == {"event", "contact"}
    assert added["contact"]["contact_id"] == cid and added["contact"]["Email"] == "h@x.test"
    assert added["contact"]["custom"] == {"integer--Review--Rating": 5} and "custom_fields" not in added["contact"]
    assert "LastName" not in added["contact"]  # the payload is what the contact was at the time
    assert updated["contact"]["LastName"] == "K"


@async_test
async def test_notify_false_suppresses_added_and_updated_but_not_list_events() -> None:
    receiver = Receiver()
    app = app_with(receiver)
    async with client(app) as api:
        list_id = (await api.post("/list", json={"name": "L"})).json()["list_id"]
        await subscribe(api, "contact_added", "contact_updated", "contact_added_to_list")
        await api.post("/contact", json={"contact": {"Email": "q@x.test", "notify": False, "_autopilot_list": list_id}})
        await api.post("/contact", json={"contact": {"Email": "q@x.test", "FirstName": "Q", "notify": False}})
        await api.post("/contacts", json={"contacts": [{"Email": "b1@x.test"}, {"Email": "b2@x.test", "notify": True}], "notify": False})
        await app.state.hooks.drain()
        assert receiver.events() == ["contact_added_to_list", "contact_added"]
        assert receiver.received[1]["body"]["contact"]["Email"] == "b2@x.test"
        # a marketer's edit in the app is not an API write: it always notifies
        await api.post(f"{CONTROL}/app/contact", json={"contact": {"Email": "q@x.test", "FirstName": "Quinn", "notify": False}})
        await app.state.hooks.drain()
    assert receiver.events()[-1] == "contact_updated"
    assert receiver.received[-1]["body"]["contact"]["FirstName"] == "Quinn"


@async_test
async def test_list_unsubscribe_and_alias_events() -> None:
    receiver = Receiver()
    app = app_with(receiver)
    async with client(app) as api:
        list_id = (await api.post("/list", json={"name": "L"})).json()["list_id"]
        await subscribe(api, "contact_added_to_list", "contact_removed_from_list", "contact_unsubscribes")
        cid = (await api.post("/contact", json={"contact": {"Email": "l@x.test"}})).json()["contact_id"]
        await api.post(f"/list/{list_id}/contact/{cid}")
        await api.post(f"/list/{list_id}/contact/{cid}")  # not_modified: no second event
        await api.delete(f"/list/{list_id}/contact/{cid}")
        await api.post(f"{CONTROL}/app/list/{list_id}/contact/{cid}")  # a marketer adds it back
        await api.post("/contact", json={"contact": {"Email": "l@x.test", "unsubscribed": True, "notify": False}})
        await api.delete(f"/contact/{cid}")  # deleting emits no list-removal event
        await app.state.hooks.drain()
    bodies = [r["body"] for r in receiver.received]
    assert bodies[0] == {"event": "contact_added_to_list", "contact_id": cid, "email": "l@x.test", "list_id": list_id}
    assert bodies[1] == {"event": "contact_removed_from_list", "contact_id": cid, "list_id": list_id}
    assert bodies[2]["event"] == "contact_added_to_list"
    assert bodies[3]["event"] == "contact_unsubscribes" and bodies[3]["contact"]["unsubscribed"] is True
    assert len(bodies) == 4


@async_test
async def test_failed_deliveries_are_retried_with_growing_backoff_then_dropped() -> None:
    receiver = Receiver(statuses=[500, 503, 200])
    settings = AutopilotSettings(hook_backoff_seconds=0.5, hook_max_retries=5)
    app = app_with(receiver, settings=settings, time_scale=10.0)  # 0.05 s, 0.1 s real
    async with client(app) as api:
        await subscribe(api, "contact_added")
        started = time.monotonic()
        await api.post("/contact", json={"contact": {"Email": "r@x.test"}})
        await app.state.hooks.drain()
        assert time.monotonic() - started >= 0.15
        deliveries = (await api.get(f"{CONTROL}/hook-deliveries")).json()["deliveries"]
        assert [(d["attempt"], d["status"], d["outcome"]) for d in deliveries] == [(1, 500, "retrying"), (2, 503, "retrying"), (3, 200, "delivered")]
        assert len(receiver.received) == 3 and all(r["body"] == receiver.received[0]["body"] for r in receiver.received)

        receiver.statuses = [500] * 10
        await api.post("/contact", json={"contact": {"Email": "s@x.test"}})
        await app.state.hooks.drain()
        tail = (await api.get(f"{CONTROL}/hook-deliveries")).json()["deliveries"][3:]
        assert [d["attempt"] for d in tail] == [1, 2, 3, 4, 5, 6]  # the first try and 5 retries
        assert tail[-1]["outcome"] == "dropped" and len(receiver.received) == 9


@async_test
async def test_unreachable_target_counts_as_failure() -> None:
    async def refuse(url: str, headers: dict[str, str], body: bytes) -> int:
        raise ConnectionRefusedError(url)

    app = create_app(rate_per_second=None, hook_sender=refuse, settings=AutopilotSettings(hook_backoff_seconds=0, hook_max_retries=2))
    async with client(app) as api:
        await subscribe(api, "contact_added")
        await api.post("/contact", json={"contact": {"Email": "x@x.test"}})
        await app.state.hooks.drain()
    assert [(d["status"], d["outcome"]) for d in app.state.hooks.deliveries] == [(None, "retrying"), (None, "retrying"), (None, "dropped")]


@async_test
async def test_gone_removes_the_hook() -> None:
    receiver = Receiver(statuses=[410])
    app = app_with(receiver)
    async with client(app) as api:
        await subscribe(api, "contact_added")
        await api.post("/contact", json={"contact": {"Email": "g@x.test"}})
        await app.state.hooks.drain()
        assert (await api.get("/hooks")).json() == {"hooks": []}
        await api.post("/contact", json={"contact": {"Email": "g2@x.test"}})
        await app.state.hooks.drain()
    assert len(receiver.received) == 1


@async_test
async def test_lost_webhooks_per_fault_settings() -> None:
    receiver = Receiver()
    app = app_with(receiver)
    async with client(app) as api:
        await subscribe(api, "contact_added")
        await api.put(f"{CONTROL}/faults", json={"p_lost_webhook": 1.0})
        await api.post("/contact", json={"contact": {"Email": "lost@x.test"}})
        await app.state.hooks.drain()
        assert receiver.received == []
        assert [d["outcome"] for d in app.state.hooks.deliveries] == ["lost"]
        await api.put(f"{CONTROL}/faults", json={})
        await api.post("/contact", json={"contact": {"Email": "found@x.test"}})
        await app.state.hooks.drain()
    assert receiver.events() == ["contact_added"]


@async_test
async def test_noop_write_setting_decides_whether_an_unchanged_upsert_is_an_update() -> None:
    for noop_is_update, expected in ((True, ["contact_updated"]), (False, [])):
        receiver = Receiver()
        app = app_with(receiver, settings=AutopilotSettings(noop_write_is_update=noop_is_update))
        async with client(app) as api:
            await api.post("/contact", json={"contact": {"Email": "n@x.test", "FirstName": "N"}})
            before = (await api.get("/contact/n@x.test")).json().get("updated_at")  # none yet: created through the API
            await subscribe(api, "contact_updated")
            app.state.sandbox.clock.advance(5)
            await api.post("/contact", json={"contact": {"Email": "n@x.test", "FirstName": "N"}})
            await app.state.hooks.drain()
            after = (await api.get("/contact/n@x.test")).json().get("updated_at")
        assert receiver.events() == expected
        assert (after != before) is noop_is_update


@async_test
async def test_default_sender_posts_over_http() -> None:
    """Without a hook_sender the sandbox POSTs with httpx; checked against a real socket."""
    receiver = Receiver()
    async with serve_app(receiver.app) as url:
        app = create_app(rate_per_second=None, settings=FAST)
        async with client(app) as api:
            await subscribe(api, "contact_added", url=f"{url}/hooks/secret")
            await api.post("/contact", json={"contact": {"Email": "w@x.test"}})
            await app.state.hooks.drain()
            await app.state.hooks.aclose()
    assert receiver.events() == ["contact_added"] and receiver.received[0]["path"] == "/hooks/secret"
