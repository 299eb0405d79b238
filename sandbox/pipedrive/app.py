"""`create_app`: wires the store, webhooks, limits, gateway and routes into one Starlette app."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from syncmap.sandbox.control import control_routes
from syncmap.sandbox.core import Clock, SandboxState
from syncmap.sandbox.pipedrive import (
    api_entities,
    api_fields,
    api_merge,
    api_pipelines,
    api_recents,
    api_search,
    api_users,
    api_webhooks,
    control_extra,
    seed,
)
from syncmap.sandbox.pipedrive.costs import load_cost_table
from syncmap.sandbox.pipedrive.errors import ApiError, json_response, method_not_allowed, not_modelled, unknown_route
from syncmap.sandbox.pipedrive.gateway import Gateway
from syncmap.sandbox.pipedrive.ratelimit import Limits
from syncmap.sandbox.pipedrive.search_index import SearchIndex
from syncmap.sandbox.pipedrive.settings import PLANS, PipedriveSettings
from syncmap.sandbox.pipedrive.store import Store
from syncmap.sandbox.pipedrive.webhooks import Sender, Webhooks
from syncmap.sandbox.profiles import pipedrive_settings


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_response(exc.body, exc.status, exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    """No route served the request: a documented operation is "not modelled", the rest unknown."""
    assert isinstance(exc, HTTPException)
    template = load_cost_table().operation(request.method, request.url.path)
    if template is not None:
        error = not_modelled(f"{request.method} {template}")
    else:
        error = method_not_allowed() if exc.status_code == 405 else unknown_route()
    return json_response(error.body, error.status, error.headers)


def create_app(
    *,
    token: str = "sandbox-token",
    plan: str = "advanced",
    time_scale: float = 1.0,
    company_domain: str = "sandbox",
    webhook_sender: Sender | None = None,
    settings: PipedriveSettings | None = None,
    profile: str = "default",
) -> Starlette:
    """A Pipedrive stand-in serving `/api/v2/...` and `/v1/...` (and `/api/v1/...`) at its root.

    `app.state` carries `sandbox` (the shared `SandboxState`: clock, faults, log), `store`
    (the account's data), `webhooks` (subscriptions, deliveries, `await drain()`), `limits`
    (burst windows, daily budget), `settings`, `token` and `plan`. `profile` ("default" or
    "strict", see `syncmap.sandbox.profiles`) picks the settings; explicit `settings` win.
    """
    settings = settings or pipedrive_settings(profile)
    plan = plan.lower()
    if plan not in PLANS:
        raise ValueError(f"unknown Pipedrive plan {plan!r}; expected one of {', '.join(PLANS)}")
    sandbox = SandboxState(clock=Clock(time_scale))
    store = Store(sandbox.clock, settings, company_domain)
    seed.baseline(store)
    webhooks = Webhooks(store, sandbox.clock, sandbox.faults, settings, webhook_sender)
    search_index = SearchIndex(store)
    limits = Limits(
        sandbox.clock,
        window_seconds=settings.window_seconds,
        daily_budget=settings.daily_budget_for(plan),
        daily_post_put=settings.daily_post_put_limit,
    )

    def reset() -> None:
        store.reset()
        seed.baseline(store)
        webhooks.reset()
        search_index.reset()
        limits.reset()

    def do_seed(count: int, seed_value: Any) -> dict[str, Any]:
        try:
            number = None if seed_value is None else int(seed_value)
        except (TypeError, ValueError):
            raise ValueError(f"seed must be an integer, got {seed_value!r}") from None
        return seed.seed(store, count, number)

    routes = [
        *control_routes(sandbox, reset, do_seed),
        *control_extra.routes(),
        *api_entities.routes(),
        *api_search.routes(),  # before `/persons/{id}`
        *api_merge.routes(),
        *api_entities.item_routes(),
        *api_fields.routes(),
        *api_users.routes(),
        *api_pipelines.routes(),
        *api_recents.routes(),
        *api_webhooks.routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                Gateway,
                sandbox=sandbox,
                store=store,
                settings=settings,
                token=token,
                plan=plan,
                costs=load_cost_table(),
                limits=limits,
            )
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    app.state.sandbox = sandbox
    app.state.store = store
    app.state.webhooks = webhooks
    app.state.search_index = search_index
    app.state.limits = limits
    app.state.settings = settings
    app.state.token = token
    app.state.plan = plan
    return app
