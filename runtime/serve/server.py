"""`syncmap serve`: one long-running process that keeps both systems in sync as changes happen.

Start: open the state, set the engine up once (the checks `run` does), bind the socket, register
the subscriptions against the public URL, then run three things in one event loop: the HTTP
receiver, the worker (deliveries, and a reconciliation pass every `reconcile_every` seconds:
both APIs drop deliveries, so a lost one costs latency, never data), and an API health check.
Stop (SIGTERM/SIGINT), within STOP_DEADLINE whatever the APIs do (process managers send SIGKILL
after 10-30 s): stop accepting, give the worker's batch BATCH_GRACE to finish and cancel it
after that (its deliveries stay pending in the inbox: nothing is lost, the next start processes
them), remove the subscriptions with a few quick tries each (unless asked to keep them; what
could not be removed stays in the state, and the next start re-uses or replaces it), close the
run. A stop during the start (APIs not answering its set-up) ends it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from syncmap.runtime.serve.app import DEFAULT_BODY_LIMIT, DEFAULT_BODY_SECONDS, Health, Receiver, build_app
from syncmap.runtime.serve.metrics import Metrics
from syncmap.runtime.serve.patience import SERVE_RETRY, STOP_RETRY
from syncmap.runtime.serve.subscriptions import credentials, register, unregister
from syncmap.runtime.serve.worker import Worker

HEALTH_EVERY = 60.0  # seconds between API checks
STOP_DEADLINE = 6.0  # seconds from SIGTERM to the end of the clean-up, APIs answering or not
BATCH_GRACE = 3.0  # of which the worker's batch in progress gets at most this much
HTTP_GRACE = 2  # seconds open requests to the receiver get to finish (whole seconds: uvicorn's unit)
MAX_CONNECTIONS = 1000


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    state: str | None = None
    reconcile_every: float = 300.0
    full_scan_every: float = 3600.0
    pass_delay: float = 10.0
    keep_subscriptions: bool = False
    body_limit: int = DEFAULT_BODY_LIMIT
    body_timeout: float = DEFAULT_BODY_SECONDS


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # `serve` handles SIGTERM/SIGINT itself: the subscriptions are removed before exit


def bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def serve(plan: dict[str, Any], connections: Any, store: Any, options: ServeOptions, *, scale: float = 1.0) -> int:
    from syncmap.runtime.engine import Engine
    from syncmap.runtime.session import api_stats, open_connectors

    sock = bind(options.host, options.port)
    host, port = sock.getsockname()[:2]
    public_url = (options.public_url or (f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}")).rstrip("/")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main, starting = asyncio.current_task(), True
    engine: Engine | None = None

    def on_signal() -> None:
        stop.set()
        if starting and main is not None:
            main.cancel()  # a start waiting on APIs that do not answer must not hold the stop up

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        async with open_connectors(connections, scale=scale, retry=SERVE_RETRY) as connectors:
            engine = Engine(plan, connectors, store, full_scan_every=options.full_scan_every)
            await engine.begin("serve")
            actions_runner, deliveries = await _actions(plan, connectors, store, engine)
            creds, made = credentials(store)
            metrics = Metrics(lambda: api_stats(connectors))
            health = Health()
            worker = Worker(
                engine,
                store,
                metrics,
                reconcile_every=options.reconcile_every,
                actions=actions_runner,
                on_error=say,
                pair_pass_delay=options.pass_delay,
            )
            receiver = Receiver(
                state=store,
                metrics=metrics,
                creds=creds,
                actions={a["name"]: a for a in plan["actions"]},
                wake=worker.wake.set,
                health=health,
                journey_deliveries=deliveries,
                body_limit=options.body_limit,
                body_seconds=options.body_timeout,
            )
            # Past `limit_concurrency` open connections new ones get 503 at once: a flood of idle or
            # slow clients cannot use up the process's file descriptors.
            config = uvicorn.Config(
                build_app(receiver),
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_keep_alive=5,
                limit_concurrency=MAX_CONNECTIONS,
                timeout_graceful_shutdown=HTTP_GRACE,
            )
            server = _Server(config)
            http_task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started:
                if http_task.done():
                    http_task.result()
                    raise RuntimeError("the HTTP server stopped while starting")
                await asyncio.sleep(0.01)
            subscriptions = await register(plan, connectors, store, public_url, creds)
            say(f"syncmap serve: listening on {host}:{port}; public URL {public_url}")
            say(
                f"  subscribed: Pipedrive webhooks for {', '.join(sorted(subscriptions['pipedrive'])) or 'nothing'}; "
                f"Autopilot hooks for {', '.join(sorted(subscriptions['autopilot'])) or 'nothing'}"
            )
            for name in sorted(receiver.actions):
                say(f"  action {name!r}: POST {public_url}/actions/{name.replace(' ', '%20')} (basic auth)")
            if made:
                say("  new credentials made and kept in the state file (`syncmap serve --show-credentials` prints them)")
            # From here a stop is the clean stop below. (A signal during the start cancelled the
            # await the start was in, which comes before this line.)
            starting = False

            async def reconcile() -> None:
                status = "failed"
                try:
                    await engine.reconcile()
                    if actions_runner is not None:
                        await actions_runner.setup()  # new users, activity types, stages since the last pass
                    status = "done"
                finally:
                    metrics.passes.labels(status).inc()
                    health.last_pass = time.time()
                    metrics.last_pass.set(health.last_pass)

            async def check_apis() -> None:
                while True:
                    for system, connector in connectors.items():
                        try:
                            await connector.check()
                            health.mark(system, True)
                        except Exception as error:
                            health.mark(system, False, str(error))
                    await asyncio.sleep(HEALTH_EVERY)

            worker_task = asyncio.create_task(worker.loop(reconcile))
            health_task = asyncio.create_task(check_apis())
            waiter = asyncio.create_task(stop.wait())
            await asyncio.wait({waiter, worker_task, http_task}, return_when=asyncio.FIRST_COMPLETED)
            say("syncmap serve: stopping")
            deadline = time.monotonic() + STOP_DEADLINE
            server.should_exit = True
            health_task.cancel()
            code = 0
            if worker_task.done() and worker_task.exception() is not None:
                say(f"syncmap serve: the worker failed: {worker_task.exception()}")
                code = 1
            if not await _finish_batch(worker, worker_task, time.monotonic() + BATCH_GRACE):
                say(f"  the batch in progress was stopped after {BATCH_GRACE:g} s; its deliveries stay pending for the next start")
            await _within(asyncio.gather(http_task, health_task, return_exceptions=True), deadline - time.monotonic())
            if not options.keep_subscriptions:
                left = await unregister(connectors, store, seconds=max(1.0, deadline - time.monotonic()), retry=STOP_RETRY)
                if left:  # the next start finds and re-uses or replaces them
                    say(f"  could not remove {len(left)} subscription(s) ({left[0]}); the next start re-uses or replaces them")
                else:
                    say("  subscriptions removed")
            engine.end("stopped" if code == 0 else "failed")
    except asyncio.CancelledError:
        if not (starting and stop.is_set()):
            raise
        # Stopped before it served: whatever the start made is found by the next one (it re-uses
        # or replaces subscriptions at its URL), and no delivery was taken in yet.
        say("syncmap serve: stopped while starting")
        if engine is not None:
            engine.end("stopped")
        return 0
    finally:
        sock.close()
    return code


async def _finish_batch(worker: Worker, task: asyncio.Task[Any], until: float) -> bool:
    """Let a batch in progress finish until `until` (its deliveries are then done, not processed
    twice), then stop the worker; False when the batch had to be cancelled. A cancelled batch
    leaves its deliveries pending, as a killed server does: the next start processes them and
    the links and snapshots keep what was already written from being written again."""
    if task.done():
        return True
    worker.stopping = True
    worker.wake.set()
    while worker.busy and time.monotonic() < until and not task.done():
        await asyncio.sleep(0.05)
    finished = not worker.busy
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return finished


async def _within(awaitable: Awaitable[Any], seconds: float) -> None:
    """Wait for `awaitable` at most `seconds` (then cancel it): a stop must not hang on it."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(awaitable, max(0.0, seconds))


async def _actions(plan: dict[str, Any], connectors: Any, store: Any, engine: Any) -> tuple[Any, Any]:
    if not plan["actions"]:
        return None, None
    from syncmap.runtime.actions import ActionRunner, journey_deliveries

    runner = ActionRunner(engine)  # set up already: the serving engine's `begin`
    await runner.setup()
    return runner, journey_deliveries
