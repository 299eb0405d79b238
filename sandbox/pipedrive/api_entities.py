"""API v2 persons, organizations, deals and activities: list, get, create, update, delete.

Query parameters, body keys and answers follow v2.yaml. Deletes are soft (§8): a deleted
record leaves every list (deals come back with `status=deleted`) and is purged after the
retention period; what GET of a deleted id answers is the `deleted_get` setting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmap.sandbox.pipedrive import models, times
from syncmap.sandbox.pipedrive.errors import bad_request, gone, not_found
from syncmap.sandbox.pipedrive.http import Endpoint, actor_of, json_body, ok, parse_int, path_id, q_bool, q_int, q_list, store_of
from syncmap.sandbox.pipedrive.order import Entry, entry
from syncmap.sandbox.pipedrive.pagination import keyset_page, parse_limit
from syncmap.sandbox.pipedrive.store import Store

PATHS = {"person": "persons", "organization": "organizations", "deal": "deals", "activity": "activities"}

COMMON = ("filter_id", "ids", "owner_id", "updated_since", "updated_until", "sort_by", "sort_direction", "limit", "cursor")
LABELS = ("custom_fields", "include_option_labels", "include_labels", "include_fields")
LIST_PARAMS = {
    "person": COMMON + LABELS + ("org_id", "deal_id"),
    "organization": COMMON + LABELS,
    "deal": COMMON + LABELS + ("person_id", "org_id", "pipeline_id", "stage_id", "status"),
    "activity": COMMON + ("deal_id", "lead_id", "person_id", "org_id", "done", "include_fields"),
}
SORT_KEYS = {
    "person": ("id", "update_time", "add_time"),
    "organization": ("id", "update_time", "add_time"),
    "deal": ("id", "update_time", "add_time"),
    "activity": ("id", "update_time", "add_time", "due_date"),
}
_COUNTS = (
    "next_activity_id",
    "last_activity_id",
    "email_messages_count",
    "activities_count",
    "done_activities_count",
    "undone_activities_count",
    "files_count",
    "notes_count",
    "followers_count",
    "last_incoming_mail_time",
    "last_outgoing_mail_time",
)
_DEAL_COUNTS = (
    "open_deals_count",
    "related_open_deals_count",
    "closed_deals_count",
    "related_closed_deals_count",
    "won_deals_count",
    "related_won_deals_count",
    "lost_deals_count",
    "related_lost_deals_count",
)
INCLUDE_FIELDS = {
    "person": _COUNTS
    + _DEAL_COUNTS
    + ("participant_open_deals_count", "participant_closed_deals_count", "marketing_status", "doi_status", "smart_bcc_email"),
    "organization": _COUNTS + _DEAL_COUNTS + ("people_count", "smart_bcc_email"),
    "deal": _COUNTS + ("first_won_time", "products_count", "participants_count", "smart_bcc_email", "source_lead_id"),
    "activity": ("attendees",),
}
DEAL_STATUSES = ("open", "won", "lost", "deleted")


def _check_params(request: Request, allowed: Iterable[str]) -> None:
    """The v2 lists refuse parameters they do not have (a [3P] report for `type`)."""
    if not store_of(request).settings.reject_unknown_fields:
        return
    known = set(allowed) | {"api_token"}
    for name in request.query_params:
        if name not in known:
            raise bad_request(f'"{name}" is not allowed')


def _view(request: Request, kind: str, store: Store, ids: list[int] | None = None) -> models.View:
    if q_bool(request, "include_labels"):
        # v2.yaml names no key for the label objects it promises: refuse rather than guess.
        raise bad_request('"include_labels" is not modelled by the sandbox; read label_ids and the field options')
    option_labels = bool(q_bool(request, "include_option_labels"))
    include = tuple(q_list(request, "include_fields"))
    for name in include:
        if name not in INCLUDE_FIELDS[kind]:
            raise bad_request(f'"include_fields" must be one of [{", ".join(INCLUDE_FIELDS[kind])}]')
    custom_keys = q_list(request, "custom_fields") if kind in models.HAS_CUSTOM_FIELDS else []
    if len(custom_keys) > 15:
        raise bad_request('"custom_fields" must contain at most 15 keys')
    return models.View(kind, store, custom_keys=custom_keys or None, include=include, option_labels=option_labels, ids=ids)


def _time_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return times.parse_rfc3339(raw)
    except ValueError:
        raise bad_request(f'"{name}" must be a valid date in RFC 3339 format') from None


def _ids(request: Request) -> set[int] | None:
    ids = q_list(request, "ids")
    if not ids:
        return None
    try:
        wanted = {parse_int(i) for i in ids}
    except ValueError:
        raise bad_request('"ids" must be a comma separated list of numbers') from None
    if len(wanted) > 100:
        raise bad_request('"ids" must contain at most 100 ids')
    return wanted


def _updated_range(request: Request) -> tuple[float | None, float | None]:
    return _time_param(request, "updated_since"), _time_param(request, "updated_until")


def _field_is(name: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    """A filter: the record's `name` is `value` (bound now, not when the loop has moved on)."""
    return lambda record: record.get(name) == value


def _filters(request: Request, kind: str) -> list[Callable[[dict[str, Any]], bool]]:
    checks: list[Callable[[dict[str, Any]], bool]] = []
    if request.query_params.get("filter_id"):
        raise bad_request("Filter not found")  # saved filters are not modelled
    wanted = _ids(request)
    if wanted is not None:
        checks.append(lambda r: r["id"] in wanted)
    for name in ("owner_id", "org_id", "person_id", "deal_id", "pipeline_id", "stage_id"):
        if name not in LIST_PARAMS[kind]:
            continue
        value = q_int(request, name)
        if value is None:
            continue
        if kind == "person" and name == "deal_id":
            store = store_of(request)
            deal = store.get("deal", value)
            person_id = deal["person_id"] if deal else None
            checks.append(_field_is("id", person_id))
        else:
            checks.append(_field_is(name, value))
    if kind == "activity":
        lead = request.query_params.get("lead_id")
        if lead:
            checks.append(lambda r: r.get("lead_id") == lead)
        done = q_bool(request, "done")
        if done is not None:
            checks.append(lambda r: r["done"] is done)
    since, until = _updated_range(request)
    if since is not None:
        checks.append(lambda r: r["update_time"] >= since)
    if until is not None:
        checks.append(lambda r: r["update_time"] < until)
    return checks


def _status_filter(request: Request, kind: str) -> Callable[[dict[str, Any]], bool]:
    if kind != "deal":
        return lambda r: not r["is_deleted"]
    statuses = q_list(request, "status")
    for status in statuses:
        if status not in DEAL_STATUSES:
            raise bad_request(f'"status" must be one of [{", ".join(DEAL_STATUSES)}]')
    wanted = set(statuses) if statuses else {"open", "won", "lost"}
    return lambda r: r["status"] in wanted


def _candidates(request: Request, store: Store, kind: str, sort_by: str, limit: int) -> tuple[Sequence[Entry], tuple[int, int] | None]:
    """Ordered entries (and the span of them) that hold every record the list may select.

    The filters still check each record, so this only decides how much is walked: the few
    `ids`, the `updated_since`/`updated_until` range of the update_time order (bisected), or the
    whole order of the sort key.
    """
    wanted = _ids(request)
    table = store.table(kind)
    if wanted is not None:
        return sorted(entry(table[i], sort_by) for i in wanted if i in table), None
    since, until = _updated_range(request)
    if since is None and until is None:
        return store.order(kind, sort_by).entries, None
    by_update = store.order(kind, "update_time")
    start, end = by_update.span(since, until)
    if sort_by == "update_time":
        return by_update.entries, (start, end)
    # Few changed records are cheaper to sort than to find among all; many are cheaper to walk.
    if (end - start) ** 2 <= len(by_update.entries) * limit:
        return sorted(entry(table[i], sort_by) for _, i in by_update.entries[start:end]), None
    return store.order(kind, sort_by).entries, None


def list_route(kind: str, *, archived: bool = False) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        store = store_of(request)
        settings = store.settings
        _check_params(request, LIST_PARAMS[kind])
        sort_by = request.query_params.get("sort_by") or "id"
        if sort_by not in SORT_KEYS[kind]:
            raise bad_request(f'"sort_by" must be one of [{", ".join(SORT_KEYS[kind])}]')
        direction = request.query_params.get("sort_direction") or "asc"
        if direction not in ("asc", "desc"):
            raise bad_request('"sort_direction" must be one of [asc, desc]')
        limit = parse_limit(request.query_params.get("limit"), settings.default_limit, settings.max_limit)
        _view(request, kind, store, ids=[])  # refuses bad view parameters before any paging
        checks = [_status_filter(request, kind), *_filters(request, kind)]
        if kind == "deal":
            checks.append(lambda r: r["is_archived"] is archived)
        table = store.table(kind)

        def fetch(entity_id: int) -> dict[str, Any] | None:
            record = table.get(entity_id)
            return record if record is not None and all(check(record) for check in checks) else None

        entries, span = _candidates(request, store, kind, sort_by, limit)
        page, next_cursor = keyset_page(
            entries,
            fetch,
            sort_by=sort_by,
            direction=direction,
            limit=limit,
            cursor=request.query_params.get("cursor"),
            span=span,
        )
        view = _view(request, kind, store, ids=[r["id"] for r in page])
        return ok([view.render(r) for r in page], {"next_cursor": next_cursor})

    return endpoint


def _existing(store: Store, kind: str, entity_id: int) -> dict[str, Any]:
    record = store.get(kind, entity_id)
    if record is None:
        raise not_found()
    return record


def _live(store: Store, kind: str, entity_id: int) -> dict[str, Any]:
    record = _existing(store, kind, entity_id)
    if record["is_deleted"]:
        raise not_found()
    return record


def get_route(kind: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        store = store_of(request)
        record = _existing(store, kind, path_id(request))
        if record["is_deleted"]:
            mode = store.settings.deleted_get
            if mode == "404":
                raise not_found()
            if mode == "410":
                raise gone()
        return ok(_view(request, kind, store, ids=[record["id"]]).render(record))

    return endpoint


def create_route(kind: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        store = store_of(request)
        actor = actor_of(request)
        body = models.check_body(kind, await json_body(request), store, creating=True)
        record = store.create(kind, models.new_record(kind, body, store, actor), actor)
        return ok(models.View(kind, store).render(record))

    return endpoint


def update_route(kind: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        store = store_of(request)
        actor = actor_of(request)
        record = _live(store, kind, path_id(request))
        body = models.check_body(kind, await json_body(request), store, creating=False)
        record = store.change(kind, record["id"], models.changes_for(kind, record, body, store), actor)
        return ok(models.View(kind, store).render(record))

    return endpoint


def delete_route(kind: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        store = store_of(request)
        record = _live(store, kind, path_id(request))
        store.delete(kind, record["id"], actor_of(request))
        return ok({"id": record["id"]})

    return endpoint


def create_as(store: Store, kind: str, body: Any, actor: Any) -> dict[str, Any]:
    """Create a record as `actor` (used by the "app user" control routes)."""
    checked = models.check_body(kind, body, store, creating=True)
    return store.create(kind, models.new_record(kind, checked, store, actor), actor)


def apply_as(store: Store, kind: str, entity_id: int, body: Any, actor: Any, *, delete: bool = False) -> dict[str, Any] | None:
    """Change or delete a record as `actor` (used by the "app user" control routes)."""
    record = _live(store, kind, entity_id)
    if delete:
        store.delete(kind, entity_id, actor)
        return None
    checked = models.check_body(kind, body, store, creating=False)
    return store.change(kind, entity_id, models.changes_for(kind, record, checked, store), actor)


def routes() -> list[Route]:
    out = []
    for kind, path in PATHS.items():
        base = f"/api/v2/{path}"
        out.append(Route(base, list_route(kind), methods=["GET"]))
        out.append(Route(base, create_route(kind), methods=["POST"]))
        if kind == "deal":
            out.append(Route(f"{base}/archived", list_route(kind, archived=True), methods=["GET"]))
    return out


def item_routes() -> list[Route]:
    """`/{id}` routes; mounted after the literal ones such as `/persons/search`."""
    out = []
    for kind, path in PATHS.items():
        item = f"/api/v2/{path}/{{id}}"
        out.append(Route(item, get_route(kind), methods=["GET"]))
        out.append(Route(item, update_route(kind), methods=["PATCH"]))
        out.append(Route(item, delete_route(kind), methods=["DELETE"]))
    return out
