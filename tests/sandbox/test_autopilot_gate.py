"""Autopilot sandbox: auth errors, the rate limit, fault injection and the request log."""

from __future__ import annotations

import time

import httpx
import pytest
from autopilot_support import CONTROL, async_test, client

from syncmap.sandbox.autopilot import AutopilotSettings, create_app
from syncmap.sandbox.control import DroppedConnection


@async_test
async def test_missing_and_wrong_keys() -> None:
    app = create_app(api_key="right")
    async with client(app, key=None) as anonymous:
        missing = await anonymous.get("/contacts")
        assert (missing.status_code, missing.json()) == (400, {"error": "Bad Request", "message": "No autopilotapikey header provided."})
    async with client(app, key="wrong") as wrong:
        refused = await wrong.get("/contacts")
        assert (refused.status_code, refused.json()) == (401, {"error": "Unauthorized", "message": "Provided autopilotapikey not valid."})
    async with client(app, key="right") as ok:
        assert (await ok.get("/contacts")).status_code == 200


@async_test
async def test_rate_limit_429_exactly_past_the_per_second_budget() -> None:
    app = create_app(rate_per_second=5)
    clock = app.state.sandbox.clock
    async with client(app) as api:
        statuses = [(await api.get("/account")).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        limited = await api.get("/account")
        assert limited.json() == {"error": "Too Many Requests", "message": "You have exceeded your request rate of 5 r/s."}
        assert "retry-after" not in limited.headers
        # control routes and unauthenticated requests are not charged
        assert (await api.get(f"{CONTROL}/requests")).status_code == 200
        async with client(app, key="wrong") as wrong:
            assert (await wrong.get("/account")).status_code == 401
        clock.advance(0.2)  # a fifth of a second gives back one request
        assert [(await api.get("/account")).status_code for _ in range(2)] == [200, 429]
        clock.advance(1.0)
        assert [(await api.get("/account")).status_code for _ in range(6)] == [200] * 5 + [429]


@async_test
async def test_rate_limit_is_configurable_and_can_send_retry_after() -> None:
    app = create_app(rate_per_second=2, settings=AutopilotSettings(retry_after_header=True))
    async with client(app) as api:
        assert [(await api.get("/account")).status_code for _ in range(3)] == [200, 200, 429]
        limited = await api.get("/account")
        assert limited.headers["retry-after"] == "1"
        assert limited.json()["message"] == "You have exceeded your request rate of 2 r/s."
        assert (await api.put(f"{CONTROL}/rate-limit", json={"per_second": 20})).json() == {"per_second": 20}
        assert [(await api.get("/account")).status_code for _ in range(21)] == [200] * 20 + [429]
        await api.put(f"{CONTROL}/rate-limit", json={"per_second": None})
        assert all([(await api.get("/account")).status_code == 200 for _ in range(50)])


@async_test
async def test_injected_status_faults_use_the_error_shape() -> None:
    app = create_app(rate_per_second=None)
    async with client(app) as api:
        for name, status, reason in (
            ("p429", 429, "Too Many Requests"),
            ("p500", 500, "Internal Server Error"),
            ("p502", 502, "Bad Gateway"),
            ("p503", 503, "Service Unavailable"),
        ):
            await api.put(f"{CONTROL}/faults", json={name: 1.0})
            answer = await api.get("/account")
            assert answer.status_code == status and answer.json()["error"] == reason and "message" in answer.json()
        # faults come before auth, like a gateway in front of the API
        async with client(app, key=None) as anonymous:
            assert (await anonymous.get("/account")).status_code == 503
        await api.put(f"{CONTROL}/faults", json={"p500": 0.5, "seed": 1})
        mixed = [(await api.get("/account")).status_code for _ in range(40)]
        assert set(mixed) == {200, 500}
        await api.put(f"{CONTROL}/faults", json={})
        assert (await api.get("/account")).status_code == 200


@async_test
async def test_dropped_connections_and_latency() -> None:
    app = create_app(rate_per_second=None)
    async with client(app) as api:
        await api.put(f"{CONTROL}/faults", json={"p_drop": 1.0})
        with pytest.raises(httpx.RemoteProtocolError):
            await api.get("/account")
        with pytest.raises(DroppedConnection):
            await api.post("/contact", json={"contact": {"Email": "d@x.test"}})
        await api.put(f"{CONTROL}/faults", json={"latency_ms": 60})
        started = time.monotonic()
        assert (await api.get("/account")).status_code == 200
        assert time.monotonic() - started >= 0.06
        await api.put(f"{CONTROL}/faults", json={})
        assert (await api.get("/contact/d@x.test")).status_code == 404  # the dropped write never happened


@async_test
async def test_a_lost_answer_is_a_dropped_connection_after_the_write_was_applied() -> None:
    app = create_app(rate_per_second=None)
    async with client(app) as api:
        await api.put(f"{CONTROL}/faults", json={"p_lost_answer": 1.0})
        with pytest.raises(DroppedConnection):
            await api.post("/contact", json={"contact": {"Email": "lost@x.test"}})
        await api.put(f"{CONTROL}/faults", json={})
        assert (await api.get("/contact/lost@x.test")).status_code == 200  # applied, though never answered
        log = (await api.get(f"{CONTROL}/requests")).json()["requests"]
        assert [(e["method"], e["status"], e.get("fault")) for e in log] == [("POST", 200, "lost_answer"), ("GET", 200, None)]


@async_test
async def test_request_log_records_every_api_request_in_order() -> None:
    app = create_app(rate_per_second=3)
    async with client(app) as api:
        await api.post("/contact", json={"contact": {"Email": "a@x.test"}})
        await api.get("/contact/nobody@x.test")
        await api.get("/lists")
        await api.get("/lists")  # rate limited
        async with client(app, key=None) as anonymous:
            await anonymous.get("/lists")
        await api.put(f"{CONTROL}/faults", json={"p502": 1.0})
        app.state.sandbox.clock.advance(10)
        await api.get("/triggers")
        log = (await api.get(f"{CONTROL}/requests")).json()["requests"]
        assert [(e["seq"], e["method"], e["path"], e["status"]) for e in log] == [
            (1, "POST", "/v1/contact", 200),
            (2, "GET", "/v1/contact/nobody@x.test", 404),
            (3, "GET", "/v1/lists", 200),
            (4, "GET", "/v1/lists", 429),
            (5, "GET", "/v1/lists", 400),
            (6, "GET", "/v1/triggers", 502),
        ]
        assert log[-1]["fault"] == "502" and "fault" not in log[0]
        await api.delete(f"{CONTROL}/requests")
        assert (await api.get(f"{CONTROL}/requests")).json() == {"requests": []}


@async_test
async def test_clock_control_scales_time() -> None:
    app = create_app(rate_per_second=1, time_scale=1.0)
    async with client(app) as api:
        assert [(await api.get("/account")).status_code for _ in range(2)] == [200, 429]
        await api.put(f"{CONTROL}/clock", json={"advance": 1})
        assert (await api.get("/account")).status_code == 200
        assert (await api.get(f"{CONTROL}/clock")).json()["scale"] == 1.0
