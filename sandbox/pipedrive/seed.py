"""The account every sandbox starts with, and deterministic realistic records on demand.

`baseline()` (run on reset) makes what a fresh account has: the token's own user and two
colleagues, the six usual activity types and the built-in field definitions. `seed(n, s)`
adds custom field definitions (once) and n persons with organizations, deals and activities,
the same for the same seed: duplicate emails (some differing only by case), empty fields,
deals with and without expected close dates, done and open activities of every type.
Timestamps lie in 2024 so they are always in the sandbox clock's past; an `apId` person
field is never made (the sync tool creates its own).
"""

from __future__ import annotations

import gc
import hashlib
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from syncmap.sandbox.pipedrive import models
from syncmap.sandbox.pipedrive.store import Actor, Store

DAY = 86_400
BASE_TIME = 1_704_067_200  # 2024-01-01T00:00:00Z
ACCOUNT_TIME = 1_672_531_200  # 2023-01-01T00:00:00Z, when the account and its definitions were made

FIRST = (
    "Anna Ben Carla David Elena Farid Grace Hugo Ingrid Jonas Kaito Laura Marek Nadia Oscar Priya Quentin Rosa "
    "Samir Tanja Umar Vera Wim Xenia Yusuf Zoe Liam Maja Noah Olga Pablo Sofia Tomas Ula Viktor Wanda"
).split()
LAST = (
    "Andersen Berg Costa Dubois Eriksen Fischer Garcia Horvat Ivanova Jensen Kowalski Lindqvist Moreau Novak "
    "Okafor Petrov Quinn Rossi Schmidt Tanaka Ulrich Virtanen Weber Yilmaz Zimmermann"
).split()
ORG_A = "Blue North Bright Iron Silver Green Rapid Solid Clear Lake Summit Harbor Pine Delta".split()
ORG_B = "Logistics Foods Robotics Analytics Textiles Energy Studios Labs Retail Builders".split()
ORG_SUFFIX = ("Ltd", "GmbH", "Inc.", "AB", "Oy", "S.A.", "")
FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com", "proton.me")
CITIES = (("Tallinn", "EE"), ("Berlin", "DE"), ("Lisbon", "PT"), ("Austin", "US"), ("Oslo", "NO"))

ACTIVITY_TYPES = (
    ("Call", "call"),
    ("Meeting", "meeting"),
    ("Task", "task"),
    ("Deadline", "deadline"),
    ("Email", "email"),
    ("Lunch", "lunch"),
)

# (kind, key, name, field_type, options) of the built-in fields; types stay within what the
# published v1 field schema allows.
BUILTIN_FIELDS: tuple[tuple[str, str, str, str, tuple[str, ...] | None], ...] = (
    ("person", "name", "Name", "varchar", None),
    ("person", "first_name", "First name", "varchar", None),
    ("person", "last_name", "Last name", "varchar", None),
    ("person", "org_id", "Organization", "org", None),
    ("person", "owner_id", "Owner", "user", None),
    ("person", "email", "Email", "varchar", None),
    ("person", "phone", "Phone", "phone", None),
    ("person", "label_ids", "Labels", "set", ("Customer", "Hot lead", "Warm lead", "Cold lead")),
    ("person", "visible_to", "Visible to", "visible_to", None),
    ("person", "add_time", "Person created", "date", None),
    ("person", "update_time", "Update time", "date", None),
    ("organization", "name", "Name", "varchar", None),
    ("organization", "owner_id", "Owner", "user", None),
    ("organization", "address", "Address", "address", None),
    ("organization", "website", "Website", "varchar", None),
    ("organization", "label_ids", "Labels", "set", ("Customer", "Partner", "Prospect")),
    ("organization", "visible_to", "Visible to", "visible_to", None),
    ("organization", "add_time", "Organization created", "date", None),
    ("organization", "update_time", "Update time", "date", None),
    ("deal", "title", "Title", "varchar", None),
    ("deal", "value", "Value", "monetary", None),
    ("deal", "person_id", "Contact person", "people", None),
    ("deal", "org_id", "Organization", "org", None),
    ("deal", "owner_id", "Owner", "user", None),
    ("deal", "expected_close_date", "Expected close date", "date", None),
    ("deal", "lost_reason", "Lost reason", "varchar", None),
    ("deal", "visible_to", "Visible to", "visible_to", None),
    ("deal", "add_time", "Deal created", "date", None),
    ("deal", "update_time", "Update time", "date", None),
    ("activity", "subject", "Subject", "varchar", None),
    ("activity", "type", "Type", "enum", tuple(name for name, _ in ACTIVITY_TYPES)),
    ("activity", "due_date", "Due date", "date", None),
    ("activity", "due_time", "Due time", "time", None),
    ("activity", "duration", "Duration", "time", None),
    ("activity", "person_id", "Contact person", "people", None),
    ("activity", "org_id", "Organization", "org", None),
    ("activity", "owner_id", "Assigned to user", "user", None),
    ("activity", "note", "Note", "text", None),
    ("activity", "add_time", "Add time", "date", None),
)

SEEDED_CUSTOM_FIELDS: tuple[tuple[str, str, str, tuple[str, ...] | None], ...] = (
    ("person", "Customer type", "enum", ("Private person", "Company", "Government")),
    ("person", "Lead score", "double", None),
    ("person", "Interests", "set", ("Analytics", "Automation", "Integrations", "Support")),
    ("person", "Referral source", "varchar", None),
    ("person", "Contract start", "date", None),
    ("organization", "Segment", "enum", ("SMB", "Mid-market", "Enterprise")),
    ("organization", "Account number", "varchar", None),
    ("deal", "Contract length (months)", "double", None),
    ("deal", "Region", "varchar", None),
    ("deal", "Renewal value", "monetary", None),
)


def field_key(*parts: Any) -> str:
    """A 40-character hex key, as Pipedrive's "randomly generated 40-character hashes"."""
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


def add_field(
    store: Store,
    kind: str,
    key: str,
    name: str,
    field_type: str,
    options: tuple[str, ...] | list[str] | None,
    *,
    custom: bool,
    user_id: int | None,
    when: float,
) -> dict[str, Any]:
    option_rows = None
    if options is not None:
        option_rows = []
        for label in options:
            option_rows.append({"id": store.next_id("option"), "label": label})
    definition = {
        "id": store.next_id("field"),
        "key": key,
        "name": name,
        "field_type": field_type,
        "options": option_rows,
        "custom": custom,
        "order_nr": len(store.fields[kind]) + 1,
        "add_time": when,
        "update_time": when,
        "user_id": user_id,
        "mandatory": key in ("name", "title", "subject"),
        "add_visible": True,
    }
    store.fields[kind].append(definition)
    return definition


def user_record(user_id: int, name: str, email: str, *, admin: bool, active: bool = True) -> dict[str, Any]:
    return {
        "id": user_id,
        "name": name,
        "default_currency": "USD",
        "locale": "en_US",
        "lang": 1,
        "email": email,
        "phone": None,
        "activated": active,
        "last_login": "2024-06-03 08:15:00",
        "created": "2023-01-01 00:00:00",
        "modified": "2024-06-03 08:15:00",
        "has_created_company": user_id == 1,
        "access": [
            {"app": "sales", "admin": admin, "permission_set_id": f"00000000-0000-4000-8000-{user_id:012d}"},
            {"app": "global", "admin": admin, "permission_set_id": f"00000000-0000-4000-9000-{user_id:012d}"},
        ],
        "active_flag": active,
        "timezone_name": "Europe/Tallinn",
        "timezone_offset": "+02:00",
        "role_id": 1,
        "icon_url": None,
        "is_deleted": False,
    }


def pipeline_record(pipeline_id: int, name: str, order_nr: int, when: float) -> dict[str, Any]:
    return {
        "id": pipeline_id,
        "name": name,
        "order_nr": order_nr,
        "is_deleted": False,
        "is_deal_probability_enabled": False,
        "add_time": when,
        "update_time": when,
    }


def stage_record(stage_id: int, name: str, pipeline_id: int, order_nr: int, when: float) -> dict[str, Any]:
    return {
        "id": stage_id,
        "order_nr": order_nr,
        "name": name,
        "is_deleted": False,
        "deal_probability": 100,
        "pipeline_id": pipeline_id,
        "is_deal_rot_enabled": False,
        "days_to_rotten": None,
        "add_time": when,
        "update_time": when,
    }


def baseline(store: Store) -> None:
    domain = store.company_domain
    for user in (
        user_record(1, "Sandbox Owner", f"owner@{domain}.example", admin=True),
        user_record(2, "Riley App-User", f"riley@{domain}.example", admin=False),
        user_record(3, "Former Colleague", f"former@{domain}.example", admin=False, active=False),
    ):
        store.users[user["id"]] = user
    store.me_id, store.app_user_id = 1, 2
    for order, (name, key) in enumerate(ACTIVITY_TYPES, start=1):
        store.activity_types[order] = {
            "id": order,
            "order_nr": order,
            "name": name,
            "key_string": key,
            "icon_key": key,
            "active_flag": True,
            "color": "FFFFFF",
            "is_custom_flag": False,
            "add_time": ACCOUNT_TIME,
            "update_time": ACCOUNT_TIME,
        }
    store._next_id["activity_type"] = len(ACTIVITY_TYPES) + 1
    # Pipedrive's default pipeline, its stages named as `settings.stage_names` (ids 1..n, the
    # ids deals and search answers already use).
    store.pipelines[1] = pipeline_record(1, "Pipeline", 1, ACCOUNT_TIME)
    for order, name in enumerate(store.settings.stage_names, start=1):
        store.stages[order] = stage_record(order, name, 1, order, ACCOUNT_TIME)
    store._next_id["pipeline"] = 2
    store._next_id["stage"] = len(store.settings.stage_names) + 1
    for kind, key, name, field_type, options in BUILTIN_FIELDS:
        add_field(store, kind, key, name, field_type, options, custom=False, user_id=None, when=ACCOUNT_TIME)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Seeding makes hundreds of thousands of acyclic dicts; the cyclic collector re-scanning
    them all the while cost a third of the time at 100,000 persons. (The compiler has the same
    helper, but the sandbox imports nothing from syncmap's own packages.)"""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@_collector_paused()
def seed(store: Store, n: int, seed_value: int | None) -> dict[str, int]:
    rng = random.Random(0 if seed_value is None else seed_value)
    base = min(BASE_TIME, store.now() - 400 * DAY)
    made: dict[str, int] = {"users": 0, "custom_fields": 0, "persons": 0, "organizations": 0, "deals": 0, "activities": 0}
    system = Actor(user_id=store.me_id, source="app")

    while len(store.users) < 5:
        user_id = max(store.users) + 1
        first, last = rng.choice(FIRST), rng.choice(LAST)
        store.users[user_id] = user_record(user_id, f"{first} {last}", f"{first.lower()}@{store.company_domain}.example", admin=False)
        made["users"] += 1
    for kind, name, field_type, options in SEEDED_CUSTOM_FIELDS:
        if not any(f["name"] == name for f in store.fields[kind]):
            key = field_key(store.settings.company_id, kind, name)
            add_field(store, kind, key, name, field_type, options, custom=True, user_id=1, when=ACCOUNT_TIME)
            made["custom_fields"] += 1
    owners = [u["id"] for u in store.users.values() if u["active_flag"]]
    custom = {kind: {f["name"]: f for f in store.custom_fields(kind)} for kind in ("person", "organization", "deal")}

    def stamps() -> dict[str, float]:
        added = base + rng.randrange(300 * DAY)
        return {"add_time": added, "update_time": added + rng.randrange(60 * DAY)}

    def option(kind: str, name: str) -> int:
        chosen: int = rng.choice(custom[kind][name]["options"])["id"]  # option ids are ints (add_field)
        return chosen

    if n == 0:
        return made

    store.drop_orders()  # rebuilt once on the next list instead of kept sorted record by record
    orgs = []
    for _ in range(max(1, n // 5)):
        name = " ".join(p for p in (rng.choice(ORG_A), rng.choice(ORG_B), rng.choice(ORG_SUFFIX)) if p)
        city, country = rng.choice(CITIES)
        body = {
            "name": name,
            "owner_id": rng.choice(owners),
            "website": f"https://{name.split()[0].lower()}{name.split()[1].lower()}.example" if rng.random() < 0.7 else None,
            "address": dict.fromkeys(models.ADDRESS_KEYS)
            | {"value": f"{rng.randrange(1, 200)} Main Street, {city}", "locality": city, "country": country}
            if rng.random() < 0.6
            else None,
            "custom_fields": {
                custom["organization"]["Segment"]["key"]: option("organization", "Segment") if rng.random() < 0.7 else None,
                custom["organization"]["Account number"]["key"]: f"AC-{rng.randrange(10000, 99999)}" if rng.random() < 0.5 else None,
            },
            **stamps(),
        }
        orgs.append(_insert(store, "organization", body, system))
    made["organizations"] = len(orgs)

    persons: list[dict[str, Any]] = []
    with_email: list[dict[str, Any]] = []  # grown as persons are made: a rebuilt list is quadratic
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        org = rng.choice(orgs) if rng.random() < 0.8 else None
        roll = rng.random()
        emails: list[dict[str, Any]] = []
        # No person with an email yet: a choice from [None] still draws from the generator,
        # which keeps the records every seed makes as they were.
        pool: Sequence[dict[str, Any] | None] = with_email if with_email else [None]
        if persons and roll < 0.04:  # the same email as an earlier person
            source = rng.choice(pool)
            if source:
                emails = [{"value": source["emails"][0]["value"], "primary": True, "label": "work"}]
        elif persons and roll < 0.07:  # the same email differing only by case
            source = rng.choice(pool)
            if source:
                value = source["emails"][0]["value"]
                emails = [{"value": value[:1].upper() + value[1:].swapcase(), "primary": True, "label": "work"}]
        elif roll < 0.17:
            emails = []  # no email at all
        else:
            domain = org["website"].split("//")[1] if org and org["website"] else rng.choice(FREE_MAIL)
            emails = [{"value": f"{first.lower()}.{last.lower()}{i}@{domain}", "primary": True, "label": "work"}]
            if rng.random() < 0.15:
                emails.append({"value": f"{first.lower()}{i}@{rng.choice(FREE_MAIL)}", "primary": False, "label": "home"})
        phones = (
            [{"value": f"+1 555 01{rng.randrange(10, 99)} {rng.randrange(1000, 9999)}", "primary": True, "label": "mobile"}]
            if rng.random() < 0.7
            else []
        )
        cf = custom["person"]
        body = {
            "name": f"{first} {last}" if rng.random() < 0.95 else first,
            "owner_id": rng.choice(owners),
            "org_id": org["id"] if org else None,
            "emails": emails,
            "phones": phones,
            "custom_fields": {
                cf["Customer type"]["key"]: option("person", "Customer type") if rng.random() < 0.6 else None,
                cf["Lead score"]["key"]: round(rng.uniform(0, 100), 1) if rng.random() < 0.5 else None,
                cf["Interests"]["key"]: sorted({option("person", "Interests") for _ in range(rng.randrange(1, 3))}) if rng.random() < 0.4 else None,
                cf["Referral source"]["key"]: rng.choice(("Webinar", "Partner", "Ads", "Event")) if rng.random() < 0.5 else None,
                cf["Contract start"]["key"]: f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}" if rng.random() < 0.3 else None,
            },
            **stamps(),
        }
        persons.append(_insert(store, "person", body, system))
        if emails:
            with_email.append(persons[-1])
    made["persons"] = len(persons)

    deals = []
    for _ in range(max(1, n // 2)):
        person = rng.choice(persons)
        org = store.get("organization", person["org_id"]) if person["org_id"] else None
        status = rng.choices(("open", "won", "lost"), (60, 25, 15))[0]
        body = {
            "title": f"{(org or person)['name']} {rng.choice(('renewal', 'expansion', 'pilot', 'licence'))}",
            "owner_id": rng.choice(owners),
            "person_id": person["id"],
            "org_id": org["id"] if org else None,
            "value": rng.randrange(5, 500) * 100,
            "currency": rng.choice(("USD", "EUR")),
            "status": status,
            "stage_id": rng.randrange(1, 6),
            "expected_close_date": f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}" if rng.random() < 0.7 else None,
            "lost_reason": rng.choice(("Price", "Timing", "Competitor")) if status == "lost" else None,
            "probability": rng.choice((None, 10, 50, 90)),
            "origin": "ManuallyCreated",
            "custom_fields": {
                custom["deal"]["Region"]["key"]: rng.choice(("EMEA", "AMER", "APAC")) if rng.random() < 0.6 else None,
                custom["deal"]["Contract length (months)"]["key"]: rng.choice((6, 12, 24)) if rng.random() < 0.5 else None,
            },
            **stamps(),
        }
        if status != "open":
            body["close_time"] = body["update_time"]
            body[f"{status}_time"] = body["update_time"]
        deals.append(_insert(store, "deal", body, system))
    made["deals"] = len(deals)

    count = max(2 * len(ACTIVITY_TYPES), n)
    for i in range(count):
        name, key = ACTIVITY_TYPES[i % len(ACTIVITY_TYPES)]
        done = (i // len(ACTIVITY_TYPES)) % 2 == 1 if i < 2 * len(ACTIVITY_TYPES) else rng.random() < 0.5
        deal = rng.choice(deals) if rng.random() < 0.5 else None
        attendee = store.get("person", deal["person_id"]) if deal else rng.choice(persons)
        assert attendee is not None  # every seeded deal has a seeded person
        stamp = stamps()
        body = {
            "subject": f"{name} with {attendee['name']}",
            "type": key,
            "owner_id": rng.choice(owners),
            "deal_id": deal["id"] if deal else None,
            "person_id": attendee["id"],
            "org_id": attendee["org_id"],
            "participants": [{"person_id": attendee["id"], "primary": True}],
            "due_date": f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            "due_time": f"{rng.randrange(8, 18):02d}:{rng.choice((0, 30)):02d}:00" if rng.random() < 0.7 else None,
            "duration": rng.choice((None, "00:30:00", "01:00:00")),
            "busy": key in ("meeting", "lunch"),
            "done": done,
            "marked_as_done_time": stamp["update_time"] if done else None,
            "note": None if rng.random() < 0.6 else f"Talked about {rng.choice(('pricing', 'onboarding', 'the renewal'))}.",
            **stamp,
        }
        _insert(store, "activity", body, system)
    made["activities"] = count
    return made


def _insert(store: Store, kind: str, body: dict[str, Any], actor: Actor) -> dict[str, Any]:
    creator = {"creator_user_id": actor.user_id} if kind in ("deal", "activity") else {}
    record = {**models.DEFAULTS[kind], **creator, **body}
    if kind in models.HAS_CUSTOM_FIELDS:
        record["custom_fields"] = {k: v for k, v in body.get("custom_fields", {}).items() if v is not None}
    if kind == "person":
        record["first_name"], record["last_name"] = models.split_name(record["name"], store.settings.name_split)
        record["emails"] = [dict(e) for e in record["emails"]]
    for key in ("label_ids", "participants", "attendees", "emails", "phones", "im"):
        if key in record:
            record[key] = list(record[key])
    return store.create(kind, record, actor, emit=False)
