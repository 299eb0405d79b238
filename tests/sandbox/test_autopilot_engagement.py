"""Autopilot sandbox: engagement history (`mail_*` maps of delivery id -> epoch ms, autopilot-api.md
§1.3) on seeded contacts and recorded through `POST /__sandbox__/app/engagement`."""

from __future__ import annotations

import re

from autopilot_support import CONTROL, Receiver, async_test, client

from syncmap.sandbox.autopilot import AutopilotSettings, create_app

DELIVERY = re.compile(r"^batchdelivery_[0-9A-F-]{36}_\d{13}-[0-9a-f-]{36}$")
KEYS = ("mail_received", "mail_opened", "mail_clicked", "mail_bounced", "mail_hardbounced", "mail_complained",
        "mail_unsubscribed")  # fmt: skip
ENGAGEMENT = f"{CONTROL}/app/engagement"


def app(receiver: Receiver | None = None, **settings) -> object:
    sender = receiver.send if receiver else None
    return create_app(rate_per_second=None, hook_sender=sender, settings=AutopilotSettings(**settings))


async def _all_contacts(api) -> list[dict]:
    contacts, url = [], "/contacts"
    while url:
        page = (await api.get(url)).json()
        contacts += page["contacts"]
        url = f"/contacts/{page['bookmark']}" if "bookmark" in page else None
    return contacts


@async_test
async def test_seeded_contacts_carry_realistic_engagement() -> None:
    sandbox = app()
    async with client(sandbox) as api:
        await api.post(f"{CONTROL}/seed", json={"n": 400, "seed": 9})
        contacts = await _all_contacts(api)
    now_ms = sandbox.state.sandbox.clock.now() * 1000
    store = sandbox.state.store.contacts
    deliveries: dict[str, int] = {}
    for c in contacts:
        mail = {k: c.get(k, {}) for k in KEYS}
        if "Email" not in c:
            assert not any(mail.values())
            continue
        assert set(mail["mail_opened"]) <= set(mail["mail_received"])
        assert set(mail["mail_clicked"]) <= set(mail["mail_opened"])
        assert not set(mail["mail_bounced"]) & set(mail["mail_received"])
        assert not mail["mail_unsubscribed"] or c["unsubscribed"] is True
        for kind in KEYS:
            for delivery, ms in mail[kind].items():
                assert DELIVERY.match(delivery) and store[c["contact_id"]].created_at * 1000 < ms <= now_ms + 1
                deliveries[delivery] = deliveries.get(delivery, 0) + 1
        for delivery, opened in mail["mail_opened"].items():
            assert opened >= mail["mail_received"][delivery]
    with_mail = [c for c in contacts if "mail_received" in c]
    assert len(with_mail) > 200 and any("mail_opened" in c for c in with_mail) and any("mail_clicked" in c for c in with_mail)
    assert any("mail_bounced" in c or "mail_hardbounced" in c for c in contacts)
    assert any(c.get("unsubscribed") and "mail_unsubscribed" in c for c in contacts)
    assert max(deliveries.values()) > 50  # batch sends: one delivery id shared by many contacts
    latest = max(ms for c in with_mail for ms in c["mail_received"].values())
    bumped = [c for c in with_mail if max(c["mail_received"].values()) == latest]
    assert all(store[c["contact_id"]].updated_at * 1000 >= latest for c in bumped)  # the last mail moved updated_at


@async_test
async def test_control_route_records_sends_and_reactions_as_autopilot_would() -> None:
    receiver = Receiver()
    sandbox = app(receiver)
    async with client(sandbox) as api:
        await api.post("/hook", json={"event": "contact_updated", "target_url": "https://r.test/u"})
        cid = (await api.post("/contact", json={"contact": {"Email": "e@x.test"}})).json()["contact_id"]
        first = (await api.post(ENGAGEMENT, json={"contact_id": cid, "kind": "send", "at": 1_700_000_000})).json()
        assert DELIVERY.match(first["delivery_id"]) and first["contact"]["mail_received"] == {first["delivery_id"]: 1_700_000_000_000}
        second = (await api.post(ENGAGEMENT, json={"contact_id": "e@x.test", "kind": "send", "at": 1_700_000_100})).json()
        opened = (await api.post(ENGAGEMENT, json={"contact_id": cid, "kind": "open", "at": 1_700_000_200})).json()
        assert opened["delivery_id"] == second["delivery_id"]  # a reaction is to the latest mail unless named
        click = {"contact_id": cid, "kind": "click", "at": 1_700_000_300, "delivery_id": first["delivery_id"]}
        assert (await api.post(ENGAGEMENT, json=click)).status_code == 200
        body = (await api.get(f"/contact/{cid}")).json()
        assert body["mail_received"] == {first["delivery_id"]: 1_700_000_000_000, second["delivery_id"]: 1_700_000_100_000}
        assert body["mail_opened"] == {second["delivery_id"]: 1_700_000_200_000}
        assert body["mail_clicked"] == {first["delivery_id"]: 1_700_000_300_000}
        assert "updated_at" in body and "unsubscribed" not in body  # engagement moved updated_at (the default)
        # upserts change contact details, never activity history
        await api.post("/contact", json={"contact": {"Email": "e@x.test", "mail_opened": {}, "FirstName": "E"}})
        assert (await api.get(f"/contact/{cid}")).json()["mail_opened"] == body["mail_opened"]
        await sandbox.state.hooks.drain()
    assert receiver.events() == ["contact_updated"]  # the upsert, not the four mail events


@async_test
async def test_engagement_settings_for_updated_at_and_contact_updated() -> None:
    receiver = Receiver()
    sandbox = app(receiver, engagement_bumps_updated_at=False, engagement_fires_contact_updated=True)
    async with client(sandbox) as api:
        await api.post("/hook", json={"event": "contact_updated", "target_url": "https://r.test/u"})
        cid = (await api.post("/contact", json={"contact": {"Email": "s@x.test"}})).json()["contact_id"]
        await api.post(ENGAGEMENT, json={"contact_id": cid, "kind": "send"})
        assert "updated_at" not in (await api.get(f"/contact/{cid}")).json()
        await sandbox.state.hooks.drain()
    assert receiver.events() == ["contact_updated"]
    assert "mail_received" not in receiver.received[0]["body"]["contact"]  # hooks carry no engagement


@async_test
async def test_an_unsubscribe_from_a_mail_opts_the_contact_out() -> None:
    receiver = Receiver()
    sandbox = app(receiver)
    async with client(sandbox) as api:
        await api.post("/hook", json={"event": "contact_unsubscribed", "target_url": "https://r.test/u"})
        cid = (await api.post("/contact", json={"contact": {"Email": "u@x.test"}})).json()["contact_id"]
        sent = (await api.post(ENGAGEMENT, json={"contact_id": cid, "kind": "send"})).json()["delivery_id"]
        body = (await api.post(ENGAGEMENT, json={"contact_id": cid, "kind": "unsubscribe"})).json()["contact"]
        assert body["unsubscribed"] is True and list(body["mail_unsubscribed"]) == [sent]
        await sandbox.state.hooks.drain()
    assert receiver.events() == ["contact_unsubscribed"]


@async_test
async def test_bad_engagement_requests_get_clear_errors() -> None:
    async with client(app()) as api:
        cid = (await api.post("/contact", json={"contact": {"Email": "b@x.test"}})).json()["contact_id"]
        for body, status in (
            ({"contact_id": cid, "kind": "open"}, 400),  # nothing received yet
            ({"contact_id": cid, "kind": "forward"}, 400),
            ({"contact_id": cid, "kind": "send", "at": "yesterday"}, 400),
            ({"contact_id": cid, "kind": "send", "at": True}, 400),
            ({"contact_id": cid, "kind": "send", "delivery_id": 7}, 400),
            ({"kind": "send"}, 400),
            ({"contact_id": "person_NOPE", "kind": "send"}, 404),
        ):
            answer = await api.post(ENGAGEMENT, json=body)
            assert answer.status_code == status and set(answer.json()) == {"error", "message"}, (body, answer.text)
        await api.post(ENGAGEMENT, json={"contact_id": cid, "kind": "send"})
        unknown = await api.post(ENGAGEMENT, json={"contact_id": cid, "kind": "click", "delivery_id": "batchdelivery_X"})
        assert unknown.status_code == 400 and "batchdelivery_X" in unknown.json()["message"]
        bounced = (await api.post(ENGAGEMENT, json={"contact_id": cid, "kind": "hardbounce"})).json()
        assert DELIVERY.match(bounced["delivery_id"]) and list(bounced["contact"]["mail_hardbounced"]) == [bounced["delivery_id"]]
