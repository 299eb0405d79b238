#!/usr/bin/env python
"""The sandboxes' own share of issue 9's "change -> write" latency: from a change made in the
app (a control route) to its webhook arriving at a receiver on a loopback socket.

    .venv/bin/python bench/sandbox_webhook_delay.py [--changes 200]

Both sandboxes run over real sockets (as `syncmap sandbox` does); the receiver notes the wall
time each delivery arrives. For each sandbox it prints p50 / p95 / max of arrival - `event_at`
(the change's wall time in the delivery log) and of the log's own `at - event_at` (what a bench
reading only the logs sees before the receiver). `syncmap serve`'s latency bench measures on
top of this floor; a floor well under 50 ms p95 leaves the 1 s target to the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmap.sandbox.serve import serve_app, serve_sandboxes


class Arrivals:
    def __init__(self) -> None:
        self.at: dict[str, float] = {}  # a key naming the change -> wall time of arrival
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        body = json.loads(await request.body())
        key = f"pd:{body['meta']['entity_id']}" if "meta" in body else f"ap:{body['contact']['contact_id']}"
        self.at.setdefault(key, time.time())
        return Response(status_code=200)


def quantiles(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"p50 {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  max {ms[-1]:6.1f} ms  (n={len(ms)})"


async def main(changes: int) -> None:
    arrivals = Arrivals()
    async with serve_app(arrivals.app) as receiver, serve_sandboxes(autopilot_rate=None) as running, httpx.AsyncClient(trust_env=False) as http:
        pd, ap = running.pipedrive_url, running.autopilot_url
        token, key = {"x-api-token": running.pipedrive_token}, {"autopilotapikey": running.autopilot_key}
        hook = {"subscription_url": f"{receiver}/pd", "event_action": "*", "event_object": "person", "name": "bench"}
        (await http.post(f"{pd}/v1/webhooks", json=hook, headers=token)).raise_for_status()
        ap_hook = {"event": "contact_added", "target_url": f"{receiver}/ap"}
        (await http.post(f"{ap}/v1/hook", json=ap_hook, headers=key)).raise_for_status()
        for i in range(changes):
            (await http.post(f"{pd}/__sandbox__/app/persons", json={"name": f"Bench {i}"})).raise_for_status()
            body = {"contact": {"Email": f"bench{i}@x.test"}}
            (await http.post(f"{ap}/__sandbox__/app/contact", json=body)).raise_for_status()
        await http.post(f"{pd}/__sandbox__/webhooks/drain")
        await running.autopilot_app.state.hooks.drain()  # type: ignore[attr-defined]
        pd_log = (await http.get(f"{pd}/__sandbox__/webhooks/deliveries")).json()["deliveries"]
        ap_log = (await http.get(f"{ap}/__sandbox__/hook-deliveries")).json()["deliveries"]
    pd_arrive = [arrivals.at[f"pd:{d['entity_id']}"] - d["event_at"] for d in pd_log]
    ap_arrive = [arrivals.at[f"ap:{d['contact_ids'][0]}"] - d["event_at"] for d in ap_log]
    print(f"changes per sandbox: {changes}")
    print(f"Pipedrive  change -> arrival   {quantiles(pd_arrive)}")
    print(f"Pipedrive  change -> log `at`  {quantiles([d['at'] - d['event_at'] for d in pd_log])}")
    print(f"Autopilot  change -> arrival   {quantiles(ap_arrive)}")
    print(f"Autopilot  change -> log `at`  {quantiles([d['at'] - d['event_at'] for d in ap_log])}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200)
    asyncio.run(main(parser.parse_args().changes))
