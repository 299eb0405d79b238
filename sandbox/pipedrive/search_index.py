"""Person search is eventually consistent: it reads an index that learns of each write
`search_index_delay_seconds` of sandbox time after it happened.

Until then search sees the person as it was before the write: a new person is not found, a
renamed one is still found by its old name, a deleted one is still found. Records seeded
without events are indexed at once. A client that searches and then creates, to avoid
duplicates, creates them here as it would in production.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from syncmap.sandbox.pipedrive.store import Event, Store

Snapshot = dict[str, Any] | None  # what the index holds; None: not indexed yet


class SearchIndex:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._stale: dict[int, tuple[float, Snapshot]] = {}  # person id -> (caught up at, old state)
        store.listeners.append(self.on_event)

    def reset(self) -> None:
        self._stale.clear()

    def on_event(self, event: Event) -> None:
        delay = self.store.settings.search_index_delay_seconds
        if event.kind != "person" or delay <= 0:
            return
        due = event.timestamp + delay
        pending = self._stale.get(event.entity_id)
        if pending is not None and self.store.now() < pending[0]:
            self._stale[event.entity_id] = (due, pending[1])  # the index has not seen the earlier write either
        else:
            self._stale[event.entity_id] = (due, _before(event))

    def searchable(self, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """The persons search can see, each in the state the index holds."""
        now = self.store.now()
        for record in records:
            pending = self._stale.get(record["id"])
            if pending is not None:
                if now < pending[0]:
                    if pending[1] is not None:
                        yield pending[1]
                    continue
                del self._stale[record["id"]]
            if not record["is_deleted"]:
                yield record


def _before(event: Event) -> Snapshot:
    """The person as it was before the event."""
    if event.action == "create":
        return None
    if event.action == "delete":
        return event.previous
    old = {**(event.data or {}), **{k: v for k, v in (event.previous or {}).items() if k != "custom_fields"}}
    old["custom_fields"] = {**old.get("custom_fields", {}), **(event.previous or {}).get("custom_fields", {})}
    return old
