"""Records of one kind kept in list order: the (sort value, id) entries of a sort key, ascending.

A list page bisects into these entries from its cursor instead of sorting the whole store, so
its cost does not grow with the number of records. The store keeps every index it has built
up to date on create, change, delete and purge; an index is built on first use.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from typing import Any

Entry = tuple[tuple[int, Any], int]


def sort_value(value: Any) -> tuple[int, Any]:
    # None sorts before every value (ascending), as a missing due_date does.
    return (0, 0) if value is None else (1, value)


def entry(record: dict[str, Any], field: str) -> Entry:
    return (sort_value(record.get(field)), record["id"])


class OrderIndex:
    def __init__(self, field: str, records: Iterable[dict[str, Any]]) -> None:
        self.field = field
        self.entries: list[Entry] = sorted(entry(r, field) for r in records)

    def add(self, record: dict[str, Any]) -> None:
        insort(self.entries, entry(record, self.field))

    def remove(self, old: Entry) -> None:
        i = bisect_left(self.entries, old)
        if i < len(self.entries) and self.entries[i] == old:
            del self.entries[i]

    def span(self, low: Any = None, high: Any = None) -> tuple[int, int]:
        """Positions [start, end) of the entries whose value v has low <= v < high."""
        start = 0
        if low is not None:
            # (value,) sorts before every entry of that value
            start = bisect_left(self.entries, (sort_value(low),))
        end = len(self.entries) if high is None else bisect_left(self.entries, (sort_value(high),))
        return start, max(start, end)
