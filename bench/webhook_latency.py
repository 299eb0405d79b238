"""Instant sync as a user runs it: `syncmap serve` (a process) against `syncmap sandbox` (a process),
changes made as people make them (the sandboxes' app routes), delivered by the sandboxes' own
webhook senders, on a real clock (time scale 1: the limits bind as in production).

    python bench/webhook_latency.py --samples 40 --burst 600

Prints:
- latency from a change in one system to syncmap's write in the other (p50, p95, max), each way,
  without rate pressure (target: p95 < 1 s), from the sandboxes' own logs: the change's time
  with its delivery (`event_at`) to the write's time in the other's request log (`at`);
- a burst of N changes in each system: events per second the server sustained, against what
  the rate limits allow for the writes those events need (target: the governor, not the
  server, is the limit). Pipedrive -> Autopilot writes go 100 contacts per request; Autopilot
  -> Pipedrive writes are one PATCH per person, paced by Pipedrive's burst window.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from initial_sync import ROOT, SYNCMAP, Sandbox, limits

MAPPING = ROOT / "mappings" / "autopilot.syncmap"


def start_server(sbx: Sandbox, state: Path, log: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, **sbx.env, "SYNCMAP_SANDBOX_TIME_SCALE": "1"}
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [*SYNCMAP, "serve", str(MAPPING), "--port", "0", "--state", str(state), "--reconcile-every", "0"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if "listening on " in line:
                return proc, "http://" + line.split("listening on ", 1)[1].split(";")[0]
        if proc.poll() is not None:
            raise SystemExit(f"syncmap serve did not start:\n{log.read_text()}")
        time.sleep(0.02)
    raise SystemExit("syncmap serve did not start in 60 s")


def wait_for_write(sbx: Sandbox, root: str, method: str, path_start: str, timeout: float = 30) -> float:
    """The wall time (the sandbox's log `at`) of the first such write in `root`'s request log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in sbx.log(root):
            if entry["method"] == method and entry["path"].startswith(path_start) and entry["status"] < 300:
                return float(entry["at"])
        time.sleep(0.003)
    raise SystemExit(f"no {method} {path_start} within {timeout} s")


def change_time(sbx: Sandbox, system: str, what: object) -> float:
    """When the change happened, as the sandbox that made it logged it with its delivery."""
    if system == "pipedrive":
        sent = sbx.control(sbx.pd, "GET", "webhooks/deliveries")["deliveries"]
        times = [d["event_at"] for d in sent if d["entity_id"] == what and d["action"] == "change"]
    else:
        sent = sbx.control(sbx.ap, "GET", "hook-deliveries")["deliveries"]
        times = [d["event_at"] for d in sent if what in (d.get("contact_ids") or ()) and d.get("event") == "contact_updated"]
    if not times:
        raise SystemExit(f"no delivery of the change to {what} in the {system} sandbox's log")
    return max(times)


def settle(http: httpx.Client, url: str, processed_before: float, expected: int, timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = http.get(f"{url}/metrics").text
        done = sum(float(line.rpartition(" ")[2]) for line in text.splitlines() if line.startswith("syncmap_events_processed_total{"))
        echoes = sum(float(line.rpartition(" ")[2]) for line in text.splitlines() if line.startswith("syncmap_events_echo_suppressed_total{"))
        queue = http.get(f"{url}/healthz").json()["queue"]
        if done - processed_before >= expected and queue == 0:
            return time.perf_counter()
        time.sleep(0.01)
    raise SystemExit(f"the server did not process {expected} deliveries in {timeout} s (echoes so far {echoes})")


def processed(http: httpx.Client, url: str) -> float:
    text = http.get(f"{url}/metrics").text
    return sum(float(line.rpartition(" ")[2]) for line in text.splitlines() if line.startswith("syncmap_events_processed_total{"))


def fire(root: str, calls: list[tuple[str, str, dict]], concurrency: int = 16) -> None:
    """Make the changes as many people at once would: the burst measures the server, not us."""

    async def go() -> None:
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(base_url=f"{root}/__sandbox__/", timeout=120) as client:

            async def one(method: str, path: str, body: dict) -> None:
                async with gate:
                    (await client.request(method, path, json=body)).raise_for_status()

            await asyncio.gather(*(one(*call) for call in calls))

    asyncio.run(go())


def requests_line(sbx: Sandbox, name: str, root: str, minimum: int, what: str) -> str:
    """Requests the server sent to one API during a burst, against the fewest the work needs."""
    sent = [e for e in sbx.log(root) if e["status"] != 429]
    writes = sum(1 for e in sent if e["method"] in ("POST", "PATCH", "PUT", "DELETE"))
    return f"{name} requests: {len(sent)} ({writes} writes) against a minimum of {minimum} {what}"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=40, help="changes timed one at a time, each way")
    parser.add_argument("--burst", type=int, default=600, help="changes made at once, each way")
    parser.add_argument("--plan", default="advanced")
    parser.add_argument("--profile", default="default", choices=("default", "strict"))
    args = parser.parse_args()
    burst_limit, _, ap_rate = limits(args.plan)
    sbx = Sandbox(args.plan, 1.0, args.profile)
    tmp = Path(tempfile.mkdtemp(prefix="syncmap-bench-"))
    server = None
    try:
        http = httpx.Client(timeout=120)
        server, url = start_server(sbx, tmp / "state.db", tmp / "serve.log")
        people = max(args.samples, args.burst)
        print(f"setting up {people} persons synced to Autopilot through webhooks …", flush=True)
        ids = []
        for i in range(people):
            body = {"name": f"Bench Person{i}", "emails": [{"value": f"bench{i}@example.com", "primary": True}]}
            ids.append(sbx.control(sbx.pd, "POST", "app/persons", body)["data"]["id"])
        settle(http, url, 0, people, timeout=900)
        time.sleep(1.0)  # let the echoes of the setup arrive and go

        # -- latency, one change at a time ------------------------------------------------------
        pd_to_ap, ap_to_pd = [], []
        # From the change (the delivery log's `event_at`) to the write (the other log's `at`): both
        # sandboxes run in one process, one clock; nothing of the bench's own polling is counted.
        for i in range(args.samples):
            sbx.control(sbx.ap, "DELETE", "requests")
            sbx.control(sbx.pd, "PATCH", f"app/persons/{ids[i]}", {"phones": [{"value": f"+1 555 01{i:04d}", "primary": True}]})
            written = wait_for_write(sbx, sbx.ap, "POST", "/v1/contacts")
            pd_to_ap.append(written - change_time(sbx, "pipedrive", ids[i]))
            time.sleep(0.2)
            sbx.control(sbx.pd, "DELETE", "requests")
            edited = sbx.control(sbx.ap, "POST", "app/contact", {"contact": {"Email": f"bench{i}@example.com", "LastName": f"Edited{i}"}})
            written = wait_for_write(sbx, sbx.pd, "PATCH", "/api/v2/persons/")
            ap_to_pd.append(written - change_time(sbx, "autopilot", edited["contact_id"]))
            time.sleep(0.2)
        for name, values in (("Pipedrive -> Autopilot", pd_to_ap), ("Autopilot -> Pipedrive", ap_to_pd)):
            p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
            verdict = "meets" if p95 < 1.0 else "MISSES"
            print(
                f"latency {name}: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {max(values) * 1000:.0f} ms over {len(values)} changes ({verdict} p95 < 1 s)"
            )
        time.sleep(1.0)

        # -- bursts ----------------------------------------------------------------------------------
        before = processed(http, url)
        for root in (sbx.pd, sbx.ap):
            sbx.control(root, "DELETE", "requests")
        started = time.perf_counter()
        fire(sbx.pd, [("PATCH", f"app/persons/{ids[i]}", {"phones": [{"value": f"+1 555 02{i:04d}", "primary": True}]}) for i in range(args.burst)])
        made = time.perf_counter() - started
        finished = settle(http, url, before, args.burst)
        seconds = finished - started
        print(
            f"burst Pipedrive -> Autopilot: {args.burst} changes made in {made:.1f} s, all synced after {seconds:.1f} s: "
            f"{args.burst / seconds:.0f} events/s (writes go 100 per request: Autopilot's {ap_rate:g} r/s allows "
            f"{ap_rate * 100:.0f} events/s; the senders made {args.burst / made:.0f}/s)"
        )
        print("  " + requests_line(sbx, "Autopilot", sbx.ap, -(-args.burst // 100), "upserts of 100"))
        time.sleep(1.0)
        before = processed(http, url)
        for root in (sbx.pd, sbx.ap):
            sbx.control(root, "DELETE", "requests")
        started = time.perf_counter()
        fire(sbx.ap, [("POST", "app/contact", {"contact": {"Email": f"bench{i}@example.com", "LastName": f"Burst{i}"}}) for i in range(args.burst)])
        made = time.perf_counter() - started
        finished = settle(http, url, before, args.burst)
        seconds = finished - started
        bound = burst_limit / 2.0  # one PATCH per event; the burst window is 2 s
        print(
            f"burst Autopilot -> Pipedrive: {args.burst} changes made in {made:.1f} s, all synced after {seconds:.1f} s: "
            f"{args.burst / seconds:.1f} events/s against {bound:.0f}/s that Pipedrive's {args.plan} burst window "
            f"({burst_limit} per 2 s) allows for one PATCH each ({args.burst / seconds / bound:.0%} of the limit)"
        )
        print("  " + requests_line(sbx, "Pipedrive", sbx.pd, args.burst, "PATCHes"))
        print(f"syncmap serve peak RSS: {peak_rss_mb(server.pid):.0f} MB")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
        sbx.proc.terminate()
        sbx.proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
