"""v2 cursor paging and v1 offset paging.

A v2 cursor is what Pipedrive's own example decodes to: base64 of
`{"field": <sort key>, "fieldValue": <its value>, "sortDirection": "asc", "id": <id>}` naming
the first item of the next page. Paging is keyset paging on (sort key, id), so a walk over
unchanged data sees every record exactly once.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from syncmap.sandbox.pipedrive.errors import bad_request
from syncmap.sandbox.pipedrive.http import parse_int


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


def _key(value: Any) -> tuple[int, Any]:
    # None sorts before every value (ascending), as a missing due_date does.
    return (0, 0) if value is None else (1, value)


def cursor_page(
    records: Iterable[dict[str, Any]],
    *,
    sort_by: str,
    direction: str,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `records` sorted by (sort_by, id) and the cursor of the next page, or None."""
    reverse = direction == "desc"
    ordered = sorted(records, key=lambda r: (_key(r.get(sort_by)), r["id"]), reverse=reverse)
    start = 0
    if cursor:
        mark = decode_cursor(cursor)
        if mark.get("field") != sort_by or mark.get("sortDirection") != direction:
            raise bad_request('"cursor" does not match the sort parameters')
        anchor = (_key(mark.get("fieldValue")), mark.get("id"))
        if isinstance(anchor[1], bool) or not isinstance(anchor[1], int):
            raise bad_request('"cursor" is invalid')
        start = len(ordered)
        try:
            for i, record in enumerate(ordered):
                key = (_key(record.get(sort_by)), record["id"])
                if (key <= anchor) if reverse else (key >= anchor):
                    start = i
                    break
        except TypeError:  # a hand-made cursor whose fieldValue is not of the sort key's type
            raise bad_request('"cursor" is invalid') from None
    page = ordered[start : start + limit]
    following = ordered[start + limit] if start + limit < len(ordered) else None
    next_cursor = None
    if following is not None:
        next_cursor = encode_cursor(
            {"field": sort_by, "fieldValue": following.get(sort_by), "sortDirection": direction, "id": following["id"]}
        )
    return page, next_cursor


def offset_page(items: list[Any], start_raw: str | None, limit_raw: str | None, maximum: int = 500) -> tuple[list[Any], dict]:
    """v1 `start`/`limit` paging and its `additional_data.pagination`."""
    try:
        start = parse_int(start_raw or "0")
    except ValueError:
        raise bad_request('"start" must be a number') from None
    if start < 0:
        raise bad_request('"start" must be greater than or equal to 0')
    limit = parse_limit(limit_raw, 100, maximum)
    page = items[start : start + limit]
    more = start + limit < len(items)
    pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pagination["next_start"] = start + limit
    return page, pagination
