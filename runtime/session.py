"""Everything a run needs, built from a plan and the environment: connections, HTTP clients
with their governors, connectors, the state store. The CLI commands (`run`, `status`,
`retry`, `demo`) and the server share it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from syncmap.compiler.catalog import load_catalog
from syncmap.runtime.connectors.autopilot import Autopilot
from syncmap.runtime.connectors.pipedrive import Pipedrive
from syncmap.runtime.retry import RetryPolicy

# Test and demo plumbing, never needed against the real APIs: a sandbox whose clock runs S
# times faster than real time tells the governors to scale their windows by S.
TIME_SCALE_VARIABLE = "SYNCMAP_SANDBOX_TIME_SCALE"


class ConfigError(Exception):
    """A problem with the plan or the environment: exit 2, nothing ran."""


class PlanInputError(Exception):
    """The mapping has errors (already rendered) or the plan file cannot be used."""

    def __init__(self, message: str, rendered: str = "") -> None:
        super().__init__(message)
        self.rendered = rendered


def load_plan_input(path: str, output_format: str = "human") -> dict[str, Any]:
    """A plan file (validated, version-checked) or a mapping compiled on the fly."""
    from syncmap.compiler.plan import PlanError, load_plan

    if path.endswith(".syncmap"):
        from syncmap.compiler.api import compile_plan
        from syncmap.compiler.diagnostics import RENDERERS

        try:
            result = compile_plan(path)
        except (OSError, UnicodeDecodeError) as error:
            raise PlanInputError(f"cannot read {path}: {error}") from None
        rendered = RENDERERS[output_format](result.diagnostics, result.sources.texts) if result.diagnostics else ""
        if result.plan is None:
            raise PlanInputError(f"{path} has errors: nothing ran", rendered)
        return result.plan
    try:
        return load_plan(path)
    except PlanError as error:
        raise PlanInputError(f"{path}: {error}") from None


@dataclass(frozen=True)
class Connection:
    system: str
    base_url: str
    secret: str
    settings: dict[str, Any]


def resolve_connections(plan: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Connection]:
    """Read the variables the plan's `connect` blocks name. A missing one is named, with the
    setting it feeds; an unset base URL means the real API (the catalog's default)."""
    environ = os.environ if environ is None else environ
    connections: dict[str, Connection] = {}
    problems: list[str] = []
    systems = sorted(
        {p[s]["system"] for p in plan["pairs"] for s in ("left", "right")}
        | {a["on"]["system"] for a in plan["actions"]}
        | {step["target"]["system"] for a in plan["actions"] for step in a["steps"]}
    )
    given = {c["system"]: c["settings"] for c in plan["connections"]}
    for system in systems:
        spec = {setting.name: setting for setting in load_catalog(system).connection}
        values: dict[str, Any] = {}
        for name, setting in spec.items():
            source = given.get(system, {}).get(name)
            value = None
            if source is not None and "env" in source:
                value = environ.get(source["env"]) or None
                if value is None and setting.required:
                    problems.append(f"{system} {name}: set the environment variable {source['env']} ({setting.description})")
                    continue
            elif source is not None:
                value = source.get("value")
            if value is None:
                if setting.required:
                    problems.append(f'{system} {name}: the mapping\'s `connect {system}` block must give `{name} = env("…")`')
                    continue
                value = setting.default
            values[name] = value
        secret_name = next((n for n, s in spec.items() if s.secret), None)
        if secret_name in values:
            connections[system] = Connection(system, str(values.get("base_url")).rstrip("/"), str(values[secret_name]), values)
    if problems:
        raise ConfigError("cannot connect:\n  " + "\n  ".join(problems))
    return connections


def time_scale(environ: Mapping[str, str] | None = None) -> float:
    raw = (os.environ if environ is None else environ).get(TIME_SCALE_VARIABLE)
    try:
        scale = float(raw) if raw else 1.0
    except ValueError:
        raise ConfigError(f"{TIME_SCALE_VARIABLE} must be a positive number, not {raw!r}") from None
    if scale <= 0:
        raise ConfigError(f"{TIME_SCALE_VARIABLE} must be a positive number, not {raw!r}")
    return scale


@contextlib.asynccontextmanager
async def open_connectors(
    connections: Mapping[str, Connection], *, scale: float = 1.0, retry: RetryPolicy | None = None
) -> AsyncIterator[dict[str, Any]]:
    """The connectors, each with its HTTP client; `retry` replaces the default retry policy
    (`serve` caps its waits: it must notice soon that a limit cleared)."""
    from syncmap.runtime.governor import AutopilotGovernor, PipedriveGovernor
    from syncmap.runtime.http import ApiClient

    policy = retry or RetryPolicy()

    async with contextlib.AsyncExitStack() as stack:
        connectors: dict[str, Any] = {}
        if "pipedrive" in connections:
            c = connections["pipedrive"]
            pd_governor = PipedriveGovernor(plan=str(c.settings.get("plan") or "advanced"), time_scale=scale)
            client = await stack.enter_async_context(
                ApiClient("pipedrive", c.base_url, headers={"x-api-token": c.secret}, governor=pd_governor, retry=policy)
            )
            connectors["pipedrive"] = Pipedrive(client)
        if "autopilot" in connections:
            c = connections["autopilot"]
            ap_governor = AutopilotGovernor(rate=float(c.settings.get("rate") or 5), time_scale=scale)
            client = await stack.enter_async_context(
                ApiClient("autopilot", c.base_url, headers={"autopilotapikey": c.secret}, governor=ap_governor, retry=policy)
            )
            connectors["autopilot"] = Autopilot(client)
        yield connectors


def api_stats(connectors: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: connector.http.stats.as_dict() for name, connector in connectors.items()}
