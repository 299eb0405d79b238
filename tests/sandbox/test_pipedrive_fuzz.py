"""Pipedrive sandbox: requests generated from the published OpenAPI descriptions (schemathesis
strategies, positive and negative) against every implemented operation, in-process. Whatever a
client sends, the sandbox never answers 5xx (but its own 501 "does not model"), always answers JSON, and every answer validates
against the description (openapi-core with the documented nullable patch, as in
test_pipedrive_conformance). Bounded: derandomized, 40 examples per operation.

Generation uses the unpatched description (a patched one would generate `null` everywhere).
Path ids are steered to existing records half of the time so updates, merges and field reads
get past the 404.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pipedrive_support import SPEC_FILES, TOKEN, conform, requires_specs
from schemathesis.generation.modes import GenerationMode

from syncmap.sandbox.pipedrive import PipedriveSettings, create_app

pytestmark = requires_specs

EXAMPLES_PER_MODE = 20  # positive + negative = 40 per operation
PREFIX = {"v2": "/api/v2", "v1": "/v1", "v1-jan": "/v1"}
ENTITIES = ("persons", "organizations", "deals", "activities")
FIELDS = {"personFields": "person", "organizationFields": "organization", "dealFields": "deal", "activityFields": "activity"}

OPERATIONS: list[tuple[str, str, str]] = [
    *[("v2", m, f"/{e}") for e in ENTITIES for m in ("GET", "POST")],
    *[("v2", m, f"/{e}/{{id}}") for e in ENTITIES for m in ("GET", "PATCH", "DELETE")],
    ("v2", "GET", "/deals/archived"),
    ("v2", "GET", "/persons/search"),
    ("v2", "GET", "/organizations/search"),
    ("v2", "GET", "/deals/search"),
    ("v2", "GET", "/itemSearch"),
    *[("v2", "GET", f"/{f}") for f in FIELDS],
    *[("v2", "POST", f"/{f}") for f in FIELDS if f != "activityFields"],
    *[("v2", "GET", f"/{f}/{{field_code}}") for f in FIELDS],
    ("v1", "GET", "/users"),
    ("v1", "GET", "/users/me"),
    ("v1", "GET", "/users/{id}"),
    ("v1", "GET", "/users/find"),
    ("v1", "GET", "/activityTypes"),
    ("v1", "POST", "/activityTypes"),
    *[("v1", "GET", f"/{f}") for f in FIELDS],
    *[("v1", m, f"/{f}") for f in FIELDS if f != "activityFields" for m in ("POST",)],
    *[("v1", "GET", f"/{f}/{{id}}") for f in FIELDS if f != "activityFields"],
    ("v1", "GET", "/webhooks"),
    ("v1", "POST", "/webhooks"),
    ("v1", "DELETE", "/webhooks/{id}"),
    ("v1", "PUT", "/persons/{id}/merge"),
    ("v1-jan", "GET", "/persons/search"),
    ("v1-jan", "GET", "/recents"),
]


@functools.cache
def schema(name: str) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_FILES[name].open("rb") as handle:
        return schemathesis.openapi.from_dict(yaml.load(handle, Loader=loader))


async def _no_network(url: str, headers: dict[str, str], body: bytes) -> int:
    return 200


class Sandbox:
    """One seeded app and one event loop for the whole module: examples run back to back."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        # fuzzing, not rate limits; recents' user items as the schema says (the default follows clients)
        limits = PipedriveSettings(window_seconds=1e-6, daily_budget=10**12, recents_user_data="object")
        self.app = create_app(plan="enterprise", settings=limits, webhook_sender=_no_network)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://pipedrive.test", headers={"x-api-token": TOKEN})
        seeded = self.call("POST", "/__sandbox__/seed", json={"n": 20, "seed": 3})
        assert seeded.status_code == 200, seeded.text
        self.field_codes = {kind: [f["key"] for f in defs] for kind, defs in self.app.state.store.fields.items()}

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.request(method, url, **kwargs))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox()
    yield box
    box.close()


def _request(case: Any, name: str) -> dict[str, Any]:
    """The generated case as httpx keyword arguments, authenticated with the sandbox token."""
    kw = case.as_transport_kwargs(base_url="http://pipedrive.test" + PREFIX[name])
    headers = {k: v for k, v in (kw.get("headers") or {}).items() if k.lower() not in ("x-api-token", "authorization")}
    params = {k: v for k, v in (kw.get("params") or {}).items() if k != "api_token"}
    out: dict[str, Any] = {"headers": {**headers, "x-api-token": TOKEN}, "params": params}
    if "json" in kw:
        out["json"] = kw["json"]
    elif isinstance(kw.get("data"), (bytes, str)):
        out["content"] = kw["data"]
    elif kw.get("data") is not None:
        out["data"] = kw["data"]
    return {"method": kw["method"], "url": kw["url"], **out}


@pytest.mark.parametrize(("name", "method", "path"), OPERATIONS, ids=[f"{n}-{m}-{p}" for n, m, p in OPERATIONS])
def test_generated_requests_get_conforming_answers(sandbox: Sandbox, name: str, method: str, path: str) -> None:
    operation = schema(name)[path][method]
    generated = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    kind = FIELDS.get(path.strip("/").split("/")[0])
    known_codes = st.sampled_from(sandbox.field_codes[kind]) if kind else st.none()

    @settings(
        max_examples=2 * EXAMPLES_PER_MODE,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=generated, steer=st.booleans(), known_id=st.integers(1, 20), known_code=known_codes)
    def check(case: Any, steer: bool, known_id: int, known_code: str | None) -> None:
        if steer and case.path_parameters:
            if "id" in case.path_parameters:
                case.path_parameters["id"] = known_id
            if "field_code" in case.path_parameters and known_code is not None:
                case.path_parameters["field_code"] = known_code
        request = _request(case, name)
        response = sandbox.call(**request)
        # 5xx only as the sandbox's own "does not model" answer (e.g. itemSearch item_types=product)
        not_modelled = response.status_code == 501 and response.headers.get("x-sandbox-not-modelled") == "true"
        assert response.status_code < 500 or not_modelled, f"{request}: {response.status_code} {response.text[:300]}"
        assert response.headers["content-type"].startswith("application/json"), request
        conform(response)

    check()
