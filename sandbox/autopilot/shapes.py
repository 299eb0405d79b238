"""How a contact looks on the wire: the read shape (GET, rosters) and the REST-hook shape.

Custom values read back as a list `custom_fields: [{kind, value, fieldType, deleted}]`, but
travel in hooks as a `custom` map keyed `type--Field--Name`, the same keys clients write.
"""

from __future__ import annotations

from datetime import datetime, timezone
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
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def timestamp(epoch: float, settings: AutopilotSettings) -> str | int:
    if settings.timestamp_format == "rfc1123":
        return formatdate(epoch, usegmt=True)
    if settings.timestamp_format == "epoch_ms":
        return int(epoch * 1000)
    return iso_ms(epoch)


def _common(contact: Contact, lists: list[str], settings: AutopilotSettings) -> dict[str, Any]:
    body: dict[str, Any] = dict(contact.fields)
    name = " ".join(v for v in (contact.fields.get("FirstName"), contact.fields.get("LastName")) if v)
    if name:
        body["Name"] = name
    body["unsubscribed"] = contact.unsubscribed
    body["contact_id"] = contact.contact_id
    body["created_at"] = timestamp(contact.created_at, settings)
    body["updated_at"] = timestamp(contact.updated_at, settings)
    body["api_originated"] = contact.api_originated
    if lists:
        body["lists"] = lists
    return body


def contact_for_read(contact: Contact, lists: list[str], settings: AutopilotSettings) -> dict[str, Any]:
    body = _common(contact, lists, settings)
    if contact.custom:
        body["custom_fields"] = [
            {"kind": name, "value": value, "fieldType": field_type, "deleted": False}
            for (field_type, name), value in contact.custom.items()
        ]
    return body


def contact_for_hook(contact: Contact, lists: list[str], settings: AutopilotSettings) -> dict[str, Any]:
    body = _common(contact, lists, settings)
    if contact.custom:
        body["custom"] = {custom_key(field_type, name): value for (field_type, name), value in contact.custom.items()}
    return body
