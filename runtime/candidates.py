"""What a pass works with between pairing and writing: two records that belong together, a
dead letter raised on the way, and the marks a pair's snapshot can carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syncmap.runtime.connectors.base import Record


class DeadLetter(Exception):
    """A record that cannot be synced, and why: stored in the state file, never dropped (R5)."""

    def __init__(self, reason: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.reason, self.message, self.details = reason, message, details


@dataclass
class Candidate:
    """Two records that belong together (either may be missing: then it is created)."""

    left: Record | None
    right: Record | None
    link: Any = None  # the stored Link, if any

    def either(self, first: str) -> tuple[str, str]:
        """(side, record id) of the record on side `first`, else of the one on the other side:
        what a dead letter about the candidate names."""
        records = {"left": self.left, "right": self.right}
        for side in (first, "right" if first == "left" else "left"):
            record = records[side]
            if record is not None:
                return side, record.id
        raise ValueError("a candidate with no record on either side")  # pairing never makes one


GONE = "__deleted__"  # in a snapshot: a person deleted this record there; never re-create it
BEFORE = "__before__"  # in a right snapshot: the values a write replaced
SHARED = "__email_shared_with__"  # in a right snapshot: the contact an upsert by this email reaches
# Letters about one field of a record that otherwise syncs: they stay open when the record
# syncs, until a retry writes the field (or reports it again). `value_refused`: an API refused
# the value with a 400 naming the field (the write went on without it).
FIELD_LEVEL = frozenset({"value_does_not_fit", "value_refused", "write_not_applied", "email_shared_in_autopilot"})


def is_gone(link: Any, side: str) -> bool:
    return bool((link.left_values if side == "left" else link.right_values).get(GONE))
