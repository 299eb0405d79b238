"""Autopilot sandbox: contact upsert, bulk, paging, custom fields, seeding."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

from autopilot_support import CONTROL, async_test, client

from syncmap.sandbox.autopilot import AutopilotSettings, create_app

NOT_FOUND = {"error": "Not Found", "message": "Contact could not be found."}
CONTACT_ID = re.compile(r"^person_[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$")


def unlimited(**kwargs) -> object:
    return create_app(rate_per_second=None, **kwargs)


@async_test
async def test_upsert_matches_email_case_insensitively_and_keeps_stored_spelling() -> None:
    async with client(unlimited()) as api:
        first = (await api.post("/contact", json={"contact": {"Email": "Ann.Lee@Example.com", "FirstName": "Ann"}})).json()
        assert CONTACT_ID.match(first["contact_id"])
        again = await api.post("/contact", json={"contact": {"Email": "ann.lee@example.COM", "LastName": "Lee"}})
        assert again.json() == first
        contact = (await api.get("/contact/ANN.LEE@example.com")).json()
        assert contact["contact_id"] == first["contact_id"]
        assert (contact["Email"], contact["FirstName"], contact["LastName"], contact["Name"]) == ("Ann.Lee@Example.com", "Ann", "Lee", "Ann Lee")
        assert (await api.get("/contacts")).json()["total_contacts"] == 1


@async_test
async def test_case_sensitive_setting_makes_a_second_contact() -> None:
    async with client(unlimited(settings=AutopilotSettings(email_case_sensitive=True))) as api:
        a = (await api.post("/contact", json={"contact": {"Email": "Ann@x.test"}})).json()["contact_id"]
        b = (await api.post("/contact", json={"contact": {"Email": "ann@x.test"}})).json()["contact_id"]
        assert a != b
        assert (await api.get("/contact/ann@x.test")).json()["contact_id"] == b


@async_test
async def test_new_email_renames_the_contact_found_by_email() -> None:
    async with client(unlimited()) as api:
        cid = (await api.post("/contact", json={"contact": {"Email": "old@x.test", "FirstName": "O"}})).json()["contact_id"]
        renamed = await api.post("/contact", json={"contact": {"Email": "old@x.test", "_NewEmail": "new@x.test"}})
        assert renamed.json() == {"contact_id": cid}
        old = await api.get("/contact/old@x.test")
        assert (old.status_code, old.json()) == (404, NOT_FOUND)
        body = (await api.get("/contact/new@x.test")).json()
        assert (body["contact_id"], body["Email"], body["FirstName"]) == (cid, "new@x.test", "O")
        # without _NewEmail, a new Email is a second contact (the classic duplicate pitfall)
        other = (await api.post("/contact", json={"contact": {"Email": "old@x.test"}})).json()["contact_id"]
        assert other != cid


@async_test
async def test_upsert_overwrites_given_fields_clears_null_and_empty_per_setting_and_keeps_the_rest() -> None:
    for empty_strings, phone in (("clear", None), ("keep", "")):
        async with client(unlimited(settings=AutopilotSettings(empty_strings=empty_strings))) as api:
            first = {"Email": "p@x.test", "FirstName": "P", "Phone": "1", "Company": "C", "Title": "T"}
            await api.post("/contact", json={"contact": first})
            again = {"Email": "p@x.test", "FirstName": "Q", "Phone": "", "Title": None, "Bogus": 1, "contact_id": "person_X"}
            await api.post("/contact", json={"contact": again})
            body = (await api.get("/contact/p@x.test")).json()
            assert body["FirstName"] == "Q" and body["Company"] == "C"
            assert body.get("Phone") == phone and ("Phone" in body) is (phone is not None)
            assert "Title" not in body and "Bogus" not in body and body["contact_id"] != "person_X"


@async_test
async def test_preserve_names_setting_keeps_existing_names() -> None:
    async with client(unlimited(settings=AutopilotSettings(preserve_names_on_merge=True))) as api:
        await api.post("/contact", json={"contact": {"Email": "p@x.test", "FirstName": "P"}})
        await api.post("/contact", json={"contact": {"Email": "p@x.test", "FirstName": "Q", "LastName": "L"}})
        body = (await api.get("/contact/p@x.test")).json()
        assert (body["FirstName"], body["LastName"]) == ("P", "L")


@async_test
async def test_bulk_over_the_limit_is_refused_and_changes_nothing() -> None:
    async with client(unlimited()) as api:
        contacts = [{"Email": f"c{i}@x.test"} for i in range(101)]
        refused = await api.post("/contacts", json={"contacts": contacts})
        assert refused.status_code == 400
        assert refused.json()["error"] == "Bad Request" and "100" in refused.json()["message"]
        assert set(refused.json()) == {"error", "message"}
        assert (await api.get("/contacts")).json()["total_contacts"] == 0


@async_test
async def test_bulk_of_a_hundred_answers_ids_and_the_email_map() -> None:
    async with client(unlimited()) as api:
        existing = (await api.post("/contact", json={"contact": {"Email": "c7@x.test"}})).json()["contact_id"]
        contacts = [{"Email": f"c{i}@x.test", "FirstName": f"N{i}"} for i in range(99)] + [{"FirstName": "no email"}]
        answer = (await api.post("/contacts", json={"contacts": contacts})).json()
        assert len(answer["contact_ids"]) == 100 and len(set(answer["contact_ids"])) == 100
        assert answer["email_contact_map"]["c7@x.test"] == existing == answer["contact_ids"][7]
        assert len(answer["email_contact_map"]) == 99  # the contact without Email cannot be correlated
        assert (await api.get("/contact/c42@x.test")).json()["FirstName"] == "N42"
        assert (await api.get("/contacts")).json()["total_contacts"] == 100


@async_test
async def test_bulk_with_one_invalid_contact_applies_none() -> None:
    async with client(unlimited()) as api:
        bad = await api.post("/contacts", json={"contacts": [{"Email": "ok@x.test"}, {"Email": "not-an-email"}]})
        assert bad.status_code == 400
        assert (await api.get("/contact/ok@x.test")).status_code == 404


async def _walk(api, path: str) -> tuple[list[str], list[int]]:
    seen, sizes, url = [], [], path
    for _ in range(100):
        page = (await api.get(url)).json()
        seen += [c["contact_id"] for c in page["contacts"]]
        sizes.append(len(page["contacts"]))
        if "bookmark" not in page:
            return seen, sizes
        assert page["bookmark"] == page["contacts"][-1]["contact_id"]
        url = f"{path}/{page['bookmark']}"
    raise AssertionError("bookmarks never ended")


@async_test
async def test_bookmarks_walk_every_contact_once_and_end() -> None:
    app = unlimited()
    async with client(app) as api:
        await api.post(f"{CONTROL}/seed", json={"n": 250, "seed": 3})
        seen, sizes = await _walk(api, "/contacts")
        assert sizes == [100, 100, 50]
        assert len(seen) == len(set(seen)) == 250 == len(app.state.store.contacts)
        assert set(seen) == set(app.state.store.contacts)
        # exactly two full pages: the second has no bookmark, there is no empty third page
        for cid in seen[200:]:
            assert (await api.delete(f"/contact/{cid}")).status_code == 204
        assert (await _walk(api, "/contacts"))[1] == [100, 100]


@async_test
async def test_bookmark_survives_deleting_the_bookmarked_contact() -> None:
    async with client(unlimited()) as api:
        await api.post(f"{CONTROL}/seed", json={"n": 150, "seed": 4})
        first = (await api.get("/contacts")).json()
        assert first["total_contacts"] == 150
        await api.delete(f"/contact/{first['bookmark']}")
        rest = (await api.get(f"/contacts/{first['bookmark']}")).json()
        assert len(rest["contacts"]) == 50 and "bookmark" not in rest and rest["total_contacts"] == 149
        bad = await api.get("/contacts/person_NOPE")
        assert bad.status_code == 400 and bad.json()["error"] == "Bad Request"


@async_test
async def test_get_and_delete_by_id_or_email_and_delete_by_email_takes_all() -> None:
    async with client(unlimited()) as api:
        a = (await api.post("/contact", json={"contact": {"Email": "dup@x.test", "FirstName": "A"}})).json()["contact_id"]
        b = (await api.post("/contact", json={"contact": {"Email": "other@x.test"}})).json()["contact_id"]
        # a marketer sets the second contact's email to the same address: two contacts share it
        await api.post(f"{CONTROL}/app/contact", json={"contact_id": b, "contact": {"Email": "DUP@x.test"}})
        assert (await api.get(f"/contact/{b}")).json()["Email"] == "DUP@x.test"
        assert (await api.get("/contact/dup@x.test")).json()["contact_id"] == a  # the oldest answers
        gone = await api.delete("/contact/dup@x.test")
        assert (gone.status_code, gone.content) == (204, b"")
        for ref in (a, b, "dup@x.test"):
            missing = await api.get(f"/contact/{ref}")
            assert (missing.status_code, missing.json()) == (404, NOT_FOUND)
        again = await api.delete(f"/contact/{a}")
        assert (again.status_code, again.json()) == (404, NOT_FOUND)


@async_test
async def test_custom_fields_write_as_typed_keys_and_read_as_a_list() -> None:
    async with client(unlimited()) as api:
        custom = {
            "integer--Lead--Score": "42",
            "string--Favourite--Colour": "teal",
            "boolean--VIP": True,
            "date--Signup--Date": "2024-03-05",
            "float--Lifetime--Value": 12,
        }
        await api.post("/contact", json={"contact": {"Email": "c@x.test", "custom": custom}})
        body = (await api.get("/contact/c@x.test")).json()
        assert "custom" not in body
        assert sorted(body["custom_fields"], key=lambda f: f["kind"]) == [
            {"kind": "Favourite Colour", "value": "teal", "fieldType": "string", "deleted": False},
            {"kind": "Lead Score", "value": 42, "fieldType": "integer", "deleted": False},
            {"kind": "Lifetime Value", "value": 12.0, "fieldType": "float", "deleted": False},
            {"kind": "Signup Date", "value": "2024-03-05T00:00:00.000Z", "fieldType": "date", "deleted": False},
            {"kind": "VIP", "value": True, "fieldType": "boolean", "deleted": False},
        ]
        defs = (await api.get("/contacts/custom_fields")).json()
        assert {"name": "Lead Score", "fieldType": "integer"} in defs and len(defs) == 5
        # the type is part of the key: the same name under another type is another field
        await api.post("/contact", json={"contact": {"Email": "c@x.test", "custom": {"string--Lead--Score": "high"}}})
        kinds = [(f["kind"], f["fieldType"]) for f in (await api.get("/contact/c@x.test")).json()["custom_fields"]]
        assert ("Lead Score", "integer") in kinds and ("Lead Score", "string") in kinds
        for bad in ({"integer--Lead--Score": "lots"}, {"money--Budget": 1}, {"NoType": 1}, {"date--Signup--Date": "soon"}):
            answer = await api.post("/contact", json={"contact": {"Email": "c@x.test", "custom": bad}})
            assert answer.status_code == 400, bad


@async_test
async def test_unknown_custom_fields_refused_until_created_when_auto_create_is_off() -> None:
    async with client(unlimited(settings=AutopilotSettings(auto_create_custom_fields=False))) as api:
        write = {"contact": {"Email": "c@x.test", "custom": {"integer--Lead--Score": 5}}}
        assert (await api.post("/contact", json=write)).status_code == 400
        await api.post(f"{CONTROL}/app/custom_field", json={"name": "Lead Score", "fieldType": "integer"})
        assert (await api.post("/contact", json=write)).status_code == 200


@async_test
async def test_unsubscribe_and_resubscribe() -> None:
    async with client(unlimited()) as api:
        await api.post("/contact", json={"contact": {"Email": "u@x.test", "unsubscribed": True}})
        assert (await api.get("/contact/u@x.test")).json()["unsubscribed"] is True
        await api.post("/contact", json={"contact": {"Email": "u@x.test", "unsubscribed": False}})
        assert (await api.get("/contact/u@x.test")).json()["unsubscribed"] is False
        assert (await api.post("/contact/u@x.test/unsubscribe")).status_code == 200
        assert (await api.get("/contact/u@x.test")).json()["unsubscribed"] is True
        assert (await api.post("/contact", json={"contact": {"Email": "u@x.test", "unsubscribed": "yes"}})).status_code == 400


@async_test
async def test_timestamp_format_setting() -> None:
    for fmt, check in (
        ("iso", lambda v: re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", v)),
        ("rfc1123", lambda v: parsedate_to_datetime(v).tzinfo is not None and v.endswith(" GMT")),
        ("epoch_ms", lambda v: isinstance(v, int) and v > 1_500_000_000_000),
    ):
        async with client(unlimited(settings=AutopilotSettings(timestamp_format=fmt))) as api:
            await api.post("/contact", json={"contact": {"Email": "t@x.test"}})
            await api.post("/contact", json={"contact": {"Email": "t@x.test"}})  # an update: now it has updated_at
            body = (await api.get("/contact/t@x.test")).json()
            assert check(body["created_at"]) and check(body["updated_at"]), (fmt, body["created_at"])


@async_test
async def test_malformed_bodies_get_the_error_shape() -> None:
    async with client(unlimited()) as api:
        for answer in (
            await api.post("/contact", content=b"{nope", headers={"content-type": "application/json"}),
            await api.post("/contact", json={"Email": "flat@x.test"}),
            await api.post("/contacts", json={"contacts": "no"}),
        ):
            assert answer.status_code == 400 and set(answer.json()) == {"error", "message"}


@async_test
async def test_seed_is_deterministic_and_realistic() -> None:
    listings = []
    for _ in range(2):
        app = unlimited()
        async with client(app) as api:
            summary = (await api.post(f"{CONTROL}/seed", json={"n": 300, "seed": 11})).json()
            assert summary["ok"] and summary["created"]["contacts"] == 300
            contacts, url = [], "/contacts"
            while url:
                page = (await api.get(url)).json()
                contacts += page["contacts"]
                url = f"/contacts/{page['bookmark']}" if "bookmark" in page else None
            lists = (await api.get("/lists")).json()["lists"]
            triggers = (await api.get("/triggers")).json()["triggers"]
        # identical but for timestamps, which are placed in the year before the sandbox clock's now
        # (delivery ids embed their send time: engagement is compared by count per kind)
        timeless = [{k: len(v) if k.startswith("mail_") else v for k, v in c.items() if k not in ("created_at", "updated_at")} for c in contacts]
        listings.append((timeless, lists))
    assert listings[0] == listings[1]
    emails = [c["Email"] for c in contacts if "Email" in c]
    assert len(emails) < 300  # some have no email
    assert len(emails) > len(set(emails))  # exact duplicates
    assert len(set(emails)) > len({e.lower() for e in emails})  # duplicates differing by case
    assert any(c.get("unsubscribed") for c in contacts) and not all(c.get("unsubscribed") for c in contacts)
    assert any("Phone" not in c for c in contacts) and any("Phone" in c for c in contacts)
    types = {f["fieldType"] for c in contacts for f in c.get("custom_fields", [])}
    assert types == {"string", "integer", "float", "boolean", "date"}
    titles = [lst["title"] for lst in lists]
    assert len(titles) >= 2 and "Pipedrive Contacts" not in titles
    assert triggers and all(t["trigger_type"] == "apiTrigger" for t in triggers)
    assert all(CONTACT_ID.match(c["contact_id"]) for c in contacts)
    # reset empties the instance
    async with client(app) as api:
        await api.post(f"{CONTROL}/reset")
        assert (await api.get("/contacts")).json() == {"contacts": [], "total_contacts": 0}


@async_test
async def test_account_answers_an_instance_id() -> None:
    async with client(unlimited()) as api:
        assert (await api.get("/account")).json() == {"instanceId": "sandbox-instance"}


@async_test
async def test_a_seed_that_is_neither_a_number_nor_a_string_is_refused_with_a_400() -> None:
    """A list or an object as the seed once answered 500 (random.Random's TypeError); numbers
    and strings seed as before."""
    app = unlimited()
    async with client(app) as api:
        for bad in ([1], {"a": 1}):
            answer = await api.post(f"{CONTROL}/seed", json={"n": 1, "seed": bad})
            assert answer.status_code == 400, (bad, answer.text)
            assert answer.json() == {"ok": False, "error": f"seed must be a number or a string, got {bad!r}"}
        assert not app.state.store.contacts  # nothing was made
        for good in ("abc", 1.5, 2):
            assert (await api.post(f"{CONTROL}/seed", json={"n": 1, "seed": good})).status_code == 200
        assert len(app.state.store.contacts) == 3
