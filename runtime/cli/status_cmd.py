"""`syncmap status`: what the state file knows: links per pair, cursors, last runs, pending
writes, dead letters."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

import click

from syncmap.runtime.cli import exits
from syncmap.runtime.cli.options import data_format_option, state_option


def _when(epoch: float | None) -> str | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ran_with(store: Any, pair: dict[str, Any]) -> dict[str, Any] | None:
    """The plan a pair last finished a pass with, and whether the last run's plan is still it
    (if not, that run stopped before the pair finished: the next run reads it in full)."""
    from syncmap.runtime.plan_change import meta_key, pair_digest

    kept = store.get_meta(meta_key(pair["id"]))
    if not isinstance(kept, dict):
        return None
    return {"digest": kept.get("digest"), "run": kept.get("run"), "at": _when(kept.get("at")), "current": kept.get("digest") == pair_digest(pair)}


def gather(store: Any) -> dict[str, Any]:
    plan = store.get_meta("plan") or {"pairs": []}
    pairs = []
    for pair in plan["pairs"]:
        cursor = store.get_cursor(f"{pair['id']}:left")
        full = store.get_cursor(f"{pair['id']}:full")
        pairs.append(
            {
                "pair": pair["id"],
                "links": store.count_links(pair["id"]),
                "changes_read_until": _when(float(cursor)) if cursor else None,
                "last_full_pass": _when(float(full)) if full else None,
                "plan": ran_with(store, pair),
            }
        )
    runs = [
        {"id": r.id, "mode": r.mode, "status": r.status, "started": _when(r.started_at), "finished": _when(r.finished_at)}
        for r in store.runs(limit=5)
    ]
    letters = [
        {
            "id": d.id,
            "pair": d.pair,
            "side": d.side,
            "record_id": d.record_id,
            "reason": d.reason,
            "message": d.message,
            "count": d.count,
            "last_seen": _when(d.last_seen),
            "details": d.details,
        }
        for d in store.dead_letters()
    ]
    # Writes the APIs refused for a while (sent again by the next run) and writes a killed run
    # left with an unknown outcome (looked up by the next run before anything is sent again).
    pending = [
        {"id": i.id, "pair": i.pair, "system": i.system, "op": i.op, "key": i.key, "run": i.run_id, "error": (i.result or {}).get("error")}
        for i in store.open_intents(status="pending")
    ]
    unknown = [{"id": i.id, "pair": i.pair, "system": i.system, "op": i.op, "key": i.key, "run": i.run_id} for i in store.open_intents()]
    return {
        "plan": (plan.get("source") or {}).get("root"),
        "pairs": pairs,
        "runs": runs,
        "pending_writes": pending,
        "unknown_outcomes": unknown,
        "dead_letters": letters,
    }


@click.command()
@state_option
@data_format_option
def status(state: str | None, output_format: str) -> None:
    """Links per pair, cursors, the last runs, and every open dead letter with its reason."""
    from syncmap.runtime.state import StateError, default_state_path, open_state

    path = state or str(default_state_path())
    if state is None and not default_state_path().exists():
        click.echo(f"no state file at {path}: nothing has run yet", err=True)
        sys.exit(exits.USAGE)
    try:
        store = open_state(path)
    except (StateError, OSError) as error:
        click.echo(f"error: cannot open the state file: {error}", err=True)
        sys.exit(exits.USAGE)
    try:
        info = gather(store)
    finally:
        store.close()
    if output_format == "json":
        sys.stdout.write(json.dumps(info, indent=2) + "\n")
        return
    click.echo(f"state: {path}" + (f" (plan of {info['plan']})" if info["plan"] else ""))
    for pair in info["pairs"]:
        click.echo(
            f"  {pair['pair']}: {pair['links']} linked pairs; changes read until {pair['changes_read_until'] or '-'}; "
            f"last full pass {pair['last_full_pass'] or '-'}"
        )
        ran = pair["plan"]
        if ran is None:
            click.echo("    plan: - (no pass has finished with a plan kept)")
        else:
            later = "" if ran["current"] else "; the last run's plan differs: the next run reads this pair in full"
            click.echo(f"    plan: {ran['digest']} (finished by run #{ran['run']} at {ran['at']}){later}")
    click.echo("last runs:")
    for run in info["runs"]:
        click.echo(f"  #{run['id']} {run['mode']} {run['started']} -> {run['status'] or 'running or killed'}")
    click.echo(f"pending writes: {len(info['pending_writes'])} (refused for a while by the API; the next run sends them again)")
    for write in info["pending_writes"]:
        click.echo(f"  [{write['id']}] {write['pair']} {write['system']} {write['op']} {write['key']}: {write['error']}")
    if info["unknown_outcomes"]:
        click.echo(f"writes of an unknown outcome: {len(info['unknown_outcomes'])} (a run stopped mid-write; the next run looks them up)")
    click.echo(f"dead letters: {len(info['dead_letters'])} open")
    for letter in info["dead_letters"]:
        click.echo(
            f"  [{letter['id']}] {letter['pair']} {letter['side']} {letter['record_id']}: {letter['reason']}: "
            f"{letter['message']} (seen {letter['count']}x, last {letter['last_seen']})"
        )
    if info["dead_letters"]:
        click.echo("fix the data or the mapping, then `syncmap retry` (or `syncmap retry --id N`)")
