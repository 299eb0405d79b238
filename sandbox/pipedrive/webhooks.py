"""Webhook subscriptions and the delivery of v2 webhook payloads (pipedrive-api.md §6).

Every store event is matched against the subscriptions (event_action, event_object) and
delivered in a background task, so API answers never wait for a receiver. A delivery that
fails (non-2xx, error or the 10 s timeout) is retried after 3, 30 and 150 seconds of sandbox
time; failed first attempts count toward a ban (10 -> 30 minutes during which events are
lost), and a webhook without a successful delivery for 3 days is deleted. Tests await
`drain()` to see every pending delivery through.

Faults (`Faults.lose_webhook`, `Faults.duplicate_webhook`) lose a delivery before its first
attempt, or send a delivered one once more as Pipedrive's retry after a timeout would: the
same `meta.id`, the next `meta.attempt`, after that retry's delay. Every attempt and every lost
event carries the wall times `event_at` (the change) and `at` (the attempt, or the loss).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from syncmap.sandbox.core import Clock, Faults, basic_auth
from syncmap.sandbox.pipedrive import times
from syncmap.sandbox.pipedrive.errors import dumps
from syncmap.sandbox.pipedrive.models import View
from syncmap.sandbox.pipedrive.settings import PipedriveSettings
from syncmap.sandbox.pipedrive.store import Event, Store
from syncmap.sandbox.pipedrive.webhook_payload import shape

Sender = Callable[[str, dict[str, str], bytes], Awaitable[int]]
DAY = 86_400


@functools.cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


async def httpx_sender(url: str, headers: dict[str, str], body: bytes) -> int:
    """The default sender: a real HTTP POST (timeouts are enforced by the dispatcher).

    A new connection per delivery, as from a fleet of senders; the TLS context is built once
    (building it per client cost tens of ms a delivery). Straight to the URL: no proxy from the
    environment."""
    async with httpx.AsyncClient(trust_env=False, verify=_tls()) as client:
        response = await client.post(url, content=body, headers=headers)
        return response.status_code


class Webhooks:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        faults: Faults,
        settings: PipedriveSettings,
        sender: Sender | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.faults = faults
        self.settings = settings
        self.sender = sender or httpx_sender
        self._tasks: set[asyncio.Task[None]] = set()
        self.reset()
        store.listeners.append(self.on_event)

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = set()
        self.subscriptions: dict[int, dict[str, Any]] = {}
        self._next_id = 1
        self.deliveries: list[dict[str, Any]] = []  # every attempt, in order
        self.lost: list[dict[str, Any]] = []  # events never sent (fault, ban)
        self.removed: list[dict[str, Any]] = []  # webhooks deleted for lack of success

    # -- subscriptions ------------------------------------------------------------------------
    def add(self, body: dict[str, Any], owner_id: int) -> dict[str, Any]:
        now = self.store.now()
        sub = {
            "id": self._next_id,
            "company_id": self.settings.company_id,
            "owner_id": owner_id,
            "user_id": body.get("user_id") or owner_id,
            "event_action": body["event_action"],
            "event_object": body["event_object"],
            "subscription_url": body["subscription_url"],
            "version": body.get("version") or "2.0",
            "is_active": 1,
            "add_time": now,
            "remove_time": None,
            "type": "general",
            "http_auth_user": body.get("http_auth_user"),
            "http_auth_password": body.get("http_auth_password"),
            "remove_reason": None,
            "last_delivery_time": None,
            "last_http_status": None,
            "admin_id": owner_id,
            "name": body["name"],
            "_ban_counter": 0,
            "_banned_until": None,
            "_last_success": None,
        }
        self._next_id += 1
        self.subscriptions[sub["id"]] = sub
        return sub

    @staticmethod
    def render(sub: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in sub.items() if not k.startswith("_")}
        for key in ("add_time", "remove_time", "last_delivery_time"):
            out[key] = times.iso_millis(out[key])
        return out

    def owned_by(self, user_id: int) -> list[dict[str, Any]]:
        return [s for s in self.subscriptions.values() if s["owner_id"] == user_id]

    # -- events -------------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        targets = [
            s
            for s in self.subscriptions.values()
            if s["is_active"] and s["event_action"] in ("*", event.action) and s["event_object"] in ("*", event.kind)
        ]
        if not targets:
            return
        view = View(event.kind, self.store, time_style="millis")  # webhook samples show milliseconds
        data = view.render(event.data) if event.data is not None else None
        if event.action == "delete":
            previous = view.render(event.previous) if event.previous is not None else None
        elif event.action == "change":
            previous = view.render_partial(event.previous or {}, event.entity_id)
        else:
            previous = None
        data, previous = shape(event.kind, data, self.store), shape(event.kind, previous, self.store, previous=True)
        correlation_id = str(uuid.uuid4())
        event_at = time.time()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        for sub in targets:
            record = {
                "webhook_id": sub["id"],
                "action": event.action,
                "entity": event.kind,
                "entity_id": event.entity_id,
                "correlation_id": correlation_id,
                "event_at": event_at,
            }
            banned_until = sub["_banned_until"]
            if banned_until is not None and self.store.now() < banned_until:
                self._lose(record, "banned")
                continue
            if self.faults.lose_webhook():
                self._lose(record, "fault")
                continue
            if loop is None:
                self._lose(record, "no event loop")
                continue
            delivery = Delivery(sub, event, {"data": data, "previous": previous}, correlation_id, event_at, self.faults.duplicate_webhook())
            task = loop.create_task(self._deliver(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _lose(self, record: dict[str, Any], reason: str) -> None:
        self.lost.append({**record, "reason": reason, "at": time.time()})

    def meta(self, sub: dict[str, Any], event: Event, attempt: int, correlation_id: str, event_id: str) -> dict[str, Any]:
        as_id: Callable[[Any], Any] = str if self.settings.webhook_meta_style == "doc" else int
        meta: dict[str, Any] = {
            "action": event.action,
            "entity": event.kind,
            "company_id": as_id(self.settings.company_id),
            "correlation_id": correlation_id,
            "entity_id": as_id(event.entity_id),
            "id": event_id,
            "is_bulk_edit": False,
            "timestamp": times.iso_millis(event.timestamp) if self.settings.webhook_meta_style == "doc" else int(event.timestamp),
            "type": sub["type"],
            "user_id": as_id(event.actor.user_id),
            "version": "2.0",
            "webhook_id": as_id(sub["id"]),
            "webhook_owner_id": as_id(sub["owner_id"]),
            "change_source": event.actor.source,
            "attempt": attempt,
            "host": f"{self.store.company_domain}.pipedrive.com",
        }
        if event.kind != "user":
            meta["permitted_user_ids"] = [as_id(u["id"]) for u in self.store.users.values() if u["active_flag"]]
        for key in ("merged_to_id", "merged_from_id"):
            if key in event.meta:
                meta[key] = as_id(event.meta[key])
        return meta

    def headers(self, sub: dict[str, Any]) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "Pipedrive-Webhook"}
        if sub["http_auth_user"] is not None or sub["http_auth_password"] is not None:
            headers["Authorization"] = basic_auth(sub["http_auth_user"], sub["http_auth_password"])
        return headers

    async def _attempt(self, sub: dict[str, Any], body: bytes) -> tuple[int | None, str | None]:
        timeout = max(self.clock.real_seconds(self.settings.webhook_timeout_seconds), self.settings.webhook_min_real_timeout)
        try:
            status = await asyncio.wait_for(self.sender(sub["subscription_url"], self.headers(sub), body), timeout)
            return status, None
        except TimeoutError:
            return None, "timeout"
        except Exception as exc:  # a receiver that is down is an ordinary failure
            return None, f"{type(exc).__name__}: {exc}"

    async def _deliver(self, delivery: Delivery) -> None:
        sub = delivery.sub
        delays = (0.0, *self.settings.webhook_retry_delays)
        for attempt, delay in enumerate(delays, start=1):
            if delay:
                await self.clock.sleep(delay)
            if sub["id"] not in self.subscriptions:
                return  # deleted meanwhile
            if await self._send(delivery, attempt):
                if delivery.duplicate:
                    await self._send_duplicate(delivery, attempt + 1)
                return
            if attempt == 1:
                sub["_ban_counter"] += 1
                if sub["_ban_counter"] >= self.settings.webhook_ban_threshold:
                    sub["_banned_until"] = self.store.now() + self.settings.webhook_ban_minutes * 60
                    sub["_ban_counter"] = 0
        since = sub["_last_success"] or sub["add_time"]
        if self.store.now() - since >= self.settings.webhook_auto_delete_days * DAY:
            removed = self.subscriptions.pop(sub["id"], None)
            if removed is not None:
                removed["is_active"] = 0
                removed["remove_time"] = self.store.now()
                removed["remove_reason"] = "no successful deliveries for 3 days"
                self.removed.append(removed)

    async def _send_duplicate(self, delivery: Delivery, attempt: int) -> None:
        """The delivered event once more, as the retry Pipedrive sends when it believes the
        receiver timed out: after that retry's delay (the last one past the fourth attempt)."""
        delays = self.settings.webhook_retry_delays
        if delays:
            await self.clock.sleep(delays[min(attempt - 2, len(delays) - 1)])
        if delivery.sub["id"] in self.subscriptions:
            await self._send(delivery, attempt, duplicate=True)

    async def _send(self, delivery: Delivery, attempt: int, *, duplicate: bool = False) -> bool:
        """One attempt: POST, log it, keep the subscription's delivery fields. True on a 2xx."""
        sub, event = delivery.sub, delivery.event
        body = dumps({"meta": self.meta(sub, event, attempt, delivery.correlation_id, delivery.event_id), **delivery.payload})
        sent_at = time.time()
        status, error = await self._attempt(sub, body)
        now = self.store.now()
        ok = status is not None and 200 <= status < 300
        self.deliveries.append(
            {
                "webhook_id": sub["id"],
                "url": sub["subscription_url"],
                "attempt": attempt,
                "status": status,
                "error": error,
                "ok": ok,
                "event_id": delivery.event_id,
                "correlation_id": delivery.correlation_id,
                "action": event.action,
                "entity": event.kind,
                "entity_id": event.entity_id,
                "time": now,
                "event_at": delivery.event_at,
                "at": sent_at,
                "duration": time.time() - sent_at,
                "duplicate": duplicate,
            }
        )
        sub["last_delivery_time"] = now
        sub["last_http_status"] = status
        if ok:
            sub["_last_success"] = now
        return ok

    # -- waiting ------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self) -> dict[str, int]:
        """Wait until every scheduled delivery (retries included) has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        return {
            "attempts": len(self.deliveries),
            "delivered": sum(1 for d in self.deliveries if d["ok"]),
            "failed_attempts": sum(1 for d in self.deliveries if not d["ok"]),
            "lost": len(self.lost),
        }


@dataclass
class Delivery:
    """One event on its way to one subscription: what every attempt (and a duplicate) resends."""

    sub: dict[str, Any]
    event: Event
    payload: dict[str, Any]  # data and previous
    correlation_id: str
    event_at: float  # wall time of the change
    duplicate: bool  # the duplicate fault picked it: send it once more after its success
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
