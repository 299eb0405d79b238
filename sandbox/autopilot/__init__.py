"""A local stand-in for Autopilot's REST API v1 (an ASGI app; base URL `<server>/v1`).

It answers to the API's published description (`../shared/ref/autopilot-api.md` §1), not to
syncmap's runtime: any Autopilot client should work against it by changing the base URL.
Choices where the description is silent or unverified are `AutopilotSettings` fields,
listed in docs/sandbox.md.

    app = create_app(api_key="k", rate_per_second=5)
    app.state.sandbox  # SandboxState: clock, faults, request log
    app.state.store    # AutopilotStore: contacts, lists, journeys, hooks
    app.state.hooks    # HookDispatcher: `await app.state.hooks.drain()` waits for deliveries
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from syncmap.sandbox.autopilot import seed as seeding
from syncmap.sandbox.autopilot.errors import ApiError, error_response
from syncmap.sandbox.autopilot.gate import ApiGate
from syncmap.sandbox.autopilot.hooks import HookDispatcher, HookSender
from syncmap.sandbox.autopilot.ratelimit import RateLimiter
from syncmap.sandbox.autopilot.routes import api_routes, app_control_routes
from syncmap.sandbox.autopilot.settings import AutopilotSettings
from syncmap.sandbox.autopilot.store import AutopilotStore
from syncmap.sandbox.control import control_routes
from syncmap.sandbox.core import Clock, SandboxState
from syncmap.sandbox.profiles import autopilot_settings

__all__ = ["AutopilotSettings", "create_app"]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail, exc.headers)


def create_app(
    *,
    api_key: str = "sandbox-key",
    rate_per_second: float | None = 5.0,
    time_scale: float = 1.0,
    hook_sender: HookSender | None = None,
    settings: AutopilotSettings | None = None,
    profile: str = "default",
) -> Starlette:
    """`profile` ("default" or "strict", see `syncmap.sandbox.profiles`) picks the settings;
    explicit `settings` win over it."""
    settings = settings or autopilot_settings(profile)
    state = SandboxState(clock=Clock(time_scale))
    store = AutopilotStore(state.clock, settings)
    hooks = HookDispatcher(store, state, settings, hook_sender)
    limiter = RateLimiter(state.clock, rate_per_second, settings.rate_limit_burst)

    def reset() -> None:
        hooks.cancel()
        store.reset()
        limiter.configure(limiter.per_second)

    def seed(count: int, seed_value: Any) -> dict[str, Any]:
        if seed_value is not None and not isinstance(seed_value, (int, float, str)):
            raise ValueError(f"seed must be a number or a string, got {seed_value!r}")  # what random.Random takes from JSON
        return seeding.seed(store, count, seed_value)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await hooks.aclose()

    app = Starlette(
        routes=[
            *api_routes(store, hooks, settings),
            *control_routes(state, reset, seed),
            *app_control_routes(store, hooks, limiter, settings),
        ],
        middleware=[Middleware(ApiGate, state=state, limiter=limiter, api_key=api_key, settings=settings)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.sandbox = state
    app.state.store = store
    app.state.hooks = hooks
    app.state.limiter = limiter
    app.state.settings = settings
    return app
