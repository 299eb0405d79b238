"""`syncmap run`: passes of the engine over a plan, with the summary and exit codes.

Exit codes: 0 done, 1 dead letters (a person must fix a record or the mapping), 2 usage or
configuration error, 3 stopped by a limit, 4 writes the APIs kept refusing for a while left
pending (run again; nothing is lost). When several apply, the first of 2, 3, 4, 1 wins: it says
what to do next.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

from syncmap.runtime.cli import exits
from syncmap.runtime.connectors.base import ConnectorError
from syncmap.runtime.session import (
    ConfigError,
    PlanInputError,
    api_stats,
    load_plan_input,
    open_connectors,
    resolve_connections,
    time_scale,
)

if TYPE_CHECKING:  # opened on demand (`open_store`)
    from syncmap.runtime.state import StateStore

DONE, DEAD_LETTERS, CONFIG, LIMIT, PENDING = 0, 1, 2, exits.LIMIT, exits.PENDING
ACTION_LETTERS = "action:"  # the pair of a journey action's dead letters: `action:<name>`


def fail(message: str, rendered: str = "") -> int:
    if rendered:
        sys.stderr.write(rendered)
    print(f"error: {message}", file=sys.stderr)
    return CONFIG


class SetupFailed(Exception):
    """A command cannot start: the reason is printed already; `code` is its exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def load_for_run(source: str) -> tuple[dict[str, Any], dict[str, Any], float]:
    """The plan (a plan file, or a mapping compiled now), the connections its `connect` blocks
    name from the environment, and the sandbox time scale: what `run`, `serve` and `action`
    start from. SetupFailed after printing why."""
    try:
        plan = load_plan_input(source)
        return plan, resolve_connections(plan), time_scale()
    except PlanInputError as error:
        raise SetupFailed(fail(str(error), error.rendered)) from None
    except ConfigError as error:
        raise SetupFailed(fail(str(error))) from None


def open_store(state: str | None) -> StateStore:
    from syncmap.runtime.state import StateError, open_state

    try:
        return open_state(state)
    except (StateError, OSError) as error:
        raise SetupFailed(fail(f"cannot open the state file: {error}")) from None


async def run_passes(source: str, *, interval: float | None, dry_run: bool, state: str | None, full_scan_every: float, output_format: str) -> int:
    try:
        plan, connections, scale = load_for_run(source)
        store = open_store(state)
    except SetupFailed as failed:
        return failed.code
    try:
        while True:
            code = await one_pass(
                plan, connections, store, dry_run=dry_run, full_scan_every=full_scan_every, output_format=output_format, scale=scale
            )
            if interval is None or code in (CONFIG,):
                return code
            await asyncio.sleep(interval)
    finally:
        store.close()


def connection_hint(plan: dict[str, Any], error: Exception) -> str:
    """What to check after a refusal, naming the variables the mapping reads for that system."""
    system, status = getattr(error, "system", None), getattr(error, "status", None)
    names = [
        setting["env"]
        for c in plan["connections"]
        if c["system"] == system
        for setting in c["settings"].values()
        if isinstance(setting, dict) and "env" in setting
    ]
    where = " and ".join(names) or f"the `connect {system}` block's settings"
    if status in (401, 403):
        return f"{system} refused the credentials: check {where}"
    if status in (0, 404, None):
        return f"{system} could not be reached there: check {where}"
    return f"{system} refused a request syncmap did not expect it to refuse; please report it"


def progress_line() -> Any:
    """Long work shows where it is, on one rewritten stderr line; nothing when stderr is not a
    terminal (CI logs, pipes)."""
    if not sys.stderr.isatty():
        return None
    width = 0

    def show(text: str) -> None:
        nonlocal width
        sys.stderr.write("\r" + text.ljust(width)[:200])
        sys.stderr.flush()
        width = len(text)

    return show


async def one_pass(
    plan: dict[str, Any],
    connections: Any,
    store: Any,
    *,
    dry_run: bool,
    full_scan_every: float,
    output_format: str,
    scale: float = 1.0,
    letters: Any = None,
) -> int:
    """One pass of the engine (or, given dead `letters`, a replay of those records)."""
    from syncmap.runtime import summary
    from syncmap.runtime.engine import Engine
    from syncmap.runtime.http import ApiError, UnknownOutcome

    async with open_connectors(connections, scale=scale) as connectors:
        engine = Engine(plan, connectors, store, dry_run=dry_run, full_scan_every=full_scan_every, progress=progress_line())
        try:
            if letters is not None:
                report = await engine.retry(letters)
            else:
                report = await engine.run(mode="dry-run" if dry_run else "once")
        except ConnectorError as error:
            return fail(str(error))
        except (ApiError, UnknownOutcome) as error:
            return fail(f"{error}\n  ({connection_hint(plan, error)})")
        stats = api_stats(connectors)
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
    status = report.outcome()
    # explain's estimate takes one N, records per object: the most any read returned.
    records = max(report.reads.values(), default=0)
    predicted = summary.prediction(plan, records)
    render = summary.as_json if output_format == "json" else summary.as_text
    sys.stdout.write(render(report, stats, predicted, status, dry_run))
    sys.stdout.flush()
    return {"stopped": LIMIT, "pending": PENDING, "dead_letters": DEAD_LETTERS}.get(status, DONE)


async def retry_letters(state: str | None, ids: tuple[int, ...], output_format: str) -> int:
    """`syncmap retry`: the plan of the last run (kept in the state file) replays dead letters."""
    try:
        store = open_store(state)
    except SetupFailed as failed:
        return failed.code
    try:
        plan = store.get_meta("plan")
        if plan is None:
            return fail("this state file has no run yet: run `syncmap run MAPPING` first")
        letters = store.dead_letters(ids=list(ids) if ids else None)
        actions = [letter for letter in letters if letter.pair.startswith(ACTION_LETTERS)]
        if actions:
            # A journey action is replayed by calling it again (its delivery decides what it
            # does), not by a pass of a pair: those letters stay open.
            print(f"{len(actions)} dead letters of journey actions are left open: run `syncmap action` again for them", file=sys.stderr)
            letters = [letter for letter in letters if letter not in actions]
        if ids:
            missing = sorted(set(ids) - {letter.id for letter in letters} - {letter.id for letter in actions})
            if missing:
                return fail(f"no open dead letter with id {', '.join(map(str, missing))} (see `syncmap status`)")
        if not letters:
            print("no open dead letters: nothing to retry")
            return DONE
        try:
            connections = resolve_connections(plan)
            scale = time_scale()
        except ConfigError as error:
            return fail(str(error))
        code = await one_pass(
            plan, connections, store, dry_run=False, full_scan_every=float("inf"), output_format=output_format, scale=scale, letters=letters
        )
        replayed = {(letter.pair, letter.side, letter.record_id, letter.reason) for letter in letters}
        still = {(d.pair, d.side, d.record_id, d.reason) for d in store.dead_letters()} & replayed
        print(f"retried {len(letters)} dead letters: {len(letters) - len(still)} resolved, {len(still)} still failing")
        return DEAD_LETTERS if still and code == DONE else code
    finally:
        store.close()
