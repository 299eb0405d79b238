"""Search is eventually consistent: it reads an index that learns of each write
`search_index_delay_seconds` of sandbox time after it happened.

Until then search sees the record as it was before the write: a new record is not found, a
renamed one is still found by its old name, a deleted one is still found. Records seeded
without events are indexed at once. A client that searches and then creates, to avoid
duplicates, creates them here as it would in production.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from syncmap.sandbox.pipedrive.store import Event, Store

Snapshot = dict[str, Any] | None  # what the index holds; None: not indexed yet


class SearchIndex:
    def __init__(self, store: Store) -> None:
        self.store = store
        # (kind, id) -> (when the index catches up, the state it holds until then)
        self._stale: dict[tuple[str, int], tuple[float, Snapshot]] = {}
        self._order: deque[tuple[float, tuple[str, int]]] = deque()  # (due, key) in write order
        store.listeners.append(self.on_event)

    def reset(self) -> None:
        self._stale.clear()
        self._order.clear()

    def _forget_caught_up(self, now: float) -> None:
        """Drop what the index has caught up with, so bulk writes do not pile up snapshots."""
        while self._order and self._order[0][0] <= now:
            _due, key = self._order.popleft()
            pending = self._stale.get(key)
            if pending is not None and pending[0] <= now:
                del self._stale[key]

    def on_event(self, event: Event) -> None:
        delay = self.store.settings.search_index_delay_seconds
        if delay <= 0:
            return
        self._forget_caught_up(self.store.now())
        key = (event.kind, event.entity_id)
        due = event.timestamp + delay
        pending = self._stale.get(key)
        # An earlier write the index has not seen either keeps the state from before it.
        self._stale[key] = (due, pending[1] if pending is not None else _before(event))
        self._order.append((due, key))

    def searchable(self, records: Iterable[dict[str, Any]], kind: str = "person") -> Iterator[dict[str, Any]]:
        """The records of `kind` search can see, each in the state the index holds."""
        now = self.store.now()
        for record in records:
            key = (kind, record["id"])
            pending = self._stale.get(key)
            if pending is not None:
                if now < pending[0]:
                    if pending[1] is not None:
                        yield pending[1]
                    continue
                del self._stale[key]
            if not record["is_deleted"]:
                yield record


def _before(event: Event) -> Snapshot:
    """The record as it was before the event."""
    if event.action == "create":
        return None
    if event.action == "delete":
        return event.previous
    old = {**(event.data or {}), **{k: v for k, v in (event.previous or {}).items() if k != "custom_fields"}}
    old["custom_fields"] = {**old.get("custom_fields", {}), **(event.previous or {}).get("custom_fields", {})}
    return old
