"""Contact ids in the order Autopilot pages them, and bookmark paging over them.

Recorded real answers (`GET /contacts` in a public client's VCR cassette, a list roster in
Autopilot's own blog post) list contacts in ascending `contact_id` order, not in creation
order. Ids are random UUIDs, so a contact created during a scan lands before or after the
bookmark at random: a scan started before it may never see it.

A page costs O(log n + page size) whatever the store's size: ids sit in a sorted list and a
page starts at a bisection from the bookmark. Adds are buffered and merged in on the next
read, so seeding 100,000 contacts sorts once instead of shifting the list 100,000 times.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort

from syncmap.sandbox.autopilot.errors import ApiError

# Up to this many buffered adds are inserted one by one; more are merged by one sort.
_INSERT_ONE_BY_ONE = 32


class SortedIds:
    """A set of ids read in ascending order, with bookmark paging that survives removals.

    Any id that was ever a member is a valid bookmark, so a bookmark naming a contact deleted
    between two page requests still continues where the previous page ended.
    """

    def __init__(self) -> None:
        self._sorted: list[str] = []
        self._unsorted: list[str] = []  # added since the last read
        self._live: set[str] = set()
        self._ever: set[str] = set()

    def __contains__(self, item: str) -> bool:
        return item in self._live

    def __len__(self) -> int:
        return len(self._live)

    def add(self, item: str) -> bool:
        if item in self._live:
            return False
        self._live.add(item)
        self._ever.add(item)
        self._unsorted.append(item)
        return True

    def remove(self, item: str) -> bool:
        if item not in self._live:
            return False
        self._live.remove(item)
        ids = self._settled()
        del ids[bisect_left(ids, item)]
        return True

    def _settled(self) -> list[str]:
        if len(self._unsorted) <= _INSERT_ONE_BY_ONE:
            for item in self._unsorted:
                insort(self._sorted, item)
        else:
            self._sorted.extend(self._unsorted)
            self._sorted.sort()
        self._unsorted.clear()
        return self._sorted

    def page_after(self, bookmark: str | None, size: int) -> tuple[list[str], bool]:
        """Up to `size` ids after `bookmark` (from the start if None), and whether more follow."""
        if bookmark is not None and bookmark not in self._ever:
            raise ApiError(400, "Bookmark is not valid.")
        ids = self._settled()
        start = 0 if bookmark is None else bisect_right(ids, bookmark)
        page = ids[start : start + size]
        return page, start + size < len(ids)
