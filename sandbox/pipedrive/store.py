"""The sandbox's account data: records of the four v2 entities, users, activity types and
field definitions, all in memory.

Records are kept in their v2 shape with epoch seconds (to the millisecond) for timestamps and private `_`
keys; `models.py` turns them into answers. Every create, change and delete made through the
store becomes an `Event` handed to the listeners (the webhook dispatcher), unless the caller
says `emit=False` (seeding).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from syncmap.sandbox.core import Clock
from syncmap.sandbox.pipedrive.order import Entry, OrderIndex, entry
from syncmap.sandbox.pipedrive.settings import PipedriveSettings

KINDS = ("person", "organization", "deal", "activity")
DAY = 86_400


@dataclass(frozen=True)
class Actor:
    """Who made a change: the token's user through the API, or a user in the Pipedrive app."""

    user_id: int
    source: str = "api"  # meta.change_source: "api" or "app"


@dataclass
class Event:
    action: str  # create, change, delete
    kind: str
    entity_id: int
    data: dict[str, Any] | None  # the record after the change (None on delete)
    previous: dict[str, Any] | None  # old values of changed keys (change), last state (delete)
    actor: Actor
    timestamp: float  # epoch seconds, to the millisecond (`Store.now`)
    meta: dict[str, Any] = field(default_factory=dict)  # merged_to_id / merged_from_id


def public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


class Store:
    def __init__(self, clock: Clock, settings: PipedriveSettings, company_domain: str = "sandbox") -> None:
        self.clock = clock
        self.settings = settings
        self.company_domain = company_domain
        self.listeners: list[Callable[[Event], None]] = []
        self.reset()

    def reset(self) -> None:
        self.records: dict[str, dict[int, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self._deleted: dict[str, set[int]] = {kind: set() for kind in KINDS}
        self._next_id: dict[str, int] = {}
        self._orders: dict[str, dict[str, OrderIndex]] = {kind: {} for kind in KINDS}
        self.users: dict[int, dict[str, Any]] = {}
        self.activity_types: dict[int, dict[str, Any]] = {}
        # Pipelines and their stages (`api_pipelines.py`); a deal's stage_id names one, and its
        # pipeline_id is that stage's pipeline.
        self.pipelines: dict[int, dict[str, Any]] = {}
        self.stages: dict[int, dict[str, Any]] = {}
        self.fields: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
        self.me_id = 0
        self.app_user_id = 0

    # -- ids and time ------------------------------------------------------------------------
    def now(self) -> float:
        return round(self.clock.now(), 3)  # milliseconds, as Pipedrive keeps them

    def next_id(self, kind: str) -> int:
        value = self._next_id.get(kind, 1)
        self._next_id[kind] = value + 1
        return value

    # -- entity records ----------------------------------------------------------------------
    def purge_expired(self, kind: str) -> None:
        """Soft-deleted records disappear for good after the retention period (§8)."""
        deleted = self._deleted[kind]
        if not deleted:
            return
        cutoff = self.now() - self.settings.retention_days * DAY
        for entity_id in [i for i in deleted if self.records[kind][i]["_deleted_at"] <= cutoff]:
            deleted.discard(entity_id)
            record = self.records[kind].pop(entity_id)
            for index in self._orders[kind].values():
                index.remove(entry(record, index.field))

    def get(self, kind: str, entity_id: int) -> dict[str, Any] | None:
        self.purge_expired(kind)
        return self.records[kind].get(entity_id)

    def live(self, kind: str, entity_id: int | None) -> dict[str, Any] | None:
        record = self.get(kind, entity_id) if entity_id is not None else None
        return None if record is None or record["is_deleted"] else record

    def all(self, kind: str) -> Iterator[dict[str, Any]]:
        self.purge_expired(kind)
        return iter(self.records[kind].values())

    def table(self, kind: str) -> dict[int, dict[str, Any]]:
        """The records of a kind by id (soft-deleted included); read-only for callers."""
        self.purge_expired(kind)
        return self.records[kind]

    def order(self, kind: str, field: str) -> OrderIndex:
        """The records of `kind` ordered by (field, id), kept current from now on."""
        self.purge_expired(kind)
        index = self._orders[kind].get(field)
        if index is None:
            index = self._orders[kind][field] = OrderIndex(field, self.records[kind].values())
        return index

    def linked(self, kind: str, field: str, ids: Iterable[int]) -> Iterator[dict[str, Any]]:
        """The records of `kind` whose `field` (e.g. person_id) is one of `ids`, by that field's order."""
        index = self.order(kind, field)
        table = self.records[kind]
        for entity_id in ids:
            start, end = index.span(entity_id, entity_id + 1)
            for _, linked_id in index.entries[start:end]:
                yield table[linked_id]

    def drop_orders(self) -> None:
        """Forget every order index (rebuilt on next use): a bulk load then appends in O(1)."""
        for indexes in self._orders.values():
            indexes.clear()

    def _entries(self, kind: str, record: dict[str, Any]) -> dict[str, Entry]:
        return {key: entry(record, key) for key in self._orders[kind]}

    def _reorder(self, kind: str, record: dict[str, Any], before: dict[str, Entry]) -> None:
        for key, old in before.items():
            if entry(record, key) != old:
                index = self._orders[kind][key]
                index.remove(old)
                index.add(record)

    def create(self, kind: str, record: dict[str, Any], actor: Actor, *, emit: bool = True) -> dict[str, Any]:
        now = self.now()
        record = {"id": None, **record}
        record["id"] = self.next_id(kind)
        if record.get("add_time") is None:
            record["add_time"] = now
        if record.get("update_time") is None:
            record["update_time"] = now
        self.records[kind][record["id"]] = record
        for index in self._orders[kind].values():
            index.add(record)
        if emit:
            self._emit(Event("create", kind, record["id"], copy.deepcopy(public(record)), None, actor, now))
        return record

    def change(
        self,
        kind: str,
        entity_id: int,
        changes: dict[str, Any],
        actor: Actor,
        *,
        emit: bool = True,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Apply full new values of top-level keys (custom_fields merged key by key)."""
        record = self.records[kind][entity_id]
        before = self._entries(kind, record)
        previous: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "custom_fields":
                old_custom = record.get("custom_fields") or {}
                diff = {k: old_custom.get(k) for k, v in value.items() if old_custom.get(k) != v}
                if diff:
                    previous["custom_fields"] = copy.deepcopy(diff)
                    record["custom_fields"] = {**old_custom, **value}
            elif record.get(key) != value:
                previous[key] = copy.deepcopy(record.get(key))
                record[key] = value
        if not previous and not self.settings.noop_update_emits_change and not meta:
            return record
        now = self.now()
        if "update_time" not in previous:
            if record["update_time"] != now:
                previous["update_time"] = record["update_time"]
            record["update_time"] = now
        self._reorder(kind, record, before)
        if emit:
            self._emit(Event("change", kind, entity_id, copy.deepcopy(public(record)), previous, actor, now, dict(meta or {})))
        return record

    def delete(self, kind: str, entity_id: int, actor: Actor, *, emit: bool = True, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """Soft delete: the record stays (is_deleted) until the retention period ends."""
        record = self.records[kind][entity_id]
        before = self._entries(kind, record)
        last_state = copy.deepcopy(public(record))
        now = self.now()
        record["is_deleted"] = True
        record["_deleted_at"] = now
        record["update_time"] = now
        if kind == "deal":
            record["_status_before_delete"] = record["status"]
            record["status"] = "deleted"
        self._deleted[kind].add(entity_id)
        self._reorder(kind, record, before)
        if emit:
            self._emit(Event("delete", kind, entity_id, None, last_state, actor, now, dict(meta or {})))
        return record

    def _emit(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)

    # -- definitions -------------------------------------------------------------------------
    def field_by_key(self, kind: str, key: str) -> dict[str, Any] | None:
        for definition in self.fields[kind]:
            if definition["key"] == key:
                return definition
        return None

    def custom_fields(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.fields[kind] if f["custom"]]

    def live_stage(self, stage_id: Any) -> dict[str, Any] | None:
        stage = self.stages.get(stage_id) if isinstance(stage_id, int) and not isinstance(stage_id, bool) else None
        return None if stage is None or stage["is_deleted"] else stage

    def first_stage(self, pipeline_id: Any) -> dict[str, Any] | None:
        live = [s for s in self.stages.values() if s["pipeline_id"] == pipeline_id and not s["is_deleted"]]
        return min(live, key=lambda s: (s["order_nr"], s["id"])) if live else None

    def activity_type_keys(self) -> dict[str, dict[str, Any]]:
        return {t["key_string"]: t for t in self.activity_types.values() if t["active_flag"]}
