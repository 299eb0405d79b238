"""The state store in one embedded SQLite file (stdlib sqlite3).

Durability: WAL journal with `synchronous=FULL`. WAL lets `syncmap status` read while a run
writes. With WAL, `synchronous=NORMAL` already survives a killed process (SIGKILL), but a
power cut or OS crash may undo the last commits; an intent undone that way is a create whose
request was already sent, so the next run would create it again. FULL fsyncs the WAL on
every commit, which costs one fsync per transaction: the bulk methods keep that to one per
batch, and single writes are paced by the APIs' rate limits far below the disk's fsync rate.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from syncmap.runtime.state import migrations
from syncmap.runtime.state.base import (
    INBOX_PENDING,
    INBOX_STATUSES,
    INTENT_OPEN,
    INTENT_OUTCOMES,
    INTENT_PENDING,
    SIDES,
    DeadLetter,
    InboxItem,
    Intent,
    Link,
    Run,
    StateError,
)
from syncmap.runtime.state.paths import make_private_dirs

Clock = Callable[[], float]

# How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 10_000

_LINK_COLUMNS = "pair, left_id, right_id, left_values, right_values, synced_at"
_UPSERT_LINK = (
    f"INSERT INTO links ({_LINK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (pair, left_id) DO UPDATE SET right_id = excluded.right_id, "
    "left_values = excluded.left_values, right_values = excluded.right_values, synced_at = excluded.synced_at"
)
_INTENT_COLUMNS = "id, run_id, pair, system, op, key, payload, status, result, created_at"
_LETTER_COLUMNS = "id, pair, side, record_id, reason, message, details, first_seen, last_seen, count, resolved_at IS NOT NULL"
_RUN_COLUMNS = "id, started_at, finished_at, mode, status, plan_digest, summary"
_INBOX_COLUMNS = "id, source, delivery_key, body, received_at, status, attempts, error"


# One encoder, built once: `json.dumps` with options builds a new one per call, which was a
# sixth of `put_links`' time. NaN and infinities are not JSON: another database would refuse them.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _dump(value: Any, what: str) -> str:
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise StateError(f"{what} cannot be stored: it is not JSON-serialisable ({exc})") from None


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _link(row: tuple[Any, ...]) -> Link:
    pair, left_id, right_id, left_values, right_values, synced_at = row
    return Link(pair, left_id, right_id, json.loads(left_values), json.loads(right_values), synced_at)


def _link_row(link: Link) -> tuple[Any, ...]:
    if not isinstance(link, Link):
        raise TypeError(f"put_links takes Link records, got {type(link).__name__}")
    where = f"link {link.pair}/{link.left_id}"
    return (
        link.pair,
        link.left_id,
        link.right_id,
        _dump(link.left_values, f"{where} left_values"),
        _dump(link.right_values, f"{where} right_values"),
        link.synced_at,
    )


def _intent(row: tuple[Any, ...]) -> Intent:
    id_, run_id, pair, system, op, key, payload, status, result, created_at = row
    return Intent(id_, run_id, pair, system, op, key, json.loads(payload), status, _load(result), created_at)


def _letter(row: tuple[Any, ...]) -> DeadLetter:
    id_, pair, side, record_id, reason, message, details, first_seen, last_seen, count, resolved = row
    return DeadLetter(id_, pair, side, record_id, reason, message, json.loads(details), first_seen, last_seen, count, bool(resolved))


def _run(row: tuple[Any, ...]) -> Run:
    id_, started_at, finished_at, mode, status, plan_digest, summary = row
    return Run(id_, started_at, finished_at, mode, status, plan_digest, _load(summary))


def _inbox(row: tuple[Any, ...]) -> InboxItem:
    id_, source, delivery_key, body, received_at, status, attempts, error = row
    return InboxItem(id_, source, delivery_key, json.loads(body), received_at, status, attempts, error)


def _one_of(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")


def _create_private_file(path: Path) -> None:
    """Create the file with mode 0600 before SQLite opens it: SQLite would create it with
    0644, and its -wal and -shm files copy the main file's mode."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _tighten_companions(path: Path) -> None:
    # SQLite gives -wal/-shm the main file's mode; a file created by another tool may not be
    # private, but one created by syncmap is, and so are its companions then.
    if path.stat().st_mode & 0o077:
        return
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        try:
            if companion.stat().st_mode & 0o077:
                companion.chmod(0o600)
        except OSError:  # absent, or owned by someone else: nothing we may fix
            pass


def open_sqlite(path: str | os.PathLike[str], *, clock: Clock = time.time) -> SqliteStateStore:
    """Open (creating and migrating as needed) the state file at `path`."""
    path = Path(path)
    try:
        make_private_dirs(path.parent)
        _create_private_file(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    except (OSError, sqlite3.Error) as exc:
        raise StateError(f"cannot create or open the state file {path}: {exc}") from None
    try:
        # Checked before switching to WAL, which would change another program's database.
        migrations.check_file(conn, str(path))
        _configure(conn, path)
        migrations.migrate(conn, str(path))
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StateError(f"cannot use the state file {path}: {exc}") from None
    except BaseException:
        conn.close()
        raise
    _tighten_companions(path)
    return SqliteStateStore(conn, clock=clock)


def _configure(conn: sqlite3.Connection, path: Path) -> None:
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StateError(f"{path}: SQLite cannot use its WAL journal here (got {mode!r}); put the state on a local disk")
    conn.execute("PRAGMA synchronous = FULL")  # why: see the module's docstring
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


class SqliteStateStore:
    """`StateStore` over one SQLite connection.

    One store may be shared by threads: a lock serialises statements, and a transaction holds
    it from start to end, so another thread's writes never land inside it.
    """

    # Links are read this many at a time by `iter_links`: memory stays flat, and no read
    # transaction stays open between pages (writes may interleave with the iteration).
    page_size = 1000

    def __init__(self, conn: sqlite3.Connection, *, clock: Clock = time.time) -> None:
        self._conn = conn
        self._clock = clock
        self._lock = threading.RLock()
        self._depth = 0

    # -- plumbing -------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._depth:
                raise StateError("cannot close the state store inside a transaction")
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            depth = self._depth
            savepoint = f"sp{depth}"
            # IMMEDIATE takes the write lock at the start, so a transaction never fails
            # halfway because another process wrote in between.
            self._conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {savepoint}")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if depth == 0:
                    self._conn.execute("ROLLBACK")
                else:
                    self._conn.execute(f"ROLLBACK TO {savepoint}")
                    self._conn.execute(f"RELEASE {savepoint}")
                raise
            self._depth -= 1
            if depth > 0:
                self._conn.execute(f"RELEASE {savepoint}")
                return
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            row: tuple[Any, ...] | None = self._conn.execute(sql, params).fetchone()  # no row_factory: tuples
            return row

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            if self._depth:
                # One statement is atomic on its own: inside a transaction it needs no savepoint
                # of its own (two more statements per write, a third of a busy pass's time).
                return self._conn.execute(sql, params)
        with self.transaction():
            return self._conn.execute(sql, params)

    def _exists(self, table: str, row_id: int) -> bool:
        return self._one(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)) is not None

    def _require_run(self, run_id: int) -> None:
        if not self._exists("runs", run_id):
            raise StateError(f"no run {run_id} in the state store")

    # -- links ----------------------------------------------------------------------------

    def link_by_left(self, pair: str, left_id: str) -> Link | None:
        row = self._one(f"SELECT {_LINK_COLUMNS} FROM links WHERE pair = ? AND left_id = ?", (pair, left_id))
        return None if row is None else _link(row)

    def links_by_right(self, pair: str, right_id: str) -> list[Link]:
        # INDEXED BY: without statistics SQLite prefers walking the primary key (pair, left_id),
        # which scans every link of the pair (about 1,000x slower at 100,000 links). The few
        # rows found are sorted here rather than by an ORDER BY that would tempt it again.
        rows = self._all(f"SELECT {_LINK_COLUMNS} FROM links INDEXED BY links_by_right WHERE pair = ? AND right_id = ?", (pair, right_id))
        return sorted((_link(row) for row in rows), key=lambda link: link.left_id)

    def put_link(self, link: Link) -> None:
        self._write(_UPSERT_LINK, _link_row(link))

    def put_links(self, links: Iterable[Link]) -> None:
        # One transaction, one prepared statement; the rows are encoded as they are consumed.
        with self.transaction():
            self._conn.executemany(_UPSERT_LINK, (_link_row(link) for link in links))

    def remove_link(self, pair: str, left_id: str) -> Link | None:
        with self.transaction():
            link = self.link_by_left(pair, left_id)
            if link is not None:
                self._conn.execute("DELETE FROM links WHERE pair = ? AND left_id = ?", (pair, left_id))
        return link

    def iter_links(self, pair: str) -> Iterator[Link]:
        """Every link of `pair` in `left_id` order, read a page at a time by key."""
        after: str | None = None
        while True:
            if after is None:
                rows = self._all(
                    f"SELECT {_LINK_COLUMNS} FROM links WHERE pair = ? ORDER BY left_id LIMIT ?",
                    (pair, self.page_size),
                )
            else:
                rows = self._all(
                    f"SELECT {_LINK_COLUMNS} FROM links WHERE pair = ? AND left_id > ? ORDER BY left_id LIMIT ?",
                    (pair, after, self.page_size),
                )
            for row in rows:
                yield _link(row)
            if len(rows) < self.page_size:
                return
            after = rows[-1][1]

    def count_links(self, pair: str) -> int:
        row = self._one("SELECT COUNT(*) FROM links WHERE pair = ?", (pair,))
        assert row is not None
        return int(row[0])

    # -- cursors and metadata ---------------------------------------------------------------

    def get_cursor(self, name: str) -> str | None:
        row = self._one("SELECT value FROM cursors WHERE name = ?", (name,))
        return None if row is None else row[0]

    def set_cursor(self, name: str, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"cursor {name!r} must be a str, got {type(value).__name__}")
        self._write(
            "INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (name, value, self._clock()),
        )

    def get_meta(self, key: str) -> Any | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        self._write(
            "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, _dump(value, f"meta {key!r}"), self._clock()),
        )

    # -- the outbox -----------------------------------------------------------------------

    def add_intent(self, *, run_id: int, pair: str, system: str, op: str, key: str, payload: dict[str, Any]) -> int:
        with self.transaction():
            self._require_run(run_id)
            cursor = self._conn.execute(
                "INSERT INTO intents (run_id, pair, system, op, key, payload, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, pair, system, op, key, _dump(payload, f"intent {op} {key} payload"), INTENT_OPEN, self._clock()),
            )
        return int(cursor.lastrowid or 0)

    def finish_intent(self, intent_id: int, *, status: str, result: dict[str, Any] | None = None) -> None:
        _one_of(status, INTENT_OUTCOMES, "an intent's outcome")
        with self.transaction():
            row = self._one("SELECT status FROM intents WHERE id = ?", (intent_id,))
            if row is None:
                raise StateError(f"no intent {intent_id} in the state store")
            if row[0] not in (INTENT_OPEN, INTENT_PENDING):
                raise StateError(f"intent {intent_id} is already finished ({row[0]})")
            self._conn.execute(
                "UPDATE intents SET status = ?, result = ?, finished_at = ? WHERE id = ?",
                (status, None if result is None else _dump(result, f"intent {intent_id} result"), self._clock(), intent_id),
            )

    def open_intents(self, pair: str | None = None, *, status: str = INTENT_OPEN) -> list[Intent]:
        """Intents still "open" (outcome unknown), or with `status=INTENT_PENDING` those waiting to be sent again."""
        if pair is None:
            rows = self._all(f"SELECT {_INTENT_COLUMNS} FROM intents WHERE status = ? ORDER BY id", (status,))
        else:
            rows = self._all(f"SELECT {_INTENT_COLUMNS} FROM intents WHERE status = ? AND pair = ? ORDER BY id", (status, pair))
        return [_intent(row) for row in rows]

    # -- dead letters -----------------------------------------------------------------------

    def add_dead_letter(self, *, pair: str, side: str, record_id: str, reason: str, message: str, details: dict[str, Any]) -> int:
        if not isinstance(record_id, str):
            raise TypeError(f"a dead letter's record_id must be a str (ids are strings), got {record_id!r}")
        _one_of(side, SIDES, "a dead letter's side")
        encoded = _dump(details, f"dead letter {pair}/{side}/{record_id} details")
        now = self._clock()
        with self.transaction():
            row = self._one(
                "SELECT id FROM dead_letters WHERE pair = ? AND side = ? AND record_id = ? AND reason = ? AND resolved_at IS NULL",
                (pair, side, record_id, reason),
            )
            if row is not None:
                # Seen again: the newest message and details describe the record as it is now.
                self._conn.execute(
                    "UPDATE dead_letters SET count = count + 1, last_seen = ?, message = ?, details = ? WHERE id = ?",
                    (now, message, encoded, row[0]),
                )
                return int(row[0])
            cursor = self._conn.execute(
                "INSERT INTO dead_letters (pair, side, record_id, reason, message, details, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (pair, side, record_id, reason, message, encoded, now, now),
            )
            return int(cursor.lastrowid or 0)

    def dead_letters(self, *, include_resolved: bool = False, ids: Sequence[int] | None = None) -> list[DeadLetter]:
        conditions, params = [], []
        if not include_resolved:
            conditions.append("resolved_at IS NULL")
        if ids is not None:
            ids = list(ids)
            if not ids:
                return []
            conditions.append(f"id IN ({', '.join('?' * len(ids))})")
            params.extend(ids)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self._all(f"SELECT {_LETTER_COLUMNS} FROM dead_letters {where} ORDER BY id", params)
        return [_letter(row) for row in rows]

    def resolve_dead_letter(self, letter_id: int) -> None:
        with self.transaction():
            if not self._exists("dead_letters", letter_id):
                raise StateError(f"no dead letter {letter_id} in the state store")
            self._conn.execute(
                "UPDATE dead_letters SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL",
                (self._clock(), letter_id),
            )

    def resolve_dead_letters_for(self, pair: str, side: str, record_id: str) -> int:
        _one_of(side, SIDES, "a dead letter's side")
        cursor = self._write(
            "UPDATE dead_letters SET resolved_at = ? WHERE pair = ? AND side = ? AND record_id = ? AND resolved_at IS NULL",
            (self._clock(), pair, side, record_id),
        )
        return cursor.rowcount

    # -- the run log ----------------------------------------------------------------------

    def start_run(self, *, mode: str, plan_digest: str) -> int:
        cursor = self._write("INSERT INTO runs (started_at, mode, plan_digest) VALUES (?, ?, ?)", (self._clock(), mode, plan_digest))
        return int(cursor.lastrowid or 0)

    def log_event(self, run_id: int, kind: str, pair: str | None, details: dict[str, Any]) -> None:
        encoded = _dump(details, f"event {kind} details")
        with self.transaction():
            self._require_run(run_id)
            self._conn.execute(
                "INSERT INTO events (run_id, at, kind, pair, details) VALUES (?, ?, ?, ?, ?)",
                (run_id, self._clock(), kind, pair, encoded),
            )

    def events(self, run_id: int, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, run_id, at, kind, pair, details FROM events WHERE run_id = ?"
        params: list[Any] = [run_id]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        rows = self._all(sql + " ORDER BY id", params)
        return [{"id": id_, "run_id": run, "at": at, "kind": k, "pair": p, "details": json.loads(details)} for id_, run, at, k, p, details in rows]

    def finish_run(self, run_id: int, *, status: str, summary: dict[str, Any]) -> None:
        encoded = _dump(summary, f"run {run_id} summary")
        with self.transaction():
            self._require_run(run_id)
            self._conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
                (self._clock(), status, encoded, run_id),
            )

    def runs(self, limit: int = 10) -> list[Run]:
        return [_run(row) for row in self._all(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?", (limit,))]

    # -- the inbox ------------------------------------------------------------------------

    def add_inbox(self, *, source: str, delivery_key: str, body: dict[str, Any]) -> int | None:
        encoded = _dump(body, f"{source} delivery {delivery_key}")
        cursor = self._write(
            "INSERT INTO inbox (source, delivery_key, body, received_at, status) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (source, delivery_key) DO NOTHING",
            (source, delivery_key, encoded, self._clock(), INBOX_PENDING),
        )
        return int(cursor.lastrowid or 0) if cursor.rowcount == 1 else None

    def pending_inbox(self, limit: int = 100) -> list[InboxItem]:
        rows = self._all(f"SELECT {_INBOX_COLUMNS} FROM inbox WHERE status = ? ORDER BY id LIMIT ?", (INBOX_PENDING, limit))
        return [_inbox(row) for row in rows]

    def count_pending_inbox(self) -> int:
        row = self._one("SELECT COUNT(*) FROM inbox WHERE status = ?", (INBOX_PENDING,))
        return int(row[0]) if row else 0

    def finish_inbox(self, item_id: int, *, status: str, error: str | None = None) -> None:
        """Record one processing attempt; "pending" leaves the item queued to be tried again."""
        _one_of(status, INBOX_STATUSES, "an inbox item's status")
        finished_at = None if status == INBOX_PENDING else self._clock()
        with self.transaction():
            if not self._exists("inbox", item_id):
                raise StateError(f"no inbox item {item_id} in the state store")
            self._conn.execute(
                "UPDATE inbox SET status = ?, error = ?, attempts = attempts + 1, finished_at = ? WHERE id = ?",
                (status, error, finished_at, item_id),
            )
