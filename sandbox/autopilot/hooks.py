"""REST-hook delivery with Autopilot's retry policy.

Each event is POSTed as JSON to every hook registered for it. 200-204 is success; 410 Gone
deletes the hook; anything else (or a timeout) is retried `hook_max_retries` times with
incremental backoff (retry n waits n * `hook_backoff_seconds` of simulated time), then the
delivery is dropped for good. Fault settings can lose a delivery before its first attempt.
Every attempt is recorded in `deliveries` (served at `/__sandbox__/hook-deliveries`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from syncmap.sandbox.autopilot.settings import AutopilotSettings
from syncmap.sandbox.autopilot.store import AutopilotStore, Event, Hook
from syncmap.sandbox.core import SandboxState

# (url, headers, body bytes) -> HTTP status of the receiver's answer
HookSender = Callable[[str, dict[str, str], bytes], Awaitable[int]]


class HttpSender:
    """The default sender: a real HTTP POST through one shared httpx client."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, url: str, headers: dict[str, str], body: bytes) -> int:
        if self._client is None:
            self._client = httpx.AsyncClient()
        response = await self._client.post(url, headers=headers, content=body)
        return response.status_code

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class HookDispatcher:
    def __init__(self, store: AutopilotStore, state: SandboxState, settings: AutopilotSettings, sender: HookSender | None = None) -> None:
        self.store = store
        self.state = state
        self.settings = settings
        self._default_sender = HttpSender() if sender is None else None
        self.sender: HookSender = sender or self._default_sender  # type: ignore[assignment]
        self._pending: set[asyncio.Task[None]] = set()
        self.deliveries: list[dict[str, Any]] = []

    def emit(self, events: list[Event]) -> None:
        """Schedule delivery of each event to each hook registered for it (needs a running loop)."""
        for event in events:
            for hook in self.store.hooks_for(event.event):
                body = json.dumps({"event": hook.event, **event.payload}).encode()
                task = asyncio.get_running_loop().create_task(self._deliver(hook, body))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait until every delivery scheduled so far has succeeded, been dropped or lost."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def cancel(self) -> None:
        for task in self._pending:
            task.cancel()
        self._pending.clear()
        self.deliveries.clear()

    async def aclose(self) -> None:
        self.cancel()
        if self._default_sender is not None:
            await self._default_sender.aclose()

    def _record(self, hook: Hook, body: bytes, attempt: int, outcome: str, status: int | None = None) -> None:
        self.deliveries.append(
            {
                "hook_id": hook.hook_id,
                "event": hook.event,
                "target_url": hook.target_url,
                "attempt": attempt,
                "status": status,
                "outcome": outcome,  # delivered | retrying | dropped | gone | lost | hook_deleted
                "body": json.loads(body),
            }
        )

    async def _deliver(self, hook: Hook, body: bytes) -> None:
        if self.state.faults.lose_webhook():
            self._record(hook, body, 0, "lost")
            return
        headers = {"content-type": "application/json"}
        attempts = 1 + self.settings.hook_max_retries
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self.state.clock.real_seconds((attempt - 1) * self.settings.hook_backoff_seconds))
                if hook.hook_id not in self.store.hooks:
                    self._record(hook, body, attempt, "hook_deleted")
                    return
            try:
                status: int | None = await asyncio.wait_for(self.sender(hook.target_url, headers, body), self.settings.hook_timeout_seconds)
            except Exception:  # timeouts, refused connections: all count as a failed attempt
                status = None
            if status is not None and 200 <= status <= 204:
                self._record(hook, body, attempt, "delivered", status)
                return
            if status == 410:
                self.store.hooks.pop(hook.hook_id, None)
                self._record(hook, body, attempt, "gone", status)
                return
            self._record(hook, body, attempt, "retrying" if attempt < attempts else "dropped", status)
