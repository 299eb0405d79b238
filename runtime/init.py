"""`syncmap init`: read both accounts through the runtime's connectors and write the starter
mapping `syncmap.runtime.scaffold` makes of them. Reads only; writes nothing to either account.

Exit codes: 0 written, 2 usage or configuration error (a missing variable, refused
credentials, an unreachable API, an output file that already exists): then nothing is written.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from syncmap.runtime.connectors.base import ConnectorError
from syncmap.runtime.runner import DONE, connection_hint, fail
from syncmap.runtime.scaffold import ENV, Account, scaffold
from syncmap.runtime.session import ConfigError, Connection, open_connectors, resolve_connections, time_scale

# Records seeded into each sandbox for `init --sandbox`: enough for the sandboxes' own custom
# fields, lists and activity types to exist (seeding makes them), small enough to start at once.
SANDBOX_SEED = 10

# What `init` connects with, in the shape of a plan's `connections`: the variables the starter's
# `connect` blocks name, so resolving them reads (and names, when missing) the same ones.
CONNECTIONS_PLAN: dict[str, Any] = {
    "pairs": [{"left": {"system": "pipedrive"}, "right": {"system": "autopilot"}}],
    "actions": [],
    "connections": [
        {"system": system, "settings": {setting: {"env": variable} for setting, variable in settings.items()}} for system, settings in ENV.items()
    ],
}


async def read_account(connectors: Mapping[str, Any], source: str) -> Account:
    """Everything the starter is made from. The credentials are tried first (the cheapest call
    on each API), so refused ones fail before anything else is read."""
    pipedrive, autopilot = connectors["pipedrive"], connectors["autopilot"]
    await pipedrive.check()
    await autopilot.check()
    person_fields = await pipedrive.field_definitions("Person")
    await pipedrive.load_activity_types()
    contact_fields = await autopilot.custom_field_definitions()
    await autopilot.load_lists()
    return Account(tuple(person_fields), tuple(contact_fields), tuple(autopilot.lists), tuple(pipedrive.activity_types), source)


@contextlib.asynccontextmanager
async def _sandbox_environment() -> AsyncIterator[dict[str, str]]:
    from syncmap.sandbox.serve import serve_sandboxes

    async with serve_sandboxes(seed=SANDBOX_SEED) as running:
        yield running.env()


async def _read(connections: Mapping[str, Connection], scale: float, source: str) -> Account | int:
    from syncmap.runtime.http import ApiError, UnknownOutcome

    async with open_connectors(connections, scale=scale) as connectors:
        try:
            return await read_account(connectors, source)
        except ConnectorError as error:
            return fail(str(error))
        except (ApiError, UnknownOutcome) as error:
            return fail(f"{error}\n  ({connection_hint(CONNECTIONS_PLAN, error)})")


async def init(*, sandbox: bool, output: str | None, force: bool, environ: Mapping[str, str] | None = None) -> int:
    """Read the accounts (`environ`'s, or fresh sandboxes') and write the starter to `output`
    (stdout when None). Returns the exit code."""
    if output is not None and not force and Path(output).exists():
        return fail(f"{output} already exists: choose another file, or pass --force to replace it")
    try:
        scale = time_scale(environ)
        if sandbox:
            async with _sandbox_environment() as env:
                account = await _read(resolve_connections(CONNECTIONS_PLAN, env), scale, "freshly seeded sandboxes (`syncmap init --sandbox`)")
        else:
            secrets = " and ".join(variables[name] for variables, name in ((ENV["pipedrive"], "token"), (ENV["autopilot"], "key")))
            account = await _read(resolve_connections(CONNECTIONS_PLAN, environ), scale, f"the accounts of {secrets}")
    except ConfigError as error:
        return fail(str(error))
    if isinstance(account, int):
        return account
    text = scaffold(account, path=output or "starter.syncmap")
    if output is None:
        sys.stdout.write(text)
        return DONE
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as error:
        return fail(f"cannot write {output}: {error.strerror}")
    print(f"wrote {output}: check it with `syncmap check {output}`, then uncomment what you want synced", file=sys.stderr)
    return DONE


__all__ = ["CONNECTIONS_PLAN", "SANDBOX_SEED", "init", "read_account"]
