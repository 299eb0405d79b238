#!/usr/bin/env python
"""Requests per second both sandboxes serve, in-process and over loopback.

    .venv/bin/python bench/sandbox_throughput.py [--seconds 3] [--concurrency 8]

The sandbox must never be the bottleneck of a sync benchmark: the target is at least 2,000
requests/s in-process (through httpx.ASGITransport) for each sandbox; the script exits 1 when
either is under it, or when any request failed (a throttled run measures nothing). Rate limits
are lifted so only serving speed is measured. Over loopback the servers run in a child process
(this same script with --serve) so the client does not share their event loop.

Each workload is a mix of what a sync does: single reads, upserts/updates and page reads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

TARGET_IN_PROCESS = 2000.0
AUTOPILOT_KEY = "bench-key"
PIPEDRIVE_TOKEN = "bench-token"
SEED = 300

Op = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


def build_apps() -> dict[str, Any]:
    from syncmap.sandbox.autopilot import create_app as create_autopilot

    apps: dict[str, Any] = {"autopilot": create_autopilot(api_key=AUTOPILOT_KEY, rate_per_second=None)}
    try:
        from syncmap.sandbox.pipedrive import create_app as create_pipedrive
        from syncmap.sandbox.pipedrive.settings import PipedriveSettings
    except ImportError:
        return apps
    # a burst window that passes at once and a budget that never runs out
    limits = PipedriveSettings(window_seconds=1e-6, daily_budget=10**12)
    apps["pipedrive"] = create_pipedrive(token=PIPEDRIVE_TOKEN, plan="enterprise", settings=limits)
    return apps


async def autopilot_ops(http: httpx.AsyncClient) -> list[Op]:
    (await http.post("/__sandbox__/seed", json={"n": SEED, "seed": 1})).raise_for_status()
    http.headers["autopilotapikey"] = AUTOPILOT_KEY
    ids = [c["contact_id"] for c in (await http.get("/v1/contacts")).json()["contacts"]]

    def get(h: httpx.AsyncClient, i: int) -> Awaitable[httpx.Response]:
        return h.get(f"/v1/contact/{ids[i % len(ids)]}")

    def upsert(h: httpx.AsyncClient, i: int) -> Awaitable[httpx.Response]:
        return h.post("/v1/contact", json={"contact": {"Email": f"bench{i % 500}@x.test", "FirstName": f"B{i}", "notify": False}})

    def page(h: httpx.AsyncClient, i: int) -> Awaitable[httpx.Response]:
        return h.get("/v1/contacts")

    return [get, upsert, get, upsert, get, upsert, get, upsert, get, page]


async def pipedrive_ops(http: httpx.AsyncClient) -> list[Op]:
    (await http.post("/__sandbox__/seed", json={"n": SEED, "seed": 1})).raise_for_status()
    http.headers["x-api-token"] = PIPEDRIVE_TOKEN
    listing = await http.get("/api/v2/persons", params={"limit": 100})
    listing.raise_for_status()
    ids = [p["id"] for p in listing.json()["data"]]

    def get(h: httpx.AsyncClient, i: int) -> Awaitable[httpx.Response]:
        return h.get(f"/api/v2/persons/{ids[i % len(ids)]}")

    def update(h: httpx.AsyncClient, i: int) -> Awaitable[httpx.Response]:
        return h.patch(f"/api/v2/persons/{ids[i % len(ids)]}", json={"name": f"Bench {i}"})

    def page(h: httpx.AsyncClient, i: int) -> Awaitable[httpx.Response]:
        return h.get("/api/v2/persons", params={"limit": 100})

    return [get, update, get, update, get, update, get, update, get, page]


WORKLOADS = {"autopilot": autopilot_ops, "pipedrive": pipedrive_ops}


async def hammer(http: httpx.AsyncClient, ops: list[Op], seconds: float, concurrency: int) -> tuple[int, int, float]:
    """Run the mix from `concurrency` workers for `seconds`; (requests, failures, elapsed)."""
    done = failed = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def worker(start: int) -> None:
        nonlocal done, failed
        i = start
        while time.perf_counter() < deadline:
            answer = await ops[i % len(ops)](http, i)
            done += 1
            failed += answer.status_code >= 400
            i += concurrency

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return done, failed, time.perf_counter() - started


async def measure(name: str, http: httpx.AsyncClient, seconds: float, concurrency: int) -> tuple[float, int]:
    ops = await WORKLOADS[name](http)
    await hammer(http, ops, 0.2, concurrency)  # warm up
    done, failed, elapsed = await hammer(http, ops, seconds, concurrency)
    return done / elapsed, failed


async def serve_forever() -> None:
    """Child process: serve fresh apps on free loopback ports until stdin closes."""
    from syncmap.sandbox.serve import serve_apps

    async with serve_apps(build_apps()) as urls:
        print(json.dumps(urls), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def main(seconds: float, concurrency: int) -> int:
    apps = build_apps()
    rows: list[tuple[str, str, float, int]] = []
    for name, app in apps.items():
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            rate, failed = await measure(name, http, seconds, concurrency)
        rows.append((name, "in-process", rate, failed))

    child = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdin is not None
        urls = json.loads(child.stdout.readline())
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        for name, url in urls.items():
            async with httpx.AsyncClient(base_url=url, limits=limits) as http:
                rate, failed = await measure(name, http, seconds, concurrency)
            rows.append((name, "loopback", rate, failed))
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=15)

    print(f"{'sandbox':<10} {'mode':<11} {'requests/s':>11} {'failed':>7}")
    for name, mode, rate, failed in rows:
        print(f"{name:<10} {mode:<11} {rate:>11,.0f} {failed:>7}")
    problems = []
    for name in ("autopilot", "pipedrive"):
        if name not in apps:
            problems.append(f"{name}: sandbox not available")
    for name, mode, rate, failed in rows:
        if mode == "in-process" and rate < TARGET_IN_PROCESS:
            problems.append(f"{name}: {rate:,.0f} requests/s in-process is under the target of {TARGET_IN_PROCESS:,.0f}")
        if failed:
            problems.append(f"{name} {mode}: {failed} requests failed")
    print(f"target: at least {TARGET_IN_PROCESS:,.0f} requests/s in-process per sandbox: "
          + ("met" if not problems else "NOT met"))
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per sandbox and mode")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent requests")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve_forever())
    else:
        sys.exit(asyncio.run(main(args.seconds, args.concurrency)))
