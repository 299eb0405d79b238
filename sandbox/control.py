"""The control routes every sandbox server mounts under `/__sandbox__/`.

They let tests, benchmarks and the demo reset a server, seed it with realistic records,
inject faults, read the request log and scale the clock, without touching the API surface.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, NoReturn

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Send

from syncmap.sandbox.core import CONTROL_PREFIX, FaultSettings, SandboxState

ResetFn = Callable[[], None]
SeedFn = Callable[[int, Any], dict[str, Any]]  # (count, random seed as the request gave it) -> summary of what was made


def is_control_path(path: str) -> bool:
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def control_routes(state: SandboxState, reset: ResetFn, seed: SeedFn) -> list[Route]:
    async def do_reset(request: Request) -> Response:
        reset()
        state.log.clear()
        state.faults.configure(FaultSettings())
        return JSONResponse({"ok": True})

    async def do_seed(request: Request) -> Response:
        try:
            body = await _json_body(request)
            count = int(body.get("n", body.get("count", 0)))
            if count < 0:
                raise ValueError("n must not be negative")
            created = seed(count, body.get("seed"))  # a seed the sandbox cannot use is a ValueError
        except ValueError as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True, "created": created})

    async def faults(request: Request) -> Response:
        # PUT replaces every setting (absent = off); PATCH changes only those given, so a test
        # can lose the next webhook without turning off the error rates it set before
        try:
            if request.method == "PUT":
                state.faults.configure(FaultSettings.from_json(await _json_body(request)))
            elif request.method == "PATCH":
                state.faults.update(await _json_body(request))
        except (TypeError, ValueError) as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        return JSONResponse(state.faults.as_json())

    async def requests_log(request: Request) -> Response:
        if request.method == "DELETE":
            state.log.clear()
        return JSONResponse({"requests": state.log.entries})

    async def clock(request: Request) -> Response:
        if request.method == "PUT":
            try:
                body = await _json_body(request)
                if "scale" in body:
                    state.clock.set_scale(float(body["scale"]))
                if "advance" in body:
                    state.clock.advance(float(body["advance"]))
            except (TypeError, ValueError) as exc:
                return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        return JSONResponse({"now": state.clock.now(), "scale": state.clock.scale})

    p = CONTROL_PREFIX
    return [
        Route(f"{p}/reset", do_reset, methods=["POST"]),
        Route(f"{p}/seed", do_seed, methods=["POST"]),
        Route(f"{p}/faults", faults, methods=["GET", "PUT", "PATCH"]),
        Route(f"{p}/requests", requests_log, methods=["GET", "DELETE"]),
        Route(f"{p}/clock", clock, methods=["GET", "PUT"]),
    ]


async def injected_fault(state: SandboxState) -> str | None:
    """Apply the configured latency, then say which fault (if any) this request gets.

    Each API turns the answer into its own error body; "drop" means close without answering.
    """
    if state.faults.settings.latency_ms:
        await asyncio.sleep(state.faults.settings.latency_ms / 1000)
    return state.faults.pick()


class DroppedConnection(httpx.RemoteProtocolError):
    """What a client sees when a sandbox drops its connection (the "drop" fault)."""


async def drop_connection(send: Send) -> NoReturn:
    """Hang up without a complete answer, the same way in-process and over a socket.

    Starts an answer and raises: uvicorn then closes the socket mid-answer (the client sees
    the peer hang up), and `httpx.ASGITransport` hands the error to the client as the
    transport error a real dropped connection gives. Starlette re-raises it untouched because
    the answer has started.
    """
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})
    raise DroppedConnection("the server closed the connection without answering")
