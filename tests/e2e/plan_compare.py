"""Both systems as a mapping leaves them, in a form two runs can be compared by: read through
the APIs, without ids or times, with the values the mapping writes, the links between
records and the lists' members. Two pictures are equal when a person could not tell the
accounts apart by what the mapping is about."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness import Sandbox, primary

from syncmap.runtime.times import to_epoch


def _email(value: Any) -> str | None:
    return str(value).strip().lower() if value and str(value).strip() else None


@dataclass(frozen=True)
class Picture:
    persons: tuple[str, ...]  # each person as sorted JSON, without ids or times (a multiset)
    contacts: dict[str, dict[str, Any]]  # contact email -> the mapped fields, its lists, its person's link
    lists: dict[str, frozenset[str]]  # list title -> member emails

    def differing(self, other: Picture) -> tuple[set[str], set[str], set[str]]:
        """(changed, only in other, only in self): contact emails whose mapped values differ,
        that `other` has and this one lacks, and the reverse."""
        changed = {e for e in self.contacts.keys() & other.contacts.keys() if self.contacts[e] != other.contacts[e]}
        return changed, set(other.contacts) - set(self.contacts), set(self.contacts) - set(other.contacts)


def picture(sbx: Sandbox, fields: Iterable[str]) -> Picture:
    """`fields`: the Autopilot fields the mapping writes (compared); the others are not its business."""
    fields = list(fields)
    contacts = {c["contact_id"]: c for c in sbx.contacts()}
    by_id = {cid: _email(c.get("Email")) for cid, c in contacts.items()}
    link_key = sbx.person_fields().get("apId")
    orgs = {o["id"]: o["name"] for o in sbx._pd_pages("/api/v2/organizations")}
    persons, linked = [], {}
    for person in sbx.persons():
        custom = dict(person.get("custom_fields") or {})
        partner = custom.pop(link_key, None) if link_key else None
        if partner is not None:
            linked[partner] = _email(primary(person.get("emails")))  # a link to a deleted contact is none
        shown = {
            "name": person.get("name"),
            "emails": sorted(_email(e.get("value")) or "" for e in person.get("emails") or ()),
            "phones": sorted(str(p.get("value")) for p in person.get("phones") or ()),
            "organization": orgs.get(person.get("org_id")),
            "custom_fields": custom,
            "partner": by_id.get(partner) if partner is not None else None,
        }
        persons.append(json.dumps(shown, sort_keys=True, default=str))
    lists, members_ids = {}, {}
    for listed in sbx.ap("GET", "/lists")["lists"]:
        members_ids[listed["title"]] = sbx.roster(listed["title"])
        lists[listed["title"]] = frozenset(by_id.get(cid) or "" for cid in members_ids[listed["title"]])
    out: dict[str, dict[str, Any]] = {}
    # Contacts are told apart by email; those sharing one (or having none, as imports leave
    # them) by their order of creation, which a seed repeats.
    for contact in sorted(contacts.values(), key=lambda c: (to_epoch(c.get("created_at")) or 0.0, c["contact_id"])):
        email = _email(contact.get("Email")) or ""
        key = email if email not in out else f"{email}#{sum(1 for k in out if k.partition('#')[0] == email)}"
        values = {field: contact.get(field) for field in fields}
        values["lists"] = sorted(title for title, members in lists.items() if contact["contact_id"] in members_ids[title])
        values["person"] = linked.get(contact["contact_id"])
        out[key] = values
    return Picture(tuple(sorted(persons)), out, lists)
