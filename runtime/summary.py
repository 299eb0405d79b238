"""A run's summary for people (a table per pair and direction, per API, beside what
`syncmap explain` predicted) and for programs (`--format json`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from syncmap.runtime.report import COUNTS, Report

ARROWS = {"left_to_right": "->", "right_to_left": "<-", "both": "<->"}


def prediction(plan: Mapping[str, Any], records: int) -> dict[str, Any] | None:
    """What `syncmap explain --records N` predicts for an initial sync of N records."""
    from syncmap.compiler.cost import CostError, estimate

    try:
        totals = estimate(plan, max(records, 0)).totals()
    except (CostError, KeyError, ValueError):
        return None
    return {"records": records, **{system: {"requests": t["requests"], "tokens": t["tokens"]} for system, t in totals.items()}}


def as_json(report: Report, stats: Mapping[str, Any], predicted: Mapping[str, Any] | None, status: str, dry_run: bool) -> str:
    body = {
        "status": status,
        "dry_run": dry_run,
        **report.as_dict(),
        "apis": dict(stats),
        "explain_predicted": predicted,
        "changes": [c for c in report.changes if c.get("action") != "dead_letter"] if dry_run else [],
        "dead_letters": [
            {"pair": c["pair"], "system": c["system"], "object": c["object"], "id": c["id"], **c["changes"]}
            for c in report.changes
            if c.get("action") == "dead_letter"
        ],
    }
    return json.dumps(body, indent=2, default=str) + "\n"


def as_text(report: Report, stats: Mapping[str, Any], predicted: Mapping[str, Any] | None, status: str, dry_run: bool) -> str:
    lines: list[str] = []
    if dry_run:
        lines.append("dry run: nothing was written; these are the changes a run would make")
        lines.extend(f"  {change['note']}" for change in report.plan_changes)
        for change in report.changes:
            target = f"{change['system']}.{change['object']}" + (f" {change['id']}" if change.get("id") else " (new)")
            lines.append(f"  {change['action']:<11} {target}: {_fields(change.get('changes') or {})}")
        lines.append("")
    header = f"{'pair':<44} {'dir':<4}" + "".join(f"{name.replace('_', ' '):>13}" for name in COUNTS)
    lines.append(header)
    for flow in report.as_dict()["flows"]:
        lines.append(f"{flow['pair']:<44} {ARROWS.get(flow['direction'], flow['direction']):<4}" + "".join(f"{flow[name]:>13}" for name in COUNTS))
    if not report.flows:
        lines.append("(no records in any pair)")
    lines.append("")
    for system, s in stats.items():
        tokens = f", {s.get('tokens_spent', 0)} tokens" if system == "pipedrive" else ""
        waits = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in (s.get("waits") or {}).items() if seconds)
        lines.append(
            f"{system}: {s.get('requests', 0)} requests, {s.get('rate_limited', 0)} 429s met, "
            f"{s.get('retries', 0)} retries{tokens}" + (f"; waited for {waits}" if waits else "")
        )
    if predicted:
        parts = [
            f"{system} {p['requests']} requests" + (f" / {p['tokens']} tokens" if system == "pipedrive" else "")
            for system, p in predicted.items()
            if isinstance(p, Mapping)
        ]
        lines.append(f"explain predicted, for an initial sync of {predicted['records']} records: " + ", ".join(parts))
    for letter in (c for c in report.changes if c.get("action") == "dead_letter"):
        lines.append(
            f"dead letter: {letter['system']}.{letter['object']} {letter['id']}: {letter['changes']['reason']}: {letter['changes']['message']}"
        )
    if not dry_run:
        lines.extend(f"note: {change['note']}" for change in report.plan_changes)
    for note in report.notes:
        lines.append(f"note: {note}")
    if report.stopped:
        lines.append(f"stopped: {report.stopped}; run again after that to resume where this run stopped")
    lines.append(f"status: {status}")
    return "\n".join(lines) + "\n"


def _fields(changes: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} = {v!r}" for k, v in changes.items()) or "(no field changes)"
