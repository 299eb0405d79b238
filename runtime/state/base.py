"""The state store's interface and records: what the engine may rely on, whatever the backend.

Nothing here knows about SQLite. A server database (PostgreSQL) implements the same
`StateStore`; so ids are strings, stored values are JSON-serialisable, and every method has a
meaning that does not depend on how one backend happens to store it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Side = Literal["left", "right"]

SIDES: tuple[Side, ...] = ("left", "right")
# An intent is "open" from the moment it is recorded until its outcome is known.
INTENT_OPEN = "open"
# A write the API refused for a while (429, 5xx, no answer, an outcome looked up and found not
# applied): nothing was applied, and a later pass sends it again. Not final: it is finished as
# "retried" when a pass writes that record again.
INTENT_PENDING = "pending"
INTENT_OUTCOMES = ("done", "failed", "abandoned", INTENT_PENDING, "retried")
# An inbox item finished as "pending" is tried again; "done" and "failed" are final.
INBOX_PENDING = "pending"
INBOX_STATUSES = ("pending", "done", "failed")


class StateError(Exception):
    """The state store cannot do what was asked (unknown id, unreadable file, bad value)."""


class StateVersionError(StateError):
    """The state file was written by a newer syncmap whose schema this one does not know."""


def _link_type_error(link: Link) -> TypeError:
    """What is wrong with a link whose fields are not of their declared types."""
    # Pipedrive ids are integers on the wire: an int slipping through would work in SQLite
    # (type affinity) and fail on a server database, so it is refused at the record.
    for name, kind, what in _LINK_FIELD_TYPES:
        value = getattr(link, name)
        if not isinstance(value, kind):
            return TypeError(f"Link.{name} must be {what}, got {type(value).__name__} {value!r}")
    return TypeError("Link: fields of the wrong type")  # not reached: __post_init__ found one


_LINK_FIELD_TYPES: tuple[tuple[str, type, str], ...] = (
    ("pair", str, "a str (ids are strings)"),
    ("left_id", str, "a str (ids are strings)"),
    ("right_id", str, "a str (ids are strings)"),
    ("left_values", dict, "a dict"),
    ("right_values", dict, "a dict"),
)


@dataclass(frozen=True)
class Link:
    """One left record paired with one right record in a pair, and the values last synced."""

    pair: str
    left_id: str
    right_id: str
    left_values: dict[str, Any]
    right_values: dict[str, Any]
    synced_at: float

    def __post_init__(self) -> None:
        # One expression on the happy path: links are built by the 100,000 (`iter_links`).
        if not (
            isinstance(self.pair, str)
            and isinstance(self.left_id, str)
            and isinstance(self.right_id, str)
            and isinstance(self.left_values, dict)
            and isinstance(self.right_values, dict)
        ):
            # raised from a helper: the annotations say this cannot happen, callers outside
            # the type checker's sight (JSON, tests, plugins) say otherwise
            raise _link_type_error(self)


@dataclass(frozen=True)
class Intent:
    """A write recorded before it is sent; `status` is "open" until its outcome is recorded."""

    id: int
    run_id: int
    pair: str
    system: str
    op: str
    key: str
    payload: dict[str, Any]
    status: str
    result: dict[str, Any] | None
    created_at: float


@dataclass(frozen=True)
class DeadLetter:
    """A record that could not be synced, why, and how often that was seen."""

    id: int
    pair: str
    side: str
    record_id: str
    reason: str
    message: str
    details: dict[str, Any]
    first_seen: float
    last_seen: float
    count: int
    resolved: bool


@dataclass(frozen=True)
class Run:
    id: int
    started_at: float
    finished_at: float | None
    mode: str
    status: str | None
    plan_digest: str
    summary: dict[str, Any] | None


@dataclass(frozen=True)
class InboxItem:
    """A webhook delivery, kept durably before it is acknowledged."""

    id: int
    source: str
    delivery_key: str
    body: dict[str, Any]
    received_at: float
    status: str
    attempts: int
    error: str | None


class StateStore(Protocol):
    """Links, cursors, metadata, the outbox of intents, dead letters, the run log and the inbox.

    Every write method is atomic on its own and commits before returning, unless it runs
    inside `transaction()`, where it commits (or not) with the outermost transaction.
    """

    def close(self) -> None: ...

    def transaction(self) -> AbstractContextManager[None]:
        """Atomic block; re-entrant: a nested block rolls back alone if it raises."""
        ...

    # Links and last-synced values. One left record pairs with at most one right record per
    # pair; several left records may pair with one right record (many deals -> one contact).
    def link_by_left(self, pair: str, left_id: str) -> Link | None: ...
    def links_by_right(self, pair: str, right_id: str) -> list[Link]: ...
    def put_link(self, link: Link) -> None: ...
    def put_links(self, links: Iterable[Link]) -> None: ...
    def remove_link(self, pair: str, left_id: str) -> Link | None: ...
    def iter_links(self, pair: str) -> Iterator[Link]: ...
    def count_links(self, pair: str) -> int: ...

    # Cursors and small metadata (resolved custom-field keys, webhook credentials, ...).
    def get_cursor(self, name: str) -> str | None: ...
    def set_cursor(self, name: str, value: str) -> None: ...
    def get_meta(self, key: str) -> Any | None: ...
    def set_meta(self, key: str, value: Any) -> None: ...

    # The outbox: an intent is committed before its request is sent and finished before the
    # cursor moves; intents still open after a crash have an unknown outcome.
    def add_intent(self, *, run_id: int, pair: str, system: str, op: str, key: str, payload: dict[str, Any]) -> int: ...
    def finish_intent(self, intent_id: int, *, status: str, result: dict[str, Any] | None = None) -> None: ...
    def open_intents(self, pair: str | None = None, *, status: str = INTENT_OPEN) -> list[Intent]: ...

    # Dead letters: one open letter per (pair, side, record_id, reason).
    def add_dead_letter(self, *, pair: str, side: str, record_id: str, reason: str, message: str, details: dict[str, Any]) -> int: ...
    def dead_letters(self, *, include_resolved: bool = False, ids: Sequence[int] | None = None) -> list[DeadLetter]: ...
    def resolve_dead_letter(self, letter_id: int) -> None: ...
    def resolve_dead_letters_for(self, pair: str, side: str, record_id: str) -> int: ...

    # The run log.
    def start_run(self, *, mode: str, plan_digest: str) -> int: ...
    def log_event(self, run_id: int, kind: str, pair: str | None, details: dict[str, Any]) -> None: ...
    def events(self, run_id: int, kind: str | None = None) -> list[dict[str, Any]]: ...
    def finish_run(self, run_id: int, *, status: str, summary: dict[str, Any]) -> None: ...
    def runs(self, limit: int = 10) -> list[Run]: ...

    # The inbox of webhook deliveries, deduplicated by (source, delivery_key).
    def add_inbox(self, *, source: str, delivery_key: str, body: dict[str, Any]) -> int | None: ...
    def pending_inbox(self, limit: int = 100) -> list[InboxItem]: ...
    def count_pending_inbox(self) -> int: ...
    def finish_inbox(self, item_id: int, *, status: str, error: str | None = None) -> None: ...
