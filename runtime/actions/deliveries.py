"""What an Autopilot journey's Webhook step sends, made into (contact, delivery key) pairs: pure.

Autopilot's help page "Autopilot: Action - Webhook" (support.autopilothq.com, help.ortto.com
a-306) shows the body a journey sends when contacts reach the step: `{"records": [contact, …],
"journey": {"name", "id"}, …}` plus the step's optional custom payload, each record a contact as
the REST API reads it (`contact_id`, `Email`, `custom_fields`, `updated_at`, …). It carries no
delivery id. So the key that makes a retried step act once is derived from what it does carry:
the action, the journey id, the contact and a digest of the record and custom payload as sent.
A retry sends the same body, so the same key; a contact who reaches the step again later has
changed (`updated_at`), so a new key. Limits: a contact re-entering the same step unchanged
within the key window (ActionRunner's `key_window`) is taken for a retry; a journey that sends
records whose `updated_at` changes between retries would act twice (not seen in the sample).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from syncmap.runtime.values import is_empty

JOURNEY_KEYS = ("records", "journey")


def journey_deliveries(action: str, body: Any) -> list[tuple[dict[str, Any], str]]:
    """(contact, delivery key) per record of a journey Webhook body; ValueError with a clear
    message when the body is not that shape (the server answers 400 with it)."""
    if not isinstance(body, Mapping):
        raise ValueError(f'a journey webhook body is a JSON object {{"records": [contact, …], "journey": {{…}}}}, not {_kind(body)}')
    records = body.get("records")
    if not isinstance(records, list) or not records:
        raise ValueError('a journey webhook body needs "records": a non-empty list of contacts')
    journey = body.get("journey")
    if journey is not None and not isinstance(journey, Mapping):
        raise ValueError(f'"journey" must be an object {{"name", "id"}}, not {_kind(journey)}')
    journey_id = (journey or {}).get("id")
    custom = {k: v for k, v in body.items() if k not in JOURNEY_KEYS}  # the step's custom payload
    out = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise ValueError(f"records[{index}] must be a contact object, not {_kind(record)}")
        if is_empty(record.get("contact_id")) and is_empty(record.get("Email")):
            raise ValueError(f"records[{index}] has neither a contact_id nor an Email: no contact to act for")
        out.append((dict(record), delivery_key(action, journey_id, record, custom)))
    return out


def delivery_key(action: str, journey_id: Any, record: Mapping[str, Any], custom: Mapping[str, Any] | None = None) -> str:
    who = record.get("contact_id") or str(record.get("Email", "")).strip().lower()
    digest = hashlib.sha256(
        json.dumps([action, journey_id, who, record, custom or {}], sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()
    return f"journey:{journey_id or '-'}:{who}:{digest[:32]}"


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null", bool: "a boolean"}.get(type(value), "a number")
