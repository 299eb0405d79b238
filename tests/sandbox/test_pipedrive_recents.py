"""Pipedrive sandbox: `GET /v1/recents` as the January 2026 v1 description says, read the way
public connectors read it (Airbyte: items=<type>, limit=50, since_timestamp, start paging)."""

from __future__ import annotations

import time

from pipedrive_support import async_test, client, conform, raw_spec, requires_specs, resolve, seeded, undeclared_keys

from syncmap.sandbox.pipedrive import PipedriveSettings

pytestmark = requires_specs
UNLIMITED = PipedriveSettings(window_seconds=1e-6, daily_budget=10**12)
EPOCH = "1970-01-01 00:00:00"


def v1_stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(seconds)))


def assert_items_declared(body: dict) -> None:
    """Each item's data has only keys its own branch (by `item`) of the anyOf declares."""
    spec = raw_spec("v1-jan")
    answer = spec["paths"]["/recents"]["get"]["responses"]["200"]["content"]["application/json"]
    branches = {b["properties"]["item"]["enum"][0]: b for b in answer["schema"]["properties"]["data"]["items"]["anyOf"]}
    for entry in body["data"]:
        schema = resolve(spec, branches[entry["item"]]["properties"]["data"])
        data = entry["data"][0] if isinstance(entry["data"], list) else entry["data"]
        problems = undeclared_keys(spec, schema.get("items", schema), data, set())
        assert not problems, (entry["item"], problems)
    assert set(body["additional_data"]) == {"since_timestamp", "last_timestamp_on_page", "pagination"}


def assert_in_update_order(entries: list[dict], table: dict[int, dict]) -> None:
    """v1 shows whole seconds; within one, the order is the store's millisecond update_time."""
    shown = [e["data"]["update_time"] for e in entries]
    assert shown == sorted(shown)
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids, key=lambda i: (table[i]["update_time"], i))


async def read_like_airbyte(c, item: str, since: str, limit: int = 50) -> list[dict]:
    out, start = [], 0
    while True:
        r = await c.get("/v1/recents", params={"items": item, "since_timestamp": since, "limit": limit, "start": start})
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["data"]) <= limit
        out += body["data"]
        pagination = body["additional_data"]["pagination"]
        if not pagination["more_items_in_collection"]:
            return out
        start = pagination["next_start"]


@async_test
async def test_recents_answers_conform_for_every_modelled_item_type() -> None:
    app = await seeded(30, settings=PipedriveSettings(recents_user_data="object"))
    async with client(app) as c:
        for item in ("person", "organization", "deal", "activity", "user", "activityType", None):
            params = {"since_timestamp": EPOCH, "limit": 40, **({"items": item} if item else {})}
            r = await c.get("/v1/recents", params=params)
            assert r.status_code == 200, r.text
            body = conform(r)
            assert body["data"] and all(e["item"] == (item or e["item"]) for e in body["data"])
            assert_items_declared(body)


@async_test
async def test_recents_pages_every_change_since_the_timestamp_once_in_update_order() -> None:
    app = await seeded(120, settings=UNLIMITED)
    store, clock = app.state.store, app.state.sandbox.clock
    async with client(app) as c:
        everyone = await read_like_airbyte(c, "person", EPOCH)
        assert sorted(e["id"] for e in everyone) == sorted(r["id"] for r in store.all("person"))
        assert_in_update_order(everyone, store.table("person"))

        clock.advance(120)
        mark = v1_stamp(clock.now())
        for pid in (4, 50, 99):
            assert (await c.patch(f"/api/v2/persons/{pid}", json={"name": f"Changed {pid}"})).status_code == 200
        made = (await c.post("/api/v2/persons", json={"name": "Fresh Face"})).json()["data"]["id"]
        assert (await c.delete("/api/v2/persons/60")).status_code == 200
        changed = await read_like_airbyte(c, "person", mark, limit=2)
        assert {e["id"] for e in changed} == {4, 50, 99, made, 60} and len(changed) == 5
        assert_in_update_order(changed, store.table("person"))
        by_id = {e["id"]: e["data"] for e in changed}
        assert by_id[60]["active_flag"] is False  # a deletion, in its deleted state
        assert by_id[4]["name"] == "Changed 4" and all(e["item"] == "person" for e in changed)

        r = (await c.get("/v1/recents", params={"since_timestamp": mark, "limit": 2})).json()
        assert r["additional_data"]["since_timestamp"] == mark
        assert r["additional_data"]["last_timestamp_on_page"] == changed[1]["data"]["update_time"]
        assert r["additional_data"]["pagination"] == {"start": 0, "limit": 2, "more_items_in_collection": True, "next_start": 2}
        # a deal changed after the mark shows up among all types, after the persons changed before it
        clock.advance(5)
        deal = store.get("deal", 3)
        assert (await c.patch("/api/v2/deals/3", json={"title": "Renamed deal"})).status_code == 200
        mixed = (await c.get("/v1/recents", params={"since_timestamp": mark, "limit": 100})).json()["data"]
        assert [(e["item"], e["id"]) for e in mixed][-1] == ("deal", deal["id"])
        assert mixed[-1]["data"]["title"] == "Renamed deal"


@async_test
async def test_recents_is_charged_per_the_cost_table_and_refuses_bad_input() -> None:
    app = await seeded(10, settings=PipedriveSettings(window_seconds=1e-6))
    async with client(app) as c:
        assert (await c.get("/v1/recents", params={"since_timestamp": EPOCH, "items": "user"})).status_code == 200
        assert app.state.sandbox.log.entries[-1]["tokens"] == 20  # x-token-cost of getRecents
        for params, status in (
            ({}, 400),
            ({"since_timestamp": "yesterday"}, 400),
            ({"since_timestamp": "2024-01-01T00:00:00Z"}, 400),
            ({"since_timestamp": EPOCH, "items": "spaceship"}, 400),
            ({"since_timestamp": EPOCH, "start": "-1"}, 400),
            ({"since_timestamp": EPOCH, "limit": "501"}, 400),
            ({"since_timestamp": EPOCH, "items": "note"}, 501),
            ({"since_timestamp": EPOCH, "items": "person,product"}, 501),
        ):
            r = await c.get("/v1/recents", params=params)
            assert r.status_code == status, (params, r.text)
            conform(r)
        r = await c.get("/v1/recents", params={"since_timestamp": EPOCH, "items": "note"})
        assert r.headers["x-sandbox-not-modelled"] == "true"


@async_test
async def test_recents_user_data_and_deletions_follow_their_settings() -> None:
    app = await seeded(10)
    async with client(app) as c:
        users = (await c.get("/v1/recents", params={"since_timestamp": EPOCH, "items": "user"})).json()["data"]
        # Public clients read users at data.*.data.* (an array), though the schema says object.
        assert users and all(isinstance(e["data"], list) and e["data"][0]["id"] == e["id"] for e in users)
    hidden = await seeded(10, settings=PipedriveSettings(recents_include_deleted=False))
    async with client(hidden) as c:
        assert (await c.delete("/api/v2/persons/2")).status_code == 200
        ids = [e["id"] for e in (await c.get("/v1/recents", params={"since_timestamp": EPOCH, "items": "person"})).json()["data"]]
        assert 2 not in ids and len(ids) == 9


@async_test
async def test_recents_since_is_inclusive_unless_set_otherwise() -> None:
    for inclusive in (True, False):
        app = await seeded(20, settings=PipedriveSettings(recents_since_inclusive=inclusive))
        clock = app.state.sandbox.clock
        clock.advance(3600)
        async with client(app) as c:
            changed = (await c.patch("/api/v2/persons/5", json={"name": "Exactly then"})).json()["data"]
            at = changed["update_time"][:19].replace("T", " ")
            got = (await c.get("/v1/recents", params={"since_timestamp": at, "items": "person"})).json()["data"]
            assert [e["id"] for e in got] == ([5] if inclusive else [])
