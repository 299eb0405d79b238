"""What every API request passes before reaching a route, in order: injected faults, the
`autopilotapikey` header, the rate limit. Every API request is logged with its final status.

A pure ASGI middleware (no per-request task or body buffering) so the sandbox stays fast.
Control routes under `/__sandbox__/` skip all of it and are not logged.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncmap.sandbox.autopilot import errors
from syncmap.sandbox.autopilot.ratelimit import RateLimiter
from syncmap.sandbox.autopilot.settings import AutopilotSettings
from syncmap.sandbox.control import drop_connection, injected_fault, is_control_path
from syncmap.sandbox.core import SandboxState

_FAULT_STATUS = {"429": 429, "500": 500, "502": 502, "503": 503}
_FAULT_MESSAGE = {500: "An internal error occurred.", 502: "Bad gateway.", 503: "Service temporarily unavailable."}


class ApiGate:
    def __init__(self, app: ASGIApp, *, state: SandboxState, limiter: RateLimiter, api_key: str, settings: AutopilotSettings) -> None:
        self.app = app
        self.state = state
        self.limiter = limiter
        self.api_key = api_key.encode()
        self.settings = settings

    def _rate_limited(self) -> JSONResponse:
        headers = {"Retry-After": "1"} if self.settings.retry_after_header else None
        return errors.error_response(429, errors.rate_limited_message(self.limiter.per_second or 0), headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_control_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        status = 500  # what the log says if the app raises before answering

        fault = await injected_fault(self.state)
        lost_answer = fault == "lost_answer"  # answered as usual below, then hung up on

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            if not lost_answer:
                await send(message)

        try:
            if fault == "drop":
                status = 0
                await drop_connection(send)
            if fault is not None and not lost_answer:
                code = _FAULT_STATUS[fault]
                response = self._rate_limited() if code == 429 else errors.error_response(code, _FAULT_MESSAGE[code])
                await response(scope, receive, send_and_note)
                return
            key = dict(scope["headers"]).get(b"autopilotapikey")
            if key is None:
                response = errors.error_response(400, errors.MISSING_KEY)
            elif key != self.api_key:
                response = errors.error_response(401, errors.INVALID_KEY)
            elif not self.limiter.allow():
                response = self._rate_limited()
            else:
                await self.app(scope, receive, send_and_note)
                if lost_answer:
                    await drop_connection(send)
                return
            await response(scope, receive, send_and_note)
            if lost_answer:
                await drop_connection(send)
        finally:
            extra: dict[str, Any] = {"fault": fault} if fault else {}
            self.state.log.record(scope["method"], scope["path"], status, **extra)
