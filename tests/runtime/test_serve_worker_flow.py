"""The worker end to end in one process: deliveries in the inbox, the engine, both sandboxes as
ASGI apps (the sandbox is the API; no socket, so each test takes a fraction of a second).
What the subprocess tests in tests/e2e/test_serve.py show over real sockets, this shows for the
worker's own decisions: what is done, retried, given up, and what a metric counts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sandbox_accounts import sandboxes

from syncmap.runtime.connectors.pipedrive import Pipedrive
from syncmap.runtime.engine import Engine
from syncmap.runtime.serve.metrics import Metrics
from syncmap.runtime.serve.worker import MAX_ATTEMPTS, Worker
from syncmap.runtime.session import load_plan_input
from syncmap.runtime.state import open_state

ROOT = Path(__file__).resolve().parents[2]
MAPPING = str(ROOT / "mappings" / "autopilot.syncmap")
S = 200.0  # sandbox clock speed: retries and backoff of the HTTP layer pass quickly


@dataclass
class Setup:
    pd_app: Any
    ap_app: Any
    engine: Engine
    worker: Worker
    state: Any
    metrics: Metrics

    async def control(self, app: Any, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sandbox") as http:
            answer = await http.request(method, f"/__sandbox__/{path}", json=body)
            answer.raise_for_status()
            return answer.json()

    def contacts(self) -> dict[str, Any]:
        return {c.email: c for c in self.ap_app.state.store.contacts.values()}

    def value(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@contextlib.asynccontextmanager
async def running(tmp_path: Path, **worker: Any) -> AsyncIterator[Setup]:
    state = open_state(tmp_path / "state.db")
    async with sandboxes(time_scale=S, rate=100) as sbx:
        engine = Engine(load_plan_input(MAPPING), sbx.connectors, state)
        await engine.begin("serve")
        metrics = Metrics()
        try:
            yield Setup(sbx.pd_app, sbx.ap_app, engine, Worker(engine, state, metrics, reconcile_every=0, **worker), state, metrics)
        finally:
            state.close()


def delivery(raw: dict[str, Any], event_id: str, action: str = "create") -> dict[str, Any]:
    meta = {"action": action, "entity": "person", "entity_id": str(raw["id"]), "id": event_id, "version": "2.0", "attempt": 1}
    return {"meta": meta, "data": raw, "previous": None}


async def person(setup: Setup, name: str, email: str) -> dict[str, Any]:
    pd: Pipedrive = setup.engine.connectors["pipedrive"]
    return await pd.create("Person", {"name": name, "emails": [{"value": email, "primary": True}]})


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_batch_is_synced_and_finished_and_counted(tmp_path: Path) -> None:
    async def go() -> None:
        async with running(tmp_path) as setup:
            ada = await person(setup, "Ada Lovelace", "ada@example.com")
            grace = await person(setup, "Grace Hopper", "grace@example.com")
            setup.state.add_inbox(source="pipedrive", delivery_key="e1", body=delivery(ada, "e1"))
            setup.state.add_inbox(source="pipedrive", delivery_key="e2", body=delivery(grace, "e2"))
            setup.state.add_inbox(source="pipedrive", delivery_key="bad", body={"meta": {"action": "explode"}})
            await setup.worker.process(setup.state.pending_inbox())
            assert {"ada@example.com", "grace@example.com"} <= set(setup.contacts())
            assert setup.state.count_pending_inbox() == 0
            assert setup.value("syncmap_events_processed_total", source="pipedrive") == 2
            assert setup.value("syncmap_events_failed_total", source="pipedrive") == 1  # the shape nobody sends
            assert setup.value("syncmap_webhook_to_write_seconds_count") == 2
            latency = setup.value("syncmap_webhook_to_write_seconds_sum")
            assert 0 < latency < 2.0  # two deliveries, each well under a second in one process
            # the same record again, carrying what was synced: an echo, nothing written
            again = await setup.engine.connectors["pipedrive"].get("Person", str(ada["id"]))
            setup.state.add_inbox(source="pipedrive", delivery_key="e3", body=delivery(again, "e3", "change"))
            writes = len(setup.ap_app.state.sandbox.log.entries)
            await setup.worker.process(setup.state.pending_inbox())
            assert setup.value("syncmap_events_echo_suppressed_total", source="pipedrive") == 1
            assert len(setup.ap_app.state.sandbox.log.entries) == writes

    run(go())


def test_an_api_outage_keeps_deliveries_pending_untouched_and_a_bug_gives_up_after_a_few_tries(tmp_path: Path) -> None:
    async def go() -> None:
        errors: list[str] = []
        async with running(tmp_path, on_error=errors.append) as setup:
            ada = await person(setup, "Ada Lovelace", "ada@example.com")
            setup.state.add_inbox(source="pipedrive", delivery_key="e1", body=delivery(ada, "e1"))
            await setup.control(setup.ap_app, "PUT", "faults", {"p503": 1.0})
            loop = asyncio.create_task(setup.worker.loop(_no_pass))
            setup.worker.wake.set()
            await _until(lambda: errors, 30)
            assert "deliveries wait" in errors[0]
            (item,) = setup.state.pending_inbox()
            assert item.attempts == 0, "an outage is not the delivery's fault: its attempts are not spent"
            await setup.control(setup.ap_app, "PUT", "faults", {})
            await _until(lambda: setup.state.count_pending_inbox() == 0, 60)
            assert "ada@example.com" in setup.contacts()
            setup.worker.stopping = True
            setup.worker.wake.set()
            await asyncio.wait_for(loop, 10)

            # A delivery the code cannot handle is tried MAX_ATTEMPTS times, then given up.
            def broken(pair_id: str) -> Any:
                raise RuntimeError("a bug")

            setup.engine.pair_run = broken  # type: ignore[method-assign]
            setup.state.add_inbox(source="pipedrive", delivery_key="e2", body=delivery(ada, "e2", "change"))
            for _ in range(MAX_ATTEMPTS):
                with pytest.raises(RuntimeError):
                    await setup.worker.process(setup.state.pending_inbox())
                setup.worker.retry_later(setup.state.pending_inbox(), "RuntimeError: a bug")
            assert setup.state.count_pending_inbox() == 0
            assert setup.value("syncmap_events_failed_total", source="pipedrive") == 1

    run(go())


def test_a_pairs_pass_waits_for_its_delay_then_answers_every_delivery_that_asked(tmp_path: Path) -> None:
    async def go() -> None:
        async with running(tmp_path, pair_pass_delay=3600.0) as setup:
            passes: list[str] = []

            async def pass_pair(pair_id: str) -> None:
                passes.append(pair_id)

            setup.engine.pass_pair = pass_pair  # type: ignore[method-assign]
            pair = setup.engine.plan["pairs"][0]["id"]
            setup.worker.dirty = {pair: time.monotonic() + 3600}
            setup.worker.waiting = {pair: [time.time() - 2.0, time.time() - 1.0]}
            await setup.worker.pass_dirty()
            assert passes == [], "not due yet"
            await setup.worker.pass_dirty(force=True)
            assert passes == [pair] and setup.worker.dirty == {} and setup.worker.waiting == {}
            assert setup.value("syncmap_webhook_to_write_seconds_count") == 2
            assert setup.value("syncmap_webhook_to_write_seconds_sum") >= 3.0
            # due by its time (not forced): runs once, and not again
            setup.worker.dirty = {pair: time.monotonic() - 0.001}
            await setup.worker.pass_dirty()
            await setup.worker.pass_dirty()
            assert passes == [pair, pair]

    run(go())


async def _no_pass() -> None:
    raise AssertionError("reconciliation is off in these tests")


async def _until(check: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_autopilot_deliveries_and_journey_actions_go_through_the_same_batch(tmp_path: Path) -> None:
    async def go() -> None:
        async with running(tmp_path) as setup:
            from syncmap.runtime.actions import ActionRunner, journey_deliveries

            runner = ActionRunner(setup.engine)
            await runner.setup()
            setup.worker.actions = runner
            ada = await person(setup, "Ada Lovelace", "ada@example.com")
            setup.state.add_inbox(source="pipedrive", delivery_key="e1", body=delivery(ada, "e1"))
            await setup.worker.process(setup.state.pending_inbox())
            contact = setup.contacts()["ada@example.com"]
            # a marketer's edit in Autopilot, as its hook carries it
            hook = {"event": "contact_updated", "contact": {"contact_id": contact.contact_id, "Email": "ada@example.com", "Phone": "+1 555 0101"}}
            setup.state.add_inbox(source="autopilot", delivery_key="h1", body=hook)
            # a journey's Webhook step for Add Deal, and one for an action the plan does not have
            body = {
                "records": [{"contact_id": contact.contact_id, "Email": "ada@example.com", "FirstName": "Ada", "LastName": "Lovelace"}],
                "journey": {"id": "j1"},
            }
            [(record, key)] = journey_deliveries("Add Deal", body)
            setup.state.add_inbox(source="action:Add Deal", delivery_key=key, body={"contact": record})
            setup.state.add_inbox(source="action:Launch Rocket", delivery_key=key, body={"contact": record})
            await setup.worker.process(setup.state.pending_inbox())
            pd_app = setup.pd_app
            [stored] = [p for p in pd_app.state.store.table("person").values() if p["id"] == ada["id"]]
            assert [phone["value"] for phone in stored["phones"]] == ["+1 555 0101"]
            deals = [d for d in pd_app.state.store.table("deal").values() if d.get("person_id") == ada["id"]]
            assert [d["title"] for d in deals] == ["Ada Lovelace"]
            assert setup.value("syncmap_events_processed_total", source="autopilot") == 1
            assert setup.value("syncmap_actions_total", action="Add Deal", status="done") == 1
            assert setup.value("syncmap_actions_total", action="Launch Rocket", status="failed") == 1
            assert setup.value("syncmap_events_processed_total", source="action") == 1
            assert setup.state.count_pending_inbox() == 0

    run(go())


def test_a_write_refused_while_the_api_is_busy_keeps_its_delivery_pending_and_makes_no_dead_letter(tmp_path: Path) -> None:
    """Pipedrive answers 429 to every request for a while: the contact's change waits in the
    inbox with no attempt spent and no `api_refused` dead letter (it is not the record's fault),
    and crosses once Pipedrive answers again."""

    async def go() -> None:
        errors: list[str] = []
        async with running(tmp_path, on_error=errors.append) as setup:
            ada = await person(setup, "Ada Lovelace", "ada@example.com")
            setup.state.add_inbox(source="pipedrive", delivery_key="e1", body=delivery(ada, "e1"))
            await setup.worker.process(setup.state.pending_inbox())
            contact = setup.contacts()["ada@example.com"]
            # A last name: its PATCH needs no read first (a phone's would read the person's phones).
            hook = {"event": "contact_updated", "contact": {"contact_id": contact.contact_id, "Email": "ada@example.com", "LastName": "King"}}
            setup.state.add_inbox(source="autopilot", delivery_key="h1", body=hook)
            await setup.control(setup.pd_app, "PUT", "faults", {"p429": 1.0})
            loop = asyncio.create_task(setup.worker.loop(_no_pass))
            setup.worker.wake.set()
            await _until(lambda: len(errors) >= 2, 60)  # two tries of the batch, both refused
            assert all("deliveries wait" in line and "kept pending" in line for line in errors), errors
            (item,) = setup.state.pending_inbox()
            assert item.attempts == 0, "a busy API spends no attempt of the delivery"
            assert setup.state.dead_letters() == []
            await setup.control(setup.pd_app, "PUT", "faults", {})
            await _until(lambda: setup.state.count_pending_inbox() == 0, 30)
            [stored] = [p for p in setup.pd_app.state.store.table("person").values() if p["id"] == ada["id"]]
            assert stored["last_name"] == "King"
            assert setup.state.dead_letters() == []
            assert setup.value("syncmap_events_failed_total", source="autopilot") == 0
            setup.worker.stopping = True
            setup.worker.wake.set()
            await asyncio.wait_for(loop, 10)

    run(go())
