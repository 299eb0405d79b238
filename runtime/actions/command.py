"""`syncmap action`: one action for one contact, its outcome printed, and the exit code
(0 done or duplicate, 1 dead letter, 2 usage or configuration error, 3 stopped by an API limit)."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

from syncmap.runtime.actions.runner import ActionOutcome, ActionRunner, UnknownAction
from syncmap.runtime.connectors.base import ConnectorError
from syncmap.runtime.engine import Engine
from syncmap.runtime.runner import CONFIG, DEAD_LETTERS, DONE, LIMIT, SetupFailed, connection_hint, fail, load_for_run, open_store
from syncmap.runtime.session import open_connectors


async def run_action(source: str, name: str, contact: str, *, dry_run: bool, key: str | None, state: str | None, output_format: str) -> int:
    try:
        plan, connections, scale = load_for_run(source)
    except SetupFailed as failed:
        return failed.code
    if name not in {a["name"] for a in plan["actions"]}:
        known = ", ".join(f'"{a["name"]}"' for a in plan["actions"]) or "none"
        return fail(f'{source} has no action named "{name}" (its actions: {known})')
    from syncmap.runtime.http import ApiError, LimitReached, UnknownOutcome

    try:
        store = open_store(state)
    except SetupFailed as failed:
        return failed.code
    try:
        async with open_connectors(connections, scale=scale) as connectors:
            engine = Engine(plan, connectors, store, dry_run=dry_run)
            runner = ActionRunner(engine)
            try:
                await engine.setup()
                await runner.setup()
                outcome = await runner.perform(name, contact, delivery=key)
            except (ConnectorError, UnknownAction, ValueError) as error:
                return fail(str(error))
            except LimitReached as error:
                print(f"stopped: {error}", file=sys.stderr)
                return LIMIT
            except (ApiError, UnknownOutcome) as error:
                return fail(f"{error}\n  ({connection_hint(plan, error)})")
    finally:
        store.close()
    sys.stdout.write(render(outcome, output_format))
    return DEAD_LETTERS if outcome.status == "dead_letter" else DONE


def render(outcome: ActionOutcome, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(dataclasses.asdict(outcome), indent=2, sort_keys=True) + "\n"
    lines = [f"{outcome.status}: {outcome.message}"]
    if outcome.status == "duplicate" and outcome.writes:
        lines.append("  the first call wrote:")
    for write in outcome.writes:
        target = f"{write['system']} {write['object']}" + (f" {write['id']}" if write["id"] else "")
        lines.append(f"  {write['op']} {target}: {_changes(write['changes'])}")
    return "\n".join(lines) + "\n"


def _changes(changes: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {json.dumps(v)}" for k, v in changes.items()) or "(no values)"


__all__ = ["CONFIG", "render", "run_action"]
