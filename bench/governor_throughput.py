#!/usr/bin/env python
"""How close the rate governors come to the rate limits' bound, against the sandboxes.

    .venv/bin/python bench/governor_throughput.py [--requests 400] [--plan essential]
        [--autopilot-rate 5] [--time-scale 10] [--concurrency 50] [--transport socket|asgi]

Sends N GETs through ApiClient to each sandbox (Pipedrive's burst window, Autopilot's rate),
`concurrency` at a time, and prints the wall time against the least time the limit allows
(Pipedrive: ceil(N / limit) - 1 windows of 2 s; Autopilot: (N - 1) / rate seconds; both
divided by the time scale) and the 429s met. The governor holds a Pipedrive slot until one
window after the answer, so each window costs about one round trip more than the bound: a
large share at high time scales (a 0.2 s window at 10), a small one at the real API's 2 s.
Exits 1 if any 429 was met.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from syncmap.compiler.cost import load_limits
from syncmap.runtime.governor import AutopilotGovernor, PipedriveGovernor
from syncmap.runtime.http import ApiClient
from syncmap.sandbox import autopilot, pipedrive
from syncmap.sandbox.serve import serve_app


@contextlib.asynccontextmanager
async def client(app: Any, transport: str, system: str, governor: Any) -> AsyncIterator[ApiClient]:
    auth = {"x-api-token": "sandbox-token"} if system == "pipedrive" else {"autopilotapikey": "sandbox-key"}
    prefix = "" if system == "pipedrive" else "/v1"
    async with contextlib.AsyncExitStack() as stack:
        if transport == "asgi":
            root, via = "http://sandbox.test", httpx.ASGITransport(app)
        else:
            root, via = await stack.enter_async_context(serve_app(app)), None
        yield await stack.enter_async_context(ApiClient(system, root + prefix, headers=auth, governor=governor, transport=via))


async def measure(api: ApiClient, path: str, n: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await api.request("GET", path)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return time.perf_counter() - started


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--plan", default="essential")
    parser.add_argument("--autopilot-rate", type=float, default=5.0)
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--transport", choices=("socket", "asgi"), default="socket")
    args = parser.parse_args()
    n, scale = args.requests, args.time_scale
    limits = load_limits()["pipedrive"]
    burst, window = limits["plans"][args.plan]["burst"]["value"], limits["burst_window_seconds"]["value"]
    met = 0

    app = pipedrive.create_app(plan=args.plan, time_scale=scale)
    async with client(app, args.transport, "pipedrive", PipedriveGovernor(plan=args.plan, time_scale=scale)) as api:
        took = await measure(api, "/api/v2/persons", n, args.concurrency)
    bound = (math.ceil(n / burst) - 1) * window / scale  # the first window opens at once
    met += api.stats.rate_limited
    print(
        f"pipedrive  {n} GETs, {args.plan} ({burst} per {window} s), time scale {scale:g}, {args.transport}: "
        f"{took:.2f} s against a bound of {bound:.2f} s ({took / bound:.2f}x), 429s met {api.stats.rate_limited}"
    )

    app = autopilot.create_app(rate_per_second=args.autopilot_rate, time_scale=scale)
    gov = AutopilotGovernor(rate=args.autopilot_rate, time_scale=scale)
    async with client(app, args.transport, "autopilot", gov) as api:
        took = await measure(api, "/contacts", n, args.concurrency)
    bound = (n - 1) / args.autopilot_rate / scale  # the first request goes at once
    met += api.stats.rate_limited
    print(
        f"autopilot  {n} GETs, {args.autopilot_rate:g} per s, time scale {scale:g}, {args.transport}: "
        f"{took:.2f} s against a bound of {bound:.2f} s ({took / bound:.2f}x), 429s met {api.stats.rate_limited}"
    )
    return 1 if met else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
