"""The Autopilot instance's data: contacts, custom fields, lists, journeys and REST hooks.

Plain in-memory state with no HTTP in it. Writes return the hook events they caused (already
rendered, so a later change cannot alter what was sent); the routes hand them to `hooks.py`.
"""

from __future__ import annotations

import math
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from syncmap.sandbox.autopilot import engagement, shapes
from syncmap.sandbox.autopilot.errors import CONTACT_NOT_FOUND, ApiError
from syncmap.sandbox.autopilot.paging import SortedIds
from syncmap.sandbox.autopilot.settings import AutopilotSettings
from syncmap.sandbox.core import Clock

# Standard contact fields a client may write (case-sensitive PascalCase, plus `owner_name`).
WRITABLE_FIELDS = (
    "Email", "FirstName", "LastName", "Salutation", "Company", "NumberOfEmployees", "Title",
    "Industry", "Phone", "MobilePhone", "Fax", "Website", "MailingStreet", "MailingCity",
    "MailingState", "MailingPostalCode", "MailingCountry", "owner_name", "LeadSource", "Status",
    "LinkedIn", "Twitter",
)  # fmt: skip
CUSTOM_TYPES = ("string", "integer", "float", "boolean", "date")
# REST-hook events a client may subscribe to; APD1's older spelling is accepted as an alias.
HOOK_EVENTS = (
    "contact_added", "contact_updated", "contact_unsubscribed", "contact_added_to_list",
    "contact_removed_from_list", "contact_entered_segment", "contact_left_segment",
)  # fmt: skip
HOOK_EVENT_ALIASES = {"contact_unsubscribes": "contact_unsubscribed"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@dataclass
class Contact:
    contact_id: str
    created_at: float
    updated_at: float | None  # None: created through the API and not changed since
    fields: dict[str, Any] = field(default_factory=dict)  # standard fields with a value
    custom: dict[tuple[str, str], Any] = field(default_factory=dict)  # (fieldType, name) -> value
    unsubscribed: bool | None = None  # None: never set by a write or an unsubscribe
    api_originated: bool = True
    # `mail_received`, `mail_opened`, ... -> {delivery id: epoch ms}
    engagement: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def email(self) -> str | None:
        return self.fields.get("Email")

    def values(self) -> tuple[dict[str, Any], dict[tuple[str, str], Any], bool | None]:
        return dict(self.fields), dict(self.custom), self.unsubscribed


@dataclass
class ContactList:
    list_id: str
    title: str
    members: SortedIds = field(default_factory=SortedIds)


@dataclass
class Hook:
    hook_id: str
    event: str  # as registered (an alias stays an alias in the payload)
    target_url: str

    @property
    def canonical_event(self) -> str:
        return HOOK_EVENT_ALIASES.get(self.event, self.event)


@dataclass
class Trigger:
    trigger_id: str
    journey: str
    trigger_type: str = "apiTrigger"


@dataclass
class Event:
    """A hook event: `payload` is the body minus `event`, which each hook fills in."""

    event: str
    payload: dict[str, Any]


@dataclass
class Write:
    """One validated contact write (`POST /contact(s)` or a marketer's edit), not yet applied."""

    email: str | None
    new_email: str | None
    fields: dict[str, Any]  # None clears
    custom: dict[tuple[str, str], Any]  # None clears
    unsubscribed: bool | None
    list_id: str | None
    notify: bool


def parse_custom_key(key: str) -> tuple[str, str]:
    field_type, sep, rest = key.partition("--")
    if not sep or not rest:
        raise ApiError(400, f"Custom field key {key!r} is not of the form type--Field--Name.")
    if field_type not in CUSTOM_TYPES:
        raise ApiError(400, f"Custom field type {field_type!r} is not one of {', '.join(CUSTOM_TYPES)}.")
    return field_type, rest.replace("--", " ")


def coerce_custom(field_type: str, name: str, value: Any) -> Any:
    """The stored value of a custom field write, or ApiError when it does not fit the type."""
    if value is None or value == "":
        return None
    ok: Any = None
    if field_type == "string" and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        ok = value if isinstance(value, str) else str(value)
    elif field_type == "integer" and not isinstance(value, bool):
        if (
            isinstance(value, int)
            or (isinstance(value, float) and value.is_integer())
            or (isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]{1,300}", value.strip()))
        ):
            ok = int(value)
    elif field_type == "float" and not isinstance(value, bool):
        try:
            number = float(value) if isinstance(value, (int, float, str)) else None
        except (ValueError, OverflowError):
            number = None
        # "nan", "inf", "1e999": a value no JSON answer or hook payload could carry
        ok = number if number is not None and math.isfinite(number) else None
    elif field_type == "boolean":
        if isinstance(value, bool):
            ok = value
        elif isinstance(value, str) and value.lower() in ("true", "false"):
            ok = value.lower() == "true"
    elif field_type == "date" and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            ok = shapes.iso_ms(parsed.timestamp())
        except (ValueError, OverflowError):  # unparsable, or outside years 1..9999 once in UTC
            ok = None
    if ok is None:
        raise ApiError(400, f"Value {value!r} is not a valid {field_type} for custom field {name!r}.")
    return ok


def _is_empty(value: Any) -> bool:
    return value is None or value == ""


class AutopilotStore:
    def __init__(self, clock: Clock, settings: AutopilotSettings) -> None:
        self.clock = clock
        self.settings = settings
        self.reset()

    # ---------------------------------------------------------------- state
    def reset(self, id_seed: int | str | None = None) -> None:
        self.contacts: dict[str, Contact] = {}
        self.order = SortedIds()
        self._by_email: dict[str, list[str]] = {}
        self.custom_fields: dict[tuple[str, str], bool] = {}  # (fieldType, name) -> deleted
        self.lists: dict[str, ContactList] = {}
        self.triggers: dict[str, Trigger] = {}
        self.journey_ids: dict[str, str] = {}  # journey name -> `campaign_<UUID>`
        self.journey_entries: list[dict[str, Any]] = []
        self.hooks: dict[str, Hook] = {}
        self.reseed_ids(id_seed)

    def reseed_ids(self, seed: int | str | None) -> None:
        """Make the ids minted from now on follow `seed` (random when None)."""
        self._rng = random.Random(seed)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4)).upper()

    def _email_key(self, email: str) -> str:
        return email if self.settings.email_case_sensitive else email.lower()

    # ---------------------------------------------------------------- lookups
    def find_by_email(self, email: str) -> list[Contact]:
        return [self.contacts[i] for i in self._by_email.get(self._email_key(email), ())]

    def find(self, id_or_email: str) -> list[Contact]:
        """Contacts a path segment names: one by `contact_id`, or every one with that email."""
        if "@" in id_or_email:
            return self.find_by_email(id_or_email)
        contact = self.contacts.get(id_or_email)
        return [contact] if contact else []

    def get(self, id_or_email: str) -> Contact:
        found = self.find(id_or_email)
        if not found:
            raise ApiError(404, CONTACT_NOT_FOUND)
        return found[0]  # several share the email: the oldest answers

    def get_list(self, list_id: str) -> ContactList:
        found = self.lists.get(list_id)
        if found is None:
            raise ApiError(404, self.settings.list_not_found_message)
        return found

    def lists_of(self, contact_id: str) -> list[str]:
        return [lst.list_id for lst in self.lists.values() if contact_id in lst.members]

    def render(self, contact: Contact) -> dict[str, Any]:
        return shapes.contact_for_read(contact, self.lists_of(contact.contact_id), self.settings)

    def page(self, members: SortedIds, bookmark: str | None) -> dict[str, Any]:
        ids, more = members.page_after(bookmark, self.settings.page_size)
        answer: dict[str, Any] = {"contacts": [self.render(self.contacts[i]) for i in ids], "total_contacts": len(members)}
        if more:
            answer["bookmark"] = ids[-1]
        return answer

    # ---------------------------------------------------------------- contact writes
    def prepare(self, raw: Any, *, notify_default: bool = True) -> Write:
        """Validate one contact object of a write body; nothing changes yet."""
        if not isinstance(raw, dict):
            raise ApiError(400, "Each contact must be a JSON object.")
        fields: dict[str, Any] = {}
        for name, value in raw.items():
            if name == "Owner_Name" and self.settings.owner_name_alias:
                name = "owner_name"
            if name not in WRITABLE_FIELDS:
                continue  # read-only, engagement or unknown keys are ignored
            if isinstance(value, (dict, list, bool)):
                raise ApiError(400, f"Field {name} must be a string or a number.")
            fields[name] = self._stored_value(value)
        email = fields.pop("Email", None)
        if email == "":  # an empty Email is no email, whatever `empty_strings` says
            email = None
        new_email = None if _is_empty(raw.get("_NewEmail")) else raw["_NewEmail"]
        for address in (email, new_email):
            if address is not None and not (isinstance(address, str) and _EMAIL.match(address)):
                raise ApiError(400, f"Email {address!r} is not a valid email address.")
        custom_raw = raw.get("custom")
        custom_raw = {} if custom_raw is None else custom_raw
        if not isinstance(custom_raw, dict):
            raise ApiError(400, "custom must be an object of type--Field--Name keys.")
        custom: dict[tuple[str, str], Any] = {}
        for key, value in custom_raw.items():
            field_type, name = parse_custom_key(key)
            if (field_type, name) not in self.custom_fields and not self.settings.auto_create_custom_fields:
                raise ApiError(400, f"Custom field {name!r} of type {field_type} does not exist.")
            custom[(field_type, name)] = coerce_custom(field_type, name, value)
        unsubscribed = raw.get("unsubscribed")
        if unsubscribed is not None and not isinstance(unsubscribed, bool):
            raise ApiError(400, "unsubscribed must be true or false.")
        list_id = raw.get("_autopilot_list") or None
        if list_id is not None and (not isinstance(list_id, str) or list_id not in self.lists):
            raise ApiError(400, f"List {list_id!r} does not exist.")
        notify = raw.get("notify", notify_default)
        if not isinstance(notify, bool):
            raise ApiError(400, "notify must be true or false.")
        return Write(email, new_email, fields, custom, unsubscribed, list_id, notify)

    def _stored_value(self, value: Any) -> Any:
        """What a standard field write stores (None clears the field)."""
        if value == "" and self.settings.empty_strings == "keep":
            return ""
        return None if _is_empty(value) else value

    def apply(self, write: Write, *, via_api: bool = True, target: Contact | None = None) -> tuple[Contact, list[Event]]:
        """Upsert by Email (the oldest match wins); return the contact and the hook events.

        With `target` (a marketer editing one contact in the app) that contact is updated and
        a differing `Email` becomes its new address.
        """
        now = self.clock.now()
        if target is None:
            matches = self.find_by_email(write.email) if write.email else []
        else:
            matches = [target]
        events: list[Event] = []
        if matches:
            contact = matches[0]
            before = contact.values()
            was_unsubscribed = contact.unsubscribed
            self._assign(contact, write, merging=via_api)  # a marketer's edit in the app always applies
            new_email = write.new_email or (write.email if target is not None else None)
            if new_email and new_email != contact.email:
                self._set_email(contact, new_email)
            if contact.values() != before or self.settings.noop_write_is_update:
                contact.updated_at = now
                if write.notify:
                    events.append(Event("contact_updated", {"contact": self._hook_contact(contact)}))
            if contact.unsubscribed and not was_unsubscribed:
                events.append(self._unsubscribed_event(contact))
            add_to_list = self.settings.autopilot_list_on_update
        else:
            # recorded answers: a contact created through the API has no `updated_at` yet
            contact = Contact(self.new_contact_id(), created_at=now, updated_at=None if via_api else now, api_originated=via_api)
            self._assign(contact, write, merging=False)
            self._insert(contact, write.new_email or write.email)
            if write.notify:
                events.append(Event("contact_added", {"contact": self._hook_contact(contact)}))
            if contact.unsubscribed:
                events.append(self._unsubscribed_event(contact))
            add_to_list = True
        if write.list_id and add_to_list:
            events.extend(self.add_to_list(self.lists[write.list_id], contact))
        return contact, events

    def _assign(self, contact: Contact, write: Write, *, merging: bool) -> None:
        for name, value in write.fields.items():
            if merging and self.settings.preserve_names_on_merge and name in ("FirstName", "LastName") and name in contact.fields:
                continue
            if value is None:
                contact.fields.pop(name, None)
            else:
                contact.fields[name] = value
        for key, value in write.custom.items():
            self.custom_fields.setdefault(key, False)
            if value is None:
                contact.custom.pop(key, None)
            else:
                contact.custom[key] = value
        if write.unsubscribed is not None:
            contact.unsubscribed = write.unsubscribed

    def new_contact_id(self) -> str:
        while (contact_id := f"person_{self._uuid()}") in self.contacts:
            pass
        return contact_id

    def _insert(self, contact: Contact, email: str | None) -> None:
        self.contacts[contact.contact_id] = contact
        self.order.add(contact.contact_id)
        if email:
            self._set_email(contact, email)

    def _set_email(self, contact: Contact, email: str) -> None:
        old = contact.email
        if old is not None:
            self._by_email[self._email_key(old)].remove(contact.contact_id)
        contact.fields["Email"] = email
        ids = self._by_email.setdefault(self._email_key(email), [])
        ids.append(contact.contact_id)
        ids.sort(key=lambda i: self.contacts[i].created_at)  # the oldest answers lookups

    def _hook_contact(self, contact: Contact) -> dict[str, Any]:
        return shapes.contact_for_hook(contact, self.lists_of(contact.contact_id), self.settings)

    def _unsubscribed_event(self, contact: Contact) -> Event:
        return Event("contact_unsubscribed", {"contact": self._hook_contact(contact)})

    def insert_seeded(self, contact: Contact) -> None:
        """Put a ready-made contact in (seeding): no dedupe, no events, like a CSV import."""
        for key in contact.custom:
            self.custom_fields.setdefault(key, False)
        self._insert(contact, contact.fields.pop("Email", None))

    def unsubscribe(self, id_or_email: str) -> list[Event]:
        contact = self.get(id_or_email)
        if contact.unsubscribed:
            return []
        contact.unsubscribed = True
        contact.updated_at = self.clock.now()
        return [self._unsubscribed_event(contact)]

    def delete(self, id_or_email: str) -> int:
        """Delete one contact by id, or all with that email. No list-removal events (APD1)."""
        found = self.find(id_or_email)
        if not found:
            raise ApiError(404, CONTACT_NOT_FOUND)
        for contact in found:
            del self.contacts[contact.contact_id]
            self.order.remove(contact.contact_id)
            if contact.email is not None:
                self._by_email[self._email_key(contact.email)].remove(contact.contact_id)
            for lst in self.lists.values():
                lst.members.remove(contact.contact_id)
        return len(found)

    # ---------------------------------------------------------------- engagement
    def mint_delivery_id(self, sent_at: float) -> str:
        return engagement.delivery_id(self._uuid(), sent_at, self._uuid())

    def record_engagement(self, id_or_email: str, kind: Any, at: Any = None, delivery: Any = None) -> tuple[Contact, str, list[Event]]:
        """Record what Autopilot records when it mails `id_or_email` (send, bounce, hardbounce)
        or the contact reacts to a received mail (open, click, complain, unsubscribe).
        Returns the contact, the delivery id and the hook events."""
        kind, moment, delivery = engagement.parse_event(kind, at, delivery)
        contact = self.get(id_or_email)
        moment = self.clock.now() if moment is None else moment
        if kind in engagement.DELIVERIES:
            delivery = delivery or self.mint_delivery_id(moment)
        else:
            delivery = engagement.reaction_target(contact.engagement, kind, delivery)
        contact.engagement.setdefault(engagement.KINDS[kind], {})[delivery] = int(moment * 1000)
        events: list[Event] = []
        if self.settings.engagement_bumps_updated_at:
            contact.updated_at = max(contact.updated_at or contact.created_at, moment)
        if kind == "unsubscribe" and not contact.unsubscribed:  # the mail's unsubscribe link opts out
            contact.unsubscribed = True
            contact.updated_at = max(contact.updated_at or contact.created_at, moment)
            events.append(self._unsubscribed_event(contact))
        if self.settings.engagement_fires_contact_updated:
            events.insert(0, Event("contact_updated", {"contact": self._hook_contact(contact)}))
        return contact, delivery, events

    # ---------------------------------------------------------------- custom fields
    def define_custom_field(self, name: Any, field_type: Any) -> None:
        if field_type not in CUSTOM_TYPES:
            raise ApiError(400, f"fieldType must be one of {', '.join(CUSTOM_TYPES)}.")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "name must be a non-empty string.")
        self.custom_fields.setdefault((field_type, name), False)

    def custom_field_definitions(self) -> list[dict[str, Any]]:
        return [{"name": name, "fieldType": ftype} for (ftype, name), deleted in self.custom_fields.items() if not deleted]

    # ---------------------------------------------------------------- lists
    def create_list(self, name: Any) -> ContactList:
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "name must be a non-empty string.")
        if self.settings.duplicate_list_name == "conflict" and any(lst.title == name for lst in self.lists.values()):
            raise ApiError(409, f"A list named {name!r} already exists.")
        created = ContactList(f"contactlist_{self._uuid()}", name)
        self.lists[created.list_id] = created
        return created

    def add_to_list(self, lst: ContactList, contact: Contact) -> list[Event]:
        if not lst.members.add(contact.contact_id):
            return []
        payload = {"contact_id": contact.contact_id, "list_id": lst.list_id}
        if contact.email:
            payload["email"] = contact.email
        return [Event("contact_added_to_list", payload)]

    def remove_from_list(self, lst: ContactList, contact: Contact) -> list[Event]:
        if not lst.members.remove(contact.contact_id):
            return []
        # APD1's example of this event carries no `email`.
        return [Event("contact_removed_from_list", {"contact_id": contact.contact_id, "list_id": lst.list_id})]

    # ---------------------------------------------------------------- journeys
    def add_trigger(self, journey: str) -> Trigger:
        trigger = Trigger(f"{len(self.triggers) + 1:04d}", journey)
        self.triggers[trigger.trigger_id] = trigger
        return trigger

    def journey_id(self, name: str) -> str:
        """A journey's id (`campaign_<UUID upper>`, the form APD1 and the webhook sample show),
        minted the first time the journey is named."""
        if name not in self.journey_ids:
            self.journey_ids[name] = f"campaign_{self._uuid()}"
        return self.journey_ids[name]

    def enter_journey(self, trigger_id: str, id_or_email: str) -> dict[str, Any]:
        trigger = self.triggers.get(trigger_id)
        if trigger is None:
            raise ApiError(404, "Trigger could not be found.")
        contact = self.get(id_or_email)
        entry: dict[str, Any] = {
            "task_id": f"task_{self._uuid()}",
            "trigger_id": trigger.trigger_id,
            "journey": trigger.journey,
            "contact_id": contact.contact_id,
        }
        entry["created_at"] = shapes.timestamp(self.clock.now(), self.settings, f"{entry['task_id']}:created_at")
        self.journey_entries.append(entry)
        return entry

    # ---------------------------------------------------------------- REST hooks
    def add_hook(self, event: Any, target_url: Any) -> Hook:
        if not isinstance(event, str) or (event not in HOOK_EVENTS and event not in HOOK_EVENT_ALIASES):
            raise ApiError(400, f"event must be one of {', '.join(HOOK_EVENTS)}.")
        if not isinstance(target_url, str) or not target_url.startswith(("http://", "https://")):
            raise ApiError(400, "target_url must be an http(s) URL.")
        hook = Hook(f"hook_{self._uuid()}", event, target_url)
        if any(h.canonical_event == hook.canonical_event and h.target_url == target_url for h in self.hooks.values()):
            raise ApiError(409, "A hook for this event and target_url already exists.")
        self.hooks[hook.hook_id] = hook
        return hook

    def hooks_for(self, event: str) -> list[Hook]:
        return [h for h in self.hooks.values() if h.canonical_event == event]

    def delete_hook(self, hook_id: str) -> None:
        if self.hooks.pop(hook_id, None) is None:
            raise ApiError(404, "Hook could not be found.")
