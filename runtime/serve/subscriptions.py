"""The server's subscriptions: Pipedrive webhooks (v2 payloads, HTTP basic auth) and Autopilot
REST hooks (a secret token in the target URL: Autopilot signs nothing, ../shared/ref/
autopilot-api.md §1.8), registered on start and removed on a clean stop.

Registration is idempotent: the ids syncmap made are kept in the state store, a restart keeps
those that still exist, creates what is missing, and deletes what points at this server but
is not ours any more (another token, an object the plan no longer syncs). The credentials are
generated once and kept in the state store, so a restart does not have to re-register.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from syncmap.runtime.retry import RetryPolicy
from syncmap.runtime.serve.events import AUTOPILOT_SUBSCRIBED, PIPEDRIVE_ENTITIES

CREDENTIALS_KEY = "serve.credentials"
SUBSCRIPTIONS_KEY = "serve.subscriptions"
PIPEDRIVE_PATH = "/hooks/pipedrive"
AUTOPILOT_PATH = "/hooks/autopilot/"


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str
    token: str  # Autopilot hooks' path secret

    def as_dict(self) -> dict[str, str]:
        return {"user": self.user, "password": self.password, "token": self.token}


def credentials(state: Any) -> tuple[Credentials, bool]:
    """The server's credentials, made on first use; (credentials, made just now)."""
    stored = state.get_meta(CREDENTIALS_KEY)
    if isinstance(stored, Mapping) and all(isinstance(stored.get(k), str) and stored.get(k) for k in ("user", "password", "token")):
        return Credentials(stored["user"], stored["password"], stored["token"]), False
    made = Credentials("syncmap", secrets.token_urlsafe(24), secrets.token_urlsafe(24))
    state.set_meta(CREDENTIALS_KEY, made.as_dict())
    return made, True


def pipedrive_objects(plan: Mapping[str, Any]) -> list[str]:
    """Webhook objects to subscribe to: each object a pair syncs on the Pipedrive side, and
    each one read through a relation path (a renamed organization changes `Company`)."""
    wanted = {pair[side]["object"] for pair in plan["pairs"] for side in ("left", "right") if pair[side]["system"] == "pipedrive"}
    for stage in plan["stages"]:
        system, _, obj = str(stage.get("object", "")).partition(".")
        if not stage["pairs"] and system == "pipedrive" and obj in PIPEDRIVE_ENTITIES.values():
            wanted.add(obj)  # read only through a relation path
    by_object = {obj: entity for entity, obj in PIPEDRIVE_ENTITIES.items()}
    return sorted(by_object[obj] for obj in wanted if obj in by_object)


def autopilot_events(plan: Mapping[str, Any]) -> list[str]:
    syncs = any(pair[side]["system"] == "autopilot" for pair in plan["pairs"] for side in ("left", "right"))
    return list(AUTOPILOT_SUBSCRIBED) if syncs else []


async def register(plan: Mapping[str, Any], connectors: Mapping[str, Any], state: Any, public_url: str, creds: Credentials) -> dict[str, Any]:
    """Make the subscriptions match the plan; returns what is registered (kept in the state)."""
    public_url = public_url.rstrip("/")
    stored = state.get_meta(SUBSCRIPTIONS_KEY) or {}
    result: dict[str, Any] = {"public_url": public_url, "pipedrive": {}, "autopilot": {}}
    pd = connectors.get("pipedrive")
    if pd is not None:
        result["pipedrive"] = await _register_pipedrive(pd, plan, public_url + PIPEDRIVE_PATH, creds, stored.get("pipedrive") or {})
    ap = connectors.get("autopilot")
    if ap is not None:
        result["autopilot"] = await _register_autopilot(ap, plan, public_url + AUTOPILOT_PATH, creds, stored.get("autopilot") or {})
    state.set_meta(SUBSCRIPTIONS_KEY, result)
    return result


async def _register_pipedrive(pd: Any, plan: Mapping[str, Any], url: str, creds: Credentials, ours: Mapping[str, Any]) -> dict[str, str]:
    answer = await pd.http.request("GET", "/v1/webhooks")
    existing = [w for w in answer.body.get("data") or () if isinstance(w, Mapping)]
    keep: dict[str, str] = {}
    ours_ids = {str(v) for v in ours.values()}
    for hook in existing:
        hook_id, entity = str(hook.get("id")), hook.get("event_object")
        if hook.get("subscription_url") != url:
            if hook_id in ours_ids:  # ours, for a public URL this server no longer has
                await pd.http.request("DELETE", f"/v1/webhooks/{hook_id}", ok=(404,))
            continue
        if hook_id in ours_ids and entity in pipedrive_objects(plan) and entity not in keep and hook.get("event_action") == "*":
            keep[entity] = hook_id
        else:
            # Points at this server but was not made by this state (lost credentials) or is no
            # longer wanted: its deliveries would be refused or useless.
            await pd.http.request("DELETE", f"/v1/webhooks/{hook_id}", ok=(404,))
    for entity in pipedrive_objects(plan):
        if entity in keep:
            continue
        body = {
            "subscription_url": url,
            "event_action": "*",
            "event_object": entity,
            "name": f"syncmap {entity}",
            "version": "2.0",
            "http_auth_user": creds.user,
            "http_auth_password": creds.password,
        }
        made = await pd.http.request("POST", "/v1/webhooks", json=body, idempotent=False)
        keep[entity] = str(made.body["data"]["id"])
    return keep


async def _register_autopilot(ap: Any, plan: Mapping[str, Any], base: str, creds: Credentials, ours: Mapping[str, Any]) -> dict[str, str]:
    url = base + creds.token
    answer = await ap.http.request("GET", "/hooks")
    keep: dict[str, str] = {}
    ours_ids = {str(v) for v in ours.values()}
    for hook in answer.body.get("hooks") or ():
        target, event, hook_id = str(hook.get("target_url", "")), hook.get("event"), str(hook.get("hook_id"))
        if not target.startswith(base):
            if hook_id in ours_ids:  # ours, for a public URL this server no longer has
                await ap.http.request("DELETE", f"/hook/{hook_id}", ok=(404,))
            continue
        if target == url and event in autopilot_events(plan) and event not in keep:
            keep[event] = hook_id
        else:
            await ap.http.request("DELETE", f"/hook/{hook_id}", ok=(404,))
    for event in autopilot_events(plan):
        if event in keep:
            continue
        made = await ap.http.request("POST", "/hook", json={"event": event, "target_url": url}, idempotent=False, ok=(409,))
        if made.status == 409:  # registered meanwhile: read it back
            again = await ap.http.request("GET", "/hooks")
            for hook in again.body.get("hooks") or ():
                if hook.get("target_url") == url and hook.get("event") == event:
                    keep[event] = str(hook.get("hook_id"))
            continue
        keep[event] = str(made.body.get("hook_id") or made.body.get("id"))
    return keep


async def unregister(connectors: Mapping[str, Any], state: Any, *, seconds: float, retry: RetryPolicy | None = None) -> list[str]:
    """Remove what `register` made (a clean stop): no deliveries to a server that is gone.

    All at once, `retry` as the policy of each request, within `seconds` in total: a stop must
    not wait on APIs that do not answer. What could not be removed stays in the state (as a
    killed server leaves it), so the next start finds it and re-uses or replaces it; returns why
    each of those is left, empty when everything was removed."""
    stored = state.get_meta(SUBSCRIPTIONS_KEY) or {}
    paths = {"pipedrive": "/v1/webhooks/{}", "autopilot": "/hook/{}"}
    removals: dict[tuple[str, str], asyncio.Task[Any]] = {}
    for system, path in paths.items():
        connector = connectors.get(system)
        if connector is None:
            continue
        for key, hook_id in (stored.get(system) or {}).items():
            request = connector.http.request("DELETE", path.format(hook_id), ok=(404,), retry=retry)
            removals[(system, key)] = asyncio.ensure_future(request)
    if removals:
        await asyncio.wait(removals.values(), timeout=max(0.0, seconds))
    left: list[str] = []
    kept: dict[str, dict[str, Any]] = {system: {} for system, _ in removals}
    for (system, key), task in removals.items():
        if not task.done():
            task.cancel()
            left.append(f"{system} {key}: no answer within {seconds:.1f} s")
        elif task.cancelled() or task.exception() is not None:
            left.append(f"{system} {key}: {task.exception() if not task.cancelled() else 'cancelled'}")
        else:
            continue
        kept[system][key] = stored[system][key]
    await asyncio.gather(*removals.values(), return_exceptions=True)  # the cancelled ones end
    state.set_meta(SUBSCRIPTIONS_KEY, {**stored, **kept} if left else {})
    return left
