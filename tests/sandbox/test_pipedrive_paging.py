"""Pipedrive sandbox: v2 cursor paging, updated_since/until, sorting and list filters."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pipedrive_support import async_test, client, seeded

from syncmap.sandbox.pipedrive import PipedriveSettings


async def walk(c, path: str, **params) -> list[dict]:
    seen, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        r = await c.get(path, params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += body["data"]
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return seen


@pytest.mark.parametrize("sort_by", ["id", "update_time", "add_time"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
@async_test
async def test_paging_walks_every_person_exactly_once(sort_by: str, direction: str) -> None:
    app = await seeded(97, seed=3)
    store = app.state.store
    live = sorted(r["id"] for r in store.all("person") if not r["is_deleted"])
    async with client(app) as c:
        seen = await walk(c, "/api/v2/persons", limit=7, sort_by=sort_by, sort_direction=direction)
    ids = [p["id"] for p in seen]
    assert len(ids) == len(set(ids)) == len(live) == 97
    assert sorted(ids) == live
    keys = [(p[sort_by], p["id"]) for p in seen]
    assert keys == sorted(keys, reverse=direction == "desc")


@settings(max_examples=15, deadline=None)
@given(limit=st.integers(1, 40), n=st.integers(0, 60), kind=st.sampled_from(["activities", "deals", "organizations"]))
def test_any_limit_pages_through_everything_once(limit: int, n: int, kind: str) -> None:
    async def main() -> None:
        app = await seeded(n, seed=n, settings=PipedriveSettings(window_seconds=1e-6))  # no burst limit here
        store_kind = {"activities": "activity", "deals": "deal", "organizations": "organization"}[kind]
        live = {r["id"] for r in app.state.store.all(store_kind) if not r["is_deleted"]}
        async with client(app) as c:
            seen = [r["id"] for r in await walk(c, f"/api/v2/{kind}", limit=limit)]
        assert len(seen) == len(set(seen)) and set(seen) == live

    import asyncio

    asyncio.run(main())


@async_test
async def test_default_limit_is_100_and_500_is_the_maximum() -> None:
    app = await seeded(120)
    async with client(app) as c:
        assert len((await c.get("/api/v2/activities")).json()["data"]) == 100
        assert len((await c.get("/api/v2/activities", params={"limit": 500})).json()["data"]) == 120
        r = await c.get("/api/v2/activities", params={"limit": 501})
        assert r.status_code == 400 and r.json()["success"] is False


@async_test
async def test_updated_since_returns_exactly_the_changed_records() -> None:
    app = await seeded(40)
    clock = app.state.sandbox.clock
    clock.advance(60)
    mark = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(clock.now())))
    async with client(app) as c:
        changed = set()
        for pid in (3, 8, 21):
            r = await c.patch(f"/api/v2/persons/{pid}", json={"name": f"Renamed {pid}"})
            assert r.status_code == 200
            changed.add(pid)
        made = (await c.post("/api/v2/persons", json={"name": "New Person"})).json()["data"]["id"]
        changed.add(made)
        assert (await c.delete("/api/v2/persons/30")).status_code == 200  # deleted: leaves the list
        since = {p["id"] for p in await walk(c, "/api/v2/persons", updated_since=mark, limit=2)}
        assert since == changed
        before = {p["id"] for p in await walk(c, "/api/v2/persons", updated_until=mark, limit=500)}
        assert before.isdisjoint(changed) and len(before) == 40 - 4
        # The bookmark row comes back again with `>=`, as the docs say.
        latest = max(p["update_time"] for p in await walk(c, "/api/v2/persons", updated_since=mark))
        again = await walk(c, "/api/v2/persons", updated_since=latest)
        assert again and all(p["update_time"] == latest for p in again)
        assert (await c.get("/api/v2/persons", params={"updated_since": "yesterday"})).status_code == 400


@async_test
async def test_list_filters() -> None:
    app = await seeded(60, seed=11)
    store = app.state.store
    async with client(app) as c:
        owner = 2
        got = {p["id"] for p in await walk(c, "/api/v2/persons", owner_id=owner)}
        assert got == {r["id"] for r in store.all("person") if r["owner_id"] == owner}
        org = next(r["org_id"] for r in store.all("person") if r["org_id"])
        got = {p["id"] for p in await walk(c, "/api/v2/persons", org_id=org)}
        assert got == {r["id"] for r in store.all("person") if r["org_id"] == org} and got
        deal = store.get("deal", 2)
        assert [p["id"] for p in await walk(c, "/api/v2/persons", deal_id=2)] == [deal["person_id"]]
        assert {p["id"] for p in await walk(c, "/api/v2/persons", ids="1,2,3,999")} == {1, 2, 3}

        won = await walk(c, "/api/v2/deals", status="won")
        assert won and all(d["status"] == "won" for d in won)
        open_or_lost = {d["status"] for d in await walk(c, "/api/v2/deals", status="open,lost")}
        assert open_or_lost == {"open", "lost"}
        person_deals = await walk(c, "/api/v2/deals", person_id=deal["person_id"])
        assert deal["id"] in [d["id"] for d in person_deals]

        done = await walk(c, "/api/v2/activities", done="true")
        undone = await walk(c, "/api/v2/activities", done="false")
        assert done and undone and all(a["done"] for a in done) and not any(a["done"] for a in undone)
        assert len(done) + len(undone) == len(await walk(c, "/api/v2/activities"))
        for a in await walk(c, "/api/v2/activities", person_id=5):
            assert a["person_id"] == 5
        by_due = [a["due_date"] for a in await walk(c, "/api/v2/activities", sort_by="due_date", limit=13)]
        assert by_due == sorted(by_due)

        # The v2 activities list has no `type` filter and refuses it ([3P] report, a setting).
        r = await c.get("/api/v2/activities", params={"type": "call"})
        assert r.status_code == 400 and r.json()["error"] == '"type" is not allowed'


@async_test
async def test_bad_cursors_are_refused() -> None:
    app = await seeded(10)
    async with client(app) as c:
        cursor = (await c.get("/api/v2/persons", params={"limit": 2})).json()["additional_data"]["next_cursor"]
        r = await c.get("/api/v2/persons", params={"limit": 2, "cursor": cursor, "sort_by": "update_time"})
        assert r.status_code == 400
        assert (await c.get("/api/v2/persons", params={"cursor": "%%%"})).status_code == 400
        assert (await c.get("/api/v2/persons", params={"sort_by": "name"})).status_code == 400
