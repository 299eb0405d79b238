"""Writes the APIs refuse for a while (`syncmap.runtime.pending`): which failures are transient,
how an unknown create is recognised in a list, and, against both sandbox apps in-process, a run
whose writes are refused until it must stop: nothing is a dead letter, the writes wait in the
outbox, the cursor stays, exit status "pending", and the next run sends them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sandbox_accounts import sandboxes

from syncmap.runtime import pending
from syncmap.runtime.api_errors import ApiError, LimitReached, UnknownOutcome
from syncmap.runtime.cli import status_cmd as status
from syncmap.runtime.engine import Engine
from syncmap.runtime.retry import RetryPolicy
from syncmap.runtime.session import load_plan_input
from syncmap.runtime.state import open_state

ROOT = Path(__file__).resolve().parents[2]
PUSH = str(ROOT / "bench" / "mappings" / "pipedrive-to-autopilot.syncmap")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ApiError("pipedrive", "POST", "/api/v2/persons", 429, {}), True),
        (ApiError("pipedrive", "POST", "/api/v2/persons", 503, {}), True),
        (ApiError("autopilot", "POST", "/contacts", 0, "connection failed"), True),
        (UnknownOutcome("pipedrive", "POST", "/api/v2/persons", "timed out"), True),
        (ApiError("pipedrive", "POST", "/api/v2/persons", 400, {"error": "name is required"}), False),
        (ApiError("pipedrive", "PATCH", "/api/v2/persons/1", 404, {}), False),
        (LimitReached("pipedrive", "daily budget", None), False),  # stops the run instead (exit 3)
    ],
)
def test_only_what_says_nothing_about_the_record_is_transient(error: BaseException, expected: bool) -> None:
    assert pending.transient(error) is expected


def test_a_created_record_is_recognised_by_its_link_value_emails_and_name() -> None:
    body = {"name": "Ada Lovelace", "emails": [{"value": "ada@x.test", "primary": True}], "custom_fields": {"k1": "contact_7"}}
    made = {"id": 9, "name": "Ada  Lovelace", "emails": [{"value": "ADA@x.test", "primary": True}], "custom_fields": {"k1": "contact_7", "k2": None}}
    assert pending.carries(body, made)
    assert not pending.carries(body, {**made, "custom_fields": {"k1": "contact_8"}})  # another contact's person
    assert not pending.carries(body, {**made, "emails": []})
    assert not pending.carries(body, {**made, "name": "Ada Byron"})
    assert not pending.carries({}, made)  # a body that says nothing recognises nothing


def test_pending_writes_name_both_records_of_each_write() -> None:
    held = pending.Pending()
    assert not held
    held.hold([("left", "1"), ("right", None)], "503", intent=4)
    held.hold([("left", "2"), ("right", "c2")], "429")
    assert held and held.writes == 2 and held.intents == [4]
    assert held.records == {"left": {"1", "2"}, "right": {"c2"}}


async def control(app: Any, root: str, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=root) as client:
        answer = await client.request(method, f"/__sandbox__/{path}", json=body)
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None


def test_writes_refused_until_the_run_must_stop_wait_in_the_outbox_for_the_next_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pending, "ROUNDS", 2)  # the rounds a run makes before it leaves the rest pending
    plan = load_plan_input(PUSH)
    pair = plan["pairs"][0]["id"]

    async def scenario() -> None:
        state = open_state(tmp_path / "state.db")
        async with sandboxes(time_scale=50, rate=50) as sbx:
            pd_root, ap_root = "http://pipedrive.test", "http://autopilot.test"
            await control(sbx.pd_app, pd_root, "POST", "seed", {"n": 20, "seed": 5})
            ap = sbx.connectors["autopilot"]
            ap.http.retry = RetryPolicy(max_attempts=2)  # each request gives up quickly
            engine = Engine(plan, sbx.connectors, state)
            setup = engine.setup

            async def then_an_outage() -> None:  # Autopilot refuses everything once the run is set up
                await setup()
                await control(sbx.ap_app, ap_root, "PUT", "faults", {"p503": 1.0})

            engine.setup = then_an_outage  # type: ignore[method-assign]
            report = await engine.run()
            assert report.outcome() == "pending"
            assert report.outbox["pending"] > 0 and report.outbox["retried"] > 0
            # Dead letters only for the seed's own problems (persons without an email), none for the outage.
            assert {d.reason for d in state.dead_letters()} == {"no_email"}
            assert state.get_cursor(f"{pair}:left") is None  # the pass is read again next time
            waiting = state.open_intents(pair, status="pending")
            assert [i.op for i in waiting] == ["upsert"] and "503" in waiting[0].result["error"]
            assert [w["id"] for w in status.gather(state)["pending_writes"]] == [waiting[0].id]  # what `syncmap status` shows
            log = (await control(sbx.ap_app, ap_root, "GET", "requests"))["requests"]
            upserts = [r["status"] for r in log if (r["method"], r["path"]) == ("POST", "/v1/contacts")]
            assert upserts and set(upserts) == {503}  # every batch was sent, and refused

            await control(sbx.ap_app, ap_root, "PUT", "faults", {})
            again = await Engine(plan, sbx.connectors, state).run()
            assert again.outcome() == "dead_letters" and again.outbox["pending"] == 0, again.notes  # the no_email letters again
            contacts = [c async for page in ap.pages() for c in page]
            assert again.totals()["created"] == len(contacts) == report.outbox["pending"]
            assert state.open_intents(pair, status="pending") == []
            assert state.get_cursor(f"{pair}:left") is not None
            third = await Engine(plan, sbx.connectors, state).run()
            assert third.totals()["created"] == third.totals()["updated"] == 0
        state.close()

    asyncio.run(scenario())
