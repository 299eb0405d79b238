"""Helpers for the Autopilot sandbox tests: an in-process client and a hook receiver."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

HOST = "http://autopilot.test"
CONTROL = f"{HOST}/__sandbox__"


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return run


@asynccontextmanager
async def client(app: Any, key: str | None = "sandbox-key") -> AsyncIterator[httpx.AsyncClient]:
    headers = {"autopilotapikey": key} if key is not None else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=f"{HOST}/v1", headers=headers) as http:
        yield http


class Receiver:
    """An in-process hook target: records each delivery and answers with scripted statuses."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])

    async def _receive(self, request: Request) -> Response:
        self.received.append(
            {
                "path": request.url.path,
                "method": request.method,
                "body": json.loads(await request.body()),
                "content_type": request.headers.get("content-type"),
                "headers": {k.lower(): v for k, v in request.headers.items()},
            }
        )
        return Response(status_code=self.statuses.pop(0) if self.statuses else 200)

    async def send(self, url: str, headers: dict[str, str], body: bytes, method: str = "POST") -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(self.app)) as http:
            return (await http.request(method, url, headers=headers, content=body)).status_code

    def events(self) -> list[str]:
        return [r["body"]["event"] for r in self.received]
