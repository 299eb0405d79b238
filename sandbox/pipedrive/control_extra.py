"""Pipedrive-only control routes under `/__sandbox__/` (besides reset/seed/faults/requests/clock).

- `POST /__sandbox__/app/{entity}` creates, `PATCH|POST /__sandbox__/app/{entity}/{id}` changes and
  `DELETE /__sandbox__/app/{entity}/{id}` deletes a record *as a user in the Pipedrive app*:
  webhooks carry `change_source: "app"` and that user's id (default: the account's second
  user; `?user_id=` picks another). `PUT /__sandbox__/app/persons/{id}/merge` merges in the app.
  `{entity}` is persons, organizations, deals or activities.
- `POST /__sandbox__/webhooks/drain` waits for every pending delivery (retries included);
  `GET /__sandbox__/webhooks/deliveries` lists every attempt and every lost event.
- `GET|PUT /__sandbox__/limits` shows the daily budget and burst windows; PUT
  `{"budget_used": n}` or `{"budget_remaining": n}` sets the day's spend, `{"reset": true}` clears all.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncmap.sandbox.core import CONTROL_PREFIX
from syncmap.sandbox.pipedrive import models
from syncmap.sandbox.pipedrive.api_entities import PATHS, apply_as, create_as
from syncmap.sandbox.pipedrive.api_merge import merge_persons
from syncmap.sandbox.pipedrive.errors import bad_request
from syncmap.sandbox.pipedrive.http import json_body, path_id, q_int, store_of
from syncmap.sandbox.pipedrive.store import Actor

KIND_OF_PATH = {path: kind for kind, path in PATHS.items()}


def _app_actor(request: Request) -> Actor:
    store = store_of(request)
    user_id = q_int(request, "user_id") or store.app_user_id
    if user_id not in store.users:
        raise bad_request("unknown user_id")
    return Actor(user_id=user_id, source="app")


def _kind(request: Request) -> str:
    kind = KIND_OF_PATH.get(request.path_params["entity"])
    if kind is None:
        raise bad_request(f"entity must be one of {', '.join(KIND_OF_PATH)}")
    return kind


async def app_create(request: Request) -> Response:
    store, kind = store_of(request), _kind(request)
    record = create_as(store, kind, await json_body(request), _app_actor(request))
    return JSONResponse({"ok": True, "data": models.View(kind, store).render(record)})


async def app_change(request: Request) -> Response:
    store, kind = store_of(request), _kind(request)
    delete = request.method == "DELETE"
    body = {} if delete else await json_body(request)
    record = apply_as(store, kind, path_id(request), body, _app_actor(request), delete=delete)
    return JSONResponse({"ok": True, "data": models.View(kind, store).render(record) if record else None})


async def app_merge(request: Request) -> Response:
    store = store_of(request)
    body = await json_body(request)
    survivor = body.get("merge_with_id") if isinstance(body, dict) else None
    if not isinstance(survivor, int):
        raise bad_request("merge_with_id is required")
    record = merge_persons(store, path_id(request), survivor, _app_actor(request))
    return JSONResponse({"ok": True, "data": models.View("person", store).render(record)})


async def drain(request: Request) -> Response:
    return JSONResponse({"ok": True, **(await request.app.state.webhooks.drain())})


async def deliveries(request: Request) -> Response:
    hooks = request.app.state.webhooks
    return JSONResponse({"deliveries": hooks.deliveries, "lost": hooks.lost, "pending": hooks.pending, "removed": len(hooks.removed)})


async def limits(request: Request) -> Response:
    state = request.app.state.limits
    if request.method == "PUT":
        body = await json_body(request)
        if not isinstance(body, dict):
            raise bad_request("the body must be a JSON object")
        if body.get("reset"):
            state.reset()
        if "budget_used" in body:
            state.budget.used = int(body["budget_used"])
        if "budget_remaining" in body:
            state.budget.used = state.budget.limit - int(body["budget_remaining"])
    return JSONResponse(
        {
            "budget": {"limit": state.budget.limit, "used": state.budget.used, "remaining": state.budget.remaining},
            "daily_requests_left": state.post_put.left,
            "windows": {key: {"start": w.start, "used": w.used} for key, w in state.burst.windows.items()},
            "search_windows": {key: {"start": w.start, "used": w.used} for key, w in state.search.windows.items()},
        }
    )


def routes() -> list[Route]:
    p = CONTROL_PREFIX
    return [
        Route(f"{p}/app/persons/{{id}}/merge", app_merge, methods=["PUT", "POST"]),
        Route(f"{p}/app/{{entity}}", app_create, methods=["POST"]),
        Route(f"{p}/app/{{entity}}/{{id}}", app_change, methods=["PATCH", "POST", "DELETE"]),
        Route(f"{p}/webhooks/drain", drain, methods=["POST"]),
        Route(f"{p}/webhooks/deliveries", deliveries, methods=["GET"]),
        Route(f"{p}/limits", limits, methods=["GET", "PUT"]),
    ]
