"""The SQLite state file's schema as a list of steps, and the one function that applies them.

Step N takes a file from schema version N-1 to N. A released step is never edited: a change
to the schema is a new step at the end. The version lives in SQLite's `user_version` header
field and the file is marked with syncmap's `application_id`, so another program's database
is recognised and refused instead of being "migrated".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from syncmap.runtime.state.base import StateError, StateVersionError

# 'SMAP': marks a file as a syncmap state file (`PRAGMA application_id`).
APPLICATION_ID = 0x534D4150

STEPS: tuple[tuple[str, ...], ...] = (
    # 1: links, cursors, metadata, the outbox, dead letters and the run log (issue 8).
    (
        """CREATE TABLE links (
            pair TEXT NOT NULL,
            left_id TEXT NOT NULL,
            right_id TEXT NOT NULL,
            left_values TEXT NOT NULL,
            right_values TEXT NOT NULL,
            synced_at REAL NOT NULL,
            PRIMARY KEY (pair, left_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX links_by_right ON links (pair, right_id)",
        "CREATE TABLE cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL)",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL)",
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at REAL NOT NULL,
            finished_at REAL,
            mode TEXT NOT NULL,
            status TEXT,
            plan_digest TEXT NOT NULL,
            summary TEXT
        )""",
        """CREATE TABLE intents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs (id),
            pair TEXT NOT NULL,
            system TEXT NOT NULL,
            op TEXT NOT NULL,
            key TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open',
            result TEXT,
            created_at REAL NOT NULL,
            finished_at REAL
        )""",
        "CREATE INDEX intents_open ON intents (pair, id) WHERE status = 'open'",
        """CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            pair TEXT NOT NULL,
            side TEXT NOT NULL,
            record_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            message TEXT NOT NULL,
            details TEXT NOT NULL,
            first_seen REAL NOT NULL,
            last_seen REAL NOT NULL,
            count INTEGER NOT NULL DEFAULT 1,
            resolved_at REAL
        )""",
        # At most one open letter per record and reason; resolved ones are history.
        """CREATE UNIQUE INDEX dead_letters_open
            ON dead_letters (pair, side, record_id, reason) WHERE resolved_at IS NULL""",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs (id),
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            pair TEXT,
            details TEXT NOT NULL
        )""",
        "CREATE INDEX events_by_run ON events (run_id, kind)",
    ),
    # 2: the inbox of webhook deliveries for `syncmap serve` (issue 9).
    (
        """CREATE TABLE inbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT NOT NULL,
            delivery_key TEXT NOT NULL,
            body TEXT NOT NULL,
            received_at REAL NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            finished_at REAL,
            UNIQUE (source, delivery_key)
        )""",
        "CREATE INDEX inbox_pending ON inbox (id) WHERE status = 'pending'",
    ),
)

SCHEMA_VERSION = len(STEPS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, where: str, *, steps: Sequence[Sequence[str]] = STEPS) -> int:
    """Bring the file behind `conn` (in autocommit mode) to `len(steps)`; returns the version
    it had. All steps run in one transaction: a crash or an error leaves the old version whole.
    """
    target = len(steps)
    # IMMEDIATE takes the write lock first, so two processes opening an old file migrate it once.
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = check_file(conn, where, target)
        for statements in steps[found:]:
            for statement in statements:
                conn.execute(statement)
        if found < target:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {target}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found


def check_file(conn: sqlite3.Connection, where: str, target: int = SCHEMA_VERSION) -> int:
    """The file's schema version, or `StateError` when it is another program's database and
    `StateVersionError` when it is newer than `target`. Reads only the header: safe to call
    before changing anything in a file that may not be ours."""
    found = schema_version(conn)
    app = int(conn.execute("PRAGMA application_id").fetchone()[0])
    if app != APPLICATION_ID and (app != 0 or found != 0 or _has_tables(conn)):
        raise StateError(f"{where} is not a syncmap state file (it is another program's SQLite database)")
    if found > target:
        raise StateVersionError(
            f"{where} was written by a newer syncmap (state schema {found}; this syncmap knows up to {target}): "
            "upgrade syncmap, or point --state at another file"
        )
    return found


def _has_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None
