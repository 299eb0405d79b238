"""Pipedrive sandbox: the real webhook sender (no `webhook_sender` given) POSTs over HTTP to a
receiver listening on a loopback socket. Every other webhook test replaces the sender with an
in-process receiver; this one checks what actually goes over the wire."""

from __future__ import annotations

import base64
import json
import socket
from typing import Any

from pipedrive_support import async_test, client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmap.sandbox.pipedrive import PipedriveSettings, create_app
from syncmap.sandbox.serve import serve_app


class SocketReceiver:
    """An ASGI app served on a real socket: records each request, answers `statuses` in turn."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.received: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["GET", "POST", "PUT"])])

    async def _receive(self, request: Request) -> Response:
        self.received.append({
            "method": request.method,
            "path": request.url.path,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": json.loads(await request.body()),
        })  # fmt: skip
        return Response(status_code=self.statuses.pop(0) if self.statuses else 200)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def subscribe(c, url: str, **extra: str) -> int:
    body = {"subscription_url": url, "event_action": "create", "event_object": "person", "name": "syncmap", **extra}
    r = await c.post("/v1/webhooks", json=body)
    assert r.status_code == 201, r.text
    return r.json()["data"]["id"]


@async_test
async def test_default_sender_posts_the_payload_over_a_real_socket() -> None:
    receiver = SocketReceiver()
    async with serve_app(receiver.app) as url:
        app = create_app()
        async with client(app) as c:
            hook = await subscribe(c, f"{url}/hooks/pipedrive", http_auth_user="sync", http_auth_password="s3cret")
            made = (await c.post("/api/v2/persons", json={"name": "Ada Lovelace"})).json()["data"]
            stats = await app.state.webhooks.drain()
    assert stats == {"attempts": 1, "delivered": 1, "failed_attempts": 0, "lost": 0}
    (request,) = receiver.received
    assert (request["method"], request["path"]) == ("POST", "/hooks/pipedrive")
    assert request["headers"]["authorization"] == "Basic " + base64.b64encode(b"sync:s3cret").decode()
    assert request["headers"]["user-agent"] == "Pipedrive-Webhook"
    assert request["headers"]["content-type"] == "application/json"
    meta = request["body"]["meta"]
    assert (meta["action"], meta["entity"], meta["entity_id"], meta["webhook_id"]) == ("create", "person", str(made["id"]), str(hook))
    assert request["body"]["data"]["name"] == "Ada Lovelace" and request["body"]["previous"] is None
    (delivery,) = app.state.webhooks.deliveries
    assert (delivery["url"], delivery["status"], delivery["ok"], delivery["error"]) == (f"{url}/hooks/pipedrive", 200, True, None)


@async_test
async def test_default_sender_reports_the_receivers_status_and_is_retried() -> None:
    receiver = SocketReceiver(503)
    async with serve_app(receiver.app) as url:
        app = create_app(settings=PipedriveSettings(webhook_retry_delays=(0.01,)))
        async with client(app) as c:
            await subscribe(c, f"{url}/hook")
            await c.post("/api/v2/persons", json={"name": "Grace Hopper"})
            await app.state.webhooks.drain()
    assert [(d["attempt"], d["status"], d["ok"]) for d in app.state.webhooks.deliveries] == [(1, 503, False), (2, 200, True)]
    assert [r["body"]["meta"]["attempt"] for r in receiver.received] == [1, 2]
    assert app.state.webhooks.subscriptions[1]["last_http_status"] == 200


@async_test
async def test_default_sender_to_a_closed_port_is_a_failed_attempt_not_a_crash() -> None:
    app = create_app(settings=PipedriveSettings(webhook_retry_delays=()))
    async with client(app) as c:
        await subscribe(c, f"http://127.0.0.1:{closed_port()}/hook")
        r = await c.post("/api/v2/persons", json={"name": "Nobody Home"})
        assert r.status_code == 200  # the API answer does not wait for the receiver
        stats = await app.state.webhooks.drain()
    assert stats == {"attempts": 1, "delivered": 0, "failed_attempts": 1, "lost": 0}
    (delivery,) = app.state.webhooks.deliveries
    assert delivery["status"] is None and delivery["error"].startswith("ConnectError")
