"""Helpers for the Pipedrive sandbox tests: Pipedrive's published OpenAPI descriptions (each
loaded once per session, with the documented `nullable` patch), conformance of answers through
openapi-core, and an in-process client.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
from collections.abc import AsyncIterator, Awaitable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator

from syncmap.sandbox.pipedrive import create_app

REF = Path(__file__).resolve().parents[2].parent / "shared" / "ref" / "pipedrive"
SPEC_FILES = {"v2": REF / "v2.yaml", "v1": REF / "v1.yaml", "v1-jan": REF / "2026-01-14" / "v1.yaml"}
HOST = "https://api.pipedrive.com"
TOKEN = "sandbox-token"
T = TypeVar("T")

# Conformance needs Pipedrive's published descriptions from ../shared: a missing copy is a
# broken checkout and fails loudly (see the shared_specs fixture) instead of skipping.
requires_specs = pytest.mark.usefixtures("shared_specs")


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def client(app: Any, token: str | None = TOKEN) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"x-api-token": token} if token else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pipedrive.test", headers=headers) as c:
        yield c


async def seeded(n: int = 30, seed: int = 7, **kwargs: Any) -> Any:
    app = create_app(**kwargs)
    async with client(app) as c:
        r = await c.post("/__sandbox__/seed", json={"n": n, "seed": seed})
        assert r.status_code == 200, r.text
    return app


# -- the published descriptions --------------------------------------------------------------
def allow_nulls(node: Any) -> None:
    """The patch pipedrive-api.md prescribes: null allowed wherever a schema gives a type."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("example", "examples"):
                continue
            allow_nulls(value)
        if isinstance(node.get("type"), str):
            node["nullable"] = True
    elif isinstance(node, list):
        for item in node:
            allow_nulls(item)


@cache
def raw_spec(name: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_FILES[name].open("rb") as handle:
        spec = yaml.load(handle, Loader=loader)
    allow_nulls(spec["paths"])
    allow_nulls(spec["components"].get("schemas", {}))
    return spec


@cache
def openapi(name: str) -> OpenAPI:
    return OpenAPI.from_dict(raw_spec(name), config=Config(spec_validator_cls=None))


def resolve(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


@cache
def error_schema(name: str, status: int) -> dict[str, Any]:
    """The spec's own error schemas, for statuses an operation does not list.

    v2 documents its error body once (`{success, error, error_info, data, additional_data}` on
    the convert operations); v1 documents the gateway 401 and a user 404.
    """
    spec = raw_spec(name)
    if name == "v2":
        op = spec["paths"]["/deals/{id}/convert/lead"]["post"]["responses"]["404"]
    elif status == 401:
        op = spec["paths"]["/users/me"]["get"]["responses"]["401"]
    else:
        op = spec["paths"]["/users/{id}"]["get"]["responses"]["404"]
    return resolve(spec, resolve(spec, op)["content"]["application/json"]["schema"])


def spec_for(path: str) -> list[str]:
    if path.startswith("/api/v2/"):
        return ["v2"]
    return ["v1", "v1-jan"]  # v1 paths only the January 2026 spec still has fall back to it


def conform(response: httpx.Response) -> dict[str, Any]:
    """Validate an answer against the published description of its operation; return its JSON."""
    request = response.request
    path = request.url.path
    body = response.json()
    last_error: Exception | None = None
    for name in spec_for(path):
        mock_request = MockRequest(HOST, request.method.lower(), path)
        mock_response = MockResponse(response.content, status_code=response.status_code, content_type="application/json")
        try:
            openapi(name).validate_response(mock_request, mock_response)
            return body
        except (PathNotFound, OperationNotFound) as exc:
            last_error = exc
            continue
        except ResponseNotFound:
            assert response.status_code >= 400, f"{path}: {response.status_code} is not a documented answer"
            OAS30Validator(error_schema(name, response.status_code)).validate(body)
            return body
    raise AssertionError(f"{request.method} {path} is not in the published description: {last_error}")


# -- no undeclared keys -----------------------------------------------------------------------
def _example_keys(node: Any, out: set[str]) -> set[str]:
    if isinstance(node, dict):
        out.update(node)
        for value in node.values():
            _example_keys(value, out)
    elif isinstance(node, list):
        for item in node:
            _example_keys(item, out)
    return out


def _branches(spec: dict[str, Any], schema: Any) -> list[dict[str, Any]]:
    schema = resolve(spec, schema)
    if not isinstance(schema, dict):
        return []
    out = [schema]
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key, []):
            out.extend(_branches(spec, sub))
    return out


HASH_KEY = re.compile(r"[0-9a-f]{40}\Z")


def undeclared_keys(spec: dict[str, Any], schema: Any, value: Any, allowed: set[str], where: str = "$") -> list[str]:
    branches = _branches(spec, schema)
    problems: list[str] = []
    if isinstance(value, dict):
        props: dict[str, Any] = {}
        for branch in branches:
            props.update(branch.get("properties", {}))
        if not props:  # a free-form map such as custom_fields
            return []
        for key, item in value.items():
            if key in props:
                problems += undeclared_keys(spec, props[key], item, allowed, f"{where}.{key}")
            elif key not in allowed and not HASH_KEY.match(key):  # v1 custom fields sit at the root
                problems.append(f"{where}.{key}")
    elif isinstance(value, list):
        items = [b["items"] for b in branches if "items" in b]
        for i, item in enumerate(value[:5]):
            for sub in items[:1]:
                problems += undeclared_keys(spec, sub, item, allowed, f"{where}[{i}]")
    return problems


@cache
def _templates(name: str) -> list[tuple[re.Pattern[str], str]]:
    out = []
    for template in raw_spec(name)["paths"]:
        parts = template.strip("/").split("/")
        pattern = "/".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        out.append((-sum(not p.startswith("{") for p in parts), re.compile(pattern + r"\Z"), template))
    return [(regex, template) for _, regex, template in sorted(out, key=lambda item: item[0])]


def find_operation(name: str, method: str, path: str) -> dict[str, Any] | None:
    prefix = "/api/v2" if name == "v2" else "/v1"
    relative = path[len(prefix) :].strip("/")
    for regex, template in _templates(name):
        if regex.match(relative):
            return raw_spec(name)["paths"][template].get(method.lower())
    return None


def assert_declared(response: httpx.Response, extra: frozenset[str] = frozenset()) -> None:
    """Every key of a 2xx answer is declared by its schema or shown in its example."""
    path = response.request.url.path
    for name in spec_for(path):
        operation = find_operation(name, response.request.method, path)
        if operation is None:
            continue
        spec = raw_spec(name)
        answer = resolve(spec, operation["responses"][str(response.status_code)])["content"]["application/json"]
        allowed = _example_keys(answer.get("example") or answer.get("examples") or {}, set(extra))
        problems = undeclared_keys(spec, answer["schema"], response.json(), allowed)
        assert not problems, f"{path}: keys not in the published description: {problems[:10]}"
        return
    raise AssertionError(f"{path}: no operation found")


def as_json(data: Any) -> Any:
    return json.loads(json.dumps(data))


def async_test(fn: Any) -> Any:
    """Run an async test function in a fresh event loop."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


class Receiver:
    """A webhook receiver for `webhook_sender`: records every delivery, answers `statuses` in turn."""

    def __init__(self, *statuses: int, default: int = 200) -> None:
        self.statuses = list(statuses)
        self.default = default
        self.calls: list[dict[str, Any]] = []

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> int:
        status = self.statuses.pop(0) if self.statuses else self.default
        self.calls.append({"url": url, "headers": dict(headers), "body": json.loads(body), "status": status})
        return status

    def bodies(self, status: int | None = None) -> list[dict[str, Any]]:
        return [c["body"] for c in self.calls if status is None or c["status"] == status]
