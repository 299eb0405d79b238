#!/usr/bin/env python
"""Requests per second both sandboxes serve, in-process and over loopback.

    .venv/bin/python bench/sandbox_throughput.py [--seconds 3] [--concurrency 8]

The sandbox must never be the bottleneck of a sync benchmark: the target is at least 2,000
requests/s in-process (through httpx.ASGITransport) for each sandbox; the script exits 1 when
either is under it, or when any request failed (a throttled run measures nothing). Rate limits
are lifted so only serving speed is measured. Over loopback the servers run in a child process
(this same script with --serve) so the client does not share their event loop, and each
sandbox is measured twice: with httpx (what syncmap's runtime uses; on a small machine the
client is the bottleneck) and with a minimal keep-alive client (what the server itself can do).

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


# request number -> (method, path, JSON body or None); headers come from the workload's setup
Op = Callable[[int], tuple[str, str, Any]]


async def autopilot_ops(http: httpx.AsyncClient) -> tuple[list[Op], dict[str, str]]:
    (await http.post("/__sandbox__/seed", json={"n": SEED, "seed": 1})).raise_for_status()
    auth = {"autopilotapikey": AUTOPILOT_KEY}
    ids = [c["contact_id"] for c in (await http.get("/v1/contacts", headers=auth)).json()["contacts"]]

    def get(i: int) -> tuple[str, str, Any]:
        return "GET", f"/v1/contact/{ids[i % len(ids)]}", None

    def upsert(i: int) -> tuple[str, str, Any]:
        return "POST", "/v1/contact", {"contact": {"Email": f"bench{i % 500}@x.test", "FirstName": f"B{i}", "notify": False}}

    def page(i: int) -> tuple[str, str, Any]:
        return "GET", "/v1/contacts", None

    return [get, upsert, get, upsert, get, upsert, get, upsert, get, page], auth


async def pipedrive_ops(http: httpx.AsyncClient) -> tuple[list[Op], dict[str, str]]:
    (await http.post("/__sandbox__/seed", json={"n": SEED, "seed": 1})).raise_for_status()
    auth = {"x-api-token": PIPEDRIVE_TOKEN}
    listing = await http.get("/api/v2/persons", params={"limit": 100}, headers=auth)
    listing.raise_for_status()
    ids = [p["id"] for p in listing.json()["data"]]

    def get(i: int) -> tuple[str, str, Any]:
        return "GET", f"/api/v2/persons/{ids[i % len(ids)]}", None

    def update(i: int) -> tuple[str, str, Any]:
        return "PATCH", f"/api/v2/persons/{ids[i % len(ids)]}", {"name": f"Bench {i}"}

    def page(i: int) -> tuple[str, str, Any]:
        return "GET", "/api/v2/persons?limit=100", None

    return [get, update, get, update, get, update, get, update, get, page], auth


WORKLOADS = {"autopilot": autopilot_ops, "pipedrive": pipedrive_ops}
# (request number) -> HTTP status; one per worker
Sender = Callable[[int], Awaitable[int]]


def httpx_sender(http: httpx.AsyncClient, ops: list[Op], headers: dict[str, str]) -> Sender:
    async def send(i: int) -> int:
        method, path, body = ops[i % len(ops)](i)
        return (await http.request(method, path, json=body, headers=headers)).status_code

    return send


async def raw_sender(url: str, ops: list[Op], headers: dict[str, str]) -> Sender:
    """A minimal keep-alive HTTP/1.1 client on one connection: shows what the server can do
    when the client costs next to nothing (httpx itself tops out first on a small machine)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())

    async def send(i: int) -> int:
        method, path, body = ops[i % len(ops)](i)
        payload = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nhost: {host}\r\n{extra}content-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
        writer.write(head.encode() + payload)
        status_line, *header_lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        length = next((int(h.split(":", 1)[1]) for h in header_lines if h.lower().startswith("content-length:")), 0)
        await reader.readexactly(length)
        return int(status_line.split()[1])

    return send


async def hammer(senders: list[Sender], seconds: float) -> tuple[int, int, float]:
    """Each sender sends back to back for `seconds`; (requests, failures, elapsed)."""
    done = failed = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def worker(send: Sender, start: int) -> None:
        nonlocal done, failed
        i = start
        while time.perf_counter() < deadline:
            status = await send(i)
            done += 1
            failed += status >= 400
            i += len(senders)

    await asyncio.gather(*(worker(send, w) for w, send in enumerate(senders)))
    return done, failed, time.perf_counter() - started


async def measure(senders: list[Sender], seconds: float) -> tuple[float, int]:
    await hammer(senders, 0.2)  # warm up
    done, failed, elapsed = await hammer(senders, seconds)
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
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sandbox") as http:
            ops, headers = await WORKLOADS[name](http)
            rate, failed = await measure([httpx_sender(http, ops, headers)] * concurrency, seconds)
        rows.append((name, "in-process", rate, failed))

    child = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdin is not None
        urls = json.loads(child.stdout.readline())
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        for name, url in urls.items():
            async with httpx.AsyncClient(base_url=url, limits=limits) as http:
                ops, headers = await WORKLOADS[name](http)
                rate, failed = await measure([httpx_sender(http, ops, headers)] * concurrency, seconds)
                rows.append((name, "loopback, httpx client", rate, failed))
                raw = [await raw_sender(url, ops, headers) for _ in range(concurrency)]
                rate, failed = await measure(raw, seconds)
                rows.append((name, "loopback, raw client", rate, failed))
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=15)

    print(f"{'sandbox':<10} {'mode':<23} {'requests/s':>11} {'failed':>7}")
    for name, mode, rate, failed in rows:
        print(f"{name:<10} {mode:<23} {rate:>11,.0f} {failed:>7}")
    problems = [f"{name}: sandbox not available" for name in ("autopilot", "pipedrive") if name not in apps]
    for name, mode, rate, failed in rows:
        if mode == "in-process" and rate < TARGET_IN_PROCESS:
            problems.append(f"{name}: {rate:,.0f} requests/s in-process is under the target of {TARGET_IN_PROCESS:,.0f}")
        if failed:
            problems.append(f"{name} {mode}: {failed} requests failed")
    verdict = "met" if not problems else "NOT met"
    print(f"target: at least {TARGET_IN_PROCESS:,.0f} requests/s in-process per sandbox: {verdict}")
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
