"""The ASGI middleware in front of every API route, doing what Pipedrive's gateway does:
injected faults, auth (x-api-token header, api_token query, OAuth bearer), the burst and
search limits, the daily token budget, the rate-limit headers, and the request log.

Control routes under `/__sandbox__/` pass straight through and are not logged. `/api/v1/...`
is served as `/v1/...`, since both prefixes reach v1.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncmap.sandbox.control import drop_connection, injected_fault, is_control_path
from syncmap.sandbox.core import SandboxState
from syncmap.sandbox.pipedrive.api_search import SEARCH_PATHS
from syncmap.sandbox.pipedrive.costs import CostTable
from syncmap.sandbox.pipedrive.errors import dumps, rate_limited_body, server_error_body, unauthorized_body
from syncmap.sandbox.pipedrive.http import ACTOR_KEY
from syncmap.sandbox.pipedrive.ratelimit import Limits
from syncmap.sandbox.pipedrive.settings import BURST_LIMITS, PipedriveSettings
from syncmap.sandbox.pipedrive.store import Actor, Store

POST_PUT = {"POST", "PUT"}


class Gateway:
    def __init__(
        self,
        app: ASGIApp,
        *,
        sandbox: SandboxState,
        store: Store,
        settings: PipedriveSettings,
        token: str,
        plan: str,
        costs: CostTable,
        limits: Limits,
    ) -> None:
        self.app = app
        self.sandbox = sandbox
        self.store = store
        self.settings = settings
        self.token = token
        self.plan = plan
        self.costs = costs
        self.burst, self.search = limits.burst, limits.search
        self.budget, self.post_put = limits.budget, limits.post_put

    # -- auth -----------------------------------------------------------------------------------
    def authenticate(self, scope: Scope) -> str | None:
        """ "api_token", "oauth" or None."""
        auth = None
        for name, value in scope["headers"]:
            if name == b"x-api-token":
                return "api_token" if value.decode("latin-1") == self.token else None
            if name == b"authorization":
                auth = value.decode("latin-1")
        if auth is not None and auth.lower().startswith("bearer "):
            oauth = self.settings.oauth_token
            return "oauth" if oauth and auth[7:].strip() == oauth else None
        if self.settings.accept_query_token and scope.get("query_string"):
            values = parse_qs(scope["query_string"].decode("latin-1")).get("api_token")
            if values:
                return "api_token" if values[0] == self.token else None
        return None

    # -- answers --------------------------------------------------------------------------------
    async def _answer(self, send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
        raw = dumps(body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(raw)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": raw})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/api/v1/"):
            path = path[4:]
            scope = {**scope, "path": path, "raw_path": path.encode()}
        if is_control_path(path):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        log = self.sandbox.log

        fault = await injected_fault(self.sandbox)
        lost_answer = fault == "lost_answer"  # answered as usual below, then hung up on
        if lost_answer:
            fault = None
        if fault == "drop":
            log.record(method, path, 0, 0, fault="drop")
            await drop_connection(send)
        if fault is not None:
            status = int(fault)
            log.record(method, path, status, 0, fault=fault)
            if status == 429:
                window = self._limit_headers(BURST_LIMITS[self.plan][0], 0, self.settings.window_seconds)
                window += self._budget_headers()
                await self._answer(send, 429, rate_limited_body(self.settings.rate_limit_error), window)
            else:
                await self._answer(send, status, server_error_body(status), [])
            return

        kind = self.authenticate(scope)
        if kind is None:
            log.record(method, path, 401, 0)
            await self._answer(send, 401, unauthorized_body(), [(b"x-401-by-gw", b"true")])
            return

        key = f"{kind}:{self.token if kind == 'api_token' else self.settings.oauth_token}"
        headers: list[tuple[bytes, bytes]]
        if path in SEARCH_PATHS:
            verdict = self.search.hit(key, self.settings.search_limit)
            if verdict.allowed and self.settings.search_counts_in_general_window:
                general = self.burst.hit(key, BURST_LIMITS[self.plan][kind == "oauth"])
                if not general.allowed:
                    verdict = general
        else:
            verdict = self.burst.hit(key, BURST_LIMITS[self.plan][kind == "oauth"])
        headers = self._limit_headers(verdict.limit, verdict.remaining, verdict.reset)
        if kind == "api_token":
            headers.append((b"x-daily-requests-left", str(self.post_put.left).encode()))
        if not verdict.allowed:
            log.record(method, path, 429, 0, limit="burst")
            headers += self._budget_headers()  # every answer carries them, the burst 429 too
            await self._answer(send, 429, rate_limited_body(self.settings.rate_limit_error), headers)
            return

        cost = self.costs.cost(method, path)
        if not self.budget.charge(cost):
            log.record(method, path, 429, 0, limit="budget")
            await self._answer(send, 429, rate_limited_body(self.settings.budget_error), headers + self._budget_headers())
            return
        if kind == "api_token" and (method in POST_PUT or (method == "PATCH" and self.settings.daily_requests_count_patch)):
            if self.settings.enforce_post_put_limit and self.post_put.left == 0:
                log.record(method, path, 429, cost, limit="daily requests")
                await self._answer(send, 429, rate_limited_body(self.settings.rate_limit_error), headers)
                return
            self.post_put.spend()
        headers += self._budget_headers()

        scope = {**scope, ACTOR_KEY: Actor(user_id=self.store.me_id, source="api")}
        status_seen = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            if not lost_answer:
                await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            log.record(method, path, status_seen, cost, **({"fault": "lost_answer"} if lost_answer else {}))
        if lost_answer:
            await drop_connection(send)

    @staticmethod
    def _limit_headers(limit: int, remaining: int, reset: float) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(limit).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(int(reset)).encode()),
        ]

    def _budget_headers(self) -> list[tuple[bytes, bytes]]:
        if not self.settings.daily_budget_headers:
            return []
        return [
            (b"x-daily-ratelimit-token-limit", str(self.budget.limit).encode()),
            (b"x-daily-ratelimit-token-remaining", str(self.budget.remaining).encode()),
        ]
