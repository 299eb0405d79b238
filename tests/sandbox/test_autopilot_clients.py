"""Autopilot sandbox as public clients use it (autopilot-api.md): the call sequences of an
n8n-like node, a Singer-like tap and a PHP-like manager, each answer checked against the
documented shapes (§1.2-§1.8) rather than against what syncmap happens to need."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from autopilot_support import CONTROL, Receiver, async_test, client

from syncmap.sandbox.autopilot import AutopilotSettings, create_app
from syncmap.sandbox.profiles import PROFILES

CONTACT_ID = re.compile(r"^person_[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
LIST_ID = re.compile(r"^contactlist_[0-9A-Za-z_-]+$")
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
RFC_1123 = re.compile(r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$")
STANDARD = {
    "Email", "FirstName", "LastName", "Salutation", "Company", "NumberOfEmployees", "Title", "Industry", "Phone",
    "MobilePhone", "Fax", "Website", "MailingStreet", "MailingCity", "MailingState", "MailingPostalCode",
    "MailingCountry", "owner_name", "LeadSource", "Status", "LinkedIn", "Twitter", "unsubscribed",
}  # fmt: skip
READ_ONLY = {"contact_id", "created_at", "updated_at", "Name", "type", "lists", "api_originated"}
ENGAGEMENT = {"mail_received", "mail_opened", "mail_clicked", "mail_bounced", "mail_hardbounced",
              "mail_complained", "mail_unsubscribed"}  # fmt: skip
CUSTOM_TYPES = {"string", "integer", "float", "boolean", "date"}
NOT_FOUND = {"error": "Not Found", "message": "Contact could not be found."}


def n8n_custom_key(field_type: str, name: str) -> str:
    """How n8n (and FORMIE) build a write key: `${fieldType}--${name.replace(/\\s/g, '--')}`."""
    return field_type + "--" + re.sub(r"\s", "--", name)


def parse_time(value: Any) -> datetime:
    """ref §1.3: ISO-8601 with milliseconds, RFC 1123 or epoch milliseconds; "parse all three"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str) and ISO_MS.match(value):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert isinstance(value, str) and RFC_1123.match(value), value
    return parsedate_to_datetime(value)


def check_contact(contact: dict[str, Any], *, hook: bool = False) -> None:
    """A contact as §1.3/§1.4 and the recorded answers show it: PascalCase standard keys,
    read-only extras (`updated_at` and `unsubscribed` may be missing; `type` is "Contact",
    `api_originated` only ever true), engagement maps of delivery id -> epoch ms on reads,
    custom values as `custom_fields` [{kind, value, fieldType, deleted}] on reads and as a
    type-prefixed `custom` map in hooks."""
    assert CONTACT_ID.match(contact["contact_id"]), contact
    assert "updated_at" not in contact or parse_time(contact["created_at"]) <= parse_time(contact["updated_at"]), contact
    parse_time(contact["created_at"])
    assert isinstance(contact.get("unsubscribed", False), bool)
    assert contact.get("type", "Contact") == "Contact" and contact.get("api_originated", True) is True
    allowed = STANDARD | READ_ONLY | ({"custom"} if hook else {"custom_fields"} | ENGAGEMENT)
    assert set(contact) <= allowed, set(contact) - allowed
    for key in ENGAGEMENT & set(contact):
        assert contact[key] and all(isinstance(ms, int) and ms > 10**12 for ms in contact[key].values()), contact[key]
    for list_id in contact.get("lists", []):
        assert LIST_ID.match(list_id)
    if hook:
        for key in contact.get("custom", {}):
            assert key.split("--", 1)[0] in CUSTOM_TYPES and "--" in key, key
    else:
        for item in contact.get("custom_fields", []):
            assert set(item) == {"kind", "value", "fieldType", "deleted"} and item["fieldType"] in CUSTOM_TYPES, item
            assert item["deleted"] is False and " " not in item["fieldType"]


def check_error(answer: httpx.Response, status: int, message: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert set(body) == {"error", "message"} and isinstance(body["message"], str), body
    if message is not None:
        assert body["message"] == message


@async_test
async def test_n8n_like_flow() -> None:
    receiver = Receiver()
    app = create_app(rate_per_second=None, hook_sender=receiver.send, settings=AutopilotSettings(hook_backoff_seconds=0.01))
    async with client(app) as api:
        # credentials test, then the custom field dropdown
        assert (await api.get("/account")).json() == {"instanceId": "sandbox-instance"}
        assert (await api.get("/contacts/custom_fields")).json() == []

        # trigger node: register the REST hook
        hooked = await api.post("/hook", json={"event": "contact_added", "target_url": "https://n8n.test/webhook/ap"})
        assert hooked.status_code == 200 and set(hooked.json()) == {"hook_id"} and hooked.json()["hook_id"].startswith("hook_")
        assert (await api.get("/hooks")).json() == {
            "hooks": [{"hook_id": hooked.json()["hook_id"], "event": "contact_added", "target_url": "https://n8n.test/webhook/ap"}]
        }

        # contact: upsert with custom fields, as the node builds them
        custom = {n8n_custom_key("string", "Lead Source"): "Webinar", n8n_custom_key("integer", "Review Rating"): 4,
                  n8n_custom_key("date", "Signed Up"): "2024-03-05"}  # fmt: skip
        write = {"contact": {"Email": "Grace.Hopper@Example.test", "FirstName": "Grace", "LastName": "Hopper", "custom": custom}}
        made = await api.post("/contact", json=write)
        assert made.status_code == 200 and set(made.json()) == {"contact_id"}
        contact_id = made.json()["contact_id"]
        assert CONTACT_ID.match(contact_id)

        # contact: get (by email, as n8n's "get" does), then by id
        got = (await api.get("/contact/grace.hopper@example.test")).json()
        check_contact(got)
        assert got == (await api.get(f"/contact/{contact_id}")).json()
        assert (got["contact_id"], got["Email"], got["Name"]) == (contact_id, "Grace.Hopper@Example.test", "Grace Hopper")
        assert sorted(got["custom_fields"], key=lambda f: f["kind"]) == [
            {"kind": "Lead Source", "value": "Webinar", "fieldType": "string", "deleted": False},
            {"kind": "Review Rating", "value": 4, "fieldType": "integer", "deleted": False},
            {"kind": "Signed Up", "value": "2024-03-05T00:00:00.000Z", "fieldType": "date", "deleted": False},
        ]
        fields = (await api.get("/contacts/custom_fields")).json()
        assert sorted((f["name"], f["fieldType"]) for f in fields) == [
            ("Lead Source", "string"), ("Review Rating", "integer"), ("Signed Up", "date")]  # fmt: skip

        # the hook: contact_added with the contact and its type-prefixed `custom`
        await app.state.hooks.drain()
        assert receiver.events() == ["contact_added"]
        delivered = receiver.received[0]
        assert delivered["content_type"] == "application/json" and set(delivered["body"]) == {"event", "contact"}
        check_contact(delivered["body"]["contact"], hook=True)
        assert delivered["body"]["contact"]["custom"] == {
            "string--Lead--Source": "Webinar", "integer--Review--Rating": 4, "date--Signed--Up": "2024-03-05T00:00:00.000Z"}  # fmt: skip

        # contact list: create, add, check membership, roster
        made_list = await api.post("/list", json={"name": "n8n Leads"})
        list_id = made_list.json()["list_id"]
        assert set(made_list.json()) == {"list_id"} and LIST_ID.match(list_id)
        assert {"list_id": list_id, "title": "n8n Leads"} in (await api.get("/lists")).json()["lists"]
        assert (await api.get(f"/list/{list_id}/contact/{contact_id}")).status_code == 404  # not a member yet
        assert (await api.post(f"/list/{list_id}/contact/grace.hopper@example.test")).json() == {}
        assert (await api.post(f"/list/{list_id}/contact/{contact_id}")).json() == {"not_modified": True}
        member = await api.get(f"/list/{list_id}/contact/{contact_id}")
        assert member.status_code == 200 and member.json() == {}
        roster = (await api.get(f"/list/{list_id}/contacts")).json()
        assert set(roster) == {"contacts", "total_contacts"} and roster["total_contacts"] == 1
        check_contact(roster["contacts"][0])
        assert roster["contacts"][0]["lists"] == [list_id]

        # journey: list triggers, add the contact (not idempotent: each call is an entry)
        await api.post(f"{CONTROL}/app/trigger", json={"journey": "Welcome"})
        triggers = (await api.get("/triggers")).json()["triggers"]
        assert triggers == [{"trigger_id": "0001", "journey": "Welcome", "trigger_type": "apiTrigger"}]
        for _ in range(2):
            entered = await api.post(f"/trigger/0001/contact/{contact_id}")
            assert entered.status_code == 200 and isinstance(entered.json(), dict)
        assert len((await api.get(f"{CONTROL}/journey-entries")).json()["entries"]) == 2
        check_error(await api.post("/trigger/0999/contact/" + contact_id), 404)

        # contact: delete by email; then it is gone everywhere
        deleted = await api.delete("/contact/GRACE.HOPPER@example.test")
        assert deleted.status_code == 204 and deleted.content == b""
        check_error(await api.get(f"/contact/{contact_id}"), 404, NOT_FOUND["message"])
        check_error(await api.delete(f"/contact/{contact_id}"), 404, NOT_FOUND["message"])
        assert (await api.get(f"/list/{list_id}/contacts")).json()["total_contacts"] == 0

        # trigger node deactivated: the hook goes
        assert (await api.delete(f"/hook/{hooked.json()['hook_id']}")).status_code == 204
        assert (await api.get("/hooks")).json() == {"hooks": []}


@pytest.mark.parametrize("profile", PROFILES)
@async_test
async def test_tap_like_full_scan_with_bookmarks(profile: str) -> None:
    app = create_app(rate_per_second=None, profile=profile)
    async with client(app) as api:
        await api.post(f"{CONTROL}/seed", json={"n": 230, "seed": 11})
        # bulk upsert 100, mapped back through email_contact_map (contacts without Email cannot be)
        batch = [{"Email": f"bulk{i}@example.test", "FirstName": f"B{i}", "custom": {"float--Score": i / 2}} for i in range(100)]
        bulk = await api.post("/contacts", json={"contacts": batch})
        assert bulk.status_code == 200 and set(bulk.json()) == {"contact_ids", "email_contact_map", "_removeResultKeys"}
        ids, mapping = bulk.json()["contact_ids"], bulk.json()["email_contact_map"]
        assert len(ids) == len(set(ids)) == 100 and all(CONTACT_ID.match(i) for i in ids)
        assert list(mapping) == [c["Email"] for c in batch] and list(mapping.values()) == ids
        for email in ("bulk0@example.test", "bulk99@example.test"):
            assert (await api.get(f"/contact/{email}")).json()["contact_id"] == mapping[email]
        check_error(await api.post("/contacts", json={"contacts": batch + [{"Email": "one@more.test"}]}), 400)

        # read everything: /contacts, then /contacts/{bookmark} until no bookmark (and no repeats)
        seen: list[str] = []
        bookmarks: set[str] = set()
        page = (await api.get("/contacts")).json()
        total = page["total_contacts"]
        while True:
            assert set(page) <= {"contacts", "total_contacts", "bookmark"} and page["total_contacts"] == total
            assert 0 < len(page["contacts"]) <= 100
            for contact in page["contacts"]:
                check_contact(contact)
                if "updated_at" in contact:  # the tap parses every time it gets, in any of the three forms
                    parse_time(contact["updated_at"])
            seen += [c["contact_id"] for c in page["contacts"]]
            if "bookmark" not in page:
                break
            assert page["bookmark"] == page["contacts"][-1]["contact_id"] and page["bookmark"] not in bookmarks
            bookmarks.add(page["bookmark"])
            page = (await api.get(f"/contacts/{page['bookmark']}")).json()
        assert total == 330 and len(seen) == len(set(seen)) == total and set(ids) <= set(seen)
        check_error(await api.get("/contacts/person_NOT-A-BOOKMARK"), 400)


@pytest.mark.parametrize("profile", PROFILES)
@async_test
async def test_php_like_subscription_and_membership_calls(profile: str) -> None:
    app = create_app(rate_per_second=None, profile=profile)
    async with client(app) as api:
        cid = (await api.post("/contact", json={"contact": {"Email": "ada@example.test"}})).json()["contact_id"]
        assert (await api.post(f"/contact/{cid}/unsubscribe")).json() == {}
        assert (await api.get(f"/contact/{cid}")).json()["unsubscribed"] is True
        await api.post("/contact", json={"contact": {"Email": "ada@example.test", "unsubscribed": False}})  # subscribeContact
        assert (await api.get("/contact/ada@example.test")).json()["unsubscribed"] is False
        # updateContactEmail: get by the old email, upsert with _NewEmail
        moved = await api.post("/contact", json={"contact": {"Email": "ada@example.test", "_NewEmail": "ada@new.test"}})
        assert moved.json() == {"contact_id": cid}
        assert (await api.get("/contact/ada@new.test")).json()["Email"] == "ada@new.test"
        check_error(await api.get("/contact/ada@example.test"), 404, NOT_FOUND["message"])
        # checkContactInList / getAllContactsInList on an unknown list: 404 with an empty message
        check_error(await api.get("/list/contactlist_NOPE/contact/" + cid), 404, "")
        check_error(await api.get("/list/contactlist_NOPE/contacts"), 404, "")
        # _autopilot_list on an upsert adds to the list
        list_id = (await api.post("/list", json={"name": "Customers"})).json()["list_id"]
        await api.post("/contact", json={"contact": {"Email": "ada@new.test", "_autopilot_list": list_id}})
        assert (await api.get(f"/list/{list_id}/contact/{cid}")).status_code == 200
        assert (await api.delete(f"/list/{list_id}/contact/{cid}")).json() == {}
        assert (await api.delete(f"/list/{list_id}/contact/{cid}")).json() == {"not_modified": True}


@pytest.mark.parametrize("profile", PROFILES)
@async_test
async def test_documented_auth_and_rate_limit_errors(profile: str) -> None:
    app = create_app(rate_per_second=5, profile=profile)
    burst = app.state.settings.rate_limit_burst or 5  # strict: no burst at all
    async with client(app, key=None) as anonymous:
        check_error(await anonymous.get("/contacts"), 400, "No autopilotapikey header provided.")
    async with client(app, key="wrong") as wrong:
        check_error(await wrong.get("/contacts"), 401, "Provided autopilotapikey not valid.")
    async with client(app) as api:
        answers = [await api.get("/account") for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * burst + [429] * (6 - burst)
        check_error(answers[-1], 429, "You have exceeded your request rate of 5 r/s.")
