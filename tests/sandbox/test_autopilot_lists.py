"""Autopilot sandbox: lists, membership, rosters and journeys."""

from __future__ import annotations

import re

from autopilot_support import CONTROL, async_test, client

from syncmap.sandbox.autopilot import AutopilotSettings, create_app


def unlimited(**kwargs) -> object:
    return create_app(rate_per_second=None, **kwargs)


@async_test
async def test_create_and_list_lists_duplicate_name_conflicts() -> None:
    async with client(unlimited()) as api:
        made = await api.post("/list", json={"name": "Pipedrive Contacts"})
        list_id = made.json()["list_id"]
        assert re.fullmatch(r"contactlist_[0-9A-F-]{36}", list_id)
        assert (await api.get("/lists")).json() == {"lists": [{"list_id": list_id, "title": "Pipedrive Contacts"}]}
        dup = await api.post("/list", json={"name": "Pipedrive Contacts"})
        assert dup.status_code == 409 and dup.json()["error"] == "Conflict"
        assert (await api.post("/list", json={})).status_code == 400


@async_test
async def test_duplicate_list_name_setting_creates_a_second_list() -> None:
    async with client(unlimited(settings=AutopilotSettings(duplicate_list_name="create"))) as api:
        a = (await api.post("/list", json={"name": "L"})).json()["list_id"]
        b = (await api.post("/list", json={"name": "L"})).json()["list_id"]
        assert a != b and len((await api.get("/lists")).json()["lists"]) == 2


@async_test
async def test_membership_add_check_remove_with_not_modified() -> None:
    async with client(unlimited()) as api:
        list_id = (await api.post("/list", json={"name": "L"})).json()["list_id"]
        cid = (await api.post("/contact", json={"contact": {"Email": "m@x.test"}})).json()["contact_id"]
        member = f"/list/{list_id}/contact"
        absent = await api.get(f"{member}/{cid}")
        assert (absent.status_code, absent.json()) == (404, {"error": "Not Found", "message": ""})
        added = await api.post(f"{member}/m@x.test")
        assert added.status_code == 200 and "not_modified" not in added.json()
        assert (await api.post(f"{member}/{cid}")).json() == {"not_modified": True}
        assert (await api.get(f"{member}/M@x.test")).status_code == 200
        assert (await api.get(f"/contact/{cid}")).json()["lists"] == [list_id]
        removed = await api.delete(f"{member}/{cid}")
        assert removed.status_code == 200 and "not_modified" not in removed.json()
        assert (await api.delete(f"{member}/{cid}")).json() == {"not_modified": True}
        assert (await api.get(f"{member}/{cid}")).status_code == 404
        assert "lists" not in (await api.get(f"/contact/{cid}")).json()
        assert (await api.post(f"/list/contactlist_NOPE/contact/{cid}")).status_code == 404
        assert (await api.post(f"{member}/nobody@x.test")).json()["message"] == "Contact could not be found."


@async_test
async def test_roster_pages_by_bookmark_and_autopilot_list_on_upsert() -> None:
    async with client(unlimited()) as api:
        list_id = (await api.post("/list", json={"name": "L"})).json()["list_id"]
        await api.post("/contacts", json={"contacts": [{"Email": f"out{i}@x.test"} for i in range(30)]})
        batch = [{"Email": f"in{i}@x.test", "_autopilot_list": list_id} for i in range(100)]
        await api.post("/contacts", json={"contacts": batch})
        await api.post("/contacts", json={"contacts": [{"Email": f"in{i}@x.test", "_autopilot_list": list_id} for i in range(100, 120)]})
        # an existing contact joins the list through an upsert too
        await api.post("/contact", json={"contact": {"Email": "out0@x.test", "_autopilot_list": list_id}})
        first = (await api.get(f"/list/{list_id}/contacts")).json()
        assert first["total_contacts"] == 121 and len(first["contacts"]) == 100
        rest = (await api.get(f"/list/{list_id}/contacts/{first['bookmark']}")).json()
        assert len(rest["contacts"]) == 21 and "bookmark" not in rest
        roster = first["contacts"] + rest["contacts"]
        emails = [c["Email"] for c in roster]
        assert len(set(emails)) == 121 and "out0@x.test" in emails and "out1@x.test" not in emails
        ids = [c["contact_id"] for c in roster]
        assert ids == sorted(ids)  # rosters page in contact_id order too (the blog's recorded roster)
        bad = await api.post("/contact", json={"contact": {"Email": "z@x.test", "_autopilot_list": "contactlist_NOPE"}})
        assert bad.status_code == 400
        assert (await api.get("/list/contactlist_NOPE/contacts")).status_code == 404


@async_test
async def test_autopilot_list_on_update_setting_off_only_adds_new_contacts() -> None:
    async with client(unlimited(settings=AutopilotSettings(autopilot_list_on_update=False))) as api:
        list_id = (await api.post("/list", json={"name": "L"})).json()["list_id"]
        await api.post("/contact", json={"contact": {"Email": "old@x.test"}})
        await api.post("/contact", json={"contact": {"Email": "old@x.test", "_autopilot_list": list_id}})
        await api.post("/contact", json={"contact": {"Email": "new@x.test", "_autopilot_list": list_id}})
        roster = (await api.get(f"/list/{list_id}/contacts")).json()
        assert [c["Email"] for c in roster["contacts"]] == ["new@x.test"]


@async_test
async def test_deleting_a_contact_takes_it_off_every_list() -> None:
    async with client(unlimited()) as api:
        list_id = (await api.post("/list", json={"name": "L"})).json()["list_id"]
        await api.post("/contact", json={"contact": {"Email": "d@x.test", "_autopilot_list": list_id}})
        await api.delete("/contact/d@x.test")
        assert (await api.get(f"/list/{list_id}/contacts")).json() == {"contacts": [], "total_contacts": 0}


@async_test
async def test_journey_triggers_are_listed_and_not_idempotent() -> None:
    app = unlimited()
    async with client(app) as api:
        trigger = (await api.post(f"{CONTROL}/app/trigger", json={"journey": "Onboarding"})).json()["trigger_id"]
        assert (await api.get("/triggers")).json() == {"triggers": [{"trigger_id": trigger, "journey": "Onboarding", "trigger_type": "apiTrigger"}]}
        cid = (await api.post("/contact", json={"contact": {"Email": "j@x.test"}})).json()["contact_id"]
        for ref in (cid, "j@x.test"):
            entered = await api.post(f"/trigger/{trigger}/contact/{ref}")
            assert entered.status_code == 200 and entered.json()["contact_id"] == cid
        entries = (await api.get(f"{CONTROL}/journey-entries")).json()["entries"]
        assert [(e["trigger_id"], e["contact_id"]) for e in entries] == [(trigger, cid), (trigger, cid)]
        assert (await api.post(f"/trigger/9999/contact/{cid}")).status_code == 404
        assert (await api.post(f"/trigger/{trigger}/contact/nobody@x.test")).status_code == 404
