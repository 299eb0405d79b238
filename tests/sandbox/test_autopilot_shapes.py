"""Autopilot sandbox: read shapes from recorded real answers (RUBY cassettes, BLOG; docs/sandbox.md
"Autopilot") and the strict profile's values for them."""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx
import pytest
from autopilot_support import CONTROL, Receiver, async_test, client

from syncmap.sandbox.autopilot import AutopilotSettings, create_app
from syncmap.sandbox.autopilot.settings import STRICT


def app(**settings) -> object:
    return create_app(rate_per_second=None, settings=AutopilotSettings(**settings))


@async_test
async def test_a_contact_created_through_the_api_has_no_updated_at_nor_unsubscribed_until_set() -> None:
    async with client(app()) as api:
        cid = (await api.post("/contact", json={"contact": {"Email": "a@x.test"}})).json()["contact_id"]
        created = (await api.get(f"/contact/{cid}")).json()
        assert created == {"Email": "a@x.test", "created_at": created["created_at"], "api_originated": True, "contact_id": cid}
        await api.post("/contact", json={"contact": {"Email": "a@x.test", "FirstName": "A"}})
        assert "updated_at" in (await api.get(f"/contact/{cid}")).json()
        await api.post(f"/contact/{cid}/unsubscribe")
        assert (await api.get(f"/contact/{cid}")).json()["unsubscribed"] is True
        await api.post("/contact", json={"contact": {"Email": "a@x.test", "unsubscribed": False}})
        assert (await api.get(f"/contact/{cid}")).json()["unsubscribed"] is False  # once set, it stays shown


@async_test
async def test_settings_bring_back_updated_at_and_unsubscribed_on_every_contact() -> None:
    async with client(app(api_create_sets_updated_at=True, unsubscribed_key="always")) as api:
        await api.post("/contact", json={"contact": {"Email": "a@x.test"}})
        body = (await api.get("/contact/a@x.test")).json()
        assert body["updated_at"] == body["created_at"] and body["unsubscribed"] is False


@async_test
async def test_a_contact_made_in_the_app_is_typed_contact_and_not_api_originated() -> None:
    receiver = Receiver()
    sandbox = create_app(rate_per_second=None, hook_sender=receiver.send)
    async with client(sandbox) as api:
        await api.post("/hook", json={"event": "contact_added", "target_url": "https://r.test/h"})
        made = (await api.post(f"{CONTROL}/app/contact", json={"contact": {"Email": "m@x.test"}})).json()
        body = (await api.get(f"/contact/{made['contact_id']}")).json()
        await sandbox.state.hooks.drain()
    assert body["type"] == "Contact" and "api_originated" not in body and "updated_at" in body
    hooked = receiver.received[0]["body"]["contact"]
    assert hooked["type"] == "Contact" and "api_originated" not in hooked


@async_test
async def test_empty_strings_are_kept_as_empty_strings() -> None:
    async with client(app()) as api:
        write = {"Email": "e@x.test", "MailingCity": "", "MailingCountry": "Singapore", "Phone": None}
        await api.post("/contact", json={"contact": write})
        body = (await api.get("/contact/e@x.test")).json()
        assert body["MailingCity"] == "" and body["MailingCountry"] == "Singapore" and "Phone" not in body
        # an empty Email is still no email: a contact without one, not a 400
        made = await api.post("/contact", json={"contact": {"Email": "", "FirstName": "N"}})
        assert made.status_code == 200 and "Email" not in (await api.get(f"/contact/{made.json()['contact_id']}")).json()


@async_test
async def test_bulk_answer_carries_the_internal_remove_result_keys() -> None:
    async with client(app()) as api:
        answer = (await api.post("/contacts", json={"contacts": [{"Email": "b@x.test"}]})).json()
        assert answer["_removeResultKeys"] == ["proposedContacts"] and list(answer["email_contact_map"]) == ["b@x.test"]


def _epoch(value) -> float:
    if isinstance(value, int):
        return value / 1000
    if value.endswith("GMT"):
        return parsedate_to_datetime(value).timestamp()
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _form(value) -> str:
    return "epoch_ms" if isinstance(value, int) else "rfc1123" if value.endswith("GMT") else "iso"


@async_test
async def test_mixed_timestamps_vary_per_contact_and_field_but_are_stable() -> None:
    sandbox = app(timestamp_format="mixed")
    async with client(sandbox) as api:
        await api.post(f"{CONTROL}/seed", json={"n": 60, "seed": 2})
        page = (await api.get("/contacts")).json()["contacts"]
        again = (await api.get("/contacts")).json()["contacts"]
        trigger = (await api.get("/triggers")).json()["triggers"][0]["trigger_id"]
        entry = (await api.post(f"/trigger/{trigger}/contact/{page[0]['contact_id']}")).json()
    assert page == again  # the same contact and field always read back alike
    stamps = [(c["contact_id"], key, c[key]) for c in page for key in ("created_at", "updated_at") if key in c]
    assert {_form(v) for _, _, v in stamps} == {"iso", "rfc1123", "epoch_ms"}
    assert any(_form(c["created_at"]) != _form(c["updated_at"]) for c in page if "updated_at" in c)
    store = sandbox.state.store.contacts
    for cid, key, value in stamps:
        expected = store[cid].created_at if key == "created_at" else store[cid].updated_at
        assert abs(_epoch(value) - expected) < 1, (key, value)
    assert _form(entry["created_at"]) in {"iso", "rfc1123", "epoch_ms"}


def test_strict_values_are_valid_settings_and_the_harder_choices() -> None:
    strict = AutopilotSettings(**STRICT)
    assert strict.timestamp_format == "mixed" and strict.engagement_fires_contact_updated is True
    assert (strict.api_create_sets_updated_at, strict.unsubscribed_key, strict.empty_strings) == (False, "when_set", "keep")
    for name, bad in (("timestamp_format", "unix"), ("unsubscribed_key", "never"), ("empty_strings", "drop")):
        try:
            AutopilotSettings(**{name: bad})
        except ValueError as exc:
            assert name in str(exc)
        else:
            raise AssertionError(f"{name}={bad!r} was accepted")


@pytest.mark.parametrize("preserve", [False, True])
@async_test
async def test_a_marketer_renames_a_contact_in_the_app_whatever_upserts_do(preserve: bool) -> None:
    """APD1's draft rule (an upsert keeps existing names) is about API writes; an edit in the
    Autopilot app is the marketer's own and always applies."""
    app = create_app(settings=AutopilotSettings(preserve_names_on_merge=preserve), rate_per_second=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://ap") as http:
        headers = {"autopilotapikey": "sandbox-key"}
        made = (await http.post("/v1/contact", headers=headers, json={"contact": {"Email": "a@x.com", "LastName": "Old"}})).json()
        await http.post("/v1/contact", headers=headers, json={"contact": {"Email": "a@x.com", "LastName": "Api"}})
        after_api = (await http.get(f"/v1/contact/{made['contact_id']}", headers=headers)).json()["LastName"]
        await http.post("/__sandbox__/app/contact", json={"contact_id": made["contact_id"], "contact": {"Email": "a@x.com", "LastName": "App"}})
        after_app = (await http.get(f"/v1/contact/{made['contact_id']}", headers=headers)).json()["LastName"]
    assert after_api == ("Old" if preserve else "Api")
    assert after_app == "App"
