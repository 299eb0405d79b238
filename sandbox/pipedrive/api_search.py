"""Person search: `GET /api/v2/persons/search` (cursor paging) and the deprecated
`GET /v1/persons/search` (offset paging), both with the search API's own rate limit.

`exact_match` is a full, case-insensitive match of a field ("It is not case sensitive");
otherwise a term matches any field containing it, case-insensitively. Search reads the
`SearchIndex`, which sees each write only after the indexing delay (deleted persons included).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmap.sandbox.pipedrive.errors import bad_request
from syncmap.sandbox.pipedrive.http import ok, q_bool, q_int, q_list, store_of
from syncmap.sandbox.pipedrive.pagination import decode_cursor, encode_cursor, offset_page, parse_limit
from syncmap.sandbox.pipedrive.store import Store

SEARCH_FIELDS = ("custom_fields", "email", "notes", "phone", "name")
SEARCHABLE_CUSTOM = {"address", "varchar", "text", "varchar_auto", "double", "monetary", "phone"}
SEARCH_PATHS = ("/api/v2/persons/search", "/v1/persons/search")


def _texts(record: dict[str, Any], field: str, store: Store) -> list[str]:
    if field == "name":
        return [record["name"] or ""]
    if field == "email":
        return [e["value"] for e in record["emails"]]
    if field == "phone":
        return [p["value"] for p in record["phones"]]
    if field == "notes":
        return [record["notes"]] if record.get("notes") else []
    out = []
    for definition in store.custom_fields("person"):
        value = record["custom_fields"].get(definition["key"])
        if value is None or definition["field_type"] not in SEARCHABLE_CUSTOM:
            continue
        out.append(str(value["value"] if isinstance(value, dict) else value))
    return out


def search_persons(request: Request) -> list[dict[str, Any]]:
    store = store_of(request)
    term = (request.query_params.get("term") or "").strip()
    exact = bool(q_bool(request, "exact_match"))
    if len(term) < (1 if exact else 2):
        raise bad_request('"term" must be at least 2 characters long (1 with exact_match)')
    fields = q_list(request, "fields") or list(SEARCH_FIELDS)
    for field in fields:
        if field not in SEARCH_FIELDS:
            raise bad_request(f'"fields" must be one of [{", ".join(SEARCH_FIELDS)}]')
    for extra in q_list(request, "include_fields"):
        if extra != "person.picture":  # the only one published; persons have no pictures here
            raise bad_request('"include_fields" must be one of [person.picture]')
    org_id = q_int(request, "organization_id")
    needle = term.casefold()
    items = []
    for record in request.app.state.search_index.searchable(store.all("person")):
        if org_id is not None and record["org_id"] != org_id:
            continue
        best = 0.0
        matched_custom: list[str] = []
        for field in fields:
            for text in _texts(record, field, store):
                hay = text.casefold()
                if hay == needle:
                    score = 1.0
                elif not exact and needle in hay:
                    score = round(len(needle) / max(len(hay), 1), 4)
                else:
                    continue
                best = max(best, score)
                if field == "custom_fields":
                    matched_custom.append(text)
        if best:
            items.append((best, record, matched_custom))
    items.sort(key=lambda item: (-item[0], item[1]["id"]))
    return [_item(store, score, record, custom) for score, record, custom in items]


def _item(store: Store, score: float, record: dict[str, Any], custom: list[str]) -> dict[str, Any]:
    org = store.get("organization", record["org_id"]) if record["org_id"] else None
    return {
        "result_score": score,
        "item": {
            "id": record["id"],
            "type": "person",
            "name": record["name"],
            "phones": [p["value"] for p in record["phones"]],
            "emails": [e["value"] for e in record["emails"]],
            "visible_to": record["visible_to"],
            "owner": {"id": record["owner_id"]},
            "organization": {"id": org["id"], "name": org["name"], "address": None} if org else None,
            "custom_fields": custom,
            "notes": [record["notes"]] if record.get("notes") else [],
        },
    }


async def search_v2(request: Request) -> Response:
    settings = store_of(request).settings
    items = search_persons(request)
    limit = parse_limit(request.query_params.get("limit"), settings.default_limit, settings.search_max_limit)
    start = 0
    cursor = request.query_params.get("cursor")
    if cursor:
        offset = decode_cursor(cursor).get("offset")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise bad_request('"cursor" is invalid')
        start = offset
    page = items[start : start + limit]
    next_cursor = encode_cursor({"offset": start + limit}) if start + limit < len(items) else None
    return ok({"items": page}, {"next_cursor": next_cursor})


async def search_v1(request: Request) -> Response:
    items = search_persons(request)
    page, pagination = offset_page(items, request.query_params.get("start"), request.query_params.get("limit"))
    return ok({"items": page}, {"pagination": pagination})


def routes() -> list[Route]:
    return [
        Route(SEARCH_PATHS[0], search_v2, methods=["GET"]),
        Route(SEARCH_PATHS[1], search_v1, methods=["GET"]),
    ]
