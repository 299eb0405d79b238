"""v2 cursor paging and v1 offset paging.

A v2 cursor is what Pipedrive's own example decodes to: base64 of
`{"field": <sort key>, "fieldValue": <its value>, "sortDirection": "asc", "id": <id>}` naming
the first item of the next page. Paging is keyset paging on (sort key, id), so a walk over
unchanged data sees every record exactly once; a page bisects to its cursor in entries kept in
that order (`order.py`), so its cost does not depend on how many records there are.
"""

from __future__ import annotations

import base64
import json
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from syncmap.sandbox.pipedrive.errors import bad_request
from syncmap.sandbox.pipedrive.http import parse_int
from syncmap.sandbox.pipedrive.order import Entry, entry, sort_value


def encode_cursor(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(data, dict):
            raise ValueError
        return data
    except (ValueError, TypeError, json.JSONDecodeError):
        raise bad_request('"cursor" is invalid') from None


def parse_limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = parse_int(raw)
    except ValueError:
        raise bad_request('"limit" must be a number') from None
    if value < 1:
        raise bad_request('"limit" must be greater than or equal to 1')
    if value > maximum:
        raise bad_request(f'"limit" must be less than or equal to {maximum}')
    return value


def _anchor(cursor: str, sort_by: str, direction: str) -> Entry:
    mark = decode_cursor(cursor)
    if mark.get("field") != sort_by or mark.get("sortDirection") != direction:
        raise bad_request('"cursor" does not match the sort parameters')
    value, entity_id = sort_value(mark.get("fieldValue")), mark.get("id")
    if isinstance(entity_id, bool) or not isinstance(entity_id, int):
        raise bad_request('"cursor" is invalid')
    return value, entity_id


def keyset_page(
    entries: Sequence[Entry],
    fetch: Callable[[int], dict[str, Any] | None],
    *,
    sort_by: str,
    direction: str,
    limit: int,
    cursor: str | None,
    span: tuple[int, int] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page walking ascending `entries` (within positions `span`) from the cursor.

    `fetch(id)` gives the record if the request selects it, else None. Only the entries up to
    the first record of the next page are visited, whatever the number of records.
    """
    low, high = span if span is not None else (0, len(entries))
    reverse = direction == "desc"
    position = high if reverse else low
    if cursor:
        anchor = _anchor(cursor, sort_by, direction)
        try:  # a hand-made cursor whose fieldValue is not of the sort key's type cannot compare
            position = min(high, bisect_right(entries, anchor)) if reverse else max(low, bisect_left(entries, anchor))
        except TypeError:
            raise bad_request('"cursor" is invalid') from None
    positions = range(position - 1, low - 1, -1) if reverse else range(position, high)
    found: list[dict[str, Any]] = []
    for i in positions:
        record = fetch(entries[i][1])
        if record is not None:
            found.append(record)
            if len(found) > limit:
                break
    page, following = found[:limit], (found[limit] if len(found) > limit else None)
    next_cursor = None
    if following is not None:
        next_cursor = encode_cursor({"field": sort_by, "fieldValue": following.get(sort_by), "sortDirection": direction, "id": following["id"]})
    return page, next_cursor


def cursor_page(
    records: Iterable[dict[str, Any]],
    *,
    sort_by: str,
    direction: str,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a small collection sorted by (sort_by, id) and the cursor of the next page, or None."""
    by_id = {record["id"]: record for record in records}
    entries = sorted(entry(record, sort_by) for record in by_id.values())
    return keyset_page(entries, by_id.get, sort_by=sort_by, direction=direction, limit=limit, cursor=cursor)


def parse_start(raw: str | None) -> int:
    """v1 `start`: an offset, 0 when absent."""
    try:
        start = parse_int(raw or "0")
    except ValueError:
        raise bad_request('"start" must be a number') from None
    if start < 0:
        raise bad_request('"start" must be greater than or equal to 0')
    return start


def offset_page(items: list[Any], start_raw: str | None, limit_raw: str | None, maximum: int = 500) -> tuple[list[Any], dict[str, Any]]:
    """v1 `start`/`limit` paging and its `additional_data.pagination`."""
    start = parse_start(start_raw)
    limit = parse_limit(limit_raw, 100, maximum)
    page = items[start : start + limit]
    more = start + limit < len(items)
    pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pagination["next_start"] = start + limit
    return page, pagination
