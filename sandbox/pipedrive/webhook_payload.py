"""What a v2 webhook's `data` and `previous` carry, beyond the REST v2 record they start from.

- Custom fields are typed objects, as public v2 consumers read them: `{"type": "enum", "id":
  12}`, `{"type": "set", "values": [{"id": 3}]}`, `{"type": "monetary", "value": 10,
  "currency": "EUR"}`, `{"type": "text", "value": "x"}`, `{"type": "double", "value": 1.5}`.
  Types no consumer shows follow the same rule: `{"type": <field_type>, "value": v}`, or the
  field's own keys for object values (daterange, time, timerange, address). The setting
  `webhook_custom_fields = "plain"` sends the REST values instead.
- `data` "contains only crucial information about the entity" (webhooks v2 migration guide):
  with `webhook_data_minimal` on, the keys in OPTIONAL_KEYS are left out of `data` and
  `previous`, and so are the custom fields of `data` that hold no value (a v2 lead sample in
  PipedreamHQ/pipedream shows `"custom_fields": {}`); a receiver must read them from the API.

Pure functions over already rendered answers.
"""

from __future__ import annotations

from typing import Any

from syncmap.sandbox.pipedrive.store import Store

# Keys a receiver must not expect in webhook `data`: everything but ids, names, links,
# ownership, times, status and custom fields.
OPTIONAL_KEYS: dict[str, frozenset[str]] = {
    "person": frozenset(
        {"first_name", "last_name", "label_ids", "picture_id", "visible_to", "postal_address", "notes", "im",
         "birthday", "job_title", "marketing_status"}
    ),
    "organization": frozenset(
        {"address", "label_ids", "website", "linkedin", "industry", "annual_revenue", "employee_count", "visible_to"}
    ),
    "deal": frozenset(
        {"label_ids", "origin", "origin_id", "channel", "channel_id", "source_lead_id", "acv", "arr", "mrr",
         "probability", "lost_reason", "visible_to", "local_won_date", "local_lost_date", "local_close_date",
         "archive_time", "stage_change_time", "expected_close_date"}
    ),
    "activity": frozenset(
        {"location", "attendees", "conference_meeting_client", "conference_meeting_url", "conference_meeting_id",
         "public_description", "priority", "note", "busy", "duration", "project_id", "lead_id"}
    ),
}  # fmt: skip


def typed(field_type: str, value: Any) -> Any:
    """One custom field value as webhooks v2 write it (None stays None)."""
    if value is None:
        return None
    if field_type == "enum":
        return {"type": "enum", "id": value}
    if field_type == "set":
        return {"type": "set", "values": [{"id": item} for item in value]}
    if isinstance(value, dict):  # monetary, daterange, time, timerange, address
        return {"type": field_type, **value}
    return {"type": field_type, "value": value}


def shape(kind: str, rendered: dict[str, Any] | None, store: Store, *, previous: bool = False) -> dict[str, Any] | None:
    """A rendered record (`data`), or the changed keys of one (`previous`), as the webhook
    settings want it. A null in `previous` says the field was empty, so only `data` drops them."""
    if rendered is None:
        return None
    settings = store.settings
    out = dict(rendered)
    if settings.webhook_data_minimal:
        for key in OPTIONAL_KEYS.get(kind, ()):
            out.pop(key, None)
    custom = out.get("custom_fields")
    if settings.webhook_data_minimal and not previous and isinstance(custom, dict):
        custom = out["custom_fields"] = {key: value for key, value in custom.items() if value is not None}
    if settings.webhook_custom_fields == "typed" and isinstance(custom, dict):
        types = {f["key"]: f["field_type"] for f in store.custom_fields(kind)}
        out["custom_fields"] = {key: typed(types.get(key, "text"), value) for key, value in custom.items()}
    return out
