"""A changed plan applies to every record: which pairs' rules changed since they last ran.

The state keeps, per pair, a digest of the rules it last finished a pass with (`record_of`).
A pass reads only what changed since its cursor and diffs against the values last synced, so a
rule added, re-pointed or re-mapped would reach only the records that happen to change: a pair
whose digest differs is read in full once (`PlanChange.changed`), and the rules that are new
to it (`new_rules`) are compared with the target whatever the snapshot says. Everything here is
a pure function of plan data; the engine asks, reads and writes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Where a rule was written, not what it says: moving or commenting a rule changes no record.
NOT_RULES = frozenset({"span", "comment", "comments"})
# What a record takes part in: a record that no longer passes them left the pair.
SCOPE_PARTS = ("filters", "scope", "implicit_filters")
# A field's own conflict policy, like the pair's, applies from the next change on: a rule whose
# policy alone changed is the same rule (nothing is re-decided for records already synced).
RULE_POLICIES = frozenset({"conflict"})
META_PREFIX = "pair_plan:"  # the state's meta key of a pair's last plan


def _canonical(node: Any, drop: frozenset[str] = NOT_RULES) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _canonical(v, drop) for k, v in node.items() if k not in drop}
    if isinstance(node, (list, tuple)):
        return [_canonical(v, drop) for v in node]
    return node


def _digest(node: Any) -> str:
    text = json.dumps(node, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pair_digest(pair: Mapping[str, Any]) -> str:
    """The pair's rules (fields, value maps, filters, scope, policies, link, match, deletes,
    owner, ...) as a short digest; source positions and comments are not rules."""
    return _digest(_canonical(pair))


def rule_digest(operation: Mapping[str, Any]) -> str:
    """One field operation of the plan (source, target, direction, transforms, default, when)."""
    return _digest(_canonical(operation, NOT_RULES | RULE_POLICIES))


def scope_digest(pair: Mapping[str, Any]) -> str:
    return _digest(_canonical({part: pair.get(part) for part in SCOPE_PARTS}))


def meta_key(pair_id: str) -> str:
    return META_PREFIX + pair_id


def record_of(pair: Mapping[str, Any], *, run_id: int, at: float) -> dict[str, Any]:
    """What the state keeps of the plan a pair finished a pass with."""
    return {
        "digest": pair_digest(pair),
        "rules": sorted({rule_digest(op) for op in pair["fields"]}),
        "scope": scope_digest(pair),
        "run": run_id,
        "at": at,
    }


@dataclass(frozen=True)
class PlanChange:
    """How a pair's plan compares with the one it last ran with."""

    pair: str
    before: str | None  # the digest it last finished a pass with; None: never (or before digests were kept)
    after: str
    new_rules: frozenset[str] = field(default_factory=frozenset)  # rule digests it did not run with
    scope_changed: bool = False

    @property
    def changed(self) -> bool:
        return self.before is not None and self.before != self.after

    def forced(self, fields: Sequence[Mapping[str, Any]]) -> frozenset[int]:
        """Positions in `fields` of the rules this pair did not run with: their targets are
        compared with what they hold even where the snapshot says the source did not change."""
        if not self.changed:
            return frozenset()
        return frozenset(i for i, op in enumerate(fields) if rule_digest(op) in self.new_rules)


def plan_change(pair: Mapping[str, Any], stored: Mapping[str, Any] | None) -> PlanChange:
    """The pair's plan against `stored` (a `record_of`, or None when the pair never finished a
    pass with a digest kept: a first run, which reads everything anyway, or a state file from
    before digests were kept, which adopts the plan it runs with now)."""
    after = pair_digest(pair)
    if not isinstance(stored, Mapping) or not isinstance(stored.get("digest"), str):
        return PlanChange(pair["id"], None, after)
    before = stored["digest"]
    if before == after:
        return PlanChange(pair["id"], before, after)
    known = set(stored.get("rules") or ())
    new_rules = frozenset(d for d in (rule_digest(op) for op in pair["fields"]) if d not in known)
    return PlanChange(pair["id"], before, after, new_rules, stored.get("scope") != scope_digest(pair))


def changed_pairs(plan: Mapping[str, Any], stored: Mapping[str, Mapping[str, Any] | None]) -> list[PlanChange]:
    """The pairs of `plan` whose rules changed since they last ran (pair id -> `record_of`)."""
    changes = [plan_change(pair, stored.get(pair["id"])) for pair in plan["pairs"]]
    return [change for change in changes if change.changed]


def kept(values: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """A snapshot less the fields no rule of the plan reads or writes any more (a rule removed:
    its values leave the snapshot); the pass's own marks (`__deleted__`, ...) stay."""
    wanted = set(keys)
    return {k: v for k, v in values.items() if k in wanted or k.startswith("__")}


def backfill_cost(plan: Mapping[str, Any], pair_id: str, records: int) -> dict[str, dict[str, int]]:
    """What `syncmap explain` estimates for one full pass of the pair over `records` records
    per object, per system: its reads, and its writes if every record differed (the most a
    backfill can write; it writes only where a target differs)."""
    from syncmap.compiler.cost import CostError, estimate

    try:
        calls = [c for c in estimate(plan, max(records, 0)).calls if c.pair == pair_id]
    except (CostError, KeyError, ValueError):
        return {}
    out: dict[str, dict[str, int]] = {}
    for call in calls:
        totals = out.setdefault(call.system, {"read_requests": 0, "write_requests": 0, "tokens": 0})
        totals["write_requests" if call.kind == "write" else "read_requests"] += call.requests
        totals["tokens"] += call.tokens
    return out


def describe(change: PlanChange, cost: Mapping[str, Mapping[str, int]], records: int) -> str:
    """The line `run` (and `--dry-run`, before it happens) prints for a pair being backfilled."""
    text = f"pair {change.pair}'s rules changed since the last run: every record is read and brought to the new plan"
    parts = [
        f"{system} {_requests(c['read_requests'], 'read')}"
        + (f" + at most {_requests(c['write_requests'], 'write')}" if c["write_requests"] else "")
        + (f" ({c['tokens']} tokens)" if c.get("tokens") else "")
        for system, c in cost.items()
    ]
    if parts:
        text += f"; explain estimates a full pass of {records:,} records: " + ", ".join(parts)
    return text


def _requests(n: int, kind: str) -> str:
    return f"{n:,} {kind} request" + ("" if n == 1 else "s")
