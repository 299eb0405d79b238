"""Outgoing requests with Autopilot's retry policy: REST-hook events and journey webhook steps.

Each event is POSTed as JSON to every hook registered for it; a journey's Webhook step
(`journey_webhook.py`) calls its URL with its method. 200-204 is success; 410 Gone deletes a
REST hook; anything else (or a timeout) is retried `hook_max_retries` times with incremental
backoff (retry n waits n * `hook_backoff_seconds` of simulated time), then the delivery is
dropped for good. Faults can lose a delivery before its first attempt, or send a delivered one
once more (the same body, after the next retry's wait), as a retry after a timeout would.
Every attempt is recorded in `deliveries` (served at `/__sandbox__/hook-deliveries`) with the
wall times `event_at` (the change) and `at` (the attempt).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from syncmap.sandbox.autopilot.settings import AutopilotSettings
from syncmap.sandbox.autopilot.store import AutopilotStore, Event, Hook
from syncmap.sandbox.core import SandboxState

# (url, headers, body bytes) -> HTTP status of the receiver's answer. A sender is called with
# a keyword `method` only for a journey webhook step whose method is not POST.
HookSender = Callable[..., Awaitable[int]]
JSON_HEADERS = {"content-type": "application/json"}


class HttpSender:
    """The default sender: a real HTTP request through one shared httpx client."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, url: str, headers: dict[str, str], body: bytes, method: str = "POST") -> int:
        if self._client is None:
            self._client = httpx.AsyncClient(trust_env=False)  # straight to the URL: no proxy from the environment
        response = await self._client.request(method, url, headers=headers, content=body)
        return response.status_code

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


@dataclass(frozen=True)
class Outgoing:
    """One request the sandbox sends out, and what the delivery log says it is about."""

    url: str
    body: bytes
    about: dict[str, Any]  # e.g. kind, hook_id and event, or the journey and its contact ids
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON_HEADERS))
    hook_id: str | None = None  # a REST hook's: 410 deletes it, and deleting it stops retries
    event_at: float = field(default_factory=time.time)  # wall time of what caused it
    delivery_id: str = field(default_factory=lambda: f"delivery_{uuid.uuid4()}")  # sandbox-only


def hook_request(hook: Hook, event: Event) -> Outgoing:
    payload = event.payload
    contact = payload.get("contact")
    contact_id = contact.get("contact_id") if isinstance(contact, dict) else payload.get("contact_id")
    about = {"kind": "hook", "hook_id": hook.hook_id, "event": hook.event, "contact_ids": [contact_id] if contact_id else []}
    if "list_id" in payload:
        about["list_id"] = payload["list_id"]
    body = json.dumps({"event": hook.event, **payload}).encode()
    return Outgoing(hook.target_url, body, about, hook_id=hook.hook_id)


class HookDispatcher:
    def __init__(self, store: AutopilotStore, state: SandboxState, settings: AutopilotSettings, sender: HookSender | None = None) -> None:
        self.store = store
        self.state = state
        self.settings = settings
        self._default_sender: HttpSender | None = None  # ours to close; a sender passed in is the caller's
        if sender is None:
            sender = self._default_sender = HttpSender()
        self.sender: HookSender = sender
        self._pending: set[asyncio.Task[None]] = set()
        self.deliveries: list[dict[str, Any]] = []

    def emit(self, events: list[Event]) -> None:
        """Schedule delivery of each event to each hook registered for it (needs a running loop)."""
        self.send([hook_request(hook, event) for event in events for hook in self.store.hooks_for(event.event)])

    def send(self, requests: list[Outgoing]) -> None:
        """Schedule each request with the retry policy and the webhook faults (needs a running loop)."""
        for request in requests:
            task = asyncio.get_running_loop().create_task(self._deliver(request))
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

    def _record(
        self, request: Outgoing, attempt: int, outcome: str, status: int | None = None, *, at: float | None = None, duplicate: bool = False
    ) -> None:
        """Log an attempt (`at` = when it was sent) or a delivery that never was (`at` = now)."""
        self.deliveries.append(
            {
                **request.about,
                "delivery_id": request.delivery_id,
                "target_url": request.url,
                "method": request.method,
                "attempt": attempt,
                "status": status,
                "outcome": outcome,  # delivered | retrying | dropped | gone | lost | hook_deleted
                "body": json.loads(request.body),
                "event_at": request.event_at,
                "at": time.time() if at is None else at,
                "duplicate": duplicate,  # the duplicate fault's second copy of a delivered request
            }
        )

    def _gone(self, request: Outgoing) -> bool:
        return request.hook_id is not None and request.hook_id not in self.store.hooks

    async def _deliver(self, request: Outgoing) -> None:
        faults = self.state.faults
        if faults.lose_webhook():
            self._record(request, 0, "lost")
            return
        duplicate = faults.duplicate_webhook()
        attempts = 1 + self.settings.hook_max_retries
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                await self.state.clock.sleep((attempt - 1) * self.settings.hook_backoff_seconds)
                if self._gone(request):
                    self._record(request, attempt, "hook_deleted")
                    return
            sent_at = time.time()
            outcome, status = await self._attempt(request)
            if outcome == "failed":
                outcome = "retrying" if attempt < attempts else "dropped"
            self._record(request, attempt, outcome, status, at=sent_at)
            if outcome == "gone":
                self.store.hooks.pop(request.hook_id or "", None)
            if outcome != "retrying":
                break
        if duplicate and outcome == "delivered":
            # the same body once more, when the next retry would have come
            await self.state.clock.sleep(attempt * self.settings.hook_backoff_seconds)
            if not self._gone(request):
                sent_at = time.time()
                again, status = await self._attempt(request)
                outcome = "delivered" if again == "delivered" else "failed"
                self._record(request, attempt + 1, outcome, status, at=sent_at, duplicate=True)

    async def _attempt(self, request: Outgoing) -> tuple[str, int | None]:
        """One request: "delivered", "gone" (410 to a REST hook) or "failed", and the status."""
        kwargs = {} if request.method == "POST" else {"method": request.method}
        try:
            send = self.sender(request.url, request.headers, request.body, **kwargs)
            status: int | None = await asyncio.wait_for(send, self.settings.hook_timeout_seconds)
        except Exception:  # timeouts, refused connections: all count as a failed attempt
            status = None
        if status is not None and 200 <= status <= 204:
            return "delivered", status
        if status == 410 and request.hook_id is not None:
            return "gone", status
        return "failed", status
