"""Serve sandbox apps over real loopback sockets, all in the caller's event loop.

    async with serve_sandboxes(seed=100) as running:
        print(running.env_lines())   # PIPEDRIVE_BASE_URL=..., AUTOPILOT_API_KEY=...

`syncmap sandbox`, the demo, the end-to-end tests and the benchmark all start servers through
here. Ports 0 pick free ports; the sockets are bound before serving starts, so the URLs are
known (and a busy port fails) up front. Signals are left to the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from syncmap.sandbox.core import CONTROL_PREFIX
from syncmap.sandbox.profiles import overrides


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # several servers share one loop; whoever runs the loop decides when to stop


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on host:port (port 0: a free one). Raises OSError if busy."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def serve_apps(apps: Mapping[str, ASGIApp], host: str = "127.0.0.1", ports: Mapping[str, int] | None = None) -> AsyncIterator[dict[str, str]]:
    """Serve each app on its own port; yield name -> root URL; stop them all on exit."""
    sockets: dict[str, socket.socket] = {}
    try:
        for name in apps:
            sockets[name] = bind(host, (ports or {}).get(name, 0))
    except OSError:
        for sock in sockets.values():
            sock.close()
        raise
    servers = {name: _Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")) for name, app in apps.items()}
    tasks = [asyncio.create_task(servers[name].serve(sockets=[sockets[name]])) for name in apps]
    try:
        while not all(server.started for server in servers.values()):
            for task in tasks:
                if task.done():
                    task.result()  # a server that stopped before starting: raise its error
                    raise RuntimeError("a sandbox server stopped while starting")
            await asyncio.sleep(0.005)
        yield {name: url_of(sock) for name, sock in sockets.items()}
    finally:
        for server in servers.values():
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        for sock in sockets.values():
            sock.close()


@contextlib.asynccontextmanager
async def serve_app(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    async with serve_apps({"app": app}, host, {"app": port}) as urls:
        yield urls["app"]


async def seed_app(app: ASGIApp, count: int, seed: int | None = 0) -> dict[str, Any]:
    """Seed a sandbox app in-process through its control route."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sandbox") as http:
        answer = await http.post(f"{CONTROL_PREFIX}/seed", json={"n": count, "seed": seed})
        answer.raise_for_status()
        created: dict[str, Any] = answer.json()  # the control route answers a JSON object
        return created


@dataclass(frozen=True)
class RunningSandboxes:
    pipedrive_url: str  # server roots; control routes live under /__sandbox__/ on each
    autopilot_url: str
    pipedrive_token: str
    autopilot_key: str
    pipedrive_app: ASGIApp
    autopilot_app: ASGIApp

    @property
    def pipedrive_base_url(self) -> str:
        return self.pipedrive_url  # like https://<company>.pipedrive.com: /api/v2/… and /v1/… beneath

    @property
    def autopilot_base_url(self) -> str:
        return f"{self.autopilot_url}/v1"  # like https://api2.autopilothq.com/v1

    def env(self) -> dict[str, str]:
        return {
            "PIPEDRIVE_BASE_URL": self.pipedrive_base_url,
            "PIPEDRIVE_API_TOKEN": self.pipedrive_token,
            "AUTOPILOT_BASE_URL": self.autopilot_base_url,
            "AUTOPILOT_API_KEY": self.autopilot_key,
        }

    def env_lines(self) -> str:
        return "\n".join(f"{name}={value}" for name, value in self.env().items())


@contextlib.asynccontextmanager
async def serve_sandboxes(
    *,
    host: str = "127.0.0.1",
    pipedrive_port: int = 0,
    autopilot_port: int = 0,
    pipedrive_token: str = "sandbox-token",
    autopilot_key: str = "sandbox-key",
    plan: str = "advanced",
    time_scale: float = 1.0,
    autopilot_rate: float | None = 5.0,
    seed: int = 0,
    profile: str = "default",
    pipedrive_app: ASGIApp | None = None,
    autopilot_app: ASGIApp | None = None,
) -> AsyncIterator[RunningSandboxes]:
    """Both sandboxes on loopback, optionally seeded with `seed` records each, with the
    settings of `profile` ("default" or "strict", see `syncmap.sandbox.profiles`).

    Pass ready-made apps to serve them instead (their token and key must match the ones given).
    """
    overrides(profile, {})  # an unknown profile fails before anything is built
    if pipedrive_app is None:
        from syncmap.sandbox.pipedrive import create_app as create_pipedrive

        pipedrive_app = create_pipedrive(token=pipedrive_token, plan=plan, time_scale=time_scale, profile=profile)
    if autopilot_app is None:
        from syncmap.sandbox.autopilot import create_app as create_autopilot

        autopilot_app = create_autopilot(api_key=autopilot_key, rate_per_second=autopilot_rate, time_scale=time_scale, profile=profile)
    if seed:
        await seed_app(pipedrive_app, seed)
        await seed_app(autopilot_app, seed)
    apps = {"pipedrive": pipedrive_app, "autopilot": autopilot_app}
    async with serve_apps(apps, host, {"pipedrive": pipedrive_port, "autopilot": autopilot_port}) as urls:
        yield RunningSandboxes(urls["pipedrive"], urls["autopilot"], pipedrive_token, autopilot_key, pipedrive_app, autopilot_app)
