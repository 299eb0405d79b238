#!/usr/bin/env python
"""The Pipedrive sandbox at the scale of the sync benchmarks.

    .venv/bin/python bench/sandbox_scale.py [--persons 100000] [--pages 30]

Prints the time to seed N persons (with their organizations, deals and activities) through
the seed route, the sandbox's memory per seeded record (growth of the process's resident
memory over the records made), and the time of one list page at 1,000, 10,000 and N records:
`GET /api/v2/persons?limit=100` walked by cursor, and the same sorted by update_time with an
`updated_since` that keeps half the records. The first page after seeding (which builds the
list order, and pays the collector's first pass over the seeded objects) is shown apart; the
per-page figure is the median CPU time of the pages after it, the three sizes interleaved.
Seeding is shown in wall and CPU seconds (on a loaded machine the two differ a lot).

Targets (issue 7, item 11): seeding 100,000 persons under 10 s, and a page at 100,000 records
within 1.5x of a page at 1,000. Exits 1 when either is missed. Rate limits are lifted so only
the sandbox's own work is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from typing import Any

import httpx

from syncmap.sandbox.pipedrive import PipedriveSettings, create_app

TOKEN = "bench-token"
SEED_TARGET_SECONDS = 10.0
PAGE_RATIO_TARGET = 1.5


def resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    import resource

    return pages * resource.getpagesize()


def new_app() -> Any:
    unlimited = PipedriveSettings(window_seconds=1e-6, daily_budget=10**12)
    return create_app(token=TOKEN, plan="enterprise", settings=unlimited)


def client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://pipedrive.test", headers={"x-api-token": TOKEN})


async def seed(http: httpx.AsyncClient, n: int) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    answer = await http.post("/__sandbox__/seed", json={"n": n, "seed": 1}, timeout=None)
    answer.raise_for_status()
    return time.perf_counter() - started, answer.json()["created"]


async def page_times(clients: list[httpx.AsyncClient], rounds: int, **params: Any) -> list[tuple[float, float]]:
    """(first page, median of the next `rounds` pages) per client, in CPU seconds.

    CPU time of this process, not wall time: on a shared machine other processes' load would
    swamp a few milliseconds; the clients' pages are interleaved all the same.
    """
    timings: list[list[float]] = [[] for _ in clients]
    cursors: list[str | None] = [None] * len(clients)
    for _ in range(rounds + 1):
        for i, http in enumerate(clients):
            query = {"limit": 100, **params, **({"cursor": cursors[i]} if cursors[i] else {})}
            started = time.process_time()
            answer = await http.get("/api/v2/persons", params=query)
            timings[i].append(time.process_time() - started)
            answer.raise_for_status()
            cursors[i] = answer.json()["additional_data"]["next_cursor"]
    return [(t[0], statistics.median(t[1:])) for t in timings]


def half_way(app: Any) -> str:
    """An updated_since that keeps half of the persons."""
    stamps = sorted(r["update_time"] for r in app.state.store.all("person"))
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamps[len(stamps) // 2]))


async def run(sizes: list[int], rounds: int) -> int:
    apps = [new_app() for _ in sizes]
    clients = [client(app) for app in apps]
    try:
        for http, n in zip(clients, sizes[:-1], strict=False):  # every client but the last
            await seed(http, n)
        before, cpu = resident_bytes(), time.process_time()
        seconds, created = await seed(clients[-1], sizes[-1])
        cpu, grown = time.process_time() - cpu, resident_bytes() - before
        records = sum(created[k] for k in ("persons", "organizations", "deals", "activities"))
        plain = await page_times(clients, rounds)
        since = await page_times(clients, rounds, sort_by="update_time", updated_since=half_way(apps[-1]))
    finally:
        for http in clients:
            await http.aclose()

    print(f"seed {sizes[-1]:,} persons ({records:,} records): {seconds:.2f} s wall, {cpu:.2f} s CPU (target < {SEED_TARGET_SECONDS:.0f} s)")
    print(f"memory per seeded record: {grown / records:,.0f} bytes (resident growth / records)")
    print(f"CPU time per list page of 100 persons:\n{'persons':>9} {'first page':>11} {'page (id)':>10} {'page (updated_since)':>21}")
    for n, (first, page), (_, page_since) in zip(sizes, plain, since, strict=True):
        print(f"{n:>9,} {first * 1000:>9.2f}ms {page * 1000:>8.2f}ms {page_since * 1000:>19.2f}ms")
    ratio = max(plain[-1][1] / plain[0][1], since[-1][1] / since[0][1])
    print(f"page cost at {sizes[-1]:,} / at {sizes[0]:,}: {ratio:.2f}x (target <= {PAGE_RATIO_TARGET}x)")
    return 0 if seconds < SEED_TARGET_SECONDS and ratio <= PAGE_RATIO_TARGET else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=40)
    args = parser.parse_args()
    return asyncio.run(run([1_000, 10_000, args.persons], args.pages))


if __name__ == "__main__":
    sys.exit(main())
