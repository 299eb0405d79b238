"""What a run did, counted as it goes: per pair and direction, and per API."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from syncmap.compiler.passes import FLIP

COUNTS = ("created", "updated", "unchanged", "deleted", "linked", "conflicts", "dead_letters")


@dataclass
class Report:
    flows: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)  # each write (or, in a dry run, each intended one)
    notes: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early (a limit), resumable
    reads: dict[str, int] = field(default_factory=dict)  # "system.Object" -> most records one read returned
    # Pairs the engine runs with their sides swapped (compiler/passes.py): their directions
    # are counted the engine's way and reported the mapping's way.
    mirrored: frozenset[str] = frozenset()
    plan_changes: list[dict[str, Any]] = field(default_factory=list)  # pairs read in full for a changed plan
    # Writes the APIs refused for a while (`syncmap.runtime.pending`): "retried" sends in later
    # rounds, "pending" left to the next run, "unknown" creates looked up, "found" applied after all.
    outbox: Counter[str] = field(default_factory=Counter)

    def direction(self, pair: str, direction: str) -> str:
        return FLIP.get(direction, direction) if pair in self.mirrored else direction

    def backfill(self, pair: str, note: str, cost: dict[str, Any]) -> None:
        self.plan_changes.append({"pair": pair, "note": note, "explain_cost": cost})

    def read(self, system: str, obj: str, count: int) -> None:
        key = f"{system}.{obj}"
        self.reads[key] = max(self.reads.get(key, 0), count)

    def count(self, pair: str, direction: str, what: str, n: int = 1) -> None:
        self.flows.setdefault((pair, self.direction(pair, direction)), Counter())[what] += n

    keep_changes: bool = True  # every write, for a dry run's listing; a real run keeps only dead letters

    def change(self, **entry: Any) -> None:
        # 100,000 writes kept as dicts would be most of a large run's memory.
        if self.keep_changes or entry.get("action") == "dead_letter":
            if "direction" in entry and "pair" in entry:
                entry["direction"] = self.direction(entry["pair"], entry["direction"])
            self.changes.append(entry)

    def as_dict(self) -> dict[str, Any]:
        return {
            "flows": [
                {"pair": pair, "direction": direction, **{name: counter.get(name, 0) for name in COUNTS}}
                for (pair, direction), counter in self.flows.items()
            ],
            "notes": list(self.notes),
            "records_read": dict(self.reads),
            "stopped": self.stopped,
            "plan_changes": list(self.plan_changes),
            "outbox": {name: self.outbox.get(name, 0) for name in ("unknown", "found", "retried", "pending", "interrupted")},
        }

    def outcome(self) -> str:
        """What the run ended in, the first that applies: "stopped" by a limit, writes left
        "pending", "dead_letters" a person must act on, or "done"."""
        if self.stopped:
            return "stopped"
        if self.outbox["pending"] or self.outbox["interrupted"]:
            return "pending"
        return "dead_letters" if self.totals()["dead_letters"] else "done"

    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counter in self.flows.values():
            total.update(counter)
        return total
