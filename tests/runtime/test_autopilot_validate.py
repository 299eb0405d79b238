"""What Autopilot refuses in a contact is found before it is sent (`autopilot_validate`, through
`Autopilot.misfit` and `Autopilot.email_misfit`): each verdict is checked against the Autopilot
sandbox (the API) over HTTP, and a run leaves a contact with a bad address out of its bulk
upsert, so no batch is refused and halved."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest
from sandbox_accounts import sandboxes

from syncmap.runtime.connectors.autopilot import Autopilot
from syncmap.runtime.connectors.autopilot_validate import custom_problem, email_problem, standard_problem
from syncmap.runtime.engine import Engine
from syncmap.runtime.session import load_plan_input
from syncmap.runtime.state import open_state
from syncmap.sandbox import autopilot

ROOT = Path(__file__).resolve().parents[2]
OK = "ada@example.com"

# (flat key, value): what a mapping may hand the writer. Custom fields exist by writing them
# (the sandbox's default `auto_create_custom_fields`).
CASES: list[tuple[str, Any]] = [
    ("FirstName", "Ada"),
    ("FirstName", None),
    ("FirstName", ""),
    ("NumberOfEmployees", 12),
    ("NumberOfEmployees", 12.5),
    ("FirstName", True),
    ("FirstName", ["Ada"]),
    ("FirstName", {"first": "Ada"}),
    ("NumberOfEmployees", math.nan),
    ("NumberOfEmployees", math.inf),
    ("unsubscribed", True),
    ("unsubscribed", "yes"),
    ("unsubscribed", 1),
    ("custom:integer--Seats", 12),
    ("custom:integer--Seats", "12"),
    ("custom:integer--Seats", 46.7),
    ("custom:integer--Seats", "1e999"),
    ("custom:integer--Seats", math.inf),
    ("custom:float--Lead--Score", "46.7"),
    ("custom:float--Lead--Score", "nan"),
    ("custom:float--Lead--Score", math.inf),
    ("custom:float--Lead--Score", "lots"),
    ("custom:boolean--Vip", "true"),
    ("custom:boolean--Vip", "yes"),
    ("custom:date--Contract--Start", "2024-01-31"),
    ("custom:date--Contract--Start", "2024-01-31T09:30:00+02:00"),
    ("custom:date--Contract--Start", "2024-02-30"),
    ("custom:date--Contract--Start", "31/01/2024"),
    ("custom:date--Contract--Start", 20240131),
    ("custom:date--Contract--Start", "0001-01-01T00:00:00+01:00"),
    ("custom:string--Note", 7),
    ("custom:string--Note", None),
]


def accepted(body: dict[str, Any]) -> bool:
    """Whether the Autopilot sandbox takes this contact in a bulk upsert, over HTTP. NaN and
    Infinity are written as Python's json writes them by default (httpx refuses to: the run
    that met one stopped with a ValueError)."""

    async def send() -> int:
        app = autopilot.create_app(rate_per_second=None)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://autopilot.test") as http:
            content = json.dumps({"contacts": [body]})
            headers = {"autopilotapikey": "sandbox-key", "content-type": "application/json"}
            answer = await http.post("/v1/contacts", content=content, headers=headers)
            assert answer.status_code in (200, 400), answer.text
            return answer.status_code

    return asyncio.run(send()) == 200


@pytest.mark.parametrize(("key", "value"), CASES)
def test_a_value_is_left_out_exactly_when_autopilot_would_refuse_the_contact(key: str, value: Any) -> None:
    problem = Autopilot.misfit(key, value)
    if key.startswith("custom:"):
        raw: dict[str, Any] = {"Email": OK, "custom": {key.removeprefix("custom:"): value}}
    else:
        raw = {"Email": OK, key: value}
    if problem is None:  # what the writer sends for it (converted where nothing is lost: "yes" -> true) goes through
        assert accepted(Autopilot.body({"Email": OK, key: value}, None))
    else:  # left out only where Autopilot would refuse the contact for it
        assert not accepted(raw), problem
        assert repr(value)[:8] in problem  # the message names the value


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        ({"Email": OK}, False),
        ({"Email": "ada.lovelace+crm@mail.example.co.uk"}, False),
        ({"Email": "ada at example.com"}, True),
        ({"Email": "ada@@example.com"}, True),
        ({"Email": "ada@"}, True),
        ({"Email": " ada@example.com"}, True),
        ({"Email": 42}, True),
        ({"Email": OK, "_NewEmail": "ada@new.example"}, False),
        ({"Email": OK, "_NewEmail": "ada new@example.com"}, True),
        ({"_NewEmail": "nobody"}, True),
    ],
)
def test_an_address_is_refused_exactly_when_autopilot_would_refuse_it(body: dict[str, Any], refused: bool) -> None:
    problem = Autopilot.email_misfit(body)
    assert (problem is not None) == refused
    assert accepted(body) != refused


def test_the_checks_speak_of_the_value_and_the_field() -> None:
    assert email_problem("ada at example.com") == "'ada at example.com' is not an email address Autopilot accepts (one @, no spaces)"
    assert standard_problem("Title", False) == "False is not text or a number, and the Autopilot field 'Title' holds text"
    assert standard_problem("Title", math.nan) == "nan is not a number JSON can carry, for the Autopilot field 'Title'"
    assert custom_problem("date", "Contract Start", "31/01/2024") == (
        "'31/01/2024' is not an ISO date (YYYY-MM-DD, or a date and time), and the Autopilot field 'Contract Start' is a date field"
    )
    assert custom_problem("date", "Contract Start", "") is None  # clears the field
    assert Autopilot.misfit("Email", "not an address") is None  # the address is the whole body's (email_misfit)


def test_a_run_leaves_a_bad_address_out_of_the_batch_and_writes_the_rest_in_one_request(tmp_path: Path) -> None:
    """Before, the bad address made Autopilot refuse the batch of three, and halving it to find
    that one cost four more requests; now it is a dead letter before anything is sent."""

    async def go() -> tuple[Any, list[Any], dict[str, Any]]:
        state = open_state(tmp_path / "state.db")
        try:
            async with sandboxes(time_scale=200.0, rate=100) as sbx:
                pd = sbx.connectors["pipedrive"]
                made = {}
                for name, email in (
                    ("Ada Lovelace", "ada@example.com"),
                    ("Bad Address", "bad address@example.com"),
                    ("Grace Hopper", "grace@example.com"),
                ):
                    made[email] = await pd.create("Person", {"name": name, "emails": [{"value": email, "primary": True}]})
                engine = Engine(load_plan_input(str(ROOT / "bench" / "mappings" / "pipedrive-to-autopilot.syncmap")), sbx.connectors, state)
                await engine.run()
                writes = [e for e in sbx.ap_app.state.sandbox.log.entries if e["method"] == "POST"]
                contacts = {c.email: c for c in sbx.ap_app.state.store.contacts.values()}
                letters = [(d.reason, d.side, d.record_id, d.message, d.details) for d in state.dead_letters()]
                return letters, writes, {"made": made, "contacts": contacts}
        finally:
            state.close()

    letters, writes, seen = asyncio.run(go())
    assert [(w["path"], w["status"]) for w in writes] == [("/v1/contacts", 200)]
    assert set(seen["contacts"]) == {"ada@example.com", "grace@example.com"}
    bad_id = str(seen["made"]["bad address@example.com"]["id"])
    message = "'bad address@example.com' is not an email address Autopilot accepts (one @, no spaces)"
    assert letters == [("invalid_email", "left", bad_id, message, {"field": "Email"})]
