"""Autopilot REST API v1: bookmark pages, bulk upserts of up to 100 with `notify: false`, list
rosters and membership. Facts: ../shared/ref/autopilot-api.md.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from syncmap.runtime.connectors.autopilot_validate import custom_problem, email_problem, standard_problem
from syncmap.runtime.connectors.base import ConnectorError, Record
from syncmap.runtime.http import UnknownOutcome
from syncmap.runtime.times import to_epoch
from syncmap.runtime.values import is_empty
from syncmap.runtime.wire import FieldType, WireError, from_wire, native_type, plan_type, to_wire

BULK_LIMIT = 100
# What identifies a contact in an upsert, and what renames it: checked as a whole body (`email_misfit`).
IDENTITY = ("Email", "_NewEmail")
# Keys a contact read carries that are not fields a client writes back.
READ_ONLY = {"contact_id", "created_at", "updated_at", "api_originated", "lists", "custom_fields", "Name", "type"}


def custom_key(field_type: str, name: str) -> str:
    return f"{field_type}--{name.replace(' ', '--')}"


class Autopilot:
    system = "autopilot"

    # Autopilot's custom field types are part of their keys, so the plan knows them all.
    field_type = staticmethod(plan_type)

    def __init__(self, client: Any) -> None:
        self.http = client
        self.lists: dict[str, str] = {}  # title -> list_id

    async def check(self) -> None:
        await self.http.request("GET", "/account")

    @staticmethod
    def me_id() -> Any:
        return None  # an API key belongs to the account, not to a user

    @staticmethod
    def users_by_name() -> dict[str, Any]:
        return {}

    async def prepare(self, pairs: Sequence[Mapping[str, Any]], *, lists: Sequence[str], write: bool) -> None:
        """The lists the pairs name (scope and mirror lists, by title), created when writing."""
        if not lists:
            return
        await self.load_lists()
        if write:
            for title in lists:
                await self.ensure_list(title)

    @staticmethod
    def check_values(obj: str, changes: dict[str, Any]) -> None:
        """Nothing to check against the account (a custom value's type: `misfit`)."""

    def list_id(self, title: str) -> str | None:
        return self.lists.get(title)

    async def member_pages(self, title: str) -> AsyncIterator[list[dict[str, Any]]]:
        """The contacts on the list titled `title` (none when the account has no such list)."""
        if title in self.lists:
            async for page in self.roster_pages(self.lists[title]):
                yield page

    async def load_lists(self) -> None:
        answer = await self.http.request("GET", "/lists")
        self.lists = {}
        for item in answer.body.get("lists") or ():
            self.lists.setdefault(item["title"], item["list_id"])

    async def custom_field_definitions(self) -> list[dict[str, Any]]:
        """`{name, fieldType}` of each custom contact field (ref §1.2: a bare array, marked [C];
        an object holding the array under `custom_fields` is read too, in case the live API wraps it)."""
        answer = await self.http.request("GET", "/contacts/custom_fields")
        body = answer.body
        items = body.get("custom_fields") if isinstance(body, dict) else body
        return [item for item in items or () if isinstance(item, dict) and item.get("name")]

    async def ensure_list(self, title: str) -> str:
        for _ in range(3):
            if title in self.lists:
                return self.lists[title]
            try:
                answer = await self.http.request("POST", "/list", json={"name": title}, idempotent=False, ok=(409,))
            except UnknownOutcome:
                await self.load_lists()  # look before creating again: a second list would split the mirror
                continue
            if answer.status == 409:  # made meanwhile (another process): read it back
                await self.load_lists()
            else:
                self.lists[title] = answer.body["list_id"]
        if title not in self.lists:
            raise ConnectorError(f'could not create the Autopilot list "{title}": try again later')
        return self.lists[title]

    async def pages(self, obj: str = "Contact", *, updated_since: float | None = None) -> AsyncIterator[list[dict[str, Any]]]:
        """Every contact, a bookmark page at a time. Autopilot lists no changes since a time
        (its catalog names no `api.changes_since`), so `updated_since` must be None; activities are read out of
        the contacts that carry them (`records`)."""
        assert updated_since is None, "Autopilot cannot list the contacts changed since a time"
        path = "/contacts"
        while True:
            answer = await self.http.request("GET", path)
            yield list(answer.body.get("contacts") or ())
            bookmark = answer.body.get("bookmark")
            if not bookmark:
                return
            path = f"/contacts/{bookmark}"

    async def roster_pages(self, list_id: str) -> AsyncIterator[list[dict[str, Any]]]:
        path = f"/list/{list_id}/contacts"
        while True:
            answer = await self.http.request("GET", path, ok=(404,))
            if answer.status == 404:
                return
            yield list(answer.body.get("contacts") or ())
            bookmark = answer.body.get("bookmark")
            if not bookmark:
                return
            path = f"/list/{list_id}/contacts/{bookmark}"

    async def get(self, obj: str, record_id: str) -> dict[str, Any] | None:
        """A contact by its id or its email (both are keys in Autopilot's paths), or the contact
        that carries an activity (`contact_id:kind:delivery`)."""
        contact_id = record_id.partition(":")[0] if obj == "Activity" else record_id
        answer = await self.http.request("GET", f"/contact/{contact_id}", ok=(404,))
        return answer.body if answer.status == 200 else None

    async def ensure_related(self, raw: Mapping[str, Any]) -> None:
        """Contacts read no field through a relation: nothing to load."""

    async def find_ids(self, obj: str, ref: Mapping[str, Any], value: str) -> list[str] | None:
        """The contact whose Email is `value` (Autopilot keeps one contact per email address, and
        its paths take an email for an id); None for any other field, which it cannot search."""
        if obj != "Contact" or ref.get("path") != ["Email"]:
            return None
        raw = await self.get(obj, value)
        return [str(raw["contact_id"])] if raw is not None else []

    async def upsert_many(self, contacts: Sequence[Mapping[str, Any]]) -> dict[str, str]:
        """Bulk upsert by Email, 100 a request; `notify: false` so our writes do not fire hooks.
        Returns email (lower-cased) -> contact_id."""
        ids: dict[str, str] = {}
        for start in range(0, len(contacts), BULK_LIMIT):
            chunk = [dict(c, notify=False) for c in contacts[start : start + BULK_LIMIT]]
            # An upsert by Email is idempotent: sending it twice leaves the same contact.
            answer = await self.http.request("POST", "/contacts", json={"contacts": chunk}, idempotent=True)
            for email, contact_id in (answer.body.get("email_contact_map") or {}).items():
                ids[email.strip().lower()] = contact_id
        return ids

    async def delete(self, obj: str, contact_id: str) -> None:
        await self.http.request("DELETE", f"/contact/{contact_id}", ok=(404,))

    @staticmethod
    def carried_by(obj: str) -> str | None:
        """The object whose records carry this object's: activities are a contact's engagement."""
        return "Contact" if obj == "Activity" else None

    async def add_to_list(self, list_id: str, contact_id: str) -> None:
        await self.http.request("POST", f"/list/{list_id}/contact/{contact_id}", ok=(404,))

    async def remove_from_list(self, list_id: str, contact_id: str) -> None:
        await self.http.request("DELETE", f"/list/{list_id}/contact/{contact_id}", ok=(404,))

    # -- flat values --------------------------------------------------------------------------
    def records(self, obj: str, raw: Mapping[str, Any], keys: Iterable[str]) -> list[Record]:
        """The records of `obj` a read item holds: a contact is one contact; its engagement
        history holds its activities."""
        return engagement_records(raw) if obj == "Activity" else [self.flatten(obj, raw, keys)]

    def flatten(self, obj: str, raw: Mapping[str, Any], keys: Iterable[str]) -> Record:
        custom = {
            custom_key(item.get("fieldType", "string"), item.get("kind", "")): item.get("value")
            for item in raw.get("custom_fields") or ()
            if not item.get("deleted")
        }
        custom.update(raw.get("custom") or {})  # hook payloads carry `custom` keyed type--Name
        custom = {key: from_wire(value, custom_type(key), "autopilot") for key, value in custom.items()}
        values: dict[str, Any] = {}
        for key in keys:
            if key.startswith("custom:"):
                values[key] = custom.get(key[len("custom:") :])
            else:
                values[key] = raw.get(key)
        return Record(
            id=str(raw["contact_id"]),
            values=values,
            updated=to_epoch(raw.get("updated_at")) or to_epoch(raw.get("created_at")),
            raw={"created_at": raw.get("created_at")},  # which of several same-email contacts is oldest
        )

    @staticmethod
    def misfit(key: str, value: Any) -> str | None:
        """Why a value cannot be written to this flat key (None when it can): what Autopilot
        would refuse, and with it the whole bulk upsert (`autopilot_validate`)."""
        if not key.startswith("custom:"):
            return None if key in IDENTITY else standard_problem(key, value)
        wire = key[len("custom:") :]
        kind, _, name = wire.partition("--")
        problem = custom_problem(kind, name.replace("--", " "), value)
        if problem:
            return problem
        try:
            fit_custom(wire, value)
        except ValueError as error:
            return str(error)
        return None

    @staticmethod
    def email_misfit(body: Mapping[str, Any]) -> str | None:
        """Why Autopilot would refuse the address an upsert body identifies or renames its contact
        by (None: it would not, or the body has none, which is `no_email`)."""
        for key in IDENTITY:
            if not is_empty(body.get(key)):
                problem = email_problem(body[key])
                if problem:
                    return problem
        return None

    @staticmethod
    def body(changes: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
        """An upsert body: identified by the contact's current Email, renamed with `_NewEmail`.
        ValueError when a value does not fit its custom field's type (see `misfit`)."""
        body: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        for key, value in changes.items():
            if key.startswith("custom:"):
                wire = key[len("custom:") :]
                custom[wire] = fit_custom(wire, value)
            elif key not in READ_ONLY:
                body[key] = value
        old_email = (current or {}).get("Email")
        if (
            current is not None
            and "Email" in body
            and not is_empty(old_email)
            and str(old_email).strip().lower() != str(body["Email"]).strip().lower()
        ):
            body["_NewEmail"] = body.pop("Email")
            body["Email"] = old_email
        elif current is not None and "Email" not in body and not is_empty(old_email):
            body["Email"] = old_email
        if custom:
            body["custom"] = custom
        return body


def custom_type(key: str) -> FieldType:
    """A custom field's type from its key: the prefix is Autopilot's own type name."""
    return native_type("autopilot", key.partition("--")[0])


def fit_custom(key: str, value: Any) -> Any:
    """A value for the custom field `type--Name` in the form Autopilot takes (a date as
    `2016-11-22T00:00:00.000Z`); ValueError naming the field when it cannot be converted."""
    kind, _, name = key.partition("--")
    try:
        return to_wire(value, custom_type(key), "autopilot")
    except WireError as error:
        label = name.replace("--", " ")
        hint = f": declare it custom({label!r}, number) in the mapping, or round the value at its source" if kind == "integer" else ""
        raise ValueError(f"{error}, and the Autopilot field {label!r} is {'an' if kind[:1] in 'aeiou' else 'a'} {kind} field{hint}") from None


def engagement_records(contact: Mapping[str, Any]) -> list[Record]:
    """Autopilot's engagement history (`mail_*` maps of delivery id -> epoch ms) as activities."""
    records = []
    for key, events in contact.items():
        if not key.startswith("mail_") or not isinstance(events, Mapping):
            continue
        kind = key[len("mail_") :]
        for delivery, when in events.items():
            moment = to_epoch(when)
            if moment is None:
                continue
            occurred = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
            record_id = f"{contact['contact_id']}:{kind}:{delivery}"
            records.append(
                Record(
                    record_id,
                    {
                        "kind": kind,
                        "occurred_at": occurred,
                        "contact": str(contact["contact_id"]),
                        "contact_id": str(contact["contact_id"]),
                        "delivery_id": delivery,
                        "activity_id": record_id,
                    },
                    moment,
                )
            )
    return records
