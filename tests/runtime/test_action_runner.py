"""Journey actions in-process: the journey webhook body (pure), stage names (pure), and
ActionRunner against both sandbox apps over httpx.ASGITransport — a journey's record used as
sent, a retried delivery, a create whose answer was lost, two actions at once for one contact."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from sandbox_accounts import sandboxes

from syncmap.runtime.actions import ActionRunner, UnknownAction, journey_deliveries
from syncmap.runtime.actions.stages import resolve_stage
from syncmap.runtime.candidates import DeadLetter
from syncmap.runtime.connectors.pipedrive import Pipedrive
from syncmap.runtime.engine import Engine
from syncmap.runtime.http import UnknownOutcome
from syncmap.runtime.session import load_plan_input
from syncmap.runtime.state import open_state
from syncmap.sandbox import pipedrive

MAPPING = str(Path(__file__).resolve().parents[2] / "mappings" / "autopilot.syncmap")
S = 50.0
RECORD = {
    "contact_id": "person_637C329C-4398-47BF-BA0E-AC19FC7A8117",
    "Email": "peter@example.com",
    "FirstName": "Peter",
    "LastName": "AddToList",
    "updated_at": "2020-04-27T00:18:55.000Z",
    "lists": ["contactlist_1"],
}
BODY = {"records": [RECORD], "journey": {"name": "New Journey 2", "id": "campaign_A230A520"}}


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return run


# -- the journey webhook body ---------------------------------------------------------------------
def test_a_journey_body_gives_one_delivery_per_record_with_a_stable_key() -> None:
    second = {**RECORD, "contact_id": "person_2", "Email": "ann@example.com"}
    deliveries = journey_deliveries("Add Deal", {**BODY, "records": [RECORD, second], "step": "welcome"})
    assert [contact["contact_id"] for contact, _ in deliveries] == [RECORD["contact_id"], "person_2"]
    keys = [key for _, key in deliveries]
    assert len(set(keys)) == 2 and all(k.startswith("journey:campaign_A230A520:") for k in keys)
    # A retry sends the same body: the same keys. Another action, journey, record state or custom
    # payload is another delivery.
    assert [k for _, k in journey_deliveries("Add Deal", {**BODY, "records": [RECORD, second], "step": "welcome"})] == keys
    again = journey_deliveries("Add Deal", BODY)[0][1]
    assert again == journey_deliveries("Add Deal", BODY)[0][1]
    assert again != journey_deliveries("Schedule Activity", BODY)[0][1]
    assert again != journey_deliveries("Add Deal", {**BODY, "journey": {"id": "campaign_other"}})[0][1]
    assert again != journey_deliveries("Add Deal", {**BODY, "records": [{**RECORD, "updated_at": "2020-05-01T00:00:00Z"}]})[0][1]
    assert again != journey_deliveries("Add Deal", {**BODY, "step": "other"})[0][1]
    # No journey object (a hand-made call): still one key per record.
    assert journey_deliveries("Add Deal", {"records": [{"Email": "x@example.com"}]})[0][1].startswith("journey:-:x@example.com:")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (None, "not null"),
        ([RECORD], "not a list"),
        ("records", "not a string"),
        ({}, '"records"'),
        ({"records": []}, "non-empty"),
        ({"records": RECORD}, '"records"'),
        ({"records": [RECORD], "journey": "campaign_1"}, '"journey"'),
        ({"records": [RECORD, 5]}, "records[1] must be a contact object, not a number"),
        ({"records": [{"FirstName": "Nobody"}]}, "neither a contact_id nor an Email"),
    ],
)
def test_a_body_of_another_shape_is_refused_clearly(body: Any, says: str) -> None:
    with pytest.raises(ValueError, match=None) as refused:
        journey_deliveries("Add Deal", body)
    assert says in str(refused.value)


# -- stages by name ---------------------------------------------------------------------------------
PIPELINES = {"1": {"id": 1, "name": "Sales"}, "2": {"id": 2, "name": "Renewals"}}
STAGES = [
    {"id": 1, "name": "Lead In", "pipeline_id": 1, "order_nr": 1},
    {"id": 2, "name": "Negotiation", "pipeline_id": 1, "order_nr": 2},
    {"id": 3, "name": "negotiation ", "pipeline_id": 2, "order_nr": 1},
    {"id": 4, "name": "Signed", "pipeline_id": 2, "order_nr": 2},
]


def test_a_stage_name_resolves_in_the_deals_pipeline() -> None:
    assert resolve_stage("Lead In", STAGES, PIPELINES, 2) == 1  # one stage of that name: wherever it is
    assert resolve_stage("NEGOTIATION", STAGES, PIPELINES, 1) == 2
    assert resolve_stage("Negotiation", STAGES, PIPELINES, 2) == 3
    assert resolve_stage("4", STAGES, PIPELINES, 1) == 4  # an id


def test_a_stage_that_does_not_exist_or_is_ambiguous_is_a_clear_dead_letter() -> None:
    with pytest.raises(DeadLetter) as unknown:
        resolve_stage("Closing", STAGES, PIPELINES, 1)
    assert unknown.value.reason == "stage_unknown"
    assert '"Closing"' in unknown.value.message and '"Lead In", "Negotiation" (in Sales)' in unknown.value.message
    assert '"Signed" (in Renewals)' in unknown.value.message
    with pytest.raises(DeadLetter) as ambiguous:
        resolve_stage("Negotiation", STAGES, PIPELINES, 9)
    assert ambiguous.value.reason == "stage_ambiguous" and '"Sales", "Renewals"' in ambiguous.value.message
    with pytest.raises(DeadLetter, match="no stage with id 99"):
        resolve_stage(99, STAGES, PIPELINES, 1)


# -- the runner against the sandboxes -------------------------------------------------------------
class Accounts:
    def __init__(self, pd_app: Any, ap_app: Any, runner: ActionRunner, state: Any) -> None:
        self.pd_app, self.ap_app, self.runner, self.state = pd_app, ap_app, runner, state

    def log(self, system: str) -> list[tuple[str, str]]:
        app = self.pd_app if system == "pipedrive" else self.ap_app
        return [(e["method"], e["path"]) for e in app.state.sandbox.log.entries]

    def records(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.pd_app.state.store.table(kind).values() if not r["is_deleted"]]


@contextlib.asynccontextmanager
async def accounts(tmp_path: Path) -> AsyncIterator[Accounts]:
    # Search never sees a person made during a test: a person is found again by its link only.
    settings = pipedrive.PipedriveSettings(search_index_delay_seconds=86_400)
    state = open_state(tmp_path / "state.db")
    async with sandboxes(time_scale=S, rate=50, pipedrive_settings=settings) as sbx:
        engine = Engine(load_plan_input(MAPPING), sbx.connectors, state)
        runner = ActionRunner(engine)
        await engine.setup()
        await runner.setup()
        try:
            yield Accounts(sbx.pd_app, sbx.ap_app, runner, state)
        finally:
            state.close()


@async_test
async def test_a_journey_record_is_used_as_sent_and_a_retried_delivery_acts_once(tmp_path: Path) -> None:
    async with accounts(tmp_path) as acc:
        [(contact, key)] = journey_deliveries("Add Deal", BODY)
        first = await acc.runner.perform("Add Deal", contact, delivery=key)
        again = await acc.runner.perform("Add Deal", contact, delivery=key)
        assert (first.status, again.status, again.writes) == ("done", "duplicate", first.writes)
        assert first.contact == RECORD["contact_id"]
        assert [d["title"] for d in acc.records("deal")] == ["Peter AddToList"]
        assert not [e for e in acc.log("autopilot") if e[0] == "GET" and e[1].startswith("/v1/contact/")]  # no read
        with pytest.raises(UnknownAction, match=r'no action named "Add Deals".*"Add Deal"'):
            await acc.runner.perform("Add Deals", contact)


@async_test
async def test_a_create_whose_answer_was_lost_is_looked_for_before_creating_again(tmp_path: Path) -> None:
    async with accounts(tmp_path) as acc:
        pd: Pipedrive = acc.runner.connectors["pipedrive"]
        real_create = pd.create

        async def lost_answer(obj: str, body: Any) -> Any:
            made = await real_create(obj, body)
            if obj == "Deal":
                raise UnknownOutcome("pipedrive", "POST", "/api/v2/deals", "connection dropped after sending")
            return made

        pd.create = lost_answer  # type: ignore[method-assign]
        [(contact, key)] = journey_deliveries("Add Deal", BODY)
        lost = await acc.runner.perform("Add Deal", contact, delivery=key)
        assert (lost.status, lost.reason) == ("dead_letter", "outcome_unknown")
        assert [(w["object"], w["op"]) for w in lost.writes] == [("Person", "create"), ("List", "add")]  # made before it stopped
        assert [i.key for i in acc.state.open_intents("action:Add Deal")]  # the intent stays open
        pd.create = real_create  # type: ignore[method-assign]
        retried = await acc.runner.perform("Add Deal", contact, delivery=key)
        assert retried.status == "done"
        [deal] = acc.records("deal")
        assert [w["id"] for w in retried.writes if w["object"] == "Deal"] == [str(deal["id"])]
        assert acc.log("pipedrive").count(("POST", "/api/v2/deals")) == 1
        assert acc.state.open_intents("action:Add Deal") == []
        assert len(acc.records("person")) == 1  # the person of the first attempt, found by its link


@async_test
async def test_two_actions_at_once_for_one_new_contact_make_one_person(tmp_path: Path) -> None:
    async with accounts(tmp_path) as acc:
        pd: Pipedrive = acc.runner.connectors["pipedrive"]
        search = pd.find_ids

        async def slow_search(obj: str, ref: dict, value: str) -> list[str] | None:
            await asyncio.sleep(0.05)  # as over a network: the other action runs meanwhile
            return await search(obj, ref, value)

        pd.find_ids = slow_search  # type: ignore[method-assign]
        outcomes = await asyncio.gather(acc.runner.perform("Add Deal", dict(RECORD)), acc.runner.perform("Schedule Activity", dict(RECORD)))
        assert [o.status for o in outcomes] == ["done", "done"]
        [person] = acc.records("person")
        assert [d["person_id"] for d in acc.records("deal")] == [person["id"]]
        assert [a["person_id"] for a in acc.records("activity")] == [person["id"]]


@async_test
async def test_a_record_without_its_contact_id_is_read_by_email(tmp_path: Path) -> None:
    async with accounts(tmp_path) as acc:
        ids = await acc.runner.ap.upsert_many([{"Email": "grace@example.com", "FirstName": "Grace", "LastName": "Hopper"}])
        outcome = await acc.runner.perform("Add Deal", {"Email": "Grace@Example.com"})
        assert (outcome.status, outcome.contact) == ("done", ids["grace@example.com"])
        assert [d["title"] for d in acc.records("deal")] == ["Grace Hopper"]
        missing = await acc.runner.perform("Add Deal", {"Email": "nobody@example.com"})
        assert (missing.status, missing.reason, missing.contact) == ("dead_letter", "contact_missing", "nobody@example.com")
        assert [(d.pair, d.record_id) for d in acc.state.dead_letters()] == [("action:Add Deal", "nobody@example.com")]
