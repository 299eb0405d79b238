"""A record created because of a match carries the key it matched by: with `match
email.primary = Email` and no rule writing the email, a run through the real engine and
connectors against both sandbox apps (in-process, httpx.ASGITransport) creates partners with
their email, in either direction, and a second run writes nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sandbox_accounts import sandboxes

from syncmap.compiler.api import compile_plan
from syncmap.runtime.engine import Engine
from syncmap.runtime.state import open_state

CONNECT = """
connect pipedrive {
  token = env("PIPEDRIVE_API_TOKEN")
  base_url = env("PIPEDRIVE_BASE_URL")
}
connect autopilot {
  key = env("AUTOPILOT_API_KEY")
  base_url = env("AUTOPILOT_BASE_URL")
}
"""
PERSONS_OUT = """
sync pipedrive.Person -> autopilot.Contact {
  match email.primary = Email

  first_name -> FirstName
  last_name  -> LastName
}
"""
CONTACTS_IN = """
sync pipedrive.Person <- autopilot.Contact {
  match email.primary = Email
  only autopilot.list("Pipedrive Contacts") -> pipedrive

  first_name <- FirstName
  last_name  <- LastName
}
"""
S = 50.0


def plan_of(tmp_path: Path, body: str) -> dict[str, Any]:
    mapping = tmp_path / "m.syncmap"
    mapping.write_text(CONNECT + body)
    result = compile_plan(str(mapping))
    assert result.plan is not None, result.diagnostics
    return result.plan


async def api(app: Any, method: str, path: str, body: Any = None, **headers: str) -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sandbox") as http:
        answer = await http.request(method, path, json=body, headers=headers)
        answer.raise_for_status()
        return answer.json()


async def sync_twice(plan: dict[str, Any], connectors: dict[str, Any], state_file: Path) -> list[Counter[str]]:
    totals = []
    for _ in range(2):
        state = open_state(state_file)
        try:
            report = await Engine(plan, connectors, state).run()
        finally:
            state.close()
        totals.append(report.totals())
    return totals


def test_contacts_created_for_persons_matched_by_email_carry_the_email(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, PERSONS_OUT)

    async def go() -> None:
        async with sandboxes(time_scale=S, rate=100) as sbx:
            pd = sbx.connectors["pipedrive"]
            for name, email in (("Ada Lovelace", "ada@example.com"), ("Grace Hopper", "grace@example.com")):
                await pd.create("Person", {"name": name, "emails": [{"value": email, "primary": True}]})
            first, second = await sync_twice(plan, sbx.connectors, tmp_path / "state.db")
            contacts = {c.email: c for c in sbx.ap_app.state.store.contacts.values()}
            assert set(contacts) == {"ada@example.com", "grace@example.com"}
            assert (first["created"], first["dead_letters"]) == (2, 0)
            assert (second["created"], second["updated"], second["dead_letters"]) == (0, 0, 0)

    asyncio.run(go())


def test_persons_created_for_listed_contacts_matched_by_email_carry_the_email(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, CONTACTS_IN)

    async def go() -> None:
        async with sandboxes(time_scale=S, rate=100) as sbx:
            key = {"autopilotapikey": "sandbox-key"}
            listed = await api(sbx.ap_app, "POST", "/v1/list", {"name": "Pipedrive Contacts"}, **key)
            for first, last, email in (("Ada", "Lovelace", "ada@example.com"), ("Grace", "Hopper", "grace@example.com")):
                await api(sbx.ap_app, "POST", "/v1/contact", {"contact": {"FirstName": first, "LastName": last, "Email": email}}, **key)
                await api(sbx.ap_app, "POST", f"/v1/list/{listed['list_id']}/contact/{email}", **key)
            first_run, second_run = await sync_twice(plan, sbx.connectors, tmp_path / "state.db")
            persons = [raw async for page in sbx.connectors["pipedrive"].pages("Person") for raw in page]
            emails = sorted(e["value"] for p in persons for e in p.get("emails") or [] if e.get("primary"))
            assert emails == ["ada@example.com", "grace@example.com"]
            assert (first_run["created"], first_run["dead_letters"]) == (2, 0)
            assert (second_run["created"], second_run["updated"], second_run["dead_letters"]) == (0, 0, 0)

    asyncio.run(go())
