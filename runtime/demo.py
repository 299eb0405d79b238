"""`syncmap demo`: a real two-way sync between local sandboxes of both APIs, narrated.

It starts the sandboxes on loopback, seeds both sides with a small, realistic account (a
duplicate email, empty fields, people on and off the "Pipedrive Contacts" list, one without a
last name), compiles `mappings/autopilot.syncmap`, syncs, edits both sides (one edit is a
conflict), syncs again, and says what happened and why. The engine, the connectors and the
HTTP layer are exactly those of `syncmap run`; only the accounts are local.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx

from syncmap.runtime.report import Report
from syncmap.runtime.session import load_plan_input, open_connectors, resolve_connections

TIME_SCALE = 10.0
LIST = "Pipedrive Contacts"

PERSONS = [  # name, email, phone, organization
    ("Ada Lovelace", "ada@analytical.example", "+44 20 7946 0001", "Analytical Engines Ltd"),
    ("Grace Hopper", "grace@cobol.example", "+1 202 555 0143", "Cobol Systems"),
    ("Alan Turing", "alan@bletchley.example", None, "Bletchley Works"),  # no phone: never written (R10)
    ("Katherine Johnson", "katherine@orbit.example", "+1 757 555 0199", None),
    ("Edsger Dijkstra", "edsger@shortest.example", "+31 20 555 0110", "Shortest Path BV"),
    ("Barbara Liskov", "barbara@substitution.example", None, None),
    ("Margaret Hamilton", "grace@cobol.example", "+1 617 555 0122", None),  # shares Grace's email (R9)
    ("Linus Torvalds", None, "+358 9 555 0100", None),  # no email: Autopilot cannot hold him
]
CONTACTS = [  # first, last, email, on the list
    ("Frances", "Allen", "frances@compilers.example", True),
    ("John", "Backus", "john@fortran.example", True),
    ("Radia", None, "radia@spanning.example", True),  # no last name: Pipedrive requires one (R23)
    ("Donald", "Knuth", "don@taocp.example", False),  # not on the list: stays in Autopilot (R2)
    ("Ada", "Lovelace", "ADA@analytical.example", False),  # Ada again: paired by email, case ignored (R9)
]


async def seed(env: dict[str, str], pipedrive_root: str, autopilot_root: str) -> dict[str, Any]:
    """The account as its people made it, in the apps (the sandboxes' app routes)."""
    out: dict[str, Any] = {"persons": {}, "contacts": {}}
    async with httpx.AsyncClient(timeout=30) as http:

        async def made(answer: httpx.Response) -> dict[str, Any]:
            answer.raise_for_status()
            body: dict[str, Any] = answer.json()  # the sandboxes' app routes answer JSON objects
            return body

        orgs: dict[str, int] = {}
        for name, email, phone, org in PERSONS:
            body: dict[str, Any] = {"name": name}
            if email:
                body["emails"] = [{"value": email, "primary": True, "label": "work"}]
            if phone:
                body["phones"] = [{"value": phone, "primary": True, "label": "work"}]
            if org:
                if org not in orgs:
                    orgs[org] = (await made(await http.post(f"{pipedrive_root}/__sandbox__/app/organizations", json={"name": org})))["data"]["id"]
                body["org_id"] = orgs[org]
            person = await made(await http.post(f"{pipedrive_root}/__sandbox__/app/persons", json=body))
            out["persons"][name] = person["data"]["id"]
        created = await made(
            await http.post(f"{env['AUTOPILOT_BASE_URL']}/list", json={"name": LIST}, headers={"autopilotapikey": env["AUTOPILOT_API_KEY"]})
        )
        list_id = created["list_id"]
        for first, last, email, listed in CONTACTS:
            contact = {"FirstName": first, "Email": email, **({"LastName": last} if last else {})}
            contact_id = (await made(await http.post(f"{autopilot_root}/__sandbox__/app/contact", json={"contact": contact})))["contact_id"]
            out["contacts"][f"{first} {last or ''}".strip()] = contact_id
            if listed:
                await made(await http.post(f"{autopilot_root}/__sandbox__/app/list/{list_id}/contact/{contact_id}"))
        out["list_id"] = list_id
    return out


async def edit(env: dict[str, str], seeded: dict[str, Any], pipedrive_root: str, autopilot_root: str) -> list[str]:
    """As the people in both teams would: in the apps, not through the API."""
    async with httpx.AsyncClient(timeout=30) as http:
        grace = seeded["persons"]["Grace Hopper"]
        edsger = seeded["persons"]["Edsger Dijkstra"]
        await http.patch(f"{pipedrive_root}/__sandbox__/app/persons/{grace}", json={"name": "Grace Brewster Hopper"})
        await http.patch(f"{pipedrive_root}/__sandbox__/app/persons/{edsger}", json={"name": "Edsger Wybe"})
        await http.put(f"{autopilot_root}/__sandbox__/clock", json={"advance": 30})
        await http.put(f"{pipedrive_root}/__sandbox__/clock", json={"advance": 30})
        await http.post(
            f"{autopilot_root}/__sandbox__/app/contact", json={"contact": {"Email": "edsger@shortest.example", "LastName": "Dijkstra-Newer"}}
        )
        await http.post(
            f"{autopilot_root}/__sandbox__/app/contact", json={"contact": {"Email": "frances@compilers.example", "Phone": "+1 914 555 0177"}}
        )
    return [
        "Pipedrive: a sales rep renames Grace Hopper to Grace Brewster Hopper",
        "Pipedrive: a sales rep changes Edsger Dijkstra's last name to Wybe ...",
        "Autopilot: ... and 30 seconds later a marketer changes it to Dijkstra-Newer (a conflict: newest wins)",
        "Autopilot: a marketer adds a phone number to Frances Allen",
    ]


async def act_two(env: dict[str, str], seeded: dict[str, Any], pipedrive_root: str, autopilot_root: str) -> list[str]:
    """What five-objects.syncmap needs and shows: custom fields, deals (one without a close
    date), a done activity, engagement in Autopilot, an owner id that is not a user."""
    token = {"x-api-token": env["PIPEDRIVE_API_TOKEN"]}
    async with httpx.AsyncClient(timeout=30) as http:
        await http.post(f"{env['PIPEDRIVE_BASE_URL']}/v1/personFields", headers=token, json={"name": "Lead score", "field_type": "double"})
        ada, grace = seeded["persons"]["Ada Lovelace"], seeded["persons"]["Grace Hopper"]
        app = f"{pipedrive_root}/__sandbox__/app"
        await http.post(
            f"{app}/deals", json={"title": "Difference Engine No. 2", "person_id": ada, "value": 12000, "expected_close_date": "2026-12-31"}
        )
        await http.post(f"{app}/deals", json={"title": "COBOL licences", "person_id": grace, "value": 8000})
        await http.post(f"{app}/activities", json={"subject": "Call about the engine", "type": "call", "person_id": ada, "done": True})
        for kind in ("send", "open"):  # Autopilot mails Ada; she opens it
            answer = await http.post(f"{autopilot_root}/__sandbox__/app/engagement", json={"contact_id": "ada@analytical.example", "kind": kind})
            answer.raise_for_status()
        await http.post(
            f"{autopilot_root}/__sandbox__/app/contact",
            json={"contact": {"Email": "john@fortran.example", "custom": {"integer--Pipedrive--Owner--ID": 999}}},
        )
    return [
        "Pipedrive: Ada gets a deal closing 2026-12-31, Grace one with no expected close date (R19: it cannot pair)",
        "Pipedrive: a done call with Ada; Autopilot: Ada opens an email",
        'Autopilot: a marketer sets John Backus\'s "Pipedrive Owner ID" to 999, which is nobody in Pipedrive (R20)',
    ]


def describe(report: Report, echo: Callable[[str], None]) -> None:
    totals = report.totals()
    for (pair, direction), counter in report.flows.items():
        left, _, right = pair.replace("<->", " ").replace("<-", " ").replace("->", " ").partition(" ")
        arrow = {"left_to_right": "->", "right_to_left": "<-", "both": "<->"}[direction]
        parts = [f"{n} {what.replace('_', ' ')}" for what, n in counter.items() if n]
        echo(f"  {left} {arrow} {right}".ljust(52) + ", ".join(parts))
    links = 0
    for change in report.changes:
        if change.get("action") in ("create", "update"):
            fields = ", ".join(f"{k}={v!r}" for k, v in change["changes"].items() if k != "custom:apId")
            if not fields:
                links += 1
                continue
            target = f"{change['system']} {change['object']}" + (f" {change['id']}" if change.get("id") else "")
            echo(f"    {change['action']} {target}: {fields}")
    if links:
        echo(f"    wrote each partner's contact id into the apId field of {links} Pipedrive persons (R11)")
    for letter in (c for c in report.changes if c.get("action") == "dead_letter"):
        echo(f"  dead letter ({letter['system']} {letter['object']} {letter['id']}): {letter['changes']['message']}")
    if not totals.get("created") and not totals.get("updated"):
        echo("  nothing to write")


async def demo(echo: Callable[[str], None] = print) -> int:
    from syncmap.runtime.engine import Engine
    from syncmap.runtime.state import open_state
    from syncmap.sandbox.serve import serve_sandboxes

    mapping = Path(str(files("syncmap.mappings").joinpath("autopilot.syncmap")))
    echo("syncmap demo: a two-way sync between Pipedrive and Autopilot, on local sandboxes of both APIs")
    echo(f"mapping: {mapping.name} (Autopilot's own Pipedrive integration, every line quoting the FAQ)")
    plan = load_plan_input(str(mapping))
    async with serve_sandboxes(time_scale=TIME_SCALE) as running:
        env = running.env()
        echo(f"sandboxes: Pipedrive {running.pipedrive_base_url}, Autopilot {running.autopilot_base_url} (clocks x{TIME_SCALE:g})")
        seeded = await seed(env, running.pipedrive_url, running.autopilot_url)
        echo(
            f"seeded Pipedrive with {len(PERSONS)} persons (two share an email, one has none) and Autopilot with "
            f"{len(CONTACTS)} contacts ({sum(c[3] for c in CONTACTS)} on the {LIST!r} list)"
        )
        connections = resolve_connections(plan, env)
        with tempfile.TemporaryDirectory() as tmp:
            store = open_state(Path(tmp) / "state.db")
            try:

                async def sync(title: str, plan: dict[str, Any] = plan) -> Report:
                    echo("")
                    echo(title)
                    async with open_connectors(connections, scale=TIME_SCALE) as connectors:
                        engine = Engine(plan, connectors, store, full_scan_every=0)
                        engine.report.keep_changes = True  # the narration lists every write
                        report = await engine.run()
                        requests = {name: c.http.stats.requests for name, c in connectors.items()}
                    describe(report, echo)
                    echo(f"  requests: Pipedrive {requests.get('pipedrive', 0)}, Autopilot {requests.get('autopilot', 0)}")
                    return report

                await sync("1. initial sync")
                echo("")
                echo("2. edits in both apps")
                for line in await edit(env, seeded, running.pipedrive_url, running.autopilot_url):
                    echo(f"  {line}")
                await sync("3. sync again: the edits cross over, the conflict follows `conflict newest`")
                for event in store.events(store.runs(limit=1)[0].id, "conflict"):
                    details = event.get("details", event)
                    echo(
                        f"  conflict on {details['field']}: kept {details['kept']!r}, lost {details['lost']!r} "
                        f"(policy {details['policy']}, the {'Autopilot' if details['winner'] == 'right' else 'Pipedrive'} edit was newer)"
                    )
                await sync("4. and once more: nothing changed, so nothing is written")
                echo("")
                echo("5. the same accounts with all five objects (mappings/five-objects.syncmap)")
                for line in await act_two(env, seeded, running.pipedrive_url, running.autopilot_url):
                    echo(f"  {line}")
                five = load_plan_input(str(Path(str(files("syncmap.mappings").joinpath("five-objects.syncmap")))))
                await sync(
                    "6. sync: organizations from companies, deals and done activities onto contacts, Autopilot's email history into activities", five
                )
                letters = store.dead_letters()
            finally:
                store.close()
    echo("")
    echo(f"{len(letters)} dead letters stay open until someone fixes the data (then `syncmap retry`):")
    for letter in letters:
        echo(f"  {letter.reason}: {letter.message}")
    echo("")
    echo("Run it against your own accounts: set the variables the mapping names (PIPEDRIVE_API_TOKEN, ...),")
    echo("then `syncmap run mappings/autopilot.syncmap --dry-run` to see what a first sync would change.")
    return 0
