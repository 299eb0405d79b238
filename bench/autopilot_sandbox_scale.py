#!/usr/bin/env python
"""The Autopilot sandbox at the scale of the runtime's benchmarks (100,000 contacts).

    .venv/bin/python bench/autopilot_sandbox_scale.py [--sizes 1000,100000] [--pages 200] [--no-memory]

For each size: the time to seed that many contacts (with their engagement history) through
`POST /__sandbox__/seed`, wall clock and CPU (the CPU figure is the one that holds on a shared
machine), the mean time of one `GET /contacts/{bookmark}` page (bookmarks spread over the
whole store) and the memory the store holds per seeded contact (tracemalloc, measured in a
second seeding so the timing is not slowed by it). Targets: seeding 100,000 contacts well
under 10 s of CPU, and one page costing about the same at every size (the script prints the
ratio largest/smallest and exits 1 when seeding misses 10 s or the ratio exceeds 1.5).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import tracemalloc

import httpx

from syncmap.sandbox.autopilot import create_app

KEY = "bench-key"
SEED_TARGET_S = 10.0
PAGE_RATIO_TARGET = 1.5


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://autopilot.bench", headers={"autopilotapikey": KEY})


async def seed(http: httpx.AsyncClient, n: int) -> tuple[float, float]:
    """Wall and CPU seconds of one seeding."""
    wall, cpu = time.perf_counter(), time.process_time()
    (await http.post("/__sandbox__/seed", json={"n": n, "seed": 7})).raise_for_status()
    return time.perf_counter() - wall, time.process_time() - cpu


async def measure(n: int, pages: int, memory: bool) -> dict[str, float]:
    app = create_app(api_key=KEY, rate_per_second=None)
    async with client(app) as http:
        wall, cpu = await seed(http, n)
        ids = sorted(app.state.store.contacts)
        bookmarks = [ids[i] for i in random.Random(1).choices(range(max(1, len(ids) - 100)), k=pages)]
        await http.get(f"/v1/contacts/{bookmarks[0]}")  # warm up
        start = time.perf_counter()
        for bookmark in bookmarks:
            page = await http.get(f"/v1/contacts/{bookmark}")
            assert page.status_code == 200 and len(page.json()["contacts"]) == 100, page.text[:200]
        per_page = (time.perf_counter() - start) / pages
    figures = {"seed_s": wall, "seed_cpu_s": cpu, "page_ms": per_page * 1000, "bytes_per_contact": float("nan")}
    if not memory:
        return figures
    tracemalloc.start()
    app = create_app(api_key=KEY, rate_per_second=None)
    async with client(app) as http:
        base = tracemalloc.get_traced_memory()[0]
        await seed(http, n)
        held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return {**figures, "bytes_per_contact": held / n}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--no-memory", action="store_true", help="skip the (slow) tracemalloc seeding")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {n: asyncio.run(measure(n, args.pages, not args.no_memory)) for n in sizes}
    print(f"{'contacts':>9} {'seed s':>8} {'seed cpu s':>10} {'page ms':>8} {'bytes/contact':>14}")
    for n, r in results.items():
        print(f"{n:>9} {r['seed_s']:>8.2f} {r['seed_cpu_s']:>10.2f} {r['page_ms']:>8.2f} {r['bytes_per_contact']:>14.0f}")
    ratio = results[max(sizes)]["page_ms"] / results[min(sizes)]["page_ms"]
    print(f"page cost {max(sizes)} / {min(sizes)} contacts: {ratio:.2f}x (target <= {PAGE_RATIO_TARGET})")
    slow_seed = [n for n, r in results.items() if n <= 100_000 and r["seed_cpu_s"] > SEED_TARGET_S]
    return 1 if slow_seed or ratio > PAGE_RATIO_TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
