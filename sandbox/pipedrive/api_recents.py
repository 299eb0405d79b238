"""`GET /v1/recents`: what changed since a timestamp, as the January 2026 v1 description says.

`since_timestamp` ("YYYY-MM-DD HH:MM:SS", UTC) is required; `items` names one or more item
types (default: every type the sandbox models); `start`/`limit` page with
`additional_data.pagination`. Items come in `update_time` order (users by `modified`), to the
millisecond the sandbox keeps though v1 shows whole seconds, ties by type then id, each `{"item", "id", "data"}` with `data` in the v1 shape. Item types the
description lists but the sandbox does not model (notes, files, products, …) get the 501
"does not model" answer. Records come from the store's update_time order, so a page costs
the same at any store size for one item type.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmap.sandbox.pipedrive import models, times, v1_records
from syncmap.sandbox.pipedrive.api_users import render_type, render_user
from syncmap.sandbox.pipedrive.errors import bad_request, not_modelled
from syncmap.sandbox.pipedrive.http import ok, q_list, store_of
from syncmap.sandbox.pipedrive.pagination import parse_limit, parse_start
from syncmap.sandbox.pipedrive.store import Store

ITEM_TYPES = (
    "activity", "activityType", "deal", "file", "filter", "note",
    "person", "organization", "pipeline", "product", "stage", "user",
)  # fmt: skip
RECORD_KINDS = ("activity", "deal", "person", "organization")  # store kinds, in ITEM_TYPES order
MODELLED = ("activity", "activityType", "deal", "person", "organization", "user")
V1_TIME = "%Y-%m-%d %H:%M:%S"

Change = tuple[float, int, int, str]  # (update time, item type order, id, item type)


def _since(request: Request) -> int:
    raw = request.query_params.get("since_timestamp")
    if not raw:
        raise bad_request('"since_timestamp" is required')
    try:
        parsed = datetime.strptime(raw.strip(), V1_TIME).replace(tzinfo=UTC)
    except ValueError:
        raise bad_request('"since_timestamp" must be a timestamp in format YYYY-MM-DD HH:MM:SS') from None
    return int(parsed.timestamp())


def _types(request: Request) -> list[str]:
    names = q_list(request, "items")
    for name in names:
        if name not in ITEM_TYPES:
            raise bad_request(f'"items" must be one of [{", ".join(ITEM_TYPES)}]')
    unmodelled = [name for name in names if name not in MODELLED]
    if unmodelled:
        raise not_modelled(f"GET /v1/recents?items={','.join(unmodelled)}")
    return sorted(set(names) or set(MODELLED), key=ITEM_TYPES.index)


def _modified(user: dict[str, Any]) -> int:
    return int(datetime.strptime(user["modified"], V1_TIME).replace(tzinfo=UTC).timestamp())


def _changes(store: Store, item: str, since: int, skip: int = 0) -> Iterator[Change]:
    """The changes of one item type since `since`, in update_time order, past the first `skip`."""
    rank = ITEM_TYPES.index(item)
    # `since` is a whole second and times carry milliseconds: "after" it means from the next second.
    low = since if store.settings.recents_since_inclusive else since + 1
    if item in RECORD_KINDS:
        index = store.order(item, "update_time")
        start, end = index.span(low)
        table = store.table(item)
        if store.settings.recents_include_deleted:  # every entry counts: jump straight to the page
            start, skip = min(end, start + skip), 0
        found = (
            (stamp, rank, entity_id, item)
            for (_, stamp), entity_id in (index.entries[i] for i in range(start, end))
            if store.settings.recents_include_deleted or not table[entity_id]["is_deleted"]
        )
        yield from itertools.islice(found, skip, None)
        return
    rows = (
        [(_modified(u), u["id"]) for u in store.users.values()]
        if item == "user"
        else [(t["update_time"], t["id"]) for t in store.activity_types.values()]
    )
    found = ((stamp, rank, row_id, item) for stamp, row_id in sorted(rows) if stamp >= low)
    yield from itertools.islice(found, skip, None)


def _render_page(store: Store, page: list[Change]) -> list[dict[str, Any]]:
    renderers: dict[str, Callable[[dict[str, Any], Store, v1_records.Counts], dict[str, Any]]] = {
        "person": models.person_v1,
        "organization": v1_records.organization_v1,
        "deal": v1_records.deal_v1,
        "activity": v1_records.activity_v1,
    }
    counts = {
        kind: v1_records.page_counts(kind, store, [c[2] for c in page if c[3] == kind])
        for kind in ("person", "organization", "deal")
        if any(c[3] == kind for c in page)
    }
    out = []
    for _, _, entity_id, item in page:
        data: Any
        if item in renderers:
            data = renderers[item](store.table(item)[entity_id], store, counts.get(item, {}))
        elif item == "user":
            user = render_user(store.users[entity_id], store.me_id)
            data = [user] if store.settings.recents_user_data == "array" else user
        else:
            data = render_type(store.activity_types[entity_id], store)
        out.append({"item": item, "id": entity_id, "data": data})
    return out


async def recents(request: Request) -> Response:
    store = store_of(request)
    since = _since(request)
    types = _types(request)
    start = parse_start(request.query_params.get("start"))
    limit = parse_limit(request.query_params.get("limit"), store.settings.default_limit, store.settings.max_limit)
    if len(types) == 1:  # one type: its changes skip to the page themselves
        window = list(itertools.islice(_changes(store, types[0], since, start), limit + 1))
    else:
        merged = heapq.merge(*(_changes(store, item, since) for item in types))
        window = list(itertools.islice(merged, start, start + limit + 1))
    page, more = window[:limit], len(window) > limit
    pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pagination["next_start"] = start + limit
    additional = {
        "since_timestamp": times.v1_time(since),
        "last_timestamp_on_page": times.v1_time(int(page[-1][0])) if page else None,
        "pagination": pagination,
    }
    return ok(_render_page(store, page), additional)


def routes() -> list[Route]:
    return [Route("/v1/recents", recents, methods=["GET"])]
