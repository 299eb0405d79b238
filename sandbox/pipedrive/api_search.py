"""Search: `GET /api/v2/{persons,organizations,deals}/search` and `GET /api/v2/itemSearch`
(cursor paging), and the deprecated `GET /v1/persons/search` (offset paging), all with the
search API's own rate limit.

`exact_match` is a full, case-insensitive match of a field ("It is not case sensitive");
otherwise a term matches any field containing it, case-insensitively. Every route reads the
`SearchIndex`, which sees each write only after the indexing delay (a record deleted a moment
ago is still found, one created a moment ago is not yet). itemSearch covers the item types the
sandbox models (deal, person, organization); naming another type in `item_types`, or asking
for `search_for_related_items`, is answered as not modelled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmap.sandbox.pipedrive.errors import bad_request, not_modelled
from syncmap.sandbox.pipedrive.http import Endpoint, ok, q_bool, q_int, q_list, store_of
from syncmap.sandbox.pipedrive.pagination import decode_cursor, encode_cursor, offset_page, parse_limit
from syncmap.sandbox.pipedrive.search_index import SearchIndex
from syncmap.sandbox.pipedrive.store import Store

# Searchable fields per item type, in the order v2.yaml lists them.
FIELDS = {
    "person": ("custom_fields", "email", "notes", "phone", "name"),
    "organization": ("address", "custom_fields", "notes", "name"),
    "deal": ("custom_fields", "notes", "title"),
}
SEARCH_FIELDS = FIELDS["person"]
ITEM_TYPES = ("deal", "person", "organization", "product", "lead", "file", "mail_attachment", "project")
ITEM_FIELDS = ("address", "code", "custom_fields", "email", "name", "notes", "phone", "title", "description")
ITEM_INCLUDE = ("deal.cc_email", "person.picture", "product.price")
ITEM_SEARCH_MAX_LIMIT = 100  # "a maximum value of 100 is allowed" (v2.yaml), not 500 as elsewhere
SEARCHABLE_CUSTOM = {"address", "varchar", "text", "varchar_auto", "double", "monetary", "phone"}
SEARCH_PATHS = frozenset(
    {
        "/api/v2/persons/search",
        "/api/v2/organizations/search",
        "/api/v2/deals/search",
        "/api/v2/itemSearch",
        "/v1/persons/search",
    }
)

Found = tuple[float, dict[str, Any], list[str]]  # (result_score, record, matched custom-field texts)


def _address_text(value: Any) -> str | None:
    return value.get("value") if isinstance(value, dict) else value


def _texts(record: dict[str, Any], kind: str, field: str, store: Store) -> list[str]:
    if field in ("name", "title"):
        return [record[field] or ""]
    if field == "email":
        return [e["value"] for e in record["emails"]]
    if field == "phone":
        return [p["value"] for p in record["phones"]]
    if field == "notes":
        return [record["notes"]] if record.get("notes") else []
    if field == "address":
        text = _address_text(record.get("address"))
        return [text] if text else []
    out = []
    for definition in store.custom_fields(kind):
        value = record["custom_fields"].get(definition["key"])
        if value is None or definition["field_type"] not in SEARCHABLE_CUSTOM:
            continue
        out.append(str(value["value"] if isinstance(value, dict) else value))
    return out


def _index(request: Request) -> SearchIndex:
    index: SearchIndex = request.app.state.search_index  # set by create_app; starlette's State is untyped
    return index


def _term(request: Request) -> tuple[str, bool]:
    """The case-folded term and exact_match, checked as the search routes check them."""
    term = (request.query_params.get("term") or "").strip()
    exact = bool(q_bool(request, "exact_match"))
    if len(term) < (1 if exact else 2):
        raise bad_request('"term" must be at least 2 characters long (1 with exact_match)')
    return term.casefold(), exact


def _fields(request: Request, allowed: tuple[str, ...]) -> list[str]:
    fields = q_list(request, "fields") or list(allowed)
    for field in fields:
        if field not in allowed:
            raise bad_request(f'"fields" must be one of [{", ".join(allowed)}]')
    return fields


def _includes(request: Request, allowed: tuple[str, ...]) -> list[str]:
    names = q_list(request, "include_fields")
    for name in names:
        if name not in allowed:
            raise bad_request(f'"include_fields" must be one of [{", ".join(allowed)}]')
    return names


def find(
    store: Store,
    kind: str,
    needle: str,
    exact: bool,
    fields: list[str],
    keep: Callable[[dict[str, Any]], bool] = lambda r: True,
    *,
    index: SearchIndex,
) -> list[Found]:
    """Every record of `kind` the index holds as live, in the state it holds, matching the term
    in `fields`, best first, then by id."""
    found = []
    for record in index.searchable(store.all(kind), kind):
        if not keep(record):
            continue
        best = 0.0
        matched_custom: list[str] = []
        for field in fields:
            for text in _texts(record, kind, field, store):
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
            found.append((best, record, matched_custom))
    found.sort(key=lambda item: (-item[0], item[1]["id"]))
    return found


def _owner_and_notes(record: dict[str, Any], custom: list[str]) -> dict[str, Any]:
    return {
        "visible_to": record["visible_to"],
        "owner": {"id": record["owner_id"]},
        "custom_fields": custom,
        "notes": [record["notes"]] if record.get("notes") else [],
    }


def _organization_ref(store: Store, org_id: int | None) -> dict[str, Any] | None:
    org = store.get("organization", org_id) if org_id else None
    return {"id": org["id"], "name": org["name"], "address": _address_text(org.get("address"))} if org else None


def _person_item(store: Store, record: dict[str, Any], custom: list[str], includes: list[str]) -> dict[str, Any]:
    return {
        "id": record["id"],
        "type": "person",
        "name": record["name"],
        "phones": [p["value"] for p in record["phones"]],
        "emails": [e["value"] for e in record["emails"]],
        **_owner_and_notes(record, custom),
        "organization": _organization_ref(store, record["org_id"]),
    }


def _organization_item(store: Store, record: dict[str, Any], custom: list[str], includes: list[str]) -> dict[str, Any]:
    return {
        "id": record["id"],
        "type": "organization",
        "name": record["name"],
        "address": _address_text(record.get("address")),
        **_owner_and_notes(record, custom),
    }


def _deal_item(store: Store, record: dict[str, Any], custom: list[str], includes: list[str]) -> dict[str, Any]:
    person = store.get("person", record["person_id"]) if record.get("person_id") else None
    org = _organization_ref(store, record.get("org_id"))
    item = {
        "id": record["id"],
        "type": "deal",
        "title": record["title"],
        "value": record["value"],
        "currency": record["currency"],
        "status": record["status"],
        **_owner_and_notes(record, custom),
        "stage": {"id": record["stage_id"], "name": (store.stages.get(record["stage_id"]) or {}).get("name")},
        "person": {"id": person["id"], "name": person["name"]} if person else None,
        "organization": {"id": org["id"], "name": org["name"]} if org else None,
        "is_archived": record["is_archived"],
    }
    if "deal.cc_email" in includes:
        item["cc_email"] = f"{store.company_domain}+deal{record['id']}@pipedrivemail.com"
    return item


RENDER = {"person": _person_item, "organization": _organization_item, "deal": _deal_item}


def _rendered(store: Store, kind: str, found: list[Found], includes: list[str]) -> list[dict[str, Any]]:
    return [{"result_score": score, "item": RENDER[kind](store, r, custom, includes)} for score, r, custom in found]


def _cursor_page(request: Request, items: list[Any], maximum: int) -> Response:
    """A v2 search page: the cursor carries the offset of the next page's first item."""
    limit = parse_limit(request.query_params.get("limit"), store_of(request).settings.default_limit, maximum)
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


def search_persons(request: Request) -> list[dict[str, Any]]:
    store = store_of(request)
    needle, exact = _term(request)
    fields = _fields(request, FIELDS["person"])
    _includes(request, ("person.picture",))  # persons have no pictures here
    org_id = q_int(request, "organization_id")
    keep = (lambda r: r["org_id"] == org_id) if org_id is not None else (lambda r: True)
    found = find(store, "person", needle, exact, fields, keep, index=_index(request))
    return _rendered(store, "person", found, [])


def search_organizations(request: Request) -> list[dict[str, Any]]:
    store = store_of(request)
    needle, exact = _term(request)
    fields = _fields(request, FIELDS["organization"])
    found = find(store, "organization", needle, exact, fields, index=_index(request))
    return _rendered(store, "organization", found, [])


def search_deals(request: Request) -> list[dict[str, Any]]:
    store = store_of(request)
    needle, exact = _term(request)
    fields = _fields(request, FIELDS["deal"])
    includes = _includes(request, ("deal.cc_email",))
    person_id, org_id = q_int(request, "person_id"), q_int(request, "organization_id")
    status = request.query_params.get("status") or None
    if status is not None and status not in ("open", "won", "lost"):
        raise bad_request('"status" must be one of [open, won, lost]')

    def keep(r: dict[str, Any]) -> bool:
        return (
            (person_id is None or r["person_id"] == person_id)
            and (org_id is None or r["org_id"] == org_id)
            and (status is None or r["status"] == status)
        )

    found = find(store, "deal", needle, exact, fields, keep, index=_index(request))
    return _rendered(store, "deal", found, includes)


def search_items(request: Request) -> list[dict[str, Any]]:
    store = store_of(request)
    needle, exact = _term(request)
    types = q_list(request, "item_types")
    for name in types:
        if name not in ITEM_TYPES:
            raise bad_request(f'"item_types" must be one of [{", ".join(ITEM_TYPES)}]')
    unmodelled = [name for name in types if name not in FIELDS]
    if unmodelled:
        raise not_modelled(f"item_types={','.join(unmodelled)}")
    if q_bool(request, "search_for_related_items"):
        raise not_modelled("search_for_related_items")
    fields = _fields(request, ITEM_FIELDS)
    includes = _includes(request, ITEM_INCLUDE)
    index = _index(request)
    ranked = []
    for order, kind in enumerate(types or ("deal", "person", "organization")):
        relevant = [f for f in fields if f in FIELDS[kind]]
        for score, record, custom in find(store, kind, needle, exact, relevant, index=index) if relevant else []:
            ranked.append((-score, order, record["id"], kind, record, custom))
    ranked.sort(key=lambda item: item[:3])
    return [{"result_score": -neg, "item": RENDER[kind](store, record, custom, includes)} for neg, _, _, kind, record, custom in ranked]


def cursor_route(search: Callable[[Request], list[dict[str, Any]]], maximum: Callable[[Store], int]) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        items = search(request)
        return _cursor_page(request, items, maximum(store_of(request)))

    return endpoint


async def search_v1(request: Request) -> Response:
    items = search_persons(request)
    page, pagination = offset_page(items, request.query_params.get("start"), request.query_params.get("limit"))
    return ok({"items": page}, {"pagination": pagination})


def routes() -> list[Route]:
    def v2_max(store: Store) -> int:
        return store.settings.search_max_limit

    return [
        Route("/api/v2/persons/search", cursor_route(search_persons, v2_max), methods=["GET"]),
        Route("/api/v2/organizations/search", cursor_route(search_organizations, v2_max), methods=["GET"]),
        Route("/api/v2/deals/search", cursor_route(search_deals, v2_max), methods=["GET"]),
        Route("/api/v2/itemSearch", cursor_route(search_items, lambda store: ITEM_SEARCH_MAX_LIMIT), methods=["GET"]),
        Route("/v1/persons/search", search_v1, methods=["GET"]),
    ]
