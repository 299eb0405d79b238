"""Webhook management, v1 only: `POST /v1/webhooks`, `GET /v1/webhooks`,
`DELETE /v1/webhooks/{id}`, with the bodies of the v1 spec (which break the usual envelope:
`status: "ok"` on success, `errors` keyed by field on failure)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmap.sandbox.pipedrive.errors import ApiError, envelope, json_response, webhook_errors
from syncmap.sandbox.pipedrive.http import actor_of, json_body, path_id
from syncmap.sandbox.pipedrive.webhooks import Webhooks

ACTIONS = ("create", "change", "delete", "*")
OBJECTS = ("activity", "deal", "lead", "note", "organization", "person", "pipeline", "product", "stage", "user", "*")


def _webhooks(request: Request) -> Webhooks:
    webhooks: Webhooks = request.app.state.webhooks  # set by create_app; starlette's State is untyped
    return webhooks


async def create(request: Request) -> Response:
    hooks = _webhooks(request)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise webhook_errors(400, {"body": ["must be an object"]})
    errors: dict[str, list[str]] = {}
    url = body.get("subscription_url")
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
        port = parts.port if parts else None  # raises for "http://[::1" or a port past 65535
    except ValueError:
        parts = port = None
    if not parts or parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        errors["subscription_url"] = ["invalid or non-reachable URL"]
    if body.get("event_action") not in ACTIONS:
        errors["event_action"] = [f"must be one of {', '.join(ACTIONS)}"]
    if body.get("event_object") not in OBJECTS:
        errors["event_object"] = [f"must be one of {', '.join(OBJECTS)}"]
    name = body.get("name")
    if not isinstance(name, str) or not name or len(name) > 255:
        errors["name"] = ["is required and at most 255 characters"]
    version = body.get("version") or "2.0"
    if version not in ("1.0", "2.0"):
        errors["version"] = ["must be one of 1.0, 2.0"]
    elif version == "1.0":
        errors["version"] = ["the sandbox delivers v2 payloads only"]
    user_id = body.get("user_id")
    if user_id is not None and (isinstance(user_id, bool) or not isinstance(user_id, int) or user_id not in request.app.state.store.users):
        errors["user_id"] = ["must be the id of a user of the company"]
    for key in ("http_auth_user", "http_auth_password"):
        if body.get(key) is not None and not isinstance(body[key], str):
            errors[key] = ["must be a string"]
    if errors:
        raise webhook_errors(400, errors)
    owner = actor_of(request).user_id
    if len(hooks.owned_by(owner)) >= hooks.settings.max_webhooks_per_user:
        raise ApiError(422, envelope("Webhooks limit reached"))
    sub = hooks.add({**body, "version": version}, owner)
    return json_response({"status": "ok", "success": True, "data": hooks.render(sub)}, 201)


async def list_all(request: Request) -> Response:
    hooks = _webhooks(request)
    owner = actor_of(request).user_id
    return json_response({"status": "ok", "success": True, "data": [hooks.render(s) for s in hooks.owned_by(owner)]})


async def delete(request: Request) -> Response:
    hooks = _webhooks(request)
    webhook_id = path_id(request)
    sub = hooks.subscriptions.get(webhook_id)
    if sub is None:
        raise webhook_errors(404, {"id": ["not found"]})
    if sub["owner_id"] != actor_of(request).user_id:
        raise ApiError(403, {"success": False, "message": "Forbidden"})
    del hooks.subscriptions[webhook_id]
    return json_response({"status": "ok", "success": True})


def routes() -> list[Route]:
    return [
        Route("/v1/webhooks", create, methods=["POST"]),
        Route("/v1/webhooks", list_all, methods=["GET"]),
        Route("/v1/webhooks/{id}", delete, methods=["DELETE"]),
    ]
