"""Small request/answer helpers shared by the route modules."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from syncmap.sandbox.core import parse_json
from syncmap.sandbox.pipedrive.errors import bad_request, json_response
from syncmap.sandbox.pipedrive.store import Actor, Store

ACTOR_KEY = "pipedrive.actor"
# A route's handler, as the route factories (`v1_list(kind)`, `cursor_route(...)`) make them.
Endpoint = Callable[[Request], Awaitable[Response]]


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store  # set by create_app; starlette's State is untyped
    return store


def actor_of(request: Request) -> Actor:
    actor: Actor | None = request.scope.get(ACTOR_KEY)  # set by the auth middleware
    if actor is None:  # only reachable when the auth middleware is bypassed (control routes)
        return Actor(user_id=store_of(request).me_id, source="api")
    return actor


_INTEGER = re.compile(r"[+-]?[0-9]+\Z")  # ASCII digits only: Python's int() also takes "١٢" and "1_0"


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return parse_json(raw)
    except ValueError:  # UnicodeDecodeError included
        # Form bodies are accepted too, as Pipedrive does for v1 (parsed here: no multipart
        # dependency, and a form body never reaches a parser that could fail on it).
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            try:
                return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            except (UnicodeDecodeError, ValueError):
                pass
        raise bad_request("Invalid JSON in request body") from None


async def object_body(request: Request) -> dict[str, Any]:
    """The JSON body, which must be an object (Pipedrive's 400 otherwise)."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise bad_request('"body" must be of type object')
    return body


def parse_int(raw: str) -> int:
    """An integer written in ASCII digits, else ValueError (also past int()'s 4,300 digits)."""
    if not _INTEGER.match(raw.strip()):
        raise ValueError(f"not an integer: {raw!r}")
    return int(raw)


def ok(data: Any, additional_data: Any = None, *, status: int = 200, **extra: Any) -> Response:
    body: dict[str, Any] = {"success": True, "data": data}
    if additional_data is not None:
        body["additional_data"] = additional_data
    body.update(extra)
    return json_response(body, status)


def path_id(request: Request, name: str = "id") -> int:
    raw = request.path_params[name]
    try:
        value = parse_int(raw)
    except (TypeError, ValueError):
        raise bad_request(f'"{name}" must be a number') from None
    if value < 1:
        raise bad_request(f'"{name}" must be a positive number')
    return value


def q_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_int(raw)
    except ValueError:
        raise bad_request(f'"{name}" must be a number') from None


def q_bool(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise bad_request(f'"{name}" must be a boolean')


def q_list(request: Request, name: str) -> list[str]:
    raw = request.query_params.get(name)
    if not raw:
        return []
    return [part.strip() for part in raw.split(",") if part.strip()]
