"""The server's HTTP side: receives deliveries, refuses what does not belong, and answers only
after a delivery is durably in the inbox.

Routes: `POST /hooks/pipedrive` (HTTP basic auth, as Pipedrive sends it), `POST
/hooks/autopilot/{token}` (the token Autopilot has in its target URL), `POST /actions/{name}`
(an Autopilot journey's Webhook step; basic auth, which the step offers), `GET /healthz`,
`GET /metrics`. Anything else is 404. Nothing a client sends reaches the engine before it
has been authenticated, size-checked, parsed and recognised as a delivery.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncmap.runtime.serve.events import ShapeError, autopilot_delivery, parse_json, pipedrive_delivery
from syncmap.runtime.serve.metrics import CONTENT_TYPE, Metrics
from syncmap.runtime.serve.subscriptions import Credentials

DEFAULT_BODY_LIMIT = 1_000_000  # bytes; a Pipedrive v2 delivery is a few KB, a journey batch more
DEFAULT_BODY_SECONDS = 10.0  # a body that takes longer to arrive is not a sender's delivery


class Refused(Exception):
    def __init__(self, status: int, message: str, reason: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.reason, self.headers = status, message, reason, dict(headers or {})


@dataclass
class Health:
    """What `/healthz` reports: whether each API answered its last check, and when."""

    apis: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_pass: float | None = None
    started: float = field(default_factory=time.time)

    def mark(self, system: str, ok: bool, error: str = "") -> None:
        self.apis[system] = {"ok": ok, "checked_at": time.time(), **({"error": error} if error else {})}


@dataclass
class Receiver:
    state: Any
    metrics: Metrics
    creds: Credentials
    actions: Mapping[str, Any]  # action name -> its plan entry
    wake: Callable[[], None]
    health: Health
    journey_deliveries: Callable[[str, Any], list[tuple[dict[str, Any], str]]] | None = None
    body_limit: int = DEFAULT_BODY_LIMIT
    body_seconds: float = DEFAULT_BODY_SECONDS

    # -- refusing ---------------------------------------------------------------------------
    def check_basic(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        user = password = b""
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
            except (binascii.Error, ValueError):
                user = password = b""
        # Both compared in constant time, and both always compared: no early exit to time.
        good_user = secrets.compare_digest(user, self.creds.user.encode())
        good_password = secrets.compare_digest(password, self.creds.password.encode())
        if not (good_user and good_password):
            raise Refused(401, "wrong or missing credentials", "unauthorized", {"WWW-Authenticate": 'Basic realm="syncmap"'})

    def check_token(self, token: str) -> None:
        if not secrets.compare_digest(token.encode(), self.creds.token.encode()):
            raise Refused(401, "wrong token", "unauthorized")

    async def body(self, request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise Refused(400, "a malformed Content-Length", "malformed")
            if int(declared) > self.body_limit:
                raise Refused(413, f"the body is over {self.body_limit:,} bytes", "too_large")
        try:
            raw = await asyncio.wait_for(self._read(request), self.body_seconds)
        except TimeoutError:
            raise Refused(408, f"the body did not arrive within {self.body_seconds:g} s", "slow") from None
        except ClientDisconnect:
            raise Refused(400, "the client went away mid-body", "malformed") from None
        try:
            return parse_json(raw)
        except ShapeError as error:
            raise Refused(400, str(error), "malformed") from None

    async def _read(self, request: Request) -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.body_limit:
                raise Refused(413, f"the body is over {self.body_limit:,} bytes", "too_large")
            chunks.append(chunk)
        return b"".join(chunks)

    # -- accepting ----------------------------------------------------------------------------
    def accept(self, source: str, key: str, body: Any) -> bool:
        """Into the inbox (committed before this returns); False for a delivery seen before."""
        item = self.state.add_inbox(source=source, delivery_key=key, body=body)
        label = "action" if source.startswith("action:") else source
        if item is None:
            self.metrics.deduplicated.labels(label).inc()
            return False
        self.metrics.received.labels(label).inc()
        self.wake()
        return True

    async def pipedrive(self, request: Request) -> Response:
        self.check_basic(request)
        body = await self.body(request)
        try:
            key, _ = pipedrive_delivery(body)
        except ShapeError as error:
            raise Refused(400, str(error), "unknown_shape") from None
        new = self.accept("pipedrive", key, body)
        return JSONResponse({"ok": True, "duplicate": not new})

    async def autopilot(self, request: Request) -> Response:
        self.check_token(request.path_params["token"])
        body = await self.body(request)
        try:
            key, _ = autopilot_delivery(body)
        except ShapeError as error:
            raise Refused(400, str(error), "unknown_shape") from None
        new = self.accept("autopilot", key, body)
        return JSONResponse({"ok": True, "duplicate": not new})

    async def action(self, request: Request) -> Response:
        self.check_basic(request)
        name = request.path_params["name"]
        if name not in self.actions or self.journey_deliveries is None:
            raise Refused(404, f"the mapping has no action named {name!r}; it has: {', '.join(sorted(self.actions)) or 'none'}", "not_found")
        body = await self.body(request)
        try:
            deliveries = self.journey_deliveries(name, body)
        except ValueError as error:
            raise Refused(400, str(error), "unknown_shape") from None
        # A journey step that names its delivery (a header the step sets) is known by that name;
        # otherwise by what its body carries (`journey_deliveries`: a retry repeats the body).
        explicit = request.headers.get("idempotency-key", "").strip()
        accepted = 0
        with self.state.transaction():
            for contact, key in deliveries:
                if explicit:
                    key = f"key:{explicit}:{contact.get('contact_id') or str(contact.get('Email', '')).strip().lower()}"
                accepted += self.accept(f"action:{name}", key, {"contact": contact})
        return JSONResponse({"ok": True, "accepted": accepted, "duplicates": len(deliveries) - accepted})

    async def healthz(self, request: Request) -> Response:
        apis = self.health.apis
        ok = all(entry.get("ok") for entry in apis.values()) if apis else True
        queue = self.state.count_pending_inbox()
        return JSONResponse(
            {
                "status": "ok" if ok else "degraded",
                "apis": apis,
                "queue": queue,
                "last_reconcile": self.health.last_pass,
                "uptime_seconds": round(time.time() - self.health.started, 3),
            }
        )

    async def metrics_route(self, request: Request) -> Response:
        self.metrics.queue.set(self.state.count_pending_inbox())
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)


def build_app(receiver: Receiver) -> Starlette:
    def guarded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except Refused as refused:
                receiver.metrics.rejected.labels(refused.reason).inc()
                return JSONResponse({"ok": False, "error": refused.message}, status_code=refused.status, headers=refused.headers)

        return endpoint

    routes = [
        Route("/hooks/pipedrive", guarded(receiver.pipedrive), methods=["POST"]),
        Route("/hooks/autopilot/{token}", guarded(receiver.autopilot), methods=["POST"]),
        Route("/actions/{name}", guarded(receiver.action), methods=["POST"]),
        Route("/healthz", receiver.healthz, methods=["GET"]),
        Route("/metrics", receiver.metrics_route, methods=["GET"]),
    ]
    return Starlette(routes=routes)
