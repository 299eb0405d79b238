"""Field definitions: v1 `/v1/{person,organization,deal,activity}Fields` and v2
`/api/v2/{...}Fields`. Creating a custom field generates its 40-character hex key, which is
then accepted in the entity's `custom_fields`. Activity fields are read-only, as published.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmap.sandbox.pipedrive import times
from syncmap.sandbox.pipedrive.errors import ApiError, bad_request, envelope
from syncmap.sandbox.pipedrive.http import Endpoint, actor_of, object_body, ok, path_id, store_of
from syncmap.sandbox.pipedrive.pagination import cursor_page, decode_cursor, offset_page, parse_limit
from syncmap.sandbox.pipedrive.seed import add_field, field_key
from syncmap.sandbox.pipedrive.store import Store

PATHS = {"person": "personFields", "organization": "organizationFields", "deal": "dealFields", "activity": "activityFields"}
CREATABLE = (
    "varchar",
    "text",
    "double",
    "phone",
    "date",
    "daterange",
    "time",
    "timerange",
    "set",
    "enum",
    "varchar_auto",
    "address",
    "monetary",
    "org",
    "people",
    "user",
)
V1_CREATABLE = CREATABLE + ("visible_to",)


def field_not_found() -> ApiError:
    return ApiError(404, envelope("Field not found", info="Object was not found."))


def render_v1(definition: dict[str, Any], store: Store) -> dict[str, Any]:
    stamp = times.rfc3339 if store.settings.v1_definition_timestamps == "rfc3339" else times.v1_time
    return {
        "id": definition["id"],
        "key": definition["key"],
        "name": definition["name"],
        "order_nr": definition["order_nr"],
        "field_type": definition["field_type"],
        "add_time": stamp(definition["add_time"]),
        "update_time": stamp(definition["update_time"]),
        "last_updated_by_user_id": definition["user_id"],
        "created_by_user_id": definition["user_id"],
        "active_flag": True,
        "edit_flag": definition["custom"],
        "index_visible_flag": True,
        "details_visible_flag": True,
        "add_visible_flag": definition["add_visible"],
        "important_flag": False,
        "bulk_edit_allowed": True,
        "searchable_flag": False,
        "filtering_allowed": True,
        "sortable_flag": True,
        "mandatory_flag": definition["mandatory"],
        "options": [dict(o) for o in definition["options"]] if definition["options"] is not None else None,
    }


def render_v2(definition: dict[str, Any], include: list[str]) -> dict[str, Any]:
    custom = definition["custom"]
    options = None
    if definition["options"] is not None:
        options = [
            {
                "id": o["id"] if custom else str(o["id"]),  # "integer for custom fields, string for built-in fields"
                "label": o["label"],
                "color": None,
                "add_time": times.rfc3339(definition["add_time"]),
                "update_time": times.rfc3339(definition["update_time"]),
            }
            for o in definition["options"]
        ]
    out: dict[str, Any] = {
        "field_name": definition["name"],
        "field_code": definition["key"],
        "field_type": definition["field_type"],
        "options": options,
        "subfields": None,
        "is_custom_field": custom,
        "is_optional_response_field": False,
    }
    if "ui_visibility" in include:
        out["ui_visibility"] = {"add_visible_flag": definition["add_visible"], "details_visible_flag": True}
    if "important_fields" in include:
        out["important_fields"] = {"enabled": False, "stage_ids": []}
    if "required_fields" in include:
        out["required_fields"] = {"enabled": definition["mandatory"]}
    return out


def _create(store: Store, kind: str, name: Any, field_type: Any, options: Any, user_id: int, *, v1: bool) -> dict[str, Any]:
    if not isinstance(name, str) or not name.strip():
        raise bad_request(f'"{"name" if v1 else "field_name"}" is required.')
    allowed = V1_CREATABLE if v1 else CREATABLE
    if field_type not in allowed:
        raise bad_request(f'"field_type" must be one of [{", ".join(allowed)}]')
    labels = None
    if field_type in ("enum", "set"):
        if not isinstance(options, list) or not options:
            raise bad_request('"options" are required for enum and set fields')
        labels = []
        for option in options:
            label = option.get("label") if isinstance(option, dict) else None
            if not isinstance(label, str) or not label:
                raise bad_request('"options[].label" is required')
            labels.append(label)
    now = store.now()
    key = field_key(store.settings.company_id, kind, store.next_id("custom_key"), name, now)
    return add_field(store, kind, key, name.strip(), field_type, labels, custom=True, user_id=user_id, when=now)


def v1_list(kind: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        store = store_of(request)
        items = [render_v1(d, store) for d in store.fields[kind]]
        page, pagination = offset_page(items, request.query_params.get("start"), request.query_params.get("limit"))
        return ok(page, {"pagination": pagination})

    return endpoint


def v1_get(kind: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        store = store_of(request)
        wanted = path_id(request)
        for definition in store.fields[kind]:
            if definition["id"] == wanted:
                return ok(render_v1(definition, store))
        raise field_not_found()

    return endpoint


def v1_create(kind: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        store = store_of(request)
        body = await object_body(request)
        definition = _create(store, kind, body.get("name"), body.get("field_type"), body.get("options"), actor_of(request).user_id, v1=True)
        if not isinstance(body.get("add_visible_flag", True), bool):
            raise bad_request('"add_visible_flag" must be a boolean')
        if body.get("add_visible_flag") is False:
            definition["add_visible"] = False
        return ok(render_v1(definition, store))

    return endpoint


def _v2_include(request: Request, kind: str) -> list[str]:
    allowed = ("ui_visibility",) if kind == "activity" else ("ui_visibility", "important_fields", "required_fields")
    raw = request.query_params.get("include_fields") or ""
    parts = [p for p in raw.split(",") if p]
    for part in parts:
        if part not in allowed:
            raise bad_request(f'"include_fields" must be one of [{", ".join(allowed)}]')
    return parts


def v2_list(kind: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        store = store_of(request)
        include = _v2_include(request, kind)
        limit = parse_limit(request.query_params.get("limit"), store.settings.default_limit, store.settings.max_limit)
        cursor = request.query_params.get("cursor")
        if cursor:
            decode_cursor(cursor)
        page, next_cursor = cursor_page(
            store.fields[kind],
            sort_by="id",
            direction="asc",
            limit=limit,
            cursor=cursor,
        )
        return ok([render_v2(d, include) for d in page], {"next_cursor": next_cursor})

    return endpoint


def v2_get(kind: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        store = store_of(request)
        definition = store.field_by_key(kind, request.path_params["field_code"])
        if definition is None:
            raise field_not_found()
        return ok(render_v2(definition, _v2_include(request, kind)))

    return endpoint


def v2_create(kind: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        store = store_of(request)
        body = await object_body(request)
        definition = _create(
            store,
            kind,
            body.get("field_name"),
            body.get("field_type"),
            body.get("options"),
            actor_of(request).user_id,
            v1=False,
        )
        return ok(render_v2(definition, []))

    return endpoint


def routes() -> list[Route]:
    out = []
    for kind, path in PATHS.items():
        out.append(Route(f"/v1/{path}", v1_list(kind), methods=["GET"]))
        out.append(Route(f"/api/v2/{path}", v2_list(kind), methods=["GET"]))
        out.append(Route(f"/api/v2/{path}/{{field_code}}", v2_get(kind), methods=["GET"]))
        if kind != "activity":  # activity fields are read-only and have no v1 `/{id}`
            out.append(Route(f"/v1/{path}/{{id}}", v1_get(kind), methods=["GET"]))
            out.append(Route(f"/v1/{path}", v1_create(kind), methods=["POST"]))
            out.append(Route(f"/api/v2/{path}", v2_create(kind), methods=["POST"]))
    return out
