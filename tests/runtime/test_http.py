"""ApiClient end to end against the sandbox apps, in-process (httpx.ASGITransport) and over
real sockets (serve_app), with faults injected through the control routes. The sandboxes and
the governors run their clocks S times faster so windows and backoffs take milliseconds."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx
import pytest

from syncmap.runtime.governor import AutopilotGovernor, PipedriveGovernor, next_midnight_utc
from syncmap.runtime.http import Answer, ApiClient, ApiError, LimitReached, RetryPolicy, UnknownOutcome
from syncmap.sandbox import autopilot, pipedrive
from syncmap.sandbox.serve import serve_app

S = 50.0  # sandbox and governor time scale
TRANSPORTS = ["asgi", "socket"]
PERSONS = "/api/v2/persons"


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return run


class Sandbox:
    """A running sandbox app, its control routes and an ApiClient led by `governor`."""

    def __init__(self, api: ApiClient, control: httpx.AsyncClient, app: Any) -> None:
        self.api, self.control, self.app = api, control, app

    async def faults(self, **settings: Any) -> None:
        answer = await self.control.put("/__sandbox__/faults", json=settings)
        assert answer.status_code == 200, answer.text

    async def log(self) -> list[dict[str, Any]]:
        return (await self.control.get("/__sandbox__/requests")).json()["requests"]


@contextlib.asynccontextmanager
async def running(
    kind: str,
    system: str,
    app: Any,
    governor: Any,
    retry: RetryPolicy = RetryPolicy(),
) -> AsyncIterator[Sandbox]:
    auth = {"x-api-token": "sandbox-token"} if system == "pipedrive" else {"autopilotapikey": "sandbox-key"}
    prefix = "" if system == "pipedrive" else "/v1"
    async with contextlib.AsyncExitStack() as stack:
        if kind == "asgi":
            root, transport = "http://sandbox.test", httpx.ASGITransport(app)
            control = await stack.enter_async_context(httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=root))
        else:
            root, transport = await stack.enter_async_context(serve_app(app)), None
            control = await stack.enter_async_context(httpx.AsyncClient(base_url=root))
        api = await stack.enter_async_context(ApiClient(system, root + prefix, headers=auth, governor=governor, retry=retry, transport=transport))
        yield Sandbox(api, control, app)


def pipedrive_sandbox(
    kind: str, *, plan: str = "essential", governor: Any = None, retry: RetryPolicy = RetryPolicy(), time_scale: float = S, **settings: Any
) -> contextlib.AbstractAsyncContextManager[Sandbox]:
    app = pipedrive.create_app(plan=plan, time_scale=time_scale, settings=pipedrive.PipedriveSettings(**settings))
    return running(kind, "pipedrive", app, governor or PipedriveGovernor(plan=plan, time_scale=time_scale), retry)


def autopilot_sandbox(
    kind: str, *, governor: Any = None, retry: RetryPolicy = RetryPolicy(), **settings: Any
) -> contextlib.AbstractAsyncContextManager[Sandbox]:
    app = autopilot.create_app(rate_per_second=5, time_scale=S, settings=autopilot.AutopilotSettings(**settings))
    return running(kind, "autopilot", app, governor or AutopilotGovernor(rate=5, time_scale=S), retry)


def statuses(log: list[dict[str, Any]]) -> list[int]:
    return [entry["status"] for entry in log]


# ------------------------------------------------------------------ the burst window


@pytest.mark.parametrize("kind", TRANSPORTS)
@async_test
async def test_a_burst_meets_no_429_when_the_governor_leads(kind: str) -> None:
    async with pipedrive_sandbox(kind) as sb:  # essential: 20 requests per 2 s
        answers = await asyncio.gather(*(sb.api.request("GET", PERSONS) for _ in range(100)))
        assert {a.status for a in answers} == {200}
        log = await sb.log()
        assert statuses(log) == [200] * 100
        stats = sb.api.stats
        assert (stats.requests, stats.retries, stats.rate_limited) == (100, 0, 0)
        assert stats.tokens_spent == sum(e["tokens"] for e in log) == 1000
        assert stats.waits["Pipedrive burst window"] > 0  # 100 > 20: it had to wait for windows
        assert sb.api.governor.last_wait == "Pipedrive burst window"


@async_test
async def test_a_wrong_guess_is_corrected_by_the_headers() -> None:
    governor = PipedriveGovernor(plan="essential", burst=200, time_scale=S)  # the guess: 200 per 2 s
    async with pipedrive_sandbox("socket", governor=governor) as sb:
        # the first rush, on a slowed sandbox clock so it surely lands in one window; its 429s
        # are answers here (ok) so they are counted, not retried
        await sb.control.put("/__sandbox__/clock", json={"scale": 0.5})
        first = await asyncio.gather(*(sb.api.request("GET", PERSONS, ok=(429,)) for _ in range(40)))
        assert sorted(a.status for a in first) == [200] * 20 + [429] * 20
        assert governor.burst.limit == 20 and sb.api.stats.rate_limited == 20
        await sb.control.put("/__sandbox__/clock", json={"scale": S, "advance": 2})  # that window is over
        second = await asyncio.gather(*(sb.api.request("GET", PERSONS) for _ in range(60)))
        assert {a.status for a in second} == {200}
        assert sb.api.stats.rate_limited == 20  # once learned, no 429 more


# ------------------------------------------------------------------ faults


@pytest.mark.parametrize("kind", TRANSPORTS)
@async_test
async def test_with_429s_and_5xx_injected_every_idempotent_request_succeeds(kind: str) -> None:
    async with pipedrive_sandbox(kind) as sb:
        await sb.faults(p429=0.1, p500=0.05, seed=3)
        answers = await asyncio.gather(*(sb.api.request("GET", PERSONS) for _ in range(80)))
        assert {a.status for a in answers} == {200}
        log = await sb.log()
        stats = sb.api.stats
        assert statuses(log).count(200) == 80
        assert stats.rate_limited == statuses(log).count(429) > 0
        assert stats.server_errors == statuses(log).count(500) > 0
        assert stats.retries == stats.rate_limited + stats.server_errors == len(log) - 80
        assert stats.waits["429 backoff"] > 0 and stats.waits["5xx backoff"] > 0
        assert stats.tokens_spent == sum(e["tokens"] for e in log)


@pytest.mark.parametrize("kind", TRANSPORTS)
@async_test
async def test_autopilot_paced_and_retried(kind: str) -> None:
    async with autopilot_sandbox(kind) as sb:
        answers = await asyncio.gather(*(sb.api.request("GET", "/contacts") for _ in range(30)))
        assert {a.status for a in answers} == {200}
        assert statuses(await sb.log()) == [200] * 30 and sb.api.stats.rate_limited == 0
        assert sb.api.stats.waits["Autopilot rate"] > 0
        await sb.faults(p429=0.1, p500=0.05, p_drop=0.05, seed=5)
        answers = await asyncio.gather(*(sb.api.request("GET", "/contacts") for _ in range(40)))
        assert {a.status for a in answers} == {200}
        assert statuses(await sb.log()).count(200) == 70 and sb.api.stats.retries > 0


@async_test
async def test_autopilot_retry_after_is_honoured() -> None:
    async with autopilot_sandbox("asgi", retry_after_header=True, retry=RetryPolicy(jitter=0)) as sb:
        await sb.faults(p429=1.0)
        with pytest.raises(ApiError) as caught:
            await sb.api.request("GET", "/contacts")
        # 8 sends, 7 waits of the Retry-After: 1 second each, scaled
        assert caught.value.status == 429 and "gave up after 8 attempts" in str(caught.value)
        assert sb.api.stats.waits["429 backoff"] == pytest.approx(7 * 1 / S)


@pytest.mark.parametrize("kind", TRANSPORTS)
@async_test
async def test_a_post_meeting_a_500_is_not_retried_blind(kind: str) -> None:
    async with pipedrive_sandbox(kind) as sb:
        await sb.faults(p500=1.0)
        with pytest.raises(UnknownOutcome) as caught:
            await sb.api.request("POST", PERSONS, json={"name": "Ada Lovelace"})
        assert [(e["method"], e["status"]) for e in await sb.log()] == [("POST", 500)]
        error = caught.value
        assert (error.system, error.method, error.path) == ("pipedrive", "POST", PERSONS)
        assert str(error) == (
            "pipedrive POST /api/v2/persons: outcome unknown (HTTP 500: An internal server error occurred); look before sending it again"
        )


@pytest.mark.parametrize("kind", TRANSPORTS)
@async_test
async def test_a_dropped_post_is_an_unknown_outcome_and_a_dropped_get_is_retried(kind: str) -> None:
    async with pipedrive_sandbox(kind) as sb:
        await sb.faults(p_drop=1.0)
        with pytest.raises(UnknownOutcome, match="outcome unknown"):
            await sb.api.request("POST", PERSONS, json={"name": "Ada Lovelace"})
        assert statuses(await sb.log()) == [0]
        await sb.faults(p_drop=0.3, seed=2)
        await sb.control.delete("/__sandbox__/requests")
        answers = await asyncio.gather(*(sb.api.request("GET", PERSONS) for _ in range(20)))
        assert {a.status for a in answers} == {200}
        assert sb.api.stats.network_errors == 1 + statuses(await sb.log()).count(0) > 1


@async_test
async def test_a_post_declared_idempotent_is_retried() -> None:
    # an Autopilot upsert by Email may be resent: the caller says so
    async with autopilot_sandbox("asgi") as sb:
        await sb.faults(p500=0.5, seed=4)
        contact = {"contacts": [{"Email": "ada@example.com", "FirstName": "Ada"}]}
        for _ in range(5):
            answer = await sb.api.request("POST", "/contacts", json=contact, idempotent=True)
            assert answer.status == 200 and "ada@example.com" in answer.body["email_contact_map"]
        log = await sb.log()
        assert sb.api.stats.server_errors == statuses(log).count(500) > 0 and statuses(log).count(200) == 5


@async_test
async def test_a_post_meeting_429s_is_retried_then_given_up_clearly() -> None:
    async with pipedrive_sandbox("asgi", retry=RetryPolicy(max_attempts=3)) as sb:
        await sb.faults(p429=1.0)
        with pytest.raises(ApiError) as caught:
            await sb.api.request("POST", PERSONS, json={"name": "Ada Lovelace"})
        assert [(e["method"], e["status"]) for e in await sb.log()] == [("POST", 429)] * 3
        assert caught.value.status == 429
        assert str(caught.value).startswith("pipedrive POST /api/v2/persons answered HTTP 429: Request over limit (gave up after 3 attempts in ")


@async_test
async def test_idempotent_5xx_give_up_after_the_attempts_or_the_elapsed_time() -> None:
    async with pipedrive_sandbox("asgi", retry=RetryPolicy(max_attempts=3)) as sb:
        await sb.faults(p500=1.0)
        with pytest.raises(ApiError, match=r"answered HTTP 500: .*\(gave up after 3 attempts"):
            await sb.api.request("GET", PERSONS)
        assert statuses(await sb.log()) == [500] * 3
    async with pipedrive_sandbox("asgi", retry=RetryPolicy(max_elapsed=0.0)) as sb:
        await sb.faults(p503=1.0)
        with pytest.raises(ApiError, match=r"gave up after 1 attempts: the next would start after 0 s"):
            await sb.api.request("PUT", "/v1/persons/1/merge", json={"merge_with_id": 2})
        assert statuses(await sb.log()) == [503]


# ------------------------------------------------------------------ refusals


@async_test
async def test_a_refusal_raises_api_error_unless_its_status_is_ok() -> None:
    app = pipedrive.create_app(time_scale=S)
    governor = PipedriveGovernor(time_scale=S)
    async with ApiClient(
        "pipedrive", "http://sandbox.test", params={"api_token": "sandbox-token"}, governor=governor, transport=httpx.ASGITransport(app)
    ) as api:
        with pytest.raises(ApiError) as caught:
            await api.request("GET", "/api/v2/persons/999")
        error = caught.value
        assert (error.status, error.body["error"]) == (404, "Entity was not found")
        assert str(error) == "pipedrive GET /api/v2/persons/999 answered HTTP 404: Entity was not found"
        assert "sandbox-token" not in str(error)
        answer = await api.request("GET", "/api/v2/persons/999", ok=(404,))
        assert isinstance(answer, Answer) and answer.status == 404 and answer.headers["x-ratelimit-limit"] == "40"
        assert api.stats.retries == 0 and api.stats.tokens_spent == 2  # 404s are charged (1 token each)


@async_test
async def test_connect_errors_are_retried_even_for_posts_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed when the block ends: nobody listens there
    retry = RetryPolicy(max_attempts=3, base_delay=0.001)
    async with ApiClient("autopilot", f"http://127.0.0.1:{port}/v1", governor=AutopilotGovernor(rate=1000), retry=retry) as api:
        with pytest.raises(ApiError) as caught:
            await api.request("POST", "/contacts", json={"contacts": []})
    assert caught.value.status == 0 and "gave no answer: connection failed: ConnectError" in str(caught.value)
    assert (api.stats.requests, api.stats.network_errors) == (3, 3)
    assert api.stats.waits["network backoff"] > 0


# ------------------------------------------------------------------ the daily budget


@async_test
async def test_a_low_budget_ends_in_limit_reached_before_sending() -> None:
    async with pipedrive_sandbox("asgi") as sb:
        assert (await sb.control.put("/__sandbox__/limits", json={"budget_remaining": 25})).status_code == 200
        await sb.api.request("GET", PERSONS)
        await sb.api.request("GET", PERSONS)  # the headers say 5 tokens are left
        with pytest.raises(LimitReached) as caught:
            await sb.api.request("GET", PERSONS)
        assert statuses(await sb.log()) == [200, 200]  # refused before sending
        error = caught.value
        assert (error.system, error.limit) == ("pipedrive", "Pipedrive daily token budget")
        now = time.time()
        assert error.reset_at == pytest.approx(now + (next_midnight_utc(now) - now) / S, abs=1)
        assert "costs 10 tokens, 5 left" in str(error) and "resets at" in str(error)


@async_test
async def test_without_budget_headers_the_429_ends_in_limit_reached() -> None:
    async with pipedrive_sandbox("asgi", daily_budget_headers=False) as sb:
        assert (await sb.control.put("/__sandbox__/limits", json={"budget_remaining": 25})).status_code == 200
        await sb.api.request("GET", PERSONS)
        await sb.api.request("GET", PERSONS)
        with pytest.raises(LimitReached, match=r"Pipedrive daily token budget reached .*; it resets at"):
            await sb.api.request("GET", PERSONS)
        assert statuses(await sb.log()) == [200, 200, 429]  # one refusal, not retried
        assert sb.api.stats.rate_limited == 1 and sb.api.stats.tokens_spent == 20
