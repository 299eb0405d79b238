"""Pipedrive sandbox pipelines and stages: answers conform to v2.yaml under both profiles, cursor
paging and the pipeline filter, published token costs, and deals whose stage and pipeline agree."""

from __future__ import annotations

import pytest
from pipedrive_support import async_test, client, requires_specs, seeded
from test_pipedrive_conformance import check
from test_pipedrive_limits import published_cost

from syncmap.sandbox.profiles import PROFILES

pytestmark = requires_specs
each_profile = pytest.mark.parametrize("profile", PROFILES)


@each_profile
@async_test
async def test_pipelines_and_stages_conform_and_page(profile: str) -> None:
    app = await seeded(3, profile=profile)
    names = list(app.state.settings.stage_names)
    async with client(app) as c:
        pipelines = check(await c.get("/api/v2/pipelines"))
        assert [(p["id"], p["name"], p["order_nr"]) for p in pipelines["data"]] == [(1, "Pipeline", 1)]
        assert pipelines["additional_data"]["next_cursor"] is None
        check(await c.get("/api/v2/pipelines/1"))
        stages = check(await c.get("/api/v2/stages", params={"pipeline_id": 1}))
        assert [s["name"] for s in stages["data"]] == names and {s["pipeline_id"] for s in stages["data"]} == {1}
        made = check(await c.post("/api/v2/pipelines", json={"name": "Renewals"}))["data"]
        stage = check(await c.post("/api/v2/stages", json={"name": "Negotiation", "pipeline_id": made["id"]}))["data"]
        assert (stage["pipeline_id"], stage["order_nr"]) == (made["id"], 1)
        check(await c.get(f"/api/v2/stages/{stage['id']}"))
        only_new = check(await c.get("/api/v2/stages", params={"pipeline_id": made["id"]}))["data"]
        assert [s["id"] for s in only_new] == [stage["id"]]
        # Cursor paging walks every stage once, in order.
        seen, cursor = [], None
        while True:
            page = check(await c.get("/api/v2/stages", params={"limit": 2, **({"cursor": cursor} if cursor else {})}))
            seen += [s["id"] for s in page["data"]]
            cursor = page["additional_data"]["next_cursor"]
            if not cursor:
                break
        assert seen == list(range(1, len(names) + 2))
        check(await c.get("/api/v2/stages/999"), 404)
        check(await c.get("/api/v2/pipelines/999"), 404)
        check(await c.get("/api/v2/stages", params={"sort_by": "name"}), 400)
        check(await c.post("/api/v2/stages", json={"name": "Orphan", "pipeline_id": 999}), 400)
        check(await c.post("/api/v2/pipelines", json={}), 400)


@async_test
async def test_pipeline_routes_charge_their_published_costs() -> None:
    app = await seeded(1)
    async with client(app) as c:
        for method, path, template in (
            ("GET", "/api/v2/pipelines", "/api/v2/pipelines"),
            ("GET", "/api/v2/pipelines/1", "/api/v2/pipelines/{id}"),
            ("GET", "/api/v2/stages", "/api/v2/stages"),
            ("GET", "/api/v2/stages/1", "/api/v2/stages/{id}"),
        ):
            before = len(app.state.sandbox.log.entries)
            assert (await c.request(method, path)).status_code == 200
            assert app.state.sandbox.log.entries[before]["tokens"] == published_cost(method, template)


@each_profile
@async_test
async def test_a_deal_stays_in_its_stages_pipeline(profile: str) -> None:
    app = await seeded(1, profile=profile)
    async with client(app) as c:
        other = (await c.post("/api/v2/pipelines", json={"name": "Renewals"})).json()["data"]["id"]
        first = (await c.post("/api/v2/stages", json={"name": "Talk", "pipeline_id": other})).json()["data"]["id"]
        deal = check(await c.post("/api/v2/deals", json={"title": "Engine"}))["data"]
        assert (deal["stage_id"], deal["pipeline_id"]) == (1, 1)
        moved = check(await c.patch(f"/api/v2/deals/{deal['id']}", json={"stage_id": first}))["data"]
        assert (moved["stage_id"], moved["pipeline_id"]) == (first, other)
        back = check(await c.patch(f"/api/v2/deals/{deal['id']}", json={"pipeline_id": 1}))["data"]
        assert (back["stage_id"], back["pipeline_id"]) == (1, 1)  # the pipeline's first stage
        made = check(await c.post("/api/v2/deals", json={"title": "Renewal", "pipeline_id": other}))["data"]
        assert (made["stage_id"], made["pipeline_id"]) == (first, other)
        refused = check(await c.patch(f"/api/v2/deals/{deal['id']}", json={"stage_id": 999}), 400, strict=False)
        assert refused["success"] is False and "stage_id" in refused["error"] and refused["error_info"]
        check(await c.patch(f"/api/v2/deals/{deal['id']}", json={"stage_id": 2, "pipeline_id": other}), 400, strict=False)
        assert (await c.get(f"/api/v2/deals/{deal['id']}")).json()["data"]["stage_id"] == 1  # a refusal changes nothing
