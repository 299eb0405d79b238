"""Organizations, deals and activities in their v1 shapes (the January 2026 v1 description),
for `/v1/recents`; persons have theirs in `models.person_v1`.

Counters come from `models.related_counts` made once for a whole page. Keys the sandbox has no
data for (mail counts, followers beyond the owner, next activity dates) carry what an account
without that data shows: 0, 1 follower, null.
"""

from __future__ import annotations

import copy
from typing import Any

from syncmap.sandbox.pipedrive import times
from syncmap.sandbox.pipedrive.models import ADDRESS_KEYS, related_counts
from syncmap.sandbox.pipedrive.store import Store

Counts = dict[int, dict[str, Any]]


def _counters(counts: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: counts.get(name, 0) for name in names}


def _owner_name(store: Store, user_id: int | None) -> str:
    owner = store.users.get(user_id) if user_id is not None else None
    return owner["name"] if owner else ""


def _owner_object(store: Store, user_id: int | None) -> dict[str, Any] | None:
    """v1 organizations carry their owner as an object."""
    owner = store.users.get(user_id) if user_id is not None else None
    if owner is None:
        return None
    return {
        "id": owner["id"],
        "name": owner["name"],
        "email": owner["email"],
        "has_pic": 0,
        "pic_hash": None,
        "active_flag": owner["active_flag"],
        "value": owner["id"],
    }


def _custom(kind: str, record: dict[str, Any], store: Store) -> dict[str, Any]:
    """v1 keeps custom fields at the root of the record, under their hash keys."""
    return {f["key"]: copy.deepcopy(record["custom_fields"].get(f["key"])) for f in store.custom_fields(kind)}


def organization_v1(record: dict[str, Any], store: Store, counts: Counts) -> dict[str, Any]:
    c = counts.get(record["id"], {})
    address = record.get("address") or {}
    name = record.get("name") or ""
    out: dict[str, Any] = {
        "id": record["id"],
        "company_id": store.settings.company_id,
        "owner_id": _owner_object(store, record["owner_id"]),
        "name": name,
        "active_flag": not record["is_deleted"],
        "picture_id": None,
        "country_code": address.get("country"),
        "first_char": name[:1].lower(),
        "add_time": times.v1_time(record["add_time"]),
        "update_time": times.v1_time(record["update_time"]),
        "visible_to": str(record["visible_to"]),
        "label": record["label_ids"][0] if record["label_ids"] else None,
        "label_ids": list(record["label_ids"]),
        "owner_name": _owner_name(store, record["owner_id"]),
        "cc_email": f"{store.company_domain}@pipedrivemail.com",
        "email_messages_count": 0,
        "people_count": c.get("people_count", 0),
        **_counters(c, "activities_count", "done_activities_count", "undone_activities_count"),
        "files_count": 0,
        "notes_count": 0,
        "followers_count": 1,
        "address": address.get("value"),
        **{f"address_{key}": address.get(key) for key in ADDRESS_KEYS if key != "value"},
        "address_formatted_address": address.get("value"),
        **_counters(c, "open_deals_count", "closed_deals_count", "won_deals_count", "lost_deals_count"),
        **_counters({}, "related_open_deals_count", "related_closed_deals_count"),
        **_counters({}, "related_won_deals_count", "related_lost_deals_count"),
        "next_activity_date": None,
        "next_activity_time": None,
        "next_activity_id": c.get("next_activity_id"),
        "last_activity_id": c.get("last_activity_id"),
        "last_activity_date": None,
    }
    return {**out, **_custom("organization", record, store)}


def deal_v1(record: dict[str, Any], store: Store, counts: Counts) -> dict[str, Any]:
    c = counts.get(record["id"], {})
    person = store.get("person", record["person_id"]) if record.get("person_id") else None
    org = store.get("organization", record["org_id"]) if record.get("org_id") else None
    status = record["status"]
    out: dict[str, Any] = {
        "id": record["id"],
        "creator_user_id": record.get("creator_user_id"),
        "user_id": record["owner_id"],
        "person_id": record.get("person_id"),
        "org_id": record.get("org_id"),
        "stage_id": record["stage_id"],
        "title": record["title"],
        "value": record["value"],
        "currency": record["currency"],
        "add_time": times.v1_time(record["add_time"]),
        "update_time": times.v1_time(record["update_time"]),
        "stage_change_time": times.v1_time(record.get("stage_change_time")),
        "active": status == "open",
        "deleted": record["is_deleted"],
        "is_archived": record["is_archived"],
        "status": status,
        "probability": record.get("probability"),
        "next_activity_date": None,
        "next_activity_time": None,
        "next_activity_id": c.get("next_activity_id"),
        "last_activity_id": c.get("last_activity_id"),
        "last_activity_date": None,
        "lost_reason": record.get("lost_reason"),
        "visible_to": str(record["visible_to"]),
        "close_time": times.v1_time(record.get("close_time")),
        "pipeline_id": record["pipeline_id"],
        "won_time": times.v1_time(record.get("won_time")),
        "first_won_time": times.v1_time(record.get("won_time")),
        "lost_time": times.v1_time(record.get("lost_time")),
        "products_count": 0,
        "files_count": 0,
        "notes_count": 0,
        "followers_count": 1,
        "email_messages_count": 0,
        **_counters(c, "activities_count", "done_activities_count", "undone_activities_count"),
        "participants_count": 1 if person else 0,
        "expected_close_date": record.get("expected_close_date"),
        "last_incoming_mail_time": None,
        "last_outgoing_mail_time": None,
        "label": str(record["label_ids"][0]) if record["label_ids"] else None,
        "stage_order_nr": record["stage_id"],
        "person_name": person["name"] if person else None,
        "org_name": org["name"] if org else None,
        "formatted_value": f"{record['value']} {record['currency']}",
        "weighted_value": record["value"],
        "formatted_weighted_value": f"{record['value']} {record['currency']}",
        "weighted_value_currency": record["currency"],
        "rotten_time": None,
        "owner_name": _owner_name(store, record["owner_id"]),
        "cc_email": f"{store.company_domain}+deal{record['id']}@pipedrivemail.com",
        "org_hidden": False,
        "person_hidden": False,
        "origin": record.get("origin"),
        "origin_id": record.get("origin_id"),
        "channel": record.get("channel"),
        "channel_id": record.get("channel_id"),
        "arr": record.get("arr"),
        "mrr": record.get("mrr"),
        "acv": record.get("acv"),
        "arr_currency": None,
        "mrr_currency": None,
        "acv_currency": None,
    }
    return {**out, **_custom("deal", record, store)}


def _clock(value: str | None) -> str | None:
    """v1 shows due_time and duration as HH:MM."""
    return value[:5] if value else value


def activity_v1(record: dict[str, Any], store: Store, counts: Counts) -> dict[str, Any]:
    person = store.get("person", record["person_id"]) if record.get("person_id") else None
    org = store.get("organization", record["org_id"]) if record.get("org_id") else None
    deal = store.get("deal", record["deal_id"]) if record.get("deal_id") else None
    location = record.get("location") or {}
    return {
        "id": record["id"],
        "company_id": store.settings.company_id,
        "user_id": record["owner_id"],
        "done": record["done"],
        "type": record["type"],
        "due_date": record.get("due_date"),
        "due_time": _clock(record.get("due_time")),
        "duration": _clock(record.get("duration")),
        "busy_flag": record.get("busy"),
        "add_time": times.v1_time(record["add_time"]),
        "marked_as_done_time": times.v1_time(record.get("marked_as_done_time")),
        "subject": record["subject"],
        "public_description": record.get("public_description"),
        "location": location.get("value"),
        **{f"location_{key}": location.get(key) for key in ADDRESS_KEYS if key != "value"},
        "location_formatted_address": location.get("value"),
        "org_id": record.get("org_id"),
        "person_id": record.get("person_id"),
        "deal_id": record.get("deal_id"),
        "lead_id": record.get("lead_id"),
        "project_id": record.get("project_id"),
        "active_flag": not record["is_deleted"],
        "update_time": times.v1_time(record["update_time"]),
        "note": record.get("note"),
        "created_by_user_id": record.get("creator_user_id"),
        "attendees": copy.deepcopy(record.get("attendees") or None),
        "participants": [{"person_id": p["person_id"], "primary_flag": p["primary"]} for p in record["participants"]],
        "org_name": org["name"] if org else None,
        "person_name": person["name"] if person else None,
        "deal_title": deal["title"] if deal else None,
        "owner_name": _owner_name(store, record["owner_id"]),
        "person_dropbox_bcc": f"{store.company_domain}@pipedrivemail.com" if person else None,
        "deal_dropbox_bcc": f"{store.company_domain}+deal{deal['id']}@pipedrivemail.com" if deal else None,
        "assigned_to_user_id": record["owner_id"],
    }


def page_counts(kind: str, store: Store, ids: list[int]) -> Counts:
    """The counters of one page of records, found through the store's link orders."""
    counts = related_counts(kind, store, ("x",), ids)
    if kind == "organization":
        for person in store.linked("person", "org_id", ids):
            if not person["is_deleted"]:
                c = counts.setdefault(person["org_id"], {})
                c["people_count"] = c.get("people_count", 0) + 1
    return counts
