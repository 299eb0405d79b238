"""The four v2 entities: which body keys each accepts (as in v2.yaml), their defaults, the
values Pipedrive derives (person first/last name, deal status times, activity done time and
primary participant) and how a stored record becomes an answer.

Everything here is pure: functions take the store for look-ups but never change it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from syncmap.sandbox.pipedrive import times
from syncmap.sandbox.pipedrive.errors import ApiError, bad_request, forbidden
from syncmap.sandbox.pipedrive.store import Actor, Store

# -- value checkers ---------------------------------------------------------------------------
# Each takes (name, value) and returns the stored value or raises a 400 with a Joi-style message.
Checker = Callable[[str, Any], Any]


def _fail(name: str, expected: str) -> ApiError:
    return bad_request(f'"{name}" must be {expected}')


def _str(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        raise _fail(name, "a string")
    return value


def _int(name: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(name, "a number")
    return value


def _number(name: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(name, "a number")
    return value


def _bool(name: str, value: Any) -> Any:
    if not isinstance(value, bool):
        raise _fail(name, "a boolean")
    return value


def _int_list(name: str, value: Any) -> Any:
    if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise _fail(name, "an array of numbers")
    return list(value)


def _enum(*allowed: str) -> Checker:
    def check(name: str, value: Any) -> Any:
        if value not in allowed:
            raise _fail(name, f"one of [{', '.join(allowed)}]")
        return value

    return check


def _date(name: str, value: Any) -> Any:
    try:
        return times.parse_date(value)
    except (TypeError, ValueError):
        raise _fail(name, "in YYYY-MM-DD format") from None


def _clock(name: str, value: Any) -> Any:
    try:
        return times.parse_clock_time(value)
    except (TypeError, ValueError):
        raise _fail(name, "in HH:MM:SS format") from None


def _timestamp(name: str, value: Any) -> Any:
    try:
        return times.parse_rfc3339(value)
    except (TypeError, ValueError):
        raise _fail(name, "a valid date in RFC 3339 format") from None


ADDRESS_KEYS = (
    "value",
    "country",
    "admin_area_level_1",
    "admin_area_level_2",
    "locality",
    "sublocality",
    "route",
    "street_number",
    "subpremise",
    "postal_code",
)


def _address(name: str, value: Any) -> Any:
    if not isinstance(value, dict):
        raise _fail(name, "of type object")
    for key, item in value.items():
        if key not in ADDRESS_KEYS:
            raise bad_request(f'"{name}.{key}" is not allowed')
        if item is not None:
            _str(f"{name}.{key}", item)
    return {key: value.get(key) for key in ADDRESS_KEYS}


def _object_list(keys: dict[str, Checker]) -> Checker:
    def check(name: str, value: Any) -> Any:
        if not isinstance(value, list):
            raise _fail(name, "an array")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise _fail(f"{name}[{i}]", "of type object")
            for key, sub in item.items():
                if key not in keys:
                    raise bad_request(f'"{name}[{i}].{key}" is not allowed')
                if sub is not None:
                    keys[key](f"{name}[{i}].{key}", sub)
            out.append(dict(item))
        return out

    return check


_contact_items = _object_list({"value": _str, "primary": _bool, "label": _str})


def _contacts(name: str, value: Any) -> Any:
    items = _contact_items(name, value)
    for i, item in enumerate(items):
        if not item.get("value"):
            raise bad_request(f'"{name}[{i}].value" is required')
    return items


_participant_items = _object_list({"person_id": _int, "primary": _bool})


def _participants(name: str, value: Any) -> Any:
    items = _participant_items(name, value)
    for i, item in enumerate(items):
        if item.get("person_id") is None:
            raise bad_request(f'"{name}[{i}].person_id" is required')
    return items


_attendees = _object_list({"email": _str, "name": _str, "status": _str, "is_organizer": _bool, "person_id": _int, "user_id": _int})

# -- body keys per entity, as in the v2 POST/PATCH request bodies ----------------------------------
CONTACT_SYNC_KEYS = ("postal_address", "notes", "im", "birthday", "job_title")

BODY: dict[str, dict[str, Checker]] = {
    "person": {
        "name": _str,
        "owner_id": _int,
        "org_id": _int,
        "add_time": _timestamp,
        "emails": _contacts,
        "phones": _contacts,
        "visible_to": _int,
        "label_ids": _int_list,
        "postal_address": _address,
        "notes": _str,
        "im": _contacts,
        "birthday": _date,
        "job_title": _str,
        "marketing_status": _enum("no_consent", "unsubscribed", "subscribed", "archived"),
    },
    "organization": {
        "name": _str,
        "owner_id": _int,
        "add_time": _timestamp,
        "visible_to": _int,
        "label_ids": _int_list,
        "address": _address,
        "website": _str,
        "linkedin": _str,
        "industry": _int,
        "annual_revenue": _int,
        "employee_count": _int,
    },
    "deal": {
        "title": _str,
        "owner_id": _int,
        "person_id": _int,
        "org_id": _int,
        "pipeline_id": _int,
        "stage_id": _int,
        "value": _number,
        "currency": _str,
        "is_deleted": _bool,
        "is_archived": _bool,
        "archive_time": _timestamp,
        "status": _enum("open", "won", "lost"),
        "probability": _number,
        "lost_reason": _str,
        "visible_to": _int,
        "close_time": _timestamp,
        "won_time": _timestamp,
        "lost_time": _timestamp,
        "expected_close_date": _date,
        "label_ids": _int_list,
    },
    "activity": {
        "subject": _str,
        "type": _str,
        "owner_id": _int,
        "deal_id": _int,
        "lead_id": _str,
        "person_id": _int,
        "org_id": _int,
        "project_id": _int,
        "due_date": _date,
        "due_time": _clock,
        "duration": _clock,
        "busy": _bool,
        "done": _bool,
        "location": _address,
        "participants": _participants,
        "attendees": _attendees,
        "public_description": _str,
        "priority": _int,
        "note": _str,
    },
}
POST_ONLY = {"add_time"}
REQUIRED = {"organization": "name", "deal": "title"}
# Keys a record cannot be without: null is refused with the key's own type message (a deal with
# `status: null` or `is_archived: null` would drop out of every list).
NOT_NULL = {
    "person": {"name", "visible_to"},
    "organization": {"name", "visible_to"},
    "deal": {"title", "visible_to", "status", "is_archived", "currency", "pipeline_id", "stage_id"},
    "activity": {"subject", "type", "busy", "done"},
}
LIST_KEYS = {"emails", "phones", "im", "label_ids", "participants", "attendees"}
TIME_KEYS = {
    "person": ("add_time", "update_time"),
    "organization": ("add_time", "update_time"),
    "deal": ("add_time", "update_time", "stage_change_time", "close_time", "won_time", "lost_time", "archive_time"),
    "activity": ("add_time", "update_time", "marked_as_done_time"),
}
HAS_CUSTOM_FIELDS = {"person", "organization", "deal"}


def split_name(name: str | None, style: str = "first_word") -> tuple[str | None, str | None]:
    """("first_word") first_name is the first word, last_name the rest; ("last_word") last_name
    is the last word, first_name the rest. A one-word name is all first_name either way."""
    if not name:
        return None, None
    parts = name.strip().split(None, 1) if style == "first_word" else name.strip().rsplit(None, 1)
    if not parts:
        return None, None
    return parts[0], (parts[1] if len(parts) > 1 else None)


def normalize_contacts(items: list[dict[str, Any]], store: Store) -> list[dict[str, Any]]:
    settings = store.settings
    out = [{"value": i["value"], "primary": bool(i.get("primary")), "label": i.get("label") or settings.default_contact_label} for i in items]
    seen_primary = False
    for item in out:  # at most one primary: the first one flagged
        if item["primary"] and seen_primary:
            item["primary"] = False
        seen_primary = seen_primary or item["primary"]
    if out and not seen_primary and settings.first_contact_primary:
        out[0]["primary"] = True
    return out


# -- custom field values ----------------------------------------------------------------------
def _check_custom(definition: dict[str, Any], name: str, value: Any) -> Any:
    kind = definition["field_type"]
    option_ids = {o["id"] for o in definition.get("options") or ()}
    if kind in ("varchar", "text", "varchar_auto", "phone"):
        return _str(name, value)
    if kind == "double":
        return _number(name, value)
    if kind in ("user", "org", "people", "int"):
        return _int(name, value)
    if kind == "enum":
        if _int(name, value) not in option_ids:
            raise bad_request(f'"{name}" must be one of the field\'s option ids')
        return value
    if kind == "set":
        if value == []:
            raise bad_request(f'"{name}" must not be an empty array; send null to clear it')
        ids = _int_list(name, value)
        if not set(ids) <= option_ids:
            raise bad_request(f'"{name}" must contain only the field\'s option ids')
        return ids
    if kind == "date":
        return _date(name, value)
    if kind == "monetary":
        if not isinstance(value, dict) or "value" not in value:
            raise _fail(name, "an object with value and currency")
        _number(f"{name}.value", value["value"])
        if value.get("currency") is not None:
            _str(f"{name}.currency", value["currency"])
        return {"value": value["value"], "currency": value.get("currency")}
    if kind == "daterange":
        if not isinstance(value, dict):
            raise _fail(name, "an object with value and until")
        return {"value": _date(f"{name}.value", value.get("value")), "until": _date(f"{name}.until", value.get("until"))}
    if kind in ("time", "timerange"):
        if not isinstance(value, dict):
            raise _fail(name, "an object with value")
        out = {"value": _clock(f"{name}.value", value.get("value"))}
        if kind == "timerange":
            out["until"] = _clock(f"{name}.until", value.get("until"))
        out["timezone_name"] = value.get("timezone_name")
        return out
    if kind == "address":
        if not isinstance(value, dict) or not isinstance(value.get("value"), str):
            raise _fail(name, "an object with value")
        return dict(value)
    return value


def check_custom_fields(kind: str, value: Any, store: Store) -> dict[str, Any]:
    if kind not in HAS_CUSTOM_FIELDS:
        raise bad_request('"custom_fields" is not allowed')
    if not isinstance(value, dict):
        raise _fail("custom_fields", "of type object")
    out = {}
    for key, item in value.items():
        definition = store.field_by_key(kind, key)
        if definition is None or not definition["custom"]:
            raise bad_request(f'"custom_fields.{key}" is not allowed')
        out[key] = None if item is None else _check_custom(definition, f"custom_fields.{key}", item)
    return out


# -- bodies -----------------------------------------------------------------------------------
def check_body(kind: str, body: Any, store: Store, *, creating: bool) -> dict[str, Any]:
    """Validate a v2 POST/PATCH body and return the accepted keys with stored values."""
    settings = store.settings
    if not isinstance(body, dict):
        raise bad_request('"body" must be of type object')
    allowed = BODY[kind]
    out: dict[str, Any] = {}
    for key, value in body.items():
        if kind == "person" and key in ("first_name", "last_name") and settings.accept_first_last_name:
            out[key] = None if value is None else _str(key, value)
            continue
        if key == "custom_fields":
            out[key] = check_custom_fields(kind, value, store)
            continue
        checker = allowed.get(key)
        if checker is None or (key in POST_ONLY and not creating):
            if settings.reject_unknown_fields:
                raise bad_request(f'"{key}" is not allowed')
            continue
        if kind == "person" and key in CONTACT_SYNC_KEYS and not settings.contact_sync:
            raise forbidden("Contact sync fields are only available with contact sync enabled.")
        if value is None:
            if key in NOT_NULL[kind]:
                checker(key, value)  # raises the key's own message ("must be a string", "a boolean"...)
            out[key] = [] if key in LIST_KEYS else None
        else:
            out[key] = checker(key, value)
    required = REQUIRED.get(kind)
    if kind == "person" and settings.person_name_required:
        required = "name"
    if creating and required and not out.get(required) and not (kind == "person" and (out.get("first_name") or out.get("last_name"))):
        raise bad_request(f'"{required}" is required.')
    for key in ("emails", "phones", "im"):
        if key in out:
            out[key] = normalize_contacts(out[key], store)
    check_related_ids(out, store)
    return out


RELATED_KINDS = {"org_id": "organization", "person_id": "person", "deal_id": "deal"}


def check_related_ids(body: dict[str, Any], store: Store) -> None:
    """The ids `checked_related_ids` names must point at an existing user or live record."""
    for key in store.settings.checked_related_ids:
        value = body.get(key)
        if value is None:
            continue
        if key == "owner_id":
            if value not in store.users:
                raise bad_request('"owner_id" must be the id of an existing user')
        elif store.live(RELATED_KINDS[key], value) is None:
            raise bad_request(f'"{key}" must be the id of an existing {RELATED_KINDS[key]}')


def new_record(kind: str, body: dict[str, Any], store: Store, actor: Actor) -> dict[str, Any]:
    """Defaults of a fresh record with the body applied (derived values included)."""
    base = copy.deepcopy(DEFAULTS[kind])
    owner = body.get("owner_id") or actor.user_id
    base["owner_id"] = owner
    if kind in ("deal", "activity"):
        base["creator_user_id"] = actor.user_id
    if kind == "deal":
        base["currency"] = store.settings.default_currency
    if kind == "activity":
        base["type"] = store.settings.default_activity_type
    merged = {**base, **{k: v for k, v in body.items() if k != "custom_fields"}}
    merged["owner_id"] = owner
    if kind in HAS_CUSTOM_FIELDS:
        merged["custom_fields"] = {k: v for k, v in body.get("custom_fields", {}).items() if v is not None}
    changes = derive(kind, base, merged, store, creating=True)
    return {**merged, **changes}


def changes_for(kind: str, record: dict[str, Any], body: dict[str, Any], store: Store) -> dict[str, Any]:
    """The full new values of every key a PATCH body touches, derived ones included."""
    if "is_deleted" in body and body["is_deleted"] != record["is_deleted"]:
        raise bad_request('"is_deleted" cannot be changed with an update; use DELETE')
    merged = {**record, **{k: v for k, v in body.items() if k != "custom_fields"}}
    changes = {k: v for k, v in body.items() if k not in ("custom_fields", "is_deleted")}
    changes.update(derive(kind, record, merged, store, creating=False))
    if "custom_fields" in body:
        changes["custom_fields"] = body["custom_fields"]
    return changes


def deal_stage(old: dict[str, Any], new: dict[str, Any], store: Store, *, creating: bool) -> dict[str, Any]:
    """A deal's stage and pipeline agree: a stage moves the deal into its pipeline, a pipeline
    alone puts it in that pipeline's first stage. An id that names no live stage or pipeline is
    a 400 (Pipedrive answers so for unknown ids; its exact wording is not published)."""
    pipeline_moved = new.get("pipeline_id") != old.get("pipeline_id")
    stage_moved = new.get("stage_id") != old.get("stage_id") or (creating and not pipeline_moved)
    if stage_moved:
        stage = store.live_stage(new.get("stage_id"))
        if stage is None:
            raise bad_request(f'"stage_id" {new.get("stage_id")} is not an existing stage')
        if pipeline_moved and new.get("pipeline_id") != stage["pipeline_id"]:
            raise bad_request(f'"stage_id" {stage["id"]} is not a stage of pipeline {new.get("pipeline_id")}')
        return {"pipeline_id": stage["pipeline_id"]}
    if pipeline_moved:
        pipeline_id = new.get("pipeline_id")
        pipeline = None if pipeline_id is None else store.pipelines.get(pipeline_id)
        first = store.first_stage(new.get("pipeline_id")) if pipeline is not None and not pipeline["is_deleted"] else None
        if first is None:
            raise bad_request(f'"pipeline_id" {new.get("pipeline_id")} is not an existing pipeline with stages')
        return {"stage_id": first["id"]}
    return {}


def derive(kind: str, old: dict[str, Any], new: dict[str, Any], store: Store, *, creating: bool) -> dict[str, Any]:
    now = store.now()
    out: dict[str, Any] = {}
    if kind == "person":
        if (
            store.settings.accept_first_last_name
            and ("first_name" in new or "last_name" in new)
            and ((creating and not new.get("name")) or new.get("name") == old.get("name"))
        ):
            first, last = new.get("first_name"), new.get("last_name")
            out["name"] = " ".join(p for p in (first, last) if p)
            out["first_name"], out["last_name"] = first, last
        else:
            out["first_name"], out["last_name"] = split_name(new.get("name"), store.settings.name_split)
    elif kind == "deal":
        status = new.get("status", "open")
        if new.get("lost_reason") and status != "lost" and new.get("lost_reason") != old.get("lost_reason"):
            raise bad_request("Lost reason can only be set if deal status is lost")
        if status != old.get("status") or creating:
            stamp = now
            out["won_time"] = new.get("won_time") or stamp if status == "won" else None
            out["lost_time"] = new.get("lost_time") or stamp if status == "lost" else None
            out["close_time"] = new.get("close_time") or stamp if status in ("won", "lost") else None
            if status != "lost":
                out["lost_reason"] = None
        for key, needs in (("won_time", ("won",)), ("lost_time", ("lost",)), ("close_time", ("won", "lost"))):
            if new.get(key) is not None and status not in needs and new.get(key) != old.get(key):
                raise bad_request(f'"{key}" can only be set if deal status is {" or ".join(needs)}')
        out.update(deal_stage(old, new, store, creating=creating))
        if not creating and new.get("stage_id") != old.get("stage_id"):
            out["stage_change_time"] = now
        if new.get("is_archived") != old.get("is_archived") or creating:
            out["archive_time"] = (new.get("archive_time") or now) if new.get("is_archived") else None
    elif kind == "activity":
        types = store.activity_type_keys()
        if new.get("type") not in types:
            raise bad_request(f'"type" must be one of [{", ".join(sorted(types))}]')
        if not new.get("subject"):
            out["subject"] = types[new["type"]]["name"]
        if bool(new.get("done")) != bool(old.get("done")) or creating:
            out["marked_as_done_time"] = now if new.get("done") else None
        participants = list(new.get("participants") or [])
        person_changed = new.get("person_id") != old.get("person_id")
        if person_changed or (creating and new.get("person_id") is not None):
            if new.get("person_id") is not None and not any(p.get("primary") and p.get("person_id") == new["person_id"] for p in participants):
                participants = [{**p, "primary": False} for p in participants if p.get("person_id") != new["person_id"]]
                participants.insert(0, {"person_id": new["person_id"], "primary": True})
            out["participants"] = [{"person_id": p["person_id"], "primary": bool(p.get("primary"))} for p in participants]
        elif new.get("participants") != old.get("participants"):
            out["person_id"] = next((p["person_id"] for p in participants if p.get("primary")), None)
            out["participants"] = [{"person_id": p["person_id"], "primary": bool(p.get("primary"))} for p in participants]
    return out


DEFAULTS: dict[str, dict[str, Any]] = {
    "person": {
        "name": None,
        "first_name": None,
        "last_name": None,
        "owner_id": None,
        "org_id": None,
        "add_time": None,
        "update_time": None,
        "emails": [],
        "phones": [],
        "is_deleted": False,
        "visible_to": 3,
        "label_ids": [],
        "picture_id": None,
        "postal_address": None,
        "notes": None,
        "im": [],
        "birthday": None,
        "job_title": None,
        "marketing_status": None,
        "custom_fields": {},
    },
    "organization": {
        "name": None,
        "owner_id": None,
        "add_time": None,
        "update_time": None,
        "is_deleted": False,
        "visible_to": 3,
        "address": None,
        "label_ids": [],
        "website": None,
        "linkedin": None,
        "industry": None,
        "annual_revenue": None,
        "employee_count": None,
        "custom_fields": {},
    },
    "deal": {
        "title": None,
        "creator_user_id": None,
        "owner_id": None,
        "value": 0,
        "person_id": None,
        "org_id": None,
        "stage_id": 1,
        "pipeline_id": 1,
        "currency": "USD",
        "archive_time": None,
        "add_time": None,
        "update_time": None,
        "stage_change_time": None,
        "status": "open",
        "is_archived": False,
        "is_deleted": False,
        "probability": None,
        "lost_reason": None,
        "visible_to": 3,
        "close_time": None,
        "won_time": None,
        "lost_time": None,
        "expected_close_date": None,
        "label_ids": [],
        "origin": "API",
        "origin_id": None,
        "channel": None,
        "channel_id": None,
        "source_lead_id": None,
        "acv": None,
        "arr": None,
        "mrr": None,
        "custom_fields": {},
    },
    "activity": {
        "subject": None,
        "type": "call",
        "owner_id": None,
        "creator_user_id": None,
        "is_deleted": False,
        "add_time": None,
        "update_time": None,
        "deal_id": None,
        "lead_id": None,
        "person_id": None,
        "org_id": None,
        "project_id": None,
        "due_date": None,
        "due_time": None,
        "duration": None,
        "busy": False,
        "done": False,
        "marked_as_done_time": None,
        "location": None,
        "participants": [],
        "attendees": [],
        "conference_meeting_client": None,
        "conference_meeting_url": None,
        "conference_meeting_id": None,
        "public_description": None,
        "priority": None,
        "note": None,
    },
}


# -- answers ----------------------------------------------------------------------------------
class View:
    """How records of one kind are rendered for one request (custom-field keys, extras)."""

    def __init__(
        self,
        kind: str,
        store: Store,
        *,
        custom_keys: list[str] | None = None,
        include: tuple[str, ...] = (),
        option_labels: bool = False,
        time_style: str | None = None,
        ids: list[int] | None = None,
    ) -> None:
        """`ids`: the records this view will render, so `include` counters need no full scan."""
        self.kind = kind
        self.store = store
        self.time_keys = TIME_KEYS[kind]
        self.time_style = time_style or store.settings.timestamp_format
        self.all_custom = [f["key"] for f in store.custom_fields(kind)] if kind in HAS_CUSTOM_FIELDS else []
        self.custom_keys = self.all_custom if custom_keys is None else [k for k in custom_keys if k in self.all_custom]
        # include_option_labels: enum and set values become {id, label} (v2.yaml)
        self.labels = option_labels_of(kind, store) if option_labels else {}
        self.include = include
        self.hidden: set[str] = set()
        if kind == "person":
            if not store.settings.contact_sync:
                self.hidden.update(CONTACT_SYNC_KEYS)
            if "marketing_status" not in include:
                self.hidden.add("marketing_status")
        if kind == "activity" and "attendees" not in include:
            self.hidden.add("attendees")
        self.counts = related_counts(kind, store, include, ids) if include else {}

    def render(self, record: dict[str, Any]) -> dict[str, Any]:
        """The answer shape; nested values are shared with the record, so serialise it at once."""
        out = {}
        time_keys, hidden = self.time_keys, self.hidden
        seconds = self.time_style == "seconds"  # the common case stays one cached call per time
        for key, value in record.items():
            if key[0] == "_" or key in hidden:
                continue
            if key in time_keys:
                value = times.rfc3339(value) if seconds else self.stamp(value, record["id"], key)
            elif key == "custom_fields":
                if self.labels:
                    value = {k: self.labelled(k, value.get(k)) for k in self.custom_keys}
                else:
                    value = {k: value.get(k) for k in self.custom_keys}
            out[key] = value
        if self.kind == "deal":
            out["local_won_date"] = times.day(record["won_time"])
            out["local_lost_date"] = times.day(record["lost_time"])
            out["local_close_date"] = times.day(record["close_time"])
        if self.include:
            extras = self.counts.get(record["id"], {})
            for name in self.include:
                if name in ("attendees", "marketing_status"):
                    continue
                out[name] = extras.get(name, 0 if name.endswith("_count") else None)
        return out

    def render_partial(self, values: dict[str, Any], entity_id: int = 0) -> dict[str, Any]:
        """`previous` of a change: only the given keys, formatted like an answer."""
        out = {}
        for key, value in values.items():
            if key in self.time_keys:
                value = self.stamp(value, entity_id, key)
            out[key] = value
        return out

    def stamp(self, value: float | None, entity_id: int, key: str) -> str | None:
        return times.v2_time(value, self.time_style, entity_id + self.time_keys.index(key))

    def labelled(self, key: str, value: Any) -> Any:
        options = self.labels.get(key)
        if options is None or value is None:
            return value
        if isinstance(value, list):
            return [{"id": v, "label": options.get(v)} for v in value]
        return {"id": value, "label": options.get(value)}


def option_labels_of(kind: str, store: Store) -> dict[str, dict[int, str]]:
    """Custom enum and set fields of `kind`: key -> {option id: label}."""
    if kind not in HAS_CUSTOM_FIELDS:
        return {}
    return {f["key"]: {o["id"]: o["label"] for o in f.get("options") or ()} for f in store.custom_fields(kind) if f["field_type"] in ("enum", "set")}


def related_counts(kind: str, store: Store, include: tuple[str, ...], ids: list[int] | None = None) -> dict[int, dict[str, Any]]:
    """The `include_fields` counters we can compute honestly: deals and activities per record.

    With `ids`, only those records' counters, from the store's orders by link (no full scan).
    """
    if kind not in ("person", "organization", "deal"):
        return {}
    link = {"person": "person_id", "organization": "org_id", "deal": "deal_id"}[kind]

    def related(other: str) -> Iterable[dict[str, Any]]:
        return store.all(other) if ids is None else store.linked(other, link, ids)

    counts: dict[int, dict[str, Any]] = {}
    if kind != "deal":
        for deal in related("deal"):
            owner = deal.get(link)
            if owner is None or deal["is_deleted"]:
                continue
            c = counts.setdefault(owner, {})
            bucket = "open_deals_count" if deal["status"] == "open" else "closed_deals_count"
            c[bucket] = c.get(bucket, 0) + 1
            if deal["status"] in ("won", "lost"):
                key = f"{deal['status']}_deals_count"
                c[key] = c.get(key, 0) + 1
    for activity in related("activity"):
        owner = activity.get(link)
        if owner is None or activity["is_deleted"]:
            continue
        c = counts.setdefault(owner, {})
        c["activities_count"] = c.get("activities_count", 0) + 1
        key = "done_activities_count" if activity["done"] else "undone_activities_count"
        c[key] = c.get(key, 0) + 1
        if activity["done"]:
            c["last_activity_id"] = max(c.get("last_activity_id") or 0, activity["id"])
        elif c.get("next_activity_id") is None or activity["id"] < c["next_activity_id"]:
            c["next_activity_id"] = activity["id"]
    return counts


def person_v1(record: dict[str, Any], store: Store, counts: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A person in the v1 shape (root custom-field keys, v1 timestamps, string visible_to);
    `counts` are `related_counts` already made for a page of persons."""
    org = store.get("organization", record["org_id"]) if record.get("org_id") else None
    owner = store.users.get(record["owner_id"])
    mine = (related_counts("person", store, ("x",), [record["id"]]) if counts is None else counts).get(record["id"], {})
    name = record.get("name") or ""
    out: dict[str, Any] = {
        "id": record["id"],
        "company_id": store.settings.company_id,
        "owner_id": record["owner_id"],
        "org_id": record.get("org_id"),
        "name": name,
        "first_name": record.get("first_name"),
        "last_name": record.get("last_name"),
        "open_deals_count": mine.get("open_deals_count", 0),
        "related_open_deals_count": 0,
        "closed_deals_count": mine.get("closed_deals_count", 0),
        "related_closed_deals_count": 0,
        "participant_open_deals_count": 0,
        "participant_closed_deals_count": 0,
        "email_messages_count": 0,
        "activities_count": mine.get("activities_count", 0),
        "done_activities_count": mine.get("done_activities_count", 0),
        "undone_activities_count": mine.get("undone_activities_count", 0),
        "files_count": 0,
        "notes_count": 0,
        "followers_count": 1,
        "won_deals_count": mine.get("won_deals_count", 0),
        "related_won_deals_count": 0,
        "lost_deals_count": mine.get("lost_deals_count", 0),
        "related_lost_deals_count": 0,
        "active_flag": not record["is_deleted"],
        "phone": copy.deepcopy(record["phones"]) or [{"value": "", "primary": True}],
        "email": copy.deepcopy(record["emails"]) or [{"value": "", "primary": True}],
        "first_char": name[:1].lower(),
        "update_time": times.v1_time(record["update_time"]),
        "add_time": times.v1_time(record["add_time"]),
        "visible_to": str(record["visible_to"]),
        "picture_id": None,
        "next_activity_date": None,
        "next_activity_time": None,
        "next_activity_id": mine.get("next_activity_id"),
        "last_activity_id": mine.get("last_activity_id"),
        "last_activity_date": None,
        "last_incoming_mail_time": None,
        "last_outgoing_mail_time": None,
        "label": record["label_ids"][0] if record["label_ids"] else None,
        "label_ids": list(record["label_ids"]),
        "org_name": org["name"] if org else None,
        "owner_name": owner["name"] if owner else "",
        "cc_email": f"{store.company_domain}@pipedrivemail.com",
    }
    for key in (f["key"] for f in store.custom_fields("person")):
        out[key] = copy.deepcopy(record["custom_fields"].get(key))
    return out
