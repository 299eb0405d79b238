"""Pipedrive sandbox: routes the published descriptions document but the sandbox does not model
answer a distinct 501, generated from the descriptions; paths no description has stay 404."""

from __future__ import annotations

import re
from pathlib import Path

from pipedrive_support import async_test, client, conform, requires_specs

from syncmap.sandbox.pipedrive import create_app
from syncmap.sandbox.pipedrive.coverage import unmodelled_groups, unmodelled_operations

pytestmark = requires_specs
DOCS = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"


@async_test
async def test_every_documented_but_unmodelled_operation_answers_501() -> None:
    app = create_app()
    operations = unmodelled_operations(app)
    assert ("GET", "/v1/notes") in operations and ("POST", "/api/v2/products") in operations
    assert ("GET", "/api/v2/persons") not in operations and ("PUT", "/v1/persons/{id}/merge") not in operations
    app.state.limits.budget.limit = 10**12
    async with client(app) as c:
        for method, template in operations:
            app.state.limits.burst.reset()
            path = re.sub(r"\{[^}]+\}", "7", template)
            r = await c.request(method, path)
            assert r.status_code == 501, (method, path, r.status_code, r.text)
            body = r.json()
            assert body["success"] is False and body["error"] == f"The sandbox does not model {method} {template}"
            assert r.headers["x-sandbox-not-modelled"] == "true"
        conform(await c.get("/v1/notes"))
        conform(await c.post("/api/v2/products", json={}))
        # /api/v1 reaches v1 as everywhere else
        assert (await c.get("/api/v1/notes/3")).json()["error"] == "The sandbox does not model GET /v1/notes/{id}"


@async_test
async def test_paths_no_description_has_stay_unknown() -> None:
    async with client(create_app()) as c:
        for method, path in (("GET", "/api/v2/spaceships"), ("GET", "/v1/persons/1/rockets"), ("POST", "/v1/nothing")):
            r = await c.request(method, path)
            assert r.status_code == 404 and r.json()["error"] == "Unknown method ."
            assert "x-sandbox-not-modelled" not in r.headers
        r = await c.put("/api/v2/persons/1", json={})  # served path, undocumented method
        assert r.status_code == 405 and r.json()["error"] == "Method not allowed"


def test_docs_list_the_unmodelled_routes_the_code_derives() -> None:
    text = DOCS.read_text()
    listed = {}
    for prefix, rest in re.findall(r"^- `(/api/v2|/v1)` not modelled: (.+)$", text, re.M):
        listed[prefix] = {name: int(count) for name, count in re.findall(r"(\w+) \((\d+)\)", rest)}
    assert listed == unmodelled_groups(create_app())
