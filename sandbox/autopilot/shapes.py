"""How a contact looks on the wire: the read shape (GET, rosters) and the REST-hook shape.

Custom values read back as a list `custom_fields: [{kind, value, fieldType, deleted}]`, but
travel in hooks as a `custom` map keyed `type--Field--Name`, the same keys clients write.
Both shapes follow recorded real answers (RUBY cassettes): a contact created in the app
carries `"type": "Contact"`, one created through the API `"api_originated": true` instead;
`updated_at` and `unsubscribed` may be missing (settings say when); reads also carry the
engagement maps `mail_*` (delivery id -> epoch ms), hooks do not (no source shows them there).
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncmap.sandbox.autopilot.settings import AutopilotSettings
    from syncmap.sandbox.autopilot.store import Contact


def custom_key(field_type: str, name: str) -> str:
    """`integer`, `Review Rating` -> `integer--Review--Rating` (the write and hook key)."""
    return f"{field_type}--{name.replace(' ', '--')}"


def iso_ms(epoch: float) -> str:
    """`2017-01-14T03:16:19.000Z`."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_FORMS = ("iso", "rfc1123", "epoch_ms")


def timestamp(epoch: float, settings: AutopilotSettings, salt: str = "") -> str | int:
    """`epoch` in the configured form; "mixed" picks the form from `salt` (e.g. `<contact_id>:created_at`),
    so the same contact and field always read back alike."""
    form = settings.timestamp_format
    if form == "mixed":
        form = _FORMS[zlib.crc32(salt.encode()) % len(_FORMS)]
    if form == "rfc1123":
        return formatdate(epoch, usegmt=True)
    if form == "epoch_ms":
        return int(epoch * 1000)
    return iso_ms(epoch)


def _common(contact: Contact, lists: list[str], settings: AutopilotSettings) -> dict[str, Any]:
    body: dict[str, Any] = {} if contact.api_originated else {"type": "Contact"}
    body.update(contact.fields)
    name = " ".join(v for v in (contact.fields.get("FirstName"), contact.fields.get("LastName")) if v)
    if name:
        body["Name"] = name
    if contact.unsubscribed is not None or settings.unsubscribed_key == "always":
        body["unsubscribed"] = bool(contact.unsubscribed)
    body["contact_id"] = contact.contact_id
    body["created_at"] = timestamp(contact.created_at, settings, f"{contact.contact_id}:created_at")
    updated_at = contact.updated_at
    if updated_at is None and settings.api_create_sets_updated_at:
        updated_at = contact.created_at
    if updated_at is not None:
        body["updated_at"] = timestamp(updated_at, settings, f"{contact.contact_id}:updated_at")
    if contact.api_originated:
        body["api_originated"] = True
    if lists:
        body["lists"] = lists
    return body


def contact_for_read(contact: Contact, lists: list[str], settings: AutopilotSettings) -> dict[str, Any]:
    body = _common(contact, lists, settings)
    if contact.custom:
        body["custom_fields"] = [
            {"kind": name, "value": value, "fieldType": field_type, "deleted": False} for (field_type, name), value in contact.custom.items()
        ]
    for key, deliveries in contact.engagement.items():
        if deliveries:
            body[key] = dict(deliveries)
    return body


def contact_for_hook(contact: Contact, lists: list[str], settings: AutopilotSettings) -> dict[str, Any]:
    body = _common(contact, lists, settings)
    if contact.custom:
        body["custom"] = {custom_key(field_type, name): value for (field_type, name), value in contact.custom.items()}
    return body
