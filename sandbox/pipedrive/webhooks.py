"""Webhook subscriptions and the delivery of v2 webhook payloads (pipedrive-api.md §6).

Every store event is matched against the subscriptions (event_action, event_object) and
delivered in a background task, so API answers never wait for a receiver. A delivery that
fails (non-2xx, error or the 10 s timeout) is retried after 3, 30 and 150 seconds of sandbox
time; failed first attempts count toward a ban (10 -> 30 minutes during which events are
lost), and a webhook without a successful delivery for 3 days is deleted. Tests await
`drain()` to see every pending delivery through.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from syncmap.sandbox.core import Clock, Faults
from syncmap.sandbox.pipedrive import times
from syncmap.sandbox.pipedrive.errors import dumps
from syncmap.sandbox.pipedrive.models import View
from syncmap.sandbox.pipedrive.settings import PipedriveSettings
from syncmap.sandbox.pipedrive.store import Event, Store
from syncmap.sandbox.pipedrive.webhook_payload import shape

Sender = Callable[[str, dict[str, str], bytes], Awaitable[int]]
DAY = 86_400


async def httpx_sender(url: str, headers: dict[str, str], body: bytes) -> int:
    """The default sender: a real HTTP POST (timeouts are enforced by the dispatcher)."""
    async with httpx.AsyncClient() as client:
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
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        for sub in targets:
            record = {"webhook_id": sub["id"], "action": event.action, "entity": event.kind, "entity_id": event.entity_id}
            banned_until = sub["_banned_until"]
            if banned_until is not None and self.store.now() < banned_until:
                self.lost.append({**record, "reason": "banned"})
                continue
            if self.faults.lose_webhook():
                self.lost.append({**record, "reason": "fault"})
                continue
            if loop is None:
                self.lost.append({**record, "reason": "no event loop"})
                continue
            payload = {"data": data, "previous": previous}
            task = loop.create_task(self._deliver(sub, event, payload, correlation_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

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
            pair = f"{sub['http_auth_user'] or ''}:{sub['http_auth_password'] or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return headers

    async def _sleep(self, simulated: float) -> None:
        """Wait `simulated` seconds of sandbox time (scaled, and cut short by clock.advance)."""
        due = self.clock.now() + simulated
        while (left := due - self.clock.now()) > 0:
            await asyncio.sleep(min(self.clock.real_seconds(left), 0.05))

    async def _attempt(self, sub: dict[str, Any], body: bytes) -> tuple[int | None, str | None]:
        timeout = max(self.clock.real_seconds(self.settings.webhook_timeout_seconds), self.settings.webhook_min_real_timeout)
        try:
            status = await asyncio.wait_for(self.sender(sub["subscription_url"], self.headers(sub), body), timeout)
            return status, None
        except TimeoutError:
            return None, "timeout"
        except Exception as exc:  # a receiver that is down is an ordinary failure
            return None, f"{type(exc).__name__}: {exc}"

    async def _deliver(self, sub: dict[str, Any], event: Event, payload: dict[str, Any], correlation_id: str) -> None:
        event_id = str(uuid.uuid4())
        delays = (0.0, *self.settings.webhook_retry_delays)
        for attempt, delay in enumerate(delays, start=1):
            if delay:
                await self._sleep(delay)
            if sub["id"] not in self.subscriptions:
                return  # deleted meanwhile
            body = dumps({"meta": self.meta(sub, event, attempt, correlation_id, event_id), **payload})
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
                    "event_id": event_id,
                    "action": event.action,
                    "entity": event.kind,
                    "entity_id": event.entity_id,
                    "time": now,
                }
            )
            sub["last_delivery_time"] = now
            sub["last_http_status"] = status
            if ok:
                sub["_last_success"] = now
                return
            if attempt == 1:
                sub["_ban_counter"] += 1
                if sub["_ban_counter"] >= self.settings.webhook_ban_threshold:
                    sub["_banned_until"] = now + self.settings.webhook_ban_minutes * 60
                    sub["_ban_counter"] = 0
        since = sub["_last_success"] or sub["add_time"]
        if self.store.now() - since >= self.settings.webhook_auto_delete_days * DAY:
            removed = self.subscriptions.pop(sub["id"], None)
            if removed is not None:
                removed["is_active"] = 0
                removed["remove_time"] = self.store.now()
                removed["remove_reason"] = "no successful deliveries for 3 days"
                self.removed.append(removed)

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
