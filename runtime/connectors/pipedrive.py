"""Pipedrive: API v2 for persons, organizations, deals and activities; v1 only where v2 has no
route (users, `users/me`, activity types, field definitions). Facts: ../shared/ref/pipedrive-api.md.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from syncmap.compiler.passes import plan_nodes
from syncmap.runtime.candidates import DeadLetter
from syncmap.runtime.connectors.base import ConnectorError, Record
from syncmap.runtime.http import UnknownOutcome
from syncmap.runtime.times import iso_seconds, to_epoch
from syncmap.runtime.values import is_empty, refs_in
from syncmap.runtime.wire import FieldType, WireError, from_wire, native_type, plan_type, to_wire

PATHS = {
    "Person": "persons",
    "Organization": "organizations",
    "Deal": "deals",
    "Activity": "activities",
    "Pipeline": "pipelines",
    "Stage": "stages",
}
FIELDS_PATHS = {"Person": "personFields", "Organization": "organizationFields", "Deal": "dealFields", "Activity": "activityFields"}
MULTI = {"email": "emails", "phone": "phones"}
RELATION_KEYS = {"person": "person_id", "organization": "org_id", "owner": "owner_id", "deal": "deal_id", "creator": "creator_user_id"}
RELATED_OBJECTS = {"organization": "Organization", "person": "Person", "deal": "Deal"}
# Custom field types whose values Pipedrive keeps as option ids; the mapping speaks in labels.
OPTION_TYPES = ("enum", "set")
# How Pipedrive names the refused key of a body: `"custom_fields.<hash>" must be ...`, `"emails[0].value" is required`.
REFUSAL = re.compile(r'"([a-z_]+)(?:\.([0-9a-f]{40}))?[^"]*" ')
# Built-in address fields: text to the mapping, `{"value": …}` on the wire, like custom addresses.
ADDRESS_FIELDS = frozenset({"address", "postal_address", "location"})
ADDRESS = FieldType("string", "address")
BODY_KEYS = {"emails": ("email",), "phones": ("phone",), "name": ("first_name", "last_name", "name"), "stage_id": ("stage",)}


class Pipedrive:
    system = "pipedrive"

    def __init__(self, client: Any, *, page_size: int = 500) -> None:
        self.http = client
        self.page_size = page_size
        self.users: dict[str, dict[str, Any]] = {}
        self.me: dict[str, Any] = {}
        self.activity_types: list[dict[str, Any]] = []
        self.custom: dict[str, dict[str, dict[str, Any]]] = {}  # object -> name -> field definition
        self.related: dict[str, dict[str, dict[str, Any]]] = {}  # object -> id -> raw, for relation hops
        self.pipelines: dict[str, dict[str, Any]] = {}  # id -> pipeline (Update Deal Stage names stages)
        self.stages: list[dict[str, Any]] = []

    # -- account ----------------------------------------------------------------------------
    async def check(self) -> None:
        answer = await self.http.request("GET", "/v1/users/me")
        self.me = answer.body["data"]

    def me_id(self) -> Any:
        """The connecting user (`pipedrive.me`, the owner default of R13)."""
        return self.me.get("id")

    async def prepare(self, pairs: Sequence[Mapping[str, Any]], *, lists: Sequence[str], write: bool) -> None:
        """Load only what the pairs need of the account; with `write`, create the link fields."""
        mine = [(pair, side) for pair in pairs for side in ("left", "right") if pair[side]["system"] == self.system]
        nodes = plan_nodes([pair for pair, _ in mine])
        # Users for owner names (`owner.name`), owner ids (R20) and user(…) values.
        if any(node.get("kind") == "user" or node.get("relation") in ("owner", "creator") or node.get("api") == "owner_id" for node in nodes):
            await self.load_users()
        if any(pair[side]["object"] == "Activity" and pair["creates"][side] for pair, side in mine):
            await self.load_activity_types()
        for obj in sorted({ref["object"] for ref in nodes if ref.get("kind") == "custom" and ref.get("system") == self.system}):
            await self.load_fields(obj)
        for pair, side in mine:
            link = pair.get("link")
            if write and link and link[side]["system"] == self.system and link[side]["kind"] == "custom":
                await self.ensure_field(pair[side]["object"], link[side]["custom"]["name"])
            for op in pair["fields"]:
                for ref in [op["target"], *refs_in(op["source"])]:
                    if ref["system"] == self.system and ref["kind"] == "custom":
                        self.field_key(ref["object"], ref["custom"]["name"])  # a missing field stops the run here
        # Records read through a relation (`organization.name`): loaded once per run, so a value
        # read through a path is there when a pair needs it.
        hops = {hop["target"] for ref in nodes if ref.get("system") == self.system for hop in ref.get("via") or () if isinstance(hop, Mapping)}
        for obj in sorted(hops & set(RELATED_OBJECTS.values())):
            await self.load_related(obj)

    def check_values(self, obj: str, changes: dict[str, Any]) -> None:
        """Values about to be written, against the account: an owner must be an active user
        (R20), an activity type one of the account's (R18, written as its key). A DeadLetter
        says which."""
        # The connecting user (the owner default, R13) is one by definition; any other id is
        # checked against the account's users, loaded whenever the plan can write one.
        owner = changes.get("owner_id")
        if "owner_id" in changes and not is_empty(owner) and str(owner) != str(self.me.get("id")) and not self.active_user(owner):
            raise DeadLetter("owner_not_a_user", f"owner id {owner} is not an active user of this Pipedrive account (R20)", owner_id=owner)
        if obj == "Activity" and not is_empty(changes.get("type")):
            key = self.activity_type_key(changes["type"])
            if key is None:
                raise DeadLetter(
                    "activity_type_unknown",
                    f"activity type {changes['type']!r} is not one of the account's activity types (R18)",
                    type=changes["type"],
                )
            changes["type"] = key

    # Pipedrive has no lists of records a scope could name.
    @staticmethod
    def list_id(title: str) -> str | None:
        return None

    async def member_pages(self, title: str) -> AsyncIterator[list[dict[str, Any]]]:
        return
        yield

    async def load_users(self) -> None:
        answer = await self.http.request("GET", "/v1/users")
        self.users = {str(user["id"]): user for user in answer.body.get("data") or ()}

    def users_by_name(self) -> dict[str, Any]:
        """Name -> id of the users loaded (`user("…")` values, owner names); a user without a
        name is left out."""
        return {user["name"]: user["id"] for user in self.users.values() if user.get("name") is not None}

    def active_user(self, user_id: Any) -> bool:
        user = self.users.get(str(user_id))
        if not user:
            return False
        return user.get("active_flag", True) is not False

    async def load_activity_types(self) -> None:
        answer = await self.http.request("GET", "/v1/activityTypes")
        self.activity_types = [t for t in answer.body.get("data") or () if t.get("active_flag", True)]

    def activity_type_key(self, value: Any) -> str | None:
        """R18: blank or one of the account's live types, by key or by name (case-insensitive)."""
        text = str(value).strip().lower()
        for kind in self.activity_types:
            if text in (str(kind.get("key_string", "")).lower(), str(kind.get("name", "")).lower()):
                key: str = kind["key_string"]  # the API's activity type keys are strings
                return key
        return None

    async def load_stages(self) -> None:
        """The account's pipelines and their live stages: a stage given by name is found here."""
        self.pipelines = {str(p["id"]): p async for page in self.pages("Pipeline", sort_by="id") for p in page if not p.get("is_deleted")}
        self.stages = [s async for page in self.pages("Stage", sort_by="id") for s in page if not s.get("is_deleted")]

    async def load_fields(self, obj: str) -> None:
        definitions: dict[str, dict[str, Any]] = {}
        start = 0
        while True:
            answer = await self.http.request("GET", f"/v1/{FIELDS_PATHS[obj]}", params={"start": start, "limit": 500})
            for item in answer.body.get("data") or ():
                if len(str(item.get("key", ""))) == 40:  # custom fields have 40-character hash keys
                    definitions.setdefault(item["name"], item)
            more = (answer.body.get("additional_data") or {}).get("pagination") or {}
            if not more.get("more_items_in_collection"):
                break
            start = more.get("next_start", start + 500)
        self.custom[obj] = definitions

    async def field_definitions(self, obj: str) -> list[dict[str, Any]]:
        """Every field definition of `obj`, built-in and custom, in the account's order (what
        `syncmap init` scaffolds a mapping from; the sync itself needs only `load_fields`)."""
        definitions: list[dict[str, Any]] = []
        start = 0
        while True:
            answer = await self.http.request("GET", f"/v1/{FIELDS_PATHS[obj]}", params={"start": start, "limit": 500})
            definitions.extend(answer.body.get("data") or ())
            more = (answer.body.get("additional_data") or {}).get("pagination") or {}
            if not more.get("more_items_in_collection"):
                return definitions
            start = more.get("next_start", start + 500)

    async def ensure_field(self, obj: str, name: str, field_type: str = "varchar") -> dict[str, Any]:
        """The custom field named `name`, created when missing (the link field `apId`, R11)."""
        if obj not in self.custom:
            await self.load_fields(obj)
        for _ in range(3):
            if name in self.custom[obj]:
                break
            try:
                answer = await self.http.request("POST", f"/v1/{FIELDS_PATHS[obj]}", json={"name": name, "field_type": field_type}, idempotent=False)
            except UnknownOutcome:
                await self.load_fields(obj)  # look before creating again: it may exist now
                continue
            self.custom[obj][name] = answer.body["data"]
        return self.custom[obj][name] if name in self.custom[obj] else self.field_key_missing(obj, name)

    def field_key_missing(self, obj: str, name: str) -> dict[str, Any]:
        raise ConnectorError(f'could not create the Pipedrive {obj.lower()} field "{name}": try again later')

    def field_key(self, obj: str, name: str) -> str:
        definition = self.custom.get(obj, {}).get(name)
        if definition is None:
            raise ConnectorError(
                f'Pipedrive has no {obj.lower()} custom field named "{name}": create it in Pipedrive '
                "(Settings > Data fields) or fix the name in the mapping"
            )
        key: str = definition["key"]  # a field definition's key is a string (the API's hash)
        return key

    def field_type(self, ref: Mapping[str, Any]) -> FieldType:
        """A field's type: a custom field's from the account's definition (loaded at set-up),
        any other from the plan."""
        if ref.get("kind") == "custom":
            definition = self.custom.get(ref.get("object", ""), {}).get(str((ref.get("custom") or {}).get("name")))
            if definition is not None:
                return custom_type(definition)
        return plan_type(ref)

    def refused_keys(self, obj: str, error: Any, changes: Mapping[str, Any]) -> list[str]:
        """The flat keys of `changes` that a 400 refusing a write names (none when it names no
        field of the write: then the record, not a field, is refused)."""
        named = refused_body_key(error)
        if named is None:
            return []
        head, custom_key = named
        if head == "custom_fields":
            names = [name for name, definition in self.custom.get(obj, {}).items() if definition.get("key") == custom_key]
            return [f"custom:{name}" for name in names if f"custom:{name}" in changes]
        relation = next((flat for flat, body_key in RELATION_KEYS.items() if body_key == head), None)
        heads = BODY_KEYS.get(head, (relation or head,))
        return [key for key in changes if key.partition(".")[0] in heads]

    async def load_related(self, obj: str) -> None:
        """Every record of an object read only through a relation (e.g. organizations for `organization.name`)."""
        self.related[obj] = {}
        async for page in self.pages(obj):
            for raw in page:
                self.related[obj][str(raw["id"])] = raw

    async def ensure_related(self, raw: Mapping[str, Any]) -> None:
        """The records `raw` points at through a relation read by path, when they were made
        after `load_related` (a long-running server sees new organizations every day)."""
        for head, key in RELATION_KEYS.items():
            obj = RELATED_OBJECTS.get(head)
            related_id = raw.get(key)
            if obj not in self.related or related_id is None or isinstance(related_id, (dict, list)):
                continue
            if str(related_id) not in self.related[obj]:
                found = await self.get(obj, str(related_id))
                if found is not None:
                    self.related[obj][str(related_id)] = found

    # -- records ----------------------------------------------------------------------------
    async def pages(
        self, obj: str, *, updated_since: float | None = None, filters: Mapping[str, Any] | None = None, sort_by: str = "update_time"
    ) -> AsyncIterator[list[dict[str, Any]]]:
        # Sorted by update time: a record changed while the scan runs moves behind it and is read
        # again later in the scan or after the cursor, never lost between two pages.
        params: dict[str, Any] = {"limit": self.page_size, "sort_by": sort_by, "sort_direction": "asc", **self.labels(obj), **(filters or {})}
        if updated_since is not None:
            params["updated_since"] = iso_seconds(updated_since)
        cursor = None
        while True:
            answer = await self.http.request("GET", f"/api/v2/{PATHS[obj]}", params={**params, **({"cursor": cursor} if cursor else {})})
            yield list(answer.body.get("data") or ())
            cursor = (answer.body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return

    def labels(self, obj: str) -> dict[str, str]:
        """`include_option_labels` where the object has option fields: their values come back as
        `{id, label}`, so an option added after the definitions were loaded still reads as its label."""
        if any(d.get("field_type") in OPTION_TYPES for d in self.custom.get(obj, {}).values()):
            return {"include_option_labels": "true"}
        return {}

    async def get(self, obj: str, record_id: str) -> dict[str, Any] | None:
        answer = await self.http.request("GET", f"/api/v2/{PATHS[obj]}/{record_id}", params=self.labels(obj) or None, ok=(404, 410))
        if answer.status != 200:
            return None
        data = answer.body.get("data")
        return None if not data or data.get("is_deleted") else data

    async def find_ids(self, obj: str, ref: Mapping[str, Any], value: str) -> list[str] | None:
        """Ids of the records whose field `ref` holds `value` (exactly), or None when Pipedrive
        cannot search that field: persons by email, through the search index (which lags a
        write by a moment, so a record created seconds ago may be missing)."""
        if obj != "Person" or ref.get("type") != "email":
            return None
        answer = await self.http.request(
            "GET", "/api/v2/persons/search", params={"term": value, "fields": "email", "exact_match": "true", "limit": 10}
        )
        items = ((answer.body.get("data") or {}).get("items")) or []
        return [str(item["item"]["id"]) for item in items if item.get("item")]

    async def create(self, obj: str, body: Mapping[str, Any]) -> dict[str, Any]:
        answer = await self.http.request("POST", f"/api/v2/{PATHS[obj]}", json=dict(body), idempotent=False)
        created: dict[str, Any] = answer.body["data"]
        return created

    async def update(self, obj: str, record_id: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        answer = await self.http.request("PATCH", f"/api/v2/{PATHS[obj]}/{record_id}", json=dict(body), ok=(404, 410))
        return answer.body.get("data") if answer.status == 200 else None

    async def delete(self, obj: str, record_id: str) -> None:
        await self.http.request("DELETE", f"/api/v2/{PATHS[obj]}/{record_id}", ok=(404, 410))

    @staticmethod
    def carried_by(obj: str) -> str | None:
        return None  # every Pipedrive object is read on its own

    # -- flat values --------------------------------------------------------------------------
    def records(self, obj: str, raw: Mapping[str, Any], keys: Iterable[str]) -> list[Record]:
        """The record a read item is (a deleted one included: a pass skips it)."""
        return [self.flatten(obj, raw, keys)]

    def flatten(self, obj: str, raw: Mapping[str, Any], keys: Iterable[str]) -> Record:
        values = {key: self._read(obj, raw, key) for key in keys}
        return Record(
            id=str(raw["id"]),
            values=values,
            updated=to_epoch(raw.get("update_time")) or to_epoch(raw.get("add_time")),
            deleted=bool(raw.get("is_deleted")),
            # Only what a later write needs (the other emails and phones to keep): 100,000
            # whole records would be most of a run's memory.
            raw={key: raw[key] for key in ("emails", "phones") if key in raw},
        )

    def _read(self, obj: str, raw: Mapping[str, Any], key: str) -> Any:
        if key.startswith("custom:"):
            name = key[len("custom:") :]
            definition = self.custom.get(obj, {}).get(name)
            if definition is None:
                return None
            return decode_custom(definition, (raw.get("custom_fields") or {}).get(definition["key"]))
        head, _, rest = key.partition(".")
        if head in MULTI:
            return pick_item(raw.get(MULTI[head]), rest or "primary")
        if head in RELATION_KEYS:
            related_id = raw.get(RELATION_KEYS[head])
            if not rest:
                return None if related_id is None else str(related_id)
            target = (
                self.users.get(str(related_id)) if head in ("owner", "creator") else self.related.get(RELATED_OBJECTS[head], {}).get(str(related_id))
            )
            return None if target is None else target.get(rest)
        if key == "stage":
            return raw.get("stage_id")
        if key in ADDRESS_FIELDS:
            return from_wire(raw.get(key), ADDRESS, "pipedrive")
        return raw.get(key)

    def body(self, obj: str, changes: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
        """A v2 POST/PATCH body for flat changes; `current` is the raw record being updated.
        WireError when a custom value cannot take its field's form."""
        body: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        for key, value in changes.items():
            if key.startswith("custom:"):
                definition = self.custom[obj][key[len("custom:") :]]
                try:
                    custom[definition["key"]] = encode_custom(definition, value)
                except WireError as error:
                    raise WireError(f"{error}, and the Pipedrive field {definition['name']!r} is a {definition.get('field_type')} field") from None
                continue
            head, _, rest = key.partition(".")
            if head in MULTI:
                body[MULTI[head]] = replace_item((current or {}).get(MULTI[head]), rest or "primary", value)
            elif head in RELATION_KEYS and not rest:
                body[RELATION_KEYS[head]] = None if is_empty(value) else int(value)
            elif obj == "Person" and key in ("first_name", "last_name"):
                continue  # composed into `name` below (v2 takes `name` only; write_via compose)
            elif key == "type" and obj == "Activity":
                body["type"] = value
            elif key in ADDRESS_FIELDS:
                body[key] = to_wire(value, ADDRESS, "pipedrive")
            elif key == "owner_id":
                body["owner_id"] = None if is_empty(value) else int(value)
            elif key == "stage" and obj == "Deal":
                # An id (actions resolve a name first); anything else goes as given, for
                # Pipedrive to refuse with its reason rather than a crash here.
                body["stage_id"] = int(value) if str(value).strip().isdigit() else value
            else:
                body[key] = value
        if obj == "Person" and ("first_name" in changes or "last_name" in changes):
            first = changes.get("first_name", (current or {}).get("first_name"))
            last = changes.get("last_name", (current or {}).get("last_name"))
            body["name"] = " ".join(str(part).strip() for part in (first, last) if not is_empty(part))
        if custom:
            body["custom_fields"] = custom
        return body


def pick_item(items: Any, selector: str) -> Any:
    """`email.primary`, `phone.work`: one value out of Pipedrive's labelled lists."""
    if not isinstance(items, list) or not items:
        return None
    for item in items:
        if selector == "primary" and item.get("primary"):
            return item.get("value")
        if selector != "primary" and item.get("label") == selector:
            return item.get("value")
    return items[0].get("value") if selector == "primary" else None


def replace_item(items: Any, selector: str, value: Any) -> list[dict[str, Any]]:
    kept = [dict(item) for item in items or () if isinstance(item, dict)]
    for item in kept:
        if (selector == "primary" and item.get("primary")) or item.get("label") == selector:
            item["value"] = value
            return [{k: v for k, v in i.items() if k in ("value", "primary", "label")} for i in kept]
    kept.insert(0, {"value": value, "primary": selector == "primary" or not kept, "label": "work" if selector == "primary" else selector})
    return [{k: v for k, v in i.items() if k in ("value", "primary", "label")} for i in kept]


def custom_type(definition: Mapping[str, Any]) -> FieldType:
    """A custom field's type from its live definition: `field_type` and its options."""
    return native_type("pipedrive", definition.get("field_type"), definition.get("options"))


def decode_custom(definition: Mapping[str, Any], value: Any) -> Any:
    """A custom value as the mapping sees it: option labels, plain numbers, `YYYY-MM-DD` dates."""
    return from_wire(value, custom_type(definition), "pipedrive")


def encode_custom(definition: Mapping[str, Any], value: Any) -> Any:
    """A custom value in the form Pipedrive takes for the field (WireError when it cannot be)."""
    return to_wire(value, custom_type(definition), "pipedrive")


def refused_body_key(error: Any) -> tuple[str, str | None] | None:
    """The body key a 400 names (`"custom_fields.<hash>" must be in YYYY-MM-DD format` ->
    ("custom_fields", hash); `"expected_close_date" must be ...` -> ("expected_close_date", None))."""
    body = getattr(error, "body", None)
    text = body.get("error") if isinstance(body, dict) else body
    match = REFUSAL.match(str(text or "").strip())
    return (match.group(1), match.group(2)) if match else None
