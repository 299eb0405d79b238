"""Deterministic, realistic Autopilot data for `POST /__sandbox__/seed`.

Contacts with names, some empty fields, custom fields of every type, a few unsubscribed, a
few sharing an email exactly or differing only by case (as CSV imports leave them), a few
without any email; three lists and three journeys with API triggers; a year of batch mail
sends and each contact's engagement with them. No "Pipedrive Contacts" list: the sync tool
creates that one. Seeding adds to what is there and fires no hooks (it stands for data that
was in the account before anyone subscribed).
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from syncmap.sandbox.autopilot.store import AutopilotStore, Contact

FIRST = ["Ada", "Bram", "Chloé", "Dmitri", "Elif", "Farah", "Gustavo", "Hana", "Ivo", "Jia", "Kwame", "Lena",
         "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tomás", "Uma", "Viktor", "Wen", "Yara"]  # fmt: skip
LAST = ["Andersen", "Brooks", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Haddad", "Ito", "Jansen", "Kowalski",
        "Lindqvist", "Moreau", "Nakamura", "O'Brien", "Petrov", "Quinn", "Rossi", "Schmidt", "Tanaka", "Van Dijk"]  # fmt: skip
DOMAINS = ["example.com", "acme.test", "globex.test", "initech.test", "mail.test", "umbrella.test"]
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella Ltd", "Hooli", "Stark Industries", "Wayne Enterprises"]
TITLES = ["CEO", "Marketing Manager", "Head of Sales", "Developer", "Office Manager", "CFO"]
INDUSTRIES = ["Software", "Retail", "Healthcare", "Finance", "Education"]
CITIES = [("Berlin", "Germany"), ("Lisbon", "Portugal"), ("Austin", "United States"), ("Sydney", "Australia"),
          ("Toronto", "Canada"), ("Osaka", "Japan")]  # fmt: skip
LEAD_SOURCES = ["Web Form", "Webinar", "Referral", "Trade Show", "Import"]
STATUSES = ["New", "Contacted", "Qualified", "Customer"]
COLOURS = ["red", "green", "blue", "teal", "orange"]
# optional standard fields drawn from a list of values: (field, share of contacts with it, values)
OPTIONAL = [("Company", 0.6, COMPANIES), ("Title", 0.4, TITLES), ("Industry", 0.3, INDUSTRIES),
            ("LeadSource", 0.3, LEAD_SOURCES), ("Status", 0.3, STATUSES)]  # fmt: skip
LISTS = [("Newsletter", 0.35), ("Webinar Attendees", 0.12), ("Customers", 0.15)]
JOURNEYS = ["Welcome Series", "Re-engagement", "Trial Nurture"]
BATCH_SENDS = 12  # newsletters and campaigns over the seeded year: one delivery id each
CUSTOM = [("Lead Score", "integer"), ("Lifetime Value", "float"), ("Newsletter Opt In", "boolean"),
          ("Signup Date", "date"), ("Favourite Colour", "string")]  # fmt: skip


class _Draws:
    """The random draws seeding makes, each from one `random()` call: seeding 100,000 contacts
    makes millions of them, and `choice`, `randint` and `uniform` cost several times more."""

    def __init__(self, seed_value: Any) -> None:
        self.random = random.Random(seed_value).random

    def chance(self, p: float) -> bool:
        return self.random() < p

    def pick(self, values: Sequence[Any]) -> Any:
        return values[int(self.random() * len(values))]

    def between(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def integer(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))


def _custom_value(draw: _Draws, field_type: str) -> Any:
    if field_type == "integer":
        return draw.integer(0, 100)
    if field_type == "float":
        return round(draw.between(0, 5000), 2)
    if field_type == "boolean":
        return draw.chance(0.5)
    if field_type == "date":
        return f"20{draw.integer(18, 24)}-{draw.integer(1, 12):02d}-{draw.integer(1, 28):02d}T00:00:00.000Z"
    return draw.pick(COLOURS)


def _case_variant(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1].upper()}{local[1:]}@{domain.upper()}"


def _ms(epoch: float) -> int:
    return int(epoch * 1000)


def _engagement(draw: _Draws, created: float, batches: list[tuple[str, float]], unsubscribes: bool, now: float) -> dict[str, dict[str, int]]:
    """One contact's history with the batch sends after its creation (`batches` in time order):
    most arrive, about a third are opened and a quarter of those clicked; a few bounce, a hard
    bounce ends the sends, and a contact that unsubscribes does so from the last mail it got."""
    received: dict[str, int] = {}
    opened: dict[str, int] = {}
    clicked: dict[str, int] = {}
    bounced: dict[str, int] = {}
    hardbounced: dict[str, int] = {}
    complained: dict[str, int] = {}
    unsubscribed: dict[str, int] = {}
    later = batches[bisect_right(batches, created, key=lambda batch: batch[1]) :]
    if unsubscribes and later:
        later = later[: draw.integer(1, len(later))]
    rand = draw.random  # the hot loop of seeding: plain calls, times in epoch ms
    now_ms = _ms(now)
    for n, (delivery, sent) in enumerate(later):
        sent_ms = _ms(sent)
        roll = rand()
        if roll < 0.01:
            hardbounced[delivery] = sent_ms
            break
        if roll < 0.04:
            bounced[delivery] = sent_ms
            continue
        received[delivery] = got = sent_ms + int(5_000 + 595_000 * rand())
        leaving = unsubscribes and n == len(later) - 1
        if leaving or rand() < 0.35:
            opened[delivery] = seen = min(now_ms, got + int(60_000 + 172_740_000 * rand()))
            if leaving:
                unsubscribed[delivery] = seen
            elif rand() < 0.25:
                clicked[delivery] = min(now_ms, seen + int(5_000 + 595_000 * rand()))
            elif rand() < 0.004:
                complained[delivery] = seen
    mail = {
        "mail_received": received, "mail_opened": opened, "mail_clicked": clicked, "mail_bounced": bounced,
        "mail_hardbounced": hardbounced, "mail_complained": complained, "mail_unsubscribed": unsubscribed,
    }  # fmt: skip
    return {kind: deliveries for kind, deliveries in mail.items() if deliveries}


def seed(store: AutopilotStore, count: int, seed_value: Any = None) -> dict[str, Any]:
    draw = _Draws(seed_value)
    if seed_value is not None:  # ids follow the seed too, without repeating earlier seedings
        store.reseed_ids(f"{seed_value}:{len(store.contacts)}:{len(store.lists)}")
    for name, field_type in CUSTOM:
        store.define_custom_field(name, field_type)
    titles = {lst.title: lst for lst in store.lists.values()}
    lists = [(titles.get(title) or store.create_list(title), share) for title, share in LISTS]
    journeys = {t.journey for t in store.triggers.values()}
    for journey in JOURNEYS:
        if journey not in journeys:
            store.add_trigger(journey)

    now = store.clock.now()
    start = now - 365 * 86400
    step = 365 * 86400 / max(count, 1)
    batch_times = [start + (k + 0.5) * (now - start) / BATCH_SENDS for k in range(BATCH_SENDS)]
    batches = [(store.mint_delivery_id(sent), sent) for sent in batch_times]
    bump = store.settings.engagement_bumps_updated_at
    emails: list[str] = []
    for i in range(count):
        first, last = draw.pick(FIRST), draw.pick(LAST)
        roll = draw.random()
        if emails and roll < 0.03:
            email: str | None = _case_variant(draw.pick(emails))
        elif emails and roll < 0.05:
            email = draw.pick(emails)
        elif roll < 0.07:
            email = None
        else:
            local = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
            email = f"{local}{i}@{draw.pick(DOMAINS)}"
            emails.append(email)
        fields: dict[str, Any] = {} if email is None else {"Email": email}
        if draw.chance(0.92):
            fields["FirstName"] = first
        if draw.chance(0.9):
            fields["LastName"] = last
        for name, share, values in OPTIONAL:
            if draw.chance(share):
                fields[name] = draw.pick(values)
        if draw.chance(0.5):
            fields["Phone"] = f"+1 555 {draw.integer(100, 999)} {draw.integer(1000, 9999)}"
        if draw.chance(0.4):
            fields["MailingCity"], fields["MailingCountry"] = draw.pick(CITIES)
        custom = {(field_type, name): _custom_value(draw, field_type) for name, field_type in CUSTOM if draw.chance(0.45)}
        created = start + i * step + draw.between(0, step / 2)
        api_originated = draw.chance(0.3)
        unsubscribed = draw.chance(0.06)
        # some contacts created through the API were never changed: no updated_at (recorded)
        updated = None if api_originated and draw.chance(0.4) else min(now, created + draw.between(0, 30 * 86400))
        mail = {} if email is None else _engagement(draw, created, batches, unsubscribed, now)
        if mail and bump:
            last_event = max(ms for deliveries in mail.values() for ms in deliveries.values()) / 1000
            updated = max(updated or created, last_event)
        contact = Contact(
            store.new_contact_id(),
            created_at=created,
            updated_at=updated,
            fields=fields,
            custom=custom,
            unsubscribed=True if unsubscribed else None,
            api_originated=api_originated,
            engagement=mail,
        )
        store.insert_seeded(contact)
        for lst, share in lists:
            if draw.chance(share):
                lst.members.add(contact.contact_id)
    return {
        "contacts": count,
        "lists": [lst.title for lst, _ in lists],
        "triggers": len(store.triggers),
        "custom_fields": len(store.custom_fields),
    }
