"""What a webhook delivery means, as data: pure functions from a delivery's JSON body to the
changes it announces. Nothing here reads the network or the state store.

Pipedrive sends v2 webhooks (`meta` + `data` + `previous`, ../shared/ref/pipedrive-api.md §6);
the exact JSON types of `meta` are unverified (string or integer ids, ISO or epoch
`timestamp`), so both are accepted. Autopilot sends REST hooks (`{"event", "contact": {…}}` or,
for list events, `{"event", "contact_id", "list_id"[, "email"]}`, ../shared/ref/autopilot-api.md
§1.8); they carry no id, so a delivery is known by the digest of its body (a retry sends the
same body).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from syncmap.runtime.times import to_epoch

# Pipedrive's v2 entity names -> the catalog's objects.
PIPEDRIVE_ENTITIES = {"person": "Person", "organization": "Organization", "deal": "Deal", "activity": "Activity"}
PIPEDRIVE_ACTIONS = ("create", "change", "delete")
AUTOPILOT_CONTACT_EVENTS = ("contact_added", "contact_updated", "contact_unsubscribed", "contact_unsubscribes")
AUTOPILOT_LIST_EVENTS = ("contact_added_to_list", "contact_removed_from_list")
# The events syncmap subscribes to (the spelling the catalog documents; an alias is accepted).
AUTOPILOT_SUBSCRIBED = ("contact_added", "contact_updated", "contact_unsubscribed", *AUTOPILOT_LIST_EVENTS)


class ShapeError(ValueError):
    """A delivery whose body is not one of the shapes the API sends (answered 400)."""


@dataclass(frozen=True)
class Change:
    """One record a delivery says changed.

    `raw` is the record as the payload carries it (None when it carries none); `occurred` is
    when the change happened by the sender's clock (None when unknown); `attempt` counts
    deliveries of the same event (1 = first, a retry may carry an old state)."""

    system: str
    obj: str
    record_id: str
    action: str  # "upsert" | "delete" | "list_add" | "list_remove"
    raw: dict[str, Any] | None = None
    occurred: float | None = None
    attempt: int = 1
    list_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def body_digest(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def pipedrive_delivery(body: Any) -> tuple[str, Change | None]:
    """(delivery key, change) of a Pipedrive v2 webhook; the change is None for an entity no
    pair can sync (a note, a product): acknowledged and dropped. ShapeError otherwise."""
    if not isinstance(body, Mapping) or not isinstance(body.get("meta"), Mapping):
        raise ShapeError("not a Pipedrive v2 webhook: no `meta` object")
    meta = body["meta"]
    if str(meta.get("version", "2.0")) != "2.0":
        raise ShapeError(f"Pipedrive webhook version {meta.get('version')!r}: syncmap subscribes to version 2.0 payloads")
    action, entity = meta.get("action"), meta.get("entity")
    event_id = _id(meta.get("id"))
    entity_id = _id(meta.get("entity_id"))
    if action not in PIPEDRIVE_ACTIONS or not isinstance(entity, str) or event_id is None or entity_id is None:
        raise ShapeError("a Pipedrive v2 webhook needs meta.action (create|change|delete), meta.entity, meta.id and meta.entity_id")
    for key in ("data", "previous"):
        if body.get(key) is not None and not isinstance(body[key], Mapping):
            raise ShapeError(f"a Pipedrive v2 webhook's `{key}` must be an object or null")
    attempt = meta.get("attempt", 1)
    attempt = attempt if isinstance(attempt, int) and not isinstance(attempt, bool) and attempt >= 1 else 1
    obj = PIPEDRIVE_ENTITIES.get(entity)
    if obj is None:
        return event_id, None
    data = body.get("data")
    occurred = to_epoch(meta.get("timestamp"))
    if isinstance(data, Mapping):
        occurred = to_epoch(data.get("update_time")) or occurred
    return event_id, Change(
        system="pipedrive",
        obj=obj,
        record_id=entity_id,
        action="delete" if action == "delete" else "upsert",
        raw=dict(data) if isinstance(data, Mapping) and action != "delete" else None,
        occurred=occurred,
        attempt=attempt,
        details={"merged_to_id": _id(meta.get("merged_to_id"))} if meta.get("merged_to_id") is not None else {},
    )


def autopilot_delivery(body: Any) -> tuple[str, Change]:
    """(delivery key, change) of an Autopilot REST hook. ShapeError for anything else."""
    if not isinstance(body, Mapping) or not isinstance(body.get("event"), str):
        raise ShapeError("not an Autopilot hook: no `event`")
    event = body["event"]
    key = body_digest(body)
    if event in AUTOPILOT_CONTACT_EVENTS:
        contact = body.get("contact")
        if not isinstance(contact, Mapping) or _id(contact.get("contact_id")) is None:
            raise ShapeError(f"an Autopilot {event} hook needs a `contact` object with a contact_id")
        return key, Change(
            system="autopilot",
            obj="Contact",
            record_id=str(_id(contact["contact_id"])),
            action="upsert",
            raw=dict(contact),
            occurred=to_epoch(contact.get("updated_at")),
        )
    if event in AUTOPILOT_LIST_EVENTS:
        contact_id, list_id = _id(body.get("contact_id")), _id(body.get("list_id"))
        if contact_id is None or list_id is None:
            raise ShapeError(f"an Autopilot {event} hook needs contact_id and list_id")
        return key, Change(
            system="autopilot",
            obj="Contact",
            record_id=contact_id,
            action="list_add" if event == "contact_added_to_list" else "list_remove",
            list_id=list_id,
        )
    raise ShapeError(f"Autopilot hook event {event!r} is not one syncmap subscribes to")


def parse_json(raw: bytes) -> Any:
    """The body as JSON, or ShapeError (never the decoder's own exception text alone)."""
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ShapeError("the body is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise ShapeError(f"the body is not JSON ({error.msg} at line {error.lineno} column {error.colno})") from None
    except RecursionError:  # `[[[[…` nested deeper than the decoder goes: no delivery looks like that
        raise ShapeError("the body nests too deeply to be a delivery") from None
