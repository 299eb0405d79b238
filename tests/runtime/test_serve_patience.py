"""How long `serve` waits after a failure and whether the deliveries pay for it
(`runtime/serve/patience.py`), and a stop's removal of the subscriptions when an API does not
answer (`subscriptions.unregister`): both sandboxes as ASGI apps, nothing mocked."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from sandbox_accounts import sandboxes

from syncmap.runtime.api_errors import ApiError, LimitReached, UnknownOutcome, is_transient
from syncmap.runtime.serve.patience import BUSY_CAP, FAULT_CAP, LIMIT_CAP, SERVE_RETRY, STOP_RETRY, HeldWrites, verdict
from syncmap.runtime.serve.subscriptions import SUBSCRIPTIONS_KEY, Credentials, register, unregister
from syncmap.runtime.session import load_plan_input
from syncmap.runtime.state import open_state

ROOT = Path(__file__).resolve().parents[2]
BUSY = ApiError("autopilot", "POST", "/contacts", 429, {"message": "over the limit"}, "gave up after 8 attempts")


def waits(error: BaseException, tries: int) -> list[float]:
    out, wait = [], 0.0
    for _ in range(tries):
        wait = verdict(wait, error).wait
        out.append(wait)
    return out


def test_a_busy_api_costs_no_attempt_and_never_a_wait_over_the_cap() -> None:
    for error in (
        BUSY,
        ApiError("pipedrive", "PATCH", "/api/v2/persons/1", 503, None),
        ApiError("pipedrive", "GET", "/api/v2/persons", 0, "connection failed"),
        UnknownOutcome("pipedrive", "POST", "/api/v2/persons", "timed out"),
        HeldWrites(["pipedrive PATCH /api/v2/persons/1 answered HTTP 429"]),
    ):
        assert not verdict(0.0, error).spends_attempt, error
        assert waits(error, 8) == [1.0, 2.0, 4.0, BUSY_CAP, BUSY_CAP, BUSY_CAP, BUSY_CAP, BUSY_CAP], error
    assert BUSY_CAP <= 5.0 and SERVE_RETRY.max_delay <= 4.0, "issue 17: the first try after a limit clears within 10 s"


def test_a_refusal_that_will_not_change_spends_an_attempt() -> None:
    for error in (ApiError("pipedrive", "PATCH", "/api/v2/persons/1", 400, {"error": "bad date"}), RuntimeError("a bug")):
        assert not is_transient(error)
        judged = verdict(0.0, error)
        assert judged.spends_attempt and judged.wait == 1.0
        assert waits(error, 8)[-1] == FAULT_CAP


def test_a_limit_with_a_known_reset_waits_for_the_reset_itself() -> None:
    now = 1_800_000_000.0
    soon = LimitReached("pipedrive", "Pipedrive daily token budget", now + 20.0)
    judged = verdict(0.0, soon, wall=lambda: now)
    assert not judged.spends_attempt and judged.wait == 20.5  # just after the reset, not a step later
    assert verdict(0.0, LimitReached("pipedrive", "budget", now + 5 * 3600.0), wall=lambda: now).wait == LIMIT_CAP
    assert verdict(0.0, LimitReached("pipedrive", "budget", now - 3.0), wall=lambda: now).wait == 1.0  # reset passed
    assert waits(LimitReached("pipedrive", "budget", None), 8)[-1] == LIMIT_CAP


def test_a_stop_removes_what_answers_and_keeps_what_does_not_for_the_next_start(tmp_path: Path) -> None:
    """Autopilot answers nothing for a while: the stop gives up on its hooks after the time it
    has, removes Pipedrive's, and keeps Autopilot's in the state; the next start re-uses them."""

    async def go() -> None:
        state = open_state(tmp_path / "state.db")
        plan = load_plan_input(str(ROOT / "mappings" / "autopilot.syncmap"))
        creds = Credentials("syncmap", "pw", "token")
        url = "https://sync.example.com"
        try:
            async with sandboxes(time_scale=200.0, rate=100) as sbx:
                made = await register(plan, sbx.connectors, state, url, creds)
                assert len(made["pipedrive"]) == 2 and len(made["autopilot"]) == 5
                async with httpx.AsyncClient(transport=httpx.ASGITransport(sbx.ap_app), base_url="http://sandbox") as control:
                    (await control.put("/__sandbox__/faults", json={"latency_ms": 30_000})).raise_for_status()
                    started = time.monotonic()
                    left = await unregister(sbx.connectors, state, seconds=0.5, retry=STOP_RETRY)
                    took = time.monotonic() - started
                    (await control.put("/__sandbox__/faults", json={})).raise_for_status()
                assert took < 2.0, "bounded by the time it was given, not by the API"
                assert len(left) == 5 and all(line.startswith("autopilot ") for line in left), left
                kept = state.get_meta(SUBSCRIPTIONS_KEY)
                assert kept["pipedrive"] == {} and kept["autopilot"] == made["autopilot"]
                assert (await sbx.connectors["pipedrive"].http.request("GET", "/v1/webhooks")).body["data"] in ([], None)
                again = await register(plan, sbx.connectors, state, url, creds)
                assert again["autopilot"] == made["autopilot"], "the hooks a stop could not remove are re-used"
                assert sorted(again["pipedrive"]) == sorted(made["pipedrive"]) and again["pipedrive"] != made["pipedrive"]
                # With both APIs answering, everything goes and the state forgets it.
                assert await unregister(sbx.connectors, state, seconds=5.0, retry=STOP_RETRY) == []
                assert state.get_meta(SUBSCRIPTIONS_KEY) == {}
        finally:
            state.close()

    asyncio.run(go())
