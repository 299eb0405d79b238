"""Pipedrive sandbox: auth, the per-token burst window, the search limit, the daily token
budget charged from token-costs.json, the request log, faults and the clock's time scale."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from pipedrive_support import async_test, client, seeded

from syncmap.sandbox.pipedrive import PipedriveSettings, create_app
from syncmap.sandbox.pipedrive.costs import COSTS_FILE
from syncmap.sandbox.pipedrive.settings import BURST_LIMITS

RATE_BODY = {
    "success": False,
    "error": "Request over limit",
    "error_info": "Please check developers.pipedrive.com for more information about Pipedrive API.",
    "data": None,
    "additional_data": None,
}


def published_cost(method: str, spec_path: str, spec: str = "v2") -> int:
    table = json.loads(COSTS_FILE.read_text())["specs"][spec]
    return next(e["token_cost"] for e in table if e["method"] == method and e["path"] == spec_path)


@async_test
async def test_auth_by_header_query_and_bearer() -> None:
    app = create_app(token="tok", settings=PipedriveSettings(oauth_token="oauth-tok"))
    async with client(app, token=None) as c:
        assert (await c.get("/api/v2/persons", headers={"x-api-token": "tok"})).status_code == 200
        assert (await c.get("/api/v2/persons", params={"api_token": "tok"})).status_code == 200
        r = await c.get("/v1/users/me", headers={"Authorization": "Bearer oauth-tok"})
        assert r.status_code == 200 and r.headers["x-ratelimit-limit"] == "160"  # OAuth limit on Advanced
        assert "x-daily-requests-left" not in r.headers  # "Applicable only to api_token requests"
        for kwargs in ({}, {"headers": {"x-api-token": "nope"}}, {"params": {"api_token": "nope"}}):
            r = await c.get("/api/v2/deals", **kwargs)
            assert r.status_code == 401 and r.headers["x-401-by-gw"] == "true"
            assert r.json()["error"] == "unauthorized access" and "x-ratelimit-limit" not in r.headers
    off = create_app(token="tok", settings=PipedriveSettings(accept_query_token=False))
    async with client(off, token=None) as c:
        assert (await c.get("/api/v2/persons", params={"api_token": "tok"})).status_code == 401
    log = [(e["path"], e["status"], e["tokens"]) for e in app.state.sandbox.log.entries]
    assert log[0] == ("/api/v2/persons", 200, 10) and log[-1] == ("/api/v2/deals", 401, 0)


@pytest.mark.parametrize("plan", sorted(BURST_LIMITS))
@async_test
async def test_burst_window_counts_down_then_429(plan: str) -> None:
    app = create_app(plan=plan)
    limit = BURST_LIMITS[plan][0]
    clock = app.state.sandbox.clock
    clock.set_scale(1e-6)  # freeze time: the window only moves when the test says so
    async with client(app) as c:
        remaining = []
        for _ in range(limit):
            r = await c.get("/v1/users/me")
            assert r.status_code == 200
            assert r.headers["x-ratelimit-limit"] == str(limit) and r.headers["x-ratelimit-reset"] == "2"
            remaining.append(int(r.headers["x-ratelimit-remaining"]))
        assert remaining == list(range(limit - 1, -1, -1))
        r = await c.get("/v1/users/me")
        assert r.status_code == 429 and r.json() == RATE_BODY
        assert r.headers["x-ratelimit-remaining"] == "0"
        clock.advance(1.5)
        r = await c.get("/v1/users/me")
        assert r.status_code == 429 and r.headers["x-ratelimit-reset"] == "1"
        clock.advance(0.5)
        r = await c.get("/v1/users/me")
        assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == str(limit - 1)
    statuses = [e["status"] for e in app.state.sandbox.log.entries]
    assert statuses == [200] * limit + [429, 429, 200]


@async_test
async def test_search_has_its_own_window_of_10() -> None:
    app = await seeded(10)
    app.state.sandbox.clock.set_scale(1e-6)
    async with client(app) as c:
        for i in range(10):
            r = await c.get("/api/v2/persons/search", params={"term": "an"})
            assert r.status_code == 200 and r.headers["x-ratelimit-limit"] == "10"
            assert r.headers["x-ratelimit-remaining"] == str(9 - i)
        assert (await c.get("/v1/persons/search", params={"term": "an"})).status_code == 429
        r = await c.get("/api/v2/persons")  # the general window is untouched
        assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "39"


@async_test
async def test_budget_is_charged_per_published_cost_and_429s_when_spent() -> None:
    settings = PipedriveSettings(daily_budget=60)
    app = await seeded(5, settings=settings)
    calls = [
        ("GET", "/api/v2/persons", None, published_cost("GET", "/api/v2/persons")),
        ("GET", "/api/v2/persons/1", None, published_cost("GET", "/api/v2/persons/{id}")),
        ("POST", "/api/v2/deals", {"title": "t"}, published_cost("POST", "/api/v2/deals")),
        ("PATCH", "/api/v2/deals/1", {"title": "u"}, published_cost("PATCH", "/api/v2/deals/{id}")),
        ("DELETE", "/api/v2/activities/1", None, published_cost("DELETE", "/api/v2/activities/{id}")),
        ("GET", "/api/v2/persons/search", None, published_cost("GET", "/api/v2/persons/search")),
        ("GET", "/v1/users", None, published_cost("GET", "/v1/users", "v1")),
    ]
    assert [cost for *_, cost in calls] == [10, 1, 5, 5, 3, 20, 20]  # as §5 summarises them
    spent = 0
    async with client(app) as c:
        for method, path, body, cost in calls[:-1]:
            params = {"term": "an"} if path.endswith("search") else None
            r = await c.request(method, path, json=body, params=params)
            assert r.status_code == 200, r.text
            spent += cost
            assert r.headers["x-daily-ratelimit-token-limit"] == "60"
            assert r.headers["x-daily-ratelimit-token-remaining"] == str(60 - spent)
        r = await c.get("/v1/users")  # costs 20, only 16 left
        assert r.status_code == 429 and r.json()["error"] == settings.budget_error
        assert (await c.get("/api/v2/persons/2")).status_code == 200  # 1 token still fits
        log = app.state.sandbox.log.entries
        assert [e["tokens"] for e in log] == [c[-1] for c in calls[:-1]] + [0, 1]
        # The budget resets at midnight (UTC) of the sandbox clock.
        clock = app.state.sandbox.clock
        clock.advance(86_400 - clock.now() % 86_400 + 1)
        r = await c.get("/v1/users")
        assert r.status_code == 200 and r.headers["x-daily-ratelimit-token-remaining"] == "40"


@pytest.mark.parametrize(("plan", "seats", "budget"), [("essential", 1, 30_000), ("advanced", 3, 180_000), ("enterprise", 2, 420_000)])
@async_test
async def test_budget_formula(plan: str, seats: int, budget: int) -> None:
    app = create_app(plan=plan, settings=PipedriveSettings(seats=seats))
    async with client(app) as c:
        r = await c.get("/v1/users/me")
        assert r.headers["x-daily-ratelimit-token-limit"] == str(budget)
        assert r.headers["x-daily-ratelimit-token-remaining"] == str(budget - 2)


@async_test
async def test_daily_requests_left_counts_post_and_put() -> None:
    app = create_app()
    async with client(app) as c:
        assert (await c.get("/v1/users/me")).headers["x-daily-requests-left"] == "10000"
        r = await c.post("/api/v2/persons", json={"name": "A B"})
        assert (await c.get("/v1/users/me")).headers["x-daily-requests-left"] == "9999"
        assert r.status_code == 200


@async_test
async def test_time_scale_speeds_the_window_up() -> None:
    app = create_app(plan="essential", time_scale=50)  # the 2 s window lasts 40 ms
    async with client(app) as c:
        statuses = [(await c.get("/v1/users/me")).status_code for _ in range(21)]
        assert statuses.count(429) >= 1
        await asyncio.sleep(0.06)
        assert (await c.get("/v1/users/me")).status_code == 200


@async_test
async def test_injected_faults_use_pipedrive_bodies_and_are_logged() -> None:
    app = create_app()
    async with client(app) as c:
        for name, status in (("p500", 500), ("p502", 502), ("p503", 503), ("p429", 429)):
            assert (await c.put("/__sandbox__/faults", json={name: 1.0})).status_code == 200
            r = await c.get("/api/v2/persons")
            assert r.status_code == status
            assert r.json()["success"] is False and r.json()["error_info"]
        await c.put("/__sandbox__/faults", json={"p_drop": 1.0})
        with pytest.raises(httpx.RemoteProtocolError):
            await c.get("/api/v2/persons")
        await c.put("/__sandbox__/faults", json={"latency_ms": 30})
        started = asyncio.get_running_loop().time()
        assert (await c.get("/api/v2/persons")).status_code == 200
        assert asyncio.get_running_loop().time() - started >= 0.03
        log = (await c.get("/__sandbox__/requests")).json()["requests"]
        assert [(e["status"], e.get("fault")) for e in log] == [(500, "500"), (502, "502"), (503, "503"), (429, "429"), (0, "drop"), (200, None)]


@async_test
async def test_a_lost_answer_is_a_dropped_connection_after_the_write_was_applied() -> None:
    app = create_app()
    async with client(app) as c:
        await c.put("/__sandbox__/faults", json={"p_lost_answer": 1.0})
        with pytest.raises(httpx.RemoteProtocolError):
            await c.post("/api/v2/persons", json={"name": "Lost Answer"})
        await c.put("/__sandbox__/faults", json={})
        names = [p["name"] for p in (await c.get("/api/v2/persons")).json()["data"]]
        assert names == ["Lost Answer"]  # created, though the client never heard of it
        log = (await c.get("/__sandbox__/requests")).json()["requests"]
        assert [(e["method"], e["status"], e.get("fault")) for e in log] == [("POST", 200, "lost_answer"), ("GET", 200, None)]


@async_test
async def test_api_v1_prefix_reaches_v1() -> None:
    app = create_app()
    async with client(app) as c:
        r = await c.get("/api/v1/users/me")
        assert r.status_code == 200 and r.json()["data"]["id"] == 1
    assert app.state.sandbox.log.entries[0]["tokens"] == 2


def test_unknown_plan_is_refused() -> None:
    with pytest.raises(ValueError, match="plan"):
        create_app(plan="gold")


def test_sandbox_serves_over_loopback() -> None:
    """The same app behind uvicorn on 127.0.0.1: a base-URL change is all a client needs."""
    import socket
    import threading

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(create_app(token="t"), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            threading.Event().wait(0.01)
        r = httpx.get(f"http://127.0.0.1:{port}/api/v2/persons", headers={"x-api-token": "t"})
        assert r.status_code == 200 and r.json() == {"success": True, "data": [], "additional_data": {"next_cursor": None}}
        assert r.headers["x-ratelimit-remaining"] == "39"
    finally:
        server.should_exit = True
        thread.join(5)
