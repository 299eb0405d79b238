"""A journey's Webhook action step (help page "Autopilot: Action - Webhook").

The marketer gives a URL, an HTTP method, optional headers (e.g. a pre-shared key) or HTTP
basic auth, and an optional custom payload. When contacts reach the step, Autopilot calls the
URL with `{"records": [contact, …], "journey": {"name", "id"}}`, each record a contact as the
API reads it. `parse_step` checks what a test sends to `POST /__sandbox__/app/journey-webhook`;
`requests_for` turns the step and the contacts that reached it into the requests to send (the
dispatcher in `hooks.py` sends them with the REST hooks' retry policy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from syncmap.sandbox.autopilot.errors import ApiError
from syncmap.sandbox.autopilot.hooks import JSON_HEADERS, Outgoing
from syncmap.sandbox.autopilot.settings import AutopilotSettings
from syncmap.sandbox.autopilot.store import AutopilotStore, Contact
from syncmap.sandbox.core import basic_auth

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
RESERVED_KEYS = ("records", "journey")


@dataclass(frozen=True)
class Step:
    journey: str
    url: str
    method: str
    headers: dict[str, str]
    payload: dict[str, Any] | None
    contacts: list[str]  # contact ids or emails, as given


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for "http://[::1" or a port past 65535
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0


def _string_map(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ApiError(400, f"{name} must be an object of strings.")
    return value


def parse_step(body: dict[str, Any], settings: AutopilotSettings) -> Step:
    journey = body.get("journey")
    if not isinstance(journey, str) or not journey:
        raise ApiError(400, "journey must be a journey's name.")
    url = body.get("url")
    if not isinstance(url, str) or not _is_http_url(url):
        raise ApiError(400, "url must be an http(s) URL.")
    method = body.get("method", "POST")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ApiError(400, f"method must be one of {', '.join(METHODS)}.")
    headers = _string_map(body.get("headers", {}), "headers")
    auth = body.get("basic_auth")
    if auth is not None:
        auth = _string_map(auth, "basic_auth")
        if set(auth) != {"user", "password"}:
            raise ApiError(400, 'basic_auth must be {"user", "password"}.')
        headers = {**headers, "Authorization": basic_auth(auth["user"], auth["password"])}
    payload = body.get("payload")
    if payload is not None and not isinstance(payload, dict):
        raise ApiError(400, "payload must be an object.")
    if payload and settings.journey_webhook_payload == "merge" and set(payload) & set(RESERVED_KEYS):
        raise ApiError(400, "payload must not have the keys records or journey.")
    contacts = body.get("contacts")
    if not isinstance(contacts, list) or not contacts or not all(isinstance(c, str) and c for c in contacts):
        raise ApiError(400, "contacts must be a non-empty list of contact ids or emails.")
    return Step(journey, url, method.upper(), headers, payload, contacts)


def requests_for(step: Step, store: AutopilotStore, settings: AutopilotSettings) -> list[Outgoing]:
    """The requests the step sends: one for all its contacts, or one per contact (a setting).
    Every contact must exist (the contact 404 otherwise, and nothing is sent)."""
    reached: list[Contact] = [store.get(c) for c in step.contacts]
    groups = [[c] for c in reached] if settings.journey_webhook_per_contact else [reached]
    journey = {"name": step.journey, "id": store.journey_id(step.journey)}
    return [_request(step, journey, group, store, settings) for group in groups]


def _request(step: Step, journey: dict[str, str], group: list[Contact], store: AutopilotStore, settings: AutopilotSettings) -> Outgoing:
    body: dict[str, Any] = {"records": [store.render(c) for c in group], "journey": journey}
    if step.payload is not None:
        body = {**step.payload, **body} if settings.journey_webhook_payload == "merge" else {**body, "payload": step.payload}
    about = {"kind": "journey_webhook", "journey": journey, "contact_ids": [c.contact_id for c in group]}
    return Outgoing(step.url, json.dumps(body).encode(), about, method=step.method, headers={**JSON_HEADERS, **step.headers})
