"""Pipedrive sandbox at scale: seeding grows linearly, a list page costs the same whatever the
store's size, and the ordered indexes behind the pages stay exact while records change."""

from __future__ import annotations

import time

import pytest
from pipedrive_support import async_test, client, seeded

from syncmap.sandbox.pipedrive import PipedriveSettings, create_app, models, seed

UNLIMITED = PipedriveSettings(window_seconds=1e-6, daily_budget=10**12)


def seconds_per_person(n: int) -> float:
    store = create_app().state.store
    started = time.process_time()
    seed.seed(store, n, 1)
    return (time.process_time() - started) / n


def test_seeding_time_grows_linearly() -> None:
    # Rebuilding a list of every earlier person for some new ones made 30,000 persons cost ~7x
    # more per person than 3,000; linear work keeps the two close.
    small = min(seconds_per_person(3_000) for _ in range(2))
    large = seconds_per_person(30_000)
    assert large < 2.5 * small, (small, large)


async def fastest_pages(apps: list, rounds: int = 15, **params) -> list[float]:
    """The fastest page of each app, the apps' pages interleaved so load on the machine hits all alike."""
    best = [float("inf")] * len(apps)
    clients = [client(app) for app in apps]
    cursors: list[str | None] = [None] * len(apps)
    opened = [await context.__aenter__() for context in clients]
    try:
        for c in opened:
            await c.get("/api/v2/persons", params={"limit": 100, **params})  # builds the order once
        for _ in range(rounds):
            for i, c in enumerate(opened):
                query = {"limit": 100, **params, **({"cursor": cursors[i]} if cursors[i] else {})}
                started = time.process_time()  # CPU time: other processes' load does not count
                r = await c.get("/api/v2/persons", params=query)
                best[i] = min(best[i], time.process_time() - started)
                assert r.status_code == 200, r.text
                cursors[i] = r.json()["additional_data"]["next_cursor"]
    finally:
        for context in clients:
            await context.__aexit__(None, None, None)
    return best


@async_test
async def test_page_cost_does_not_grow_with_the_store() -> None:
    # Sorting the whole store for each page made a page at 20,000 persons ~20x a page at 1,000.
    apps = [await seeded(1_000, settings=UNLIMITED), await seeded(20_000, settings=UNLIMITED)]
    counters = {"include_fields": "open_deals_count,done_activities_count"}  # singer asks for these
    for params in ({}, {"sort_by": "update_time", "sort_direction": "desc"}, counters):
        small, large = await fastest_pages(apps, **params)
        assert large < 3 * small, (params, small, large)


async def walk(c, path: str = "persons", **params) -> list[dict]:
    seen, cursor = [], None
    while True:
        r = await c.get(f"/api/v2/{path}", params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        seen += r.json()["data"]
        cursor = r.json()["additional_data"]["next_cursor"]
        if cursor is None:
            return seen


@pytest.mark.parametrize("sort_by", ["id", "update_time", "add_time"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
@async_test
async def test_pages_stay_exact_after_changes_to_indexed_records(sort_by: str, direction: str) -> None:
    app = await seeded(300, settings=UNLIMITED)
    store, clock = app.state.store, app.state.sandbox.clock
    async with client(app) as c:
        await walk(c, sort_by=sort_by, sort_direction=direction, limit=50)  # the orders now exist
        clock.advance(60)
        mark = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(clock.now())))
        for pid in (5, 77, 150, 299):
            assert (await c.patch(f"/api/v2/persons/{pid}", json={"name": f"Moved {pid}"})).status_code == 200
        assert (await c.delete("/api/v2/persons/42")).status_code == 200
        made = (await c.post("/api/v2/persons", json={"name": "Newcomer"})).json()["data"]["id"]
        for params in ({}, {"updated_since": mark}, {"updated_until": mark}):
            got = await walk(c, sort_by=sort_by, sort_direction=direction, limit=7, **params)
            keys = [(p[sort_by], p["id"]) for p in got]
            assert keys == sorted(keys, reverse=direction == "desc") and len(set(keys)) == len(keys)
            expected = {r["id"] for r in store.all("person") if not r["is_deleted"]}
            if "updated_since" in params:
                expected = {5, 77, 150, 299, made}
            elif "updated_until" in params:
                expected -= {5, 77, 150, 299, made}
            assert {p["id"] for p in got} == expected, params
        # past the retention period the deleted person is purged from the store and its orders
        clock.advance(31 * 86_400)
        assert 42 not in {p["id"] for p in await walk(c, sort_by=sort_by, sort_direction=direction, limit=100)}
        assert all(e[1] != 42 for index in store._orders["person"].values() for e in index.entries)


@async_test
async def test_seeding_after_paging_keeps_every_record_listed() -> None:
    app = create_app(settings=UNLIMITED)
    async with client(app) as c:
        await c.post("/__sandbox__/seed", json={"n": 20, "seed": 1})
        assert len(await walk(c, limit=500)) == 20
        await c.post("/__sandbox__/seed", json={"n": 30, "seed": 2})
        assert len(await walk(c, limit=11)) == 50
        assert len(await walk(c, limit=11, sort_by="update_time")) == 50


@async_test
async def test_page_counters_equal_the_counters_of_a_full_scan() -> None:
    app = await seeded(200, settings=UNLIMITED)
    store = app.state.store
    async with client(app) as c:
        assert (await c.patch("/api/v2/deals/3", json={"person_id": 9})).status_code == 200  # the link order moves
        for path, kind, names in (
            ("persons", "person", "open_deals_count,closed_deals_count,won_deals_count,activities_count,next_activity_id"),
            ("organizations", "organization", "open_deals_count,lost_deals_count,done_activities_count,last_activity_id"),
            ("deals", "deal", "activities_count,undone_activities_count,next_activity_id"),
        ):
            full = models.related_counts(kind, store, ("x",))
            for row in await walk(c, path, include_fields=names, limit=37):
                for name in names.split(","):
                    assert row[name] == full.get(row["id"], {}).get(name, 0 if name.endswith("_count") else None), (kind, row["id"], name)
