"""Both sandboxes as ASGI apps behind the runtime's real HTTP clients and connectors, in the
test's own event loop: the sandbox is the API (nothing is mocked), without sockets or
processes, for tests of the runtime's own decisions. tests/e2e does the same over sockets."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from syncmap.runtime.connectors.autopilot import Autopilot
from syncmap.runtime.connectors.pipedrive import Pipedrive
from syncmap.runtime.governor import AutopilotGovernor, PipedriveGovernor
from syncmap.runtime.http import ApiClient
from syncmap.sandbox import autopilot, pipedrive


@dataclass
class Sandboxes:
    pd_app: Any
    ap_app: Any
    connectors: dict[str, Any]


@contextlib.asynccontextmanager
async def sandboxes(*, time_scale: float, rate: float, pipedrive_settings: Any = None) -> AsyncIterator[Sandboxes]:
    pd_app = pipedrive.create_app(time_scale=time_scale, **({"settings": pipedrive_settings} if pipedrive_settings else {}))
    ap_app = autopilot.create_app(rate_per_second=rate, time_scale=time_scale)
    async with contextlib.AsyncExitStack() as stack:
        pd_http = await stack.enter_async_context(
            ApiClient(
                "pipedrive",
                "http://pipedrive.test",
                headers={"x-api-token": "sandbox-token"},
                governor=PipedriveGovernor(plan="advanced", time_scale=time_scale),
                transport=httpx.ASGITransport(pd_app),
            )
        )
        ap_http = await stack.enter_async_context(
            ApiClient(
                "autopilot",
                "http://autopilot.test/v1",
                headers={"autopilotapikey": "sandbox-key"},
                governor=AutopilotGovernor(rate=rate, time_scale=time_scale),
                transport=httpx.ASGITransport(ap_app),
            )
        )
        yield Sandboxes(pd_app, ap_app, {"pipedrive": Pipedrive(pd_http), "autopilot": Autopilot(ap_http)})
