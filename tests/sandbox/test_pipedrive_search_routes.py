"""Pipedrive sandbox: the v2 search routes beyond persons (itemSearch, organizations, deals),
their search window and token costs, and their answers against v2.yaml."""

from __future__ import annotations

from pipedrive_support import assert_declared, async_test, client, conform, requires_specs, seeded

from syncmap.sandbox.pipedrive import PipedriveSettings

pytestmark = requires_specs
UNLIMITED = PipedriveSettings(window_seconds=1e-6)


def items(response) -> list[dict]:
    assert response.status_code == 200, response.text
    conform(response)
    assert_declared(response)
    return response.json()["data"]["items"]


@async_test
async def test_organization_and_deal_search_are_served_not_caught_by_the_id_route() -> None:
    app = await seeded(40, settings=UNLIMITED)
    store = app.state.store
    org = next(r for r in store.all("organization") if r["address"])
    deal = next(r for r in store.all("deal") if r["person_id"] and r["org_id"])
    async with client(app) as c:
        found = items(await c.get("/api/v2/organizations/search", params={"term": org["name"], "exact_match": "true"}))
        assert org["id"] in [i["item"]["id"] for i in found]
        first = next(i for i in found if i["item"]["id"] == org["id"])
        assert first["result_score"] == 1.0 and first["item"]["type"] == "organization"
        assert first["item"]["address"] == org["address"]["value"]
        city = org["address"]["locality"]
        by_address = items(await c.get("/api/v2/organizations/search", params={"term": city, "fields": "address"}))
        assert by_address and all(city in i["item"]["address"] for i in by_address)

        word = deal["title"].split()[-1]  # renewal, expansion, pilot or licence
        deals = items(await c.get("/api/v2/deals/search", params={"term": word, "limit": 500}))
        expected = {r["id"] for r in store.all("deal") if word in r["title"] and not r["is_deleted"]}
        assert {i["item"]["id"] for i in deals} == expected
        hit = next(i["item"] for i in deals if i["item"]["id"] == deal["id"])
        assert hit["person"]["id"] == deal["person_id"] and hit["organization"]["id"] == deal["org_id"]
        assert hit["stage"] == {"id": deal["stage_id"], "name": store.settings.stage_name(deal["stage_id"])}
        only = items(await c.get("/api/v2/deals/search", params={"term": word, "person_id": deal["person_id"]}))
        assert {i["item"]["id"] for i in only} <= expected and deal["id"] in {i["item"]["id"] for i in only}
        won = items(await c.get("/api/v2/deals/search", params={"term": word, "status": "won"}))
        assert all(i["item"]["status"] == "won" for i in won)
        assert (await c.get("/api/v2/deals/search", params={"term": word, "status": "deleted"})).status_code == 400
        assert (await c.get("/api/v2/deals/search", params={"term": word, "fields": "email"})).status_code == 400
        assert (await c.get("/api/v2/organizations/search", params={"term": "x"})).status_code == 400
        # a deleted deal is still found until the search index catches up, then not
        assert (await c.delete(f"/api/v2/deals/{deal['id']}")).status_code == 200
        again = items(await c.get("/api/v2/deals/search", params={"term": word, "limit": 500}))
        assert deal["id"] in {i["item"]["id"] for i in again}
        app.state.sandbox.clock.advance(store.settings.search_index_delay_seconds)
        again = items(await c.get("/api/v2/deals/search", params={"term": word, "limit": 500}))
        assert deal["id"] not in {i["item"]["id"] for i in again}


@async_test
async def test_item_search_spans_the_modelled_types() -> None:
    app = await seeded(40, settings=UNLIMITED)
    async with client(app) as c:
        person = (await c.post("/api/v2/persons", json={"name": "Quasimodo Bellringer"})).json()["data"]
        org = (await c.post("/api/v2/organizations", json={"name": "Quasimodo Bells Ltd"})).json()["data"]
        deal = (await c.post("/api/v2/deals", json={"title": "Quasimodo tower", "person_id": person["id"]})).json()["data"]
        assert items(await c.get("/api/v2/itemSearch", params={"term": "quasimodo"})) == []  # not indexed yet
        app.state.sandbox.clock.advance(app.state.settings.search_index_delay_seconds)
        found = items(await c.get("/api/v2/itemSearch", params={"term": "quasimodo"}))
        assert {(i["item"]["type"], i["item"]["id"]) for i in found} == {
            ("person", person["id"]), ("organization", org["id"]), ("deal", deal["id"])
        }  # fmt: skip
        scores = [i["result_score"] for i in found]
        assert scores == sorted(scores, reverse=True)
        only_deals = items(await c.get("/api/v2/itemSearch", params={"term": "quasimodo", "item_types": "deal"}))
        assert [i["item"]["type"] for i in only_deals] == ["deal"]
        by_title = items(await c.get("/api/v2/itemSearch", params={"term": "quasimodo", "fields": "title"}))
        assert [i["item"]["type"] for i in by_title] == ["deal"]  # title is a deal field only
        paged = (await c.get("/api/v2/itemSearch", params={"term": "quasimodo", "limit": 2})).json()
        assert len(paged["data"]["items"]) == 2 and paged["additional_data"]["next_cursor"]
        rest = await c.get("/api/v2/itemSearch", params={"term": "quasimodo", "cursor": paged["additional_data"]["next_cursor"]})
        assert len(items(rest)) == 1
        # itemSearch allows 100 a page, not 500
        assert (await c.get("/api/v2/itemSearch", params={"term": "quasimodo", "limit": 101})).status_code == 400
        assert (await c.get("/api/v2/itemSearch", params={"term": "quasimodo", "item_types": "spaceship"})).status_code == 400
        for params in ({"item_types": "person,product"}, {"search_for_related_items": "true"}):
            r = await c.get("/api/v2/itemSearch", params={"term": "quasimodo", **params})
            assert r.status_code == 501 and r.headers["x-sandbox-not-modelled"] == "true", r.text
            assert r.json()["success"] is False and "does not model" in r.json()["error"]
            conform(r)


@async_test
async def test_search_routes_share_the_search_window_and_cost_20_tokens() -> None:
    app = await seeded(10)
    app.state.sandbox.clock.set_scale(1e-6)
    paths = ["/api/v2/itemSearch", "/api/v2/organizations/search", "/api/v2/deals/search", "/api/v2/persons/search"]
    async with client(app) as c:
        for i in range(10):
            r = await c.get(paths[i % 4], params={"term": "an"})
            assert r.status_code == 200 and r.headers["x-ratelimit-limit"] == "10", (paths[i % 4], r.text)
            assert r.headers["x-ratelimit-remaining"] == str(9 - i)
        for path in paths:
            assert (await c.get(path, params={"term": "an"})).status_code == 429
        r = await c.get("/api/v2/deals")  # the general window is untouched
        assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "39"
    charged = [(e["path"], e["tokens"]) for e in app.state.sandbox.log.entries if e["status"] == 200]
    assert charged[:10] == [(paths[i % 4], 20) for i in range(10)]


@async_test
async def test_organization_and_deal_search_see_writes_only_after_the_indexing_delay() -> None:
    app = await seeded(20, settings=PipedriveSettings(window_seconds=1e-6, search_index_delay_seconds=5))
    clock = app.state.sandbox.clock
    async with client(app) as c:
        org = (await c.post("/api/v2/organizations", json={"name": "Zephyrine Holdings"})).json()["data"]
        deal = (await c.post("/api/v2/deals", json={"title": "Zephyrine rollout", "org_id": org["id"]})).json()["data"]

        async def hits(path: str, term: str, **params: str) -> list[int]:
            return [i["item"]["id"] for i in items(await c.get(path, params={"term": term, **params}))]

        assert await hits("/api/v2/organizations/search", "zephyrine") == []
        assert await hits("/api/v2/deals/search", "zephyrine") == []
        clock.advance(5)
        assert await hits("/api/v2/organizations/search", "zephyrine") == [org["id"]]
        assert await hits("/api/v2/deals/search", "zephyrine") == [deal["id"]]
        # a rename is searched, and filtered, as the index holds it: the old title and status
        changed = {"title": "Quasar rollout", "status": "won"}
        assert (await c.patch(f"/api/v2/deals/{deal['id']}", json=changed)).status_code == 200
        assert await hits("/api/v2/deals/search", "zephyrine", status="open") == [deal["id"]]
        assert await hits("/api/v2/itemSearch", "quasar") == []
        clock.advance(5)
        assert await hits("/api/v2/deals/search", "zephyrine") == []
        assert await hits("/api/v2/deals/search", "quasar", status="won") == [deal["id"]]
        assert await hits("/api/v2/itemSearch", "quasar", item_types="deal") == [deal["id"]]
