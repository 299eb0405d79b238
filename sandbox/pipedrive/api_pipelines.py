"""v2 pipelines and stages (`/api/v2/pipelines`, `/api/v2/stages`): listed with cursor paging,
read one by one, added; what `syncmap action`'s Update Deal Stage resolves a stage name through.
Shapes: v2.yaml's GetPipelinesResponse, UpsertPipelineResponse, GetStagesResponse, StageItem."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmap.sandbox.pipedrive import times
from syncmap.sandbox.pipedrive.errors import bad_request, not_found
from syncmap.sandbox.pipedrive.http import Endpoint, object_body, ok, path_id, q_int, store_of
from syncmap.sandbox.pipedrive.pagination import cursor_page, parse_limit
from syncmap.sandbox.pipedrive.seed import pipeline_record, stage_record
from syncmap.sandbox.pipedrive.store import Store

SORT_KEYS = {"pipeline": ("id", "update_time", "add_time"), "stage": ("id", "update_time", "add_time", "order_nr")}


def render(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "add_time": times.rfc3339(item["add_time"]), "update_time": times.rfc3339(item["update_time"])}


def table(store: Store, kind: str) -> dict[int, dict[str, Any]]:
    return store.pipelines if kind == "pipeline" else store.stages


def list_route(kind: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        store = store_of(request)
        sort_by = request.query_params.get("sort_by") or "id"
        if sort_by not in SORT_KEYS[kind]:
            raise bad_request(f'"sort_by" must be one of [{", ".join(SORT_KEYS[kind])}]')
        direction = request.query_params.get("sort_direction") or "asc"
        if direction not in ("asc", "desc"):
            raise bad_request('"sort_direction" must be one of [asc, desc]')
        limit = parse_limit(request.query_params.get("limit"), store.settings.default_limit, store.settings.max_limit)
        items = [i for i in table(store, kind).values() if not i["is_deleted"]]
        if kind == "stage":
            pipeline_id = q_int(request, "pipeline_id")
            if pipeline_id is not None:
                items = [i for i in items if i["pipeline_id"] == pipeline_id]
        page, next_cursor = cursor_page(items, sort_by=sort_by, direction=direction, limit=limit, cursor=request.query_params.get("cursor"))
        return ok([render(i) for i in page], {"next_cursor": next_cursor})

    return endpoint


def get_route(kind: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        item = table(store_of(request), kind).get(path_id(request))
        if item is None or item["is_deleted"]:
            raise not_found()
        return ok(render(item))

    return endpoint


def _name(body: dict[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request('"name" is required.')
    return name.strip()


async def add_pipeline(request: Request) -> Response:
    store = store_of(request)
    name = _name(await object_body(request))
    pipeline_id = store.next_id("pipeline")
    order = max((p["order_nr"] for p in store.pipelines.values()), default=0) + 1
    store.pipelines[pipeline_id] = pipeline_record(pipeline_id, name, order, store.now())
    return ok(render(store.pipelines[pipeline_id]))


async def add_stage(request: Request) -> Response:
    store = store_of(request)
    body = await object_body(request)
    name = _name(body)
    pipeline_id = body.get("pipeline_id")
    pipeline = store.pipelines.get(pipeline_id) if isinstance(pipeline_id, int) and not isinstance(pipeline_id, bool) else None
    if pipeline is None or pipeline["is_deleted"]:
        raise bad_request('"pipeline_id" must be the id of an existing pipeline')
    stage_id = store.next_id("stage")
    order = max((s["order_nr"] for s in store.stages.values() if s["pipeline_id"] == pipeline_id), default=0) + 1
    store.stages[stage_id] = stage_record(stage_id, name, pipeline["id"], order, store.now())
    return ok(render(store.stages[stage_id]))


def routes() -> list[Route]:
    return [
        Route("/api/v2/pipelines", list_route("pipeline"), methods=["GET"]),
        Route("/api/v2/pipelines", add_pipeline, methods=["POST"]),
        Route("/api/v2/pipelines/{id}", get_route("pipeline"), methods=["GET"]),
        Route("/api/v2/stages", list_route("stage"), methods=["GET"]),
        Route("/api/v2/stages", add_stage, methods=["POST"]),
        Route("/api/v2/stages/{id}", get_route("stage"), methods=["GET"]),
    ]
