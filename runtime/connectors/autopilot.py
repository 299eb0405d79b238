"""Autopilot REST API v1: bookmark pages, bulk upserts of up to 100 with `notify: false`, list
rosters and membership. Facts: ../shared/ref/autopilot-api.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from syncmap.runtime.connectors.autopilot_validate import custom_problem, email_problem, standard_problem
from syncmap.runtime.connectors.base import ConnectorError, Record
from syncmap.runtime.http import UnknownOutcome
from syncmap.runtime.times import to_epoch
from syncmap.runtime.values import is_empty

BULK_LIMIT = 100
# What identifies a contact in an upsert, and what renames it: checked as a whole body (`email_misfit`).
IDENTITY = ("Email", "_NewEmail")
# Keys a contact read carries that are not fields a client writes back.
READ_ONLY = {"contact_id", "created_at", "updated_at", "api_originated", "lists", "custom_fields", "Name", "type"}


def custom_key(field_type: str, name: str) -> str:
    return f"{field_type}--{name.replace(' ', '--')}"


class Autopilot:
    system = "autopilot"

    def __init__(self, client: Any) -> None:
        self.http = client
        self.lists: dict[str, str] = {}  # title -> list_id

    async def check(self) -> None:
        await self.http.request("GET", "/account")

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

    async def pages(self) -> AsyncIterator[list[dict[str, Any]]]:
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

    async def get(self, contact_id: str) -> dict[str, Any] | None:
        answer = await self.http.request("GET", f"/contact/{contact_id}", ok=(404,))
        return answer.body if answer.status == 200 else None

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

    async def delete(self, contact_id: str) -> None:
        await self.http.request("DELETE", f"/contact/{contact_id}", ok=(404,))

    async def add_to_list(self, list_id: str, contact_id: str) -> None:
        await self.http.request("POST", f"/list/{list_id}/contact/{contact_id}", ok=(404,))

    async def remove_from_list(self, list_id: str, contact_id: str) -> None:
        await self.http.request("DELETE", f"/list/{list_id}/contact/{contact_id}", ok=(404,))

    # -- flat values --------------------------------------------------------------------------
    def flatten(self, raw: Mapping[str, Any], keys: Iterable[str]) -> Record:
        custom = {
            custom_key(item.get("fieldType", "string"), item.get("kind", "")): item.get("value")
            for item in raw.get("custom_fields") or ()
            if not item.get("deleted")
        }
        custom.update(raw.get("custom") or {})  # hook payloads carry `custom` keyed type--Name
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


def fit_custom(key: str, value: Any) -> Any:
    """A value for the custom field `type--Name`, converted when nothing is lost."""
    kind, _, name = key.partition("--")
    label = name.replace("--", " ")
    if value is None or kind in ("string",):
        return value if value is None else str(value)
    if kind == "integer":
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None
        if number is None or number != int(number):
            raise ValueError(
                f"{value!r} is not a whole number, and the Autopilot field {label!r} is an integer field: "
                f"declare it custom({label!r}, float) in the mapping, or round the value in Pipedrive"
            )
        return int(number)
    if kind == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a number, and the Autopilot field {label!r} is a float field") from None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in ("true", "false"):
            return str(value).strip().lower() == "true"
        raise ValueError(f"{value!r} is not true or false, and the Autopilot field {label!r} is a boolean field")
    return value
