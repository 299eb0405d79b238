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
LISTS = [("Newsletter", 0.35), ("Webinar Attendees", 0.12), ("Customers", 0.15)]
JOURNEYS = ["Welcome Series", "Re-engagement", "Trial Nurture"]
BATCH_SENDS = 12  # newsletters and campaigns over the seeded year: one delivery id each
CUSTOM = [("Lead Score", "integer"), ("Lifetime Value", "float"), ("Newsletter Opt In", "boolean"),
          ("Signup Date", "date"), ("Favourite Colour", "string")]  # fmt: skip


def _maybe(rng: random.Random, p: float, value: Any) -> Any:
    return value if rng.random() < p else None


def _custom_value(rng: random.Random, field_type: str) -> Any:
    if field_type == "integer":
        return rng.randint(0, 100)
    if field_type == "float":
        return round(rng.uniform(0, 5000), 2)
    if field_type == "boolean":
        return rng.random() < 0.5
    if field_type == "date":
        return f"20{rng.randint(18, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T00:00:00.000Z"
    return rng.choice(["red", "green", "blue", "teal", "orange"])


def _case_variant(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1].upper()}{local[1:]}@{domain.upper()}"


def _ms(epoch: float) -> int:
    return int(epoch * 1000)


def _engagement(
    rng: random.Random, contact: Contact, batches: list[tuple[str, float]], unsubscribes: bool, now: float
) -> dict[str, dict[str, int]]:
    """One contact's history with the batch sends after its creation: most arrive, about a
    third are opened and a quarter of those clicked; a few bounce, a hard bounce ends the
    sends, and a contact that unsubscribes does so from the last mail it received."""
    mail: dict[str, dict[str, int]] = {}
    later = [(delivery, sent) for delivery, sent in batches if sent > contact.created_at]
    if unsubscribes and later:
        later = later[: rng.randrange(len(later)) + 1]
    for n, (delivery, sent) in enumerate(later):
        roll = rng.random()
        if roll < 0.01:
            mail.setdefault("mail_hardbounced", {})[delivery] = _ms(sent)
            break
        if roll < 0.04:
            mail.setdefault("mail_bounced", {})[delivery] = _ms(sent)
            continue
        received = sent + rng.uniform(5, 600)
        mail.setdefault("mail_received", {})[delivery] = _ms(received)
        leaving = unsubscribes and n == len(later) - 1
        if leaving or rng.random() < 0.35:
            opened = min(now, received + rng.uniform(60, 2 * 86400))
            mail.setdefault("mail_opened", {})[delivery] = _ms(opened)
            if leaving:
                mail.setdefault("mail_unsubscribed", {})[delivery] = _ms(opened)
            elif rng.random() < 0.25:
                mail.setdefault("mail_clicked", {})[delivery] = _ms(min(now, opened + rng.uniform(5, 600)))
            elif rng.random() < 0.004:
                mail.setdefault("mail_complained", {})[delivery] = _ms(opened)
    return mail


def seed(store: AutopilotStore, count: int, seed_value: Any = None) -> dict[str, Any]:
    rng = random.Random(seed_value)
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
    emails: list[str] = []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        roll = rng.random()
        if emails and roll < 0.03:
            email: str | None = _case_variant(rng.choice(emails))
        elif emails and roll < 0.05:
            email = rng.choice(emails)
        elif roll < 0.07:
            email = None
        else:
            local = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
            email = f"{local}{i}@{rng.choice(DOMAINS)}"
            emails.append(email)
        city, country = rng.choice(CITIES)
        fields = {
            "Email": email,
            "FirstName": _maybe(rng, 0.92, first),
            "LastName": _maybe(rng, 0.9, last),
            "Company": _maybe(rng, 0.6, rng.choice(COMPANIES)),
            "Title": _maybe(rng, 0.4, rng.choice(TITLES)),
            "Industry": _maybe(rng, 0.3, rng.choice(INDUSTRIES)),
            "Phone": _maybe(rng, 0.5, f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"),
            "MailingCity": _maybe(rng, 0.4, city),
            "MailingCountry": _maybe(rng, 0.4, country),
            "LeadSource": _maybe(rng, 0.3, rng.choice(LEAD_SOURCES)),
            "Status": _maybe(rng, 0.3, rng.choice(STATUSES)),
        }
        custom = {
            (field_type, name): _custom_value(rng, field_type)
            for name, field_type in CUSTOM
            if rng.random() < 0.45
        }
        created = start + i * step + rng.uniform(0, step / 2)
        api_originated = rng.random() < 0.3
        unsubscribed = rng.random() < 0.06
        contact = Contact(
            store.new_contact_id(),
            created_at=created,
            # some contacts created through the API were never changed: no updated_at (recorded)
            updated_at=None if api_originated and rng.random() < 0.4 else min(now, created + rng.uniform(0, 30 * 86400)),
            fields={k: v for k, v in fields.items() if v is not None},
            custom=custom,
            unsubscribed=True if unsubscribed else None,
            api_originated=api_originated,
        )
        if email is not None:
            contact.engagement = _engagement(rng, contact, batches, unsubscribed, now)
            last_event = max((ms for kind in contact.engagement.values() for ms in kind.values()), default=None)
            if last_event is not None and store.settings.engagement_bumps_updated_at:
                contact.updated_at = max(contact.updated_at or created, last_event / 1000)
        store.insert_seeded(contact)
        for lst, share in lists:
            if rng.random() < share:
                lst.members.add(contact.contact_id)
    return {
        "contacts": count,
        "lists": [lst.title for lst, _ in lists],
        "triggers": len(store.triggers),
        "custom_fields": len(store.custom_fields),
    }
